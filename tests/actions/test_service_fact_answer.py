"""A staff service fact, once approved, is said by the answer composer with its citation, like a seed fact;
a draft or an expired fact is not. Own knowledge base (the session one stays untouched); the page is a
fixture file with fictitious content."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from actions.composer import Question, compose_topic_answer
from knowledge.build import build
from knowledge.db import get_engine
from knowledge.service import KnowledgeService
from knowledge.service_facts import Proposal, ServiceFactStore
from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "tests" / "data" / "service_facts" / "official_page.html").read_bytes()
STATEMENT = "社保卡补办可拨打咨询电话12333"
PROPOSAL = Proposal(
    kind="hotline", region="深圳", topic="social_security_card", statement=STATEMENT,
    source_url="https://hrss.example.gov.cn/page.html", source_title="测试用官方页面", publisher="测试人社局",
    source_date="2026年11月", quote="社保卡补办：持有效身份证件到任一测试服务网点办理，咨询电话 12333",
)


@pytest.fixture
def kb(tmp_path: Path) -> tuple[KnowledgeService, ServiceFactStore]:
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    settings = Settings(database_url=url, content_dir=ROOT / "knowledge", userdict_path=ROOT / "data" / "dict" / "userdict.txt")
    build(settings, force=True)
    return KnowledgeService(database_url=url, userdict_path=settings.userdict_path), ServiceFactStore(lambda: get_engine(url))


@pytest.mark.parametrize("approved, expires_in_days, said", [(False, None, False), (True, None, True), (True, -1, False)])
def test_service_fact_in_the_answer(kb, templates, approved, expires_in_days, said):
    svc, store = kb
    today = dt.date.today()
    proposal = Proposal(**{**PROPOSAL.__dict__, "expires_on": today + dt.timedelta(days=expires_in_days)}) \
        if expires_in_days is not None else PROPOSAL
    # why: an expired fact is proposed back in time (proposals may not expire in the past).
    draft = store.propose(proposal, PAGE, "uploaded", "wang", today=today + dt.timedelta(days=min(0, expires_in_days or 0)))
    if approved:
        store.review(draft.row_id, "li", approve=True)
    answer = compose_topic_answer(svc, templates, "social_security_card", Question("深圳社保卡补办打什么电话", region="深圳"))
    assert (STATEMENT in answer.text) is said, answer.text
    assert ("《测试用官方页面》" in answer.text) is said
    assert answer.text.splitlines()[-1].startswith("来源：《")


@pytest.mark.parametrize("question", ["深圳社保卡补办打什么电话", "社保卡丢了咨询电话是多少", "社保卡补办怎么办"])
def test_an_approved_service_fact_is_never_contradicted_by_the_gap_sentence(kb, templates, question):
    """With a hotline fact live, no sentence of the answer says the sources lack the hotline."""
    from actions.composer import compose_plan

    svc, store = kb
    draft = store.propose(PROPOSAL, PAGE, "uploaded", "wang")
    store.review(draft.row_id, "li", approve=True)
    plan = svc.plan(question, "social_security_card", "深圳")
    answer = compose_plan(svc, templates, plan, Question(question, region="深圳"))
    gaps = [line for line in answer.text.splitlines() if "没有" in line]
    assert not any("电话" in line for line in gaps), answer.text
    if "电话" in question:
        assert STATEMENT in answer.text, answer.text
