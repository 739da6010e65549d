"""The widget's own masker (what reaches browser storage) against the generated spellings.

The generator and the detector are those of tests/bot/test_pii_spellings.py (independent of
bot.sanitize); the widget's ``maskPII`` is run by Node on the exact source the browser loads.
The browser itself runs it in test_widget_offline.py::test_local_masking_matches_the_server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bot.test_pii_spellings import CASES, generated, leaked

WIDGET = Path(__file__).resolve().parents[2] / "web" / "widget.js"
_RUNNER = """
const src = require('fs').readFileSync(process.argv[1], 'utf8');
const start = src.indexOf('  // Same patterns as bot/sanitize.py');
const end = src.indexOf('  function pad(n)');
const maskPII = new Function(src.slice(start, end) + '; return maskPII;')();
const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map(maskPII)));
"""


def _mask_in_node(texts: list[str]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run([node, "-e", _RUNNER, str(WIDGET)], input=json.dumps(texts), capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_the_widget_masks_every_generated_spelling_before_storing_it():
    cases = [(number, text) for _, number, text, _ in generated()]
    masked = _mask_in_node([text for _, text in cases])
    missed = [m for (number, _), m in zip(cases, masked, strict=True) if leaked(number, m)]
    assert missed == [], f"{len(missed)} of {CASES} leaked, e.g. {missed[:5]}"


def test_the_widget_leaves_figures_alone():
    texts = ["2021-2025年新增就业多少", "2287.95万人", "0755-12345678是什么电话", "深圳2024年有113个服务网点"]
    assert _mask_in_node(texts) == texts
