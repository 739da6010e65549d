"""The injection and fraud rules never fire on ordinary residents' messages, however long or worried."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.nlu.components import rule_intent

DATA = Path(__file__).resolve().parents[1] / "data"
GENUINE = [
    line.strip()
    for line in (DATA / "guard" / "genuine_messages.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
REAL_SETS = [DATA.parent / "eval" / "real" / name for name in ("questions.yml", "second_collection.yml")]


@pytest.mark.parametrize("text", GENUINE)
def test_genuine_messages_pass_the_guards(text):
    assert rule_intent(text) in (None, "distress")


def test_real_resident_questions_pass_the_guards():
    entries = [e for path in REAL_SETS for e in yaml.safe_load(path.read_text(encoding="utf-8"))]
    assert len(entries) > 300
    fired = [(e["id"], rule_intent(e["text"])) for e in entries if rule_intent(e["text"]) in ("injection", "fraud")]
    assert fired == []
