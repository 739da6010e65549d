"""Conversation tests with Rasa's own test runner and the real trained model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_test_stories_pass(bot_model, tmp_path):
    rasa = Path(sys.executable).with_name("rasa")
    out = tmp_path / "results"
    result = subprocess.run(
        [str(rasa), "test", "core", "--model", bot_model, "--stories", "tests/stories", "--out", str(out),
         "--fail-on-prediction-errors"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
    )
    failed = out / "failed_test_stories.yml"
    detail = failed.read_text(encoding="utf-8") if failed.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, detail
    report = json.loads((out / "story_report.json").read_text(encoding="utf-8"))
    assert report["conversation_accuracy"]["accuracy"] == 1.0, detail
