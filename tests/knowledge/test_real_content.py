"""The project's own content (knowledge/): verifies cleanly and answers the reference question."""

from __future__ import annotations

import re

import pytest

from knowledge.build import build, compile_kb
from knowledge.service import KnowledgeService
from knowledge.settings import PACKAGE_DIR, Settings, get_settings

from .helpers import REPO_ROOT


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def real_kb(request, tmp_path_factory) -> Settings:
    """The full knowledge base of knowledge/ built once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('real_kb') / 'kb.db'}"
    else:
        url = request.getfixturevalue("pg_databases")()
    settings = Settings(database_url=url, content_dir=PACKAGE_DIR, userdict_path=get_settings().userdict_path)
    build(settings, force=True)
    return settings


def test_content_verifies_without_problems():
    kb = compile_kb(PACKAGE_DIR)
    assert kb.problems == [], "\n".join(kb.problems)
    assert len(kb.content.topics) >= 31


def test_every_design_topic_intent_has_a_card(real_kb):
    design = (REPO_ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    block = design[design.index("Topic intents") : design.index("Conversation intents")]
    svc = KnowledgeService(real_kb.database_url, real_kb.userdict_path)
    missing = [i for i in re.findall(r"ask_[a-z0-9_]+", block) if svc.topic_for_intent(i) is None]
    assert missing == []


def test_reference_question(real_kb):
    svc = KnowledgeService(real_kb.database_url, real_kb.userdict_path)
    hits = svc.search("深圳社保服务网点有多少个", limit=3)
    fact = next(h for h in hits if h.kind == "fact" and "113" in h.text)
    assert fact.source.citation.startswith("《深圳人社2024年十件大事》，2024年")
