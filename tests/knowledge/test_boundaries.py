"""knowledge is a plain library: no rasa / rasa_sdk / actions / bot imports, no work at import time."""

from __future__ import annotations

import subprocess
import sys

from .helpers import REPO_ROOT

PROBE = """
import sys
import knowledge.service, knowledge.build, knowledge.fetch, knowledge.userdict, knowledge.__main__
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"rasa", "rasa_sdk", "actions", "bot", "jieba"})
print(repr(bad))
"""


def test_importing_knowledge_pulls_in_no_rasa_and_no_jieba(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'never' / 'kb.db'}"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    assert not (tmp_path / "never").exists()  # no engine, no database file at import
