"""Every Rasa patch of ours is documented in docs/rasa-patches.md, and every documented patch exists.

A module that patches, wraps or re-implements part of Rasa says so with ``# rasa-patch: <name>``; the
doc has one ``## <name>`` section per name, each with its upstream reference and exit condition.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "rasa-patches.md"
# Where our code lives (the layout of issue 19).
CODE_DIRS = ("bot", "actions", "knowledge", "console", "widget", "ops")
_MARKER = re.compile(r"^# rasa-patch: ([a-z0-9-]+)\b", re.M)
# The modules known to patch Rasa (issue 19): each must carry a marker.
KNOWN = {
    "validator-cache": ("bot/speedups.py",),
    "endpoint-session": ("bot/speedups.py",),
    "tensorflow-stub": ("bot/speedups.py",),
    "rest-channel": ("bot/channels/rest.py",),
    "socketio-channel": ("bot/channels/socketio.py",),
    "tracker-store": ("bot/stores/tracker_store.py",),
    "lock-store": ("bot/stores/lock_store.py",),
}


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def _markers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directory in CODE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")) if (ROOT / directory).is_dir() else ():
            for name in _MARKER.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_marker_has_a_section_and_every_section_a_marker():
    sections = set(_sections()) - {"Not patches"}
    markers = set(_markers())
    assert markers - sections == set(), f"patches without a section in {DOC.name}: {sorted(markers - sections)}"
    assert sections - markers == set(), f"sections without a `# rasa-patch:` marker: {sorted(sections - markers)}"


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_patch_modules_carry_their_marker(name):
    existing = [p for p in KNOWN[name] if (ROOT / p).is_file()]
    assert existing, f"none of {KNOWN[name]} exists"
    assert name in _markers() and set(existing) & set(_markers()[name]), (name, existing)


@pytest.mark.parametrize("name", sorted(set(_sections()) - {"Not patches"}))
def test_each_section_names_its_upstream_and_exit_condition(name):
    section = _sections()[name]
    assert "**Where:**" in section and "**What:**" in section and "**Why" in section
    assert "**Exit condition:**" in section
    upstream = re.search(r"\*\*Upstream:\*\*(.*?)(?=\n- \*\*|\Z)", section, re.S)
    assert upstream, name
    links = re.findall(r"https://github\.com/[^)\s]+", upstream.group(1))
    assert links or "no upstream issue found" in upstream.group(1), name
    for link in links:
        assert re.fullmatch(r"https://github\.com/RasaHQ/rasa/(issues|pull)/\d+", link), link
