"""Who imports whom (docs/design.md, "Layout and ownership"), checked on the source, not at run time.

- ``bot/`` (what ``rasa run`` loads) imports nothing from ``console``, ``widget``, ``ops``, ``evaluation``,
  ``actions`` or ``tests``;
- ``knowledge/`` imports no ``rasa``, ``rasa_sdk``, ``actions`` or ``bot``;
- ``actions/`` imports no ``bot`` and none of the process packages;
- no runtime package (nor ``bench/``) imports ``tests``.
Function-level imports count too: they run in the same process.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("bot", "console", "widget", "ops", "evaluation", "knowledge", "actions", "bench")
FORBIDDEN = {
    "bot": {"console", "widget", "ops", "evaluation", "actions", "tests"},
    "knowledge": {"rasa", "rasa_sdk", "actions", "bot", "console", "widget", "ops", "evaluation", "tests"},
    "actions": {"bot", "console", "widget", "ops", "evaluation", "tests"},
    "console": {"tests"},
    "widget": {"tests", "console", "ops"},
    "ops": {"tests"},
    "evaluation": {"tests"},
    "bench": {"tests"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("package", RUNTIME)
def test_package_imports_only_what_it_may(package):
    bad = {}
    for path in _files(package):
        wrong = imported_packages(path) & FORBIDDEN[package]
        if wrong:
            bad[str(path.relative_to(ROOT))] = sorted(wrong)
    assert not bad, f"{package}/ must not import {sorted(FORBIDDEN[package])}: {bad}"


def test_every_runtime_package_exists_and_is_a_package():
    for package in RUNTIME:
        assert (ROOT / package / "__init__.py").is_file(), package


def test_bot_holds_only_what_rasa_loads():
    """The top of bot/ is the list of docs/design.md; a new module there is a decision, not an accident."""
    top = {p.name for p in (ROOT / "bot").iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", "channels", "nlu", "stores", "cors.py", "ratelimit.py", "sanitize.py", "script.py",
                   "sessions.py", "settings.py", "signing.py", "speedups.py"}, sorted(top)
