"""``.env.example`` lists every environment variable the code reads.

The code is scanned as text for the ways it reads the environment: ``os.environ[...]``,
``os.environ.get(...)``, ``os.getenv(...)``, a mapping named ``env``/``environ`` (the settings readers
take one so tests can pass their own), the readers of the settings modules (``bot.settings.environ``,
``ops.settings.setting``, ``widget.settings._env``, ``deploy/docker/entrypoint.py``'s ``_env`` and
``_hosts``), helpers called as
``helper(env, "NAME")``, constants named ``*_ENV = "NAME"``, and the declared tables
``bot.settings.VARIABLES`` and ``ops.settings.VARIABLES``. A variable is "listed" when
``.env.example`` names it at the start of a line, commented out or not (``# NAME=...``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# why: bench/ is left out: its BENCH_* knobs are documented with the benchmarks (mk/bench.mk, bench/README.md).
CODE = ("bot", "console", "widget", "ops", "evaluation", "knowledge", "actions", "deploy/docker")
ENV_EXAMPLE = ROOT / ".env.example"
_NAME = r"[\"']([A-Z][A-Z0-9_]{2,})[\"']"
READS = [
    re.compile(r"\b(?:os\.environ|environ\(\)|environ|env)\s*(?:\.get\(|\.setdefault\(|\.pop\(|\[)\s*" + _NAME),
    re.compile(r"\b(?:os\.getenv|setting|_env|_hosts)\(\s*" + _NAME),
    re.compile(r"\b(?:_env|environ)\([^()]*\)\.get\(\s*" + _NAME),
    re.compile(r"\(\s*env\s*,\s*" + _NAME),
    re.compile(r"\b[A-Z_]*_ENV\s*=\s*" + _NAME),
]
# Read by our code but set for, or by, other programs; .env.example is for operators.
NOT_FOR_OPERATORS = {
    "SANIC_HOST": "set by the launcher and the entry point for rasa_sdk",
}


def _code_files() -> list[Path]:
    return sorted(p for d in CODE for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def read_variables() -> dict[str, set[str]]:
    """Every variable name the code reads -> the files that read it."""
    import bot.settings
    import ops.settings

    found: dict[str, set[str]] = {}
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for pattern in READS:
            for name in pattern.findall(text):
                if name.startswith("HTTP_"):
                    continue  # a request header in a WSGI/ASGI environ (socket.io's connect), not a variable
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for table, where in ((bot.settings.VARIABLES, "bot/settings.py"), (ops.settings.VARIABLES, "ops/settings.py")):
        for name in table:
            found.setdefault(name, set()).add(where)
    return found


def listed_variables() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))


def test_the_scan_finds_the_known_readers():
    found = read_variables()
    # one per way of reading, so a broken pattern cannot make the main test pass by finding nothing
    for name in ("DATABASE_URL", "TRACKER_DB_URL", "WECHAT_REPLY_DEADLINE", "PII_HASH_KEY", "CONSOLE_SECRET",
                 "HANDOFF_KEY", "RASA_PROCESSES", "NGINX_CONF", "RATE_LIMIT_GLOBAL_BURST"):
        assert name in found, name
    assert len(found) >= 56


def test_every_variable_the_code_reads_is_in_env_example():
    listed = listed_variables()
    missing = {name: sorted(files) for name, files in read_variables().items()
               if name not in listed and name not in NOT_FOR_OPERATORS}
    assert not missing, f"add these to .env.example: {missing}"


def test_env_example_lists_nothing_the_code_does_not_read():
    read = set(read_variables())
    # read by the container tooling (compose, Makefile) rather than by Python
    tooling = {"RENSHE_REGISTRY", "RENSHE_TAG", "MODEL_FILE", "MODELS_DIR", "ACTION_SERVER_URL"}
    stale = listed_variables() - read - tooling
    assert not stale, f"nobody reads these any more: {sorted(stale)}"


@pytest.mark.parametrize("module", ["bot.settings", "ops.settings"])
def test_settings_refuse_an_undeclared_variable(module):
    import importlib

    settings = importlib.import_module(module)
    with pytest.raises(KeyError):
        if module == "bot.settings":
            settings.environ({}).get("NOT_DECLARED_ANYWHERE")
        else:
            settings.setting("NOT_DECLARED_ANYWHERE", env={})
