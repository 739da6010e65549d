"""Staff-added service facts: verification against the page, review by another person, versions,
expiry, and how KnowledgeService shows them (facts_for_topic, search, known_numbers) like seed facts.

The page is a fixture file (``tests/data/service_facts/``), its content fictitious; nothing here is
a real fact of the bot.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from knowledge.db import get_engine
from knowledge.service import KnowledgeService
from knowledge.service_facts import Base as ServiceFactBase
from knowledge.service_facts import Proposal, ServiceFactError, ServiceFactStore, check_proposal, page_text

PAGES = Path(__file__).resolve().parents[1] / "data" / "service_facts"
PAGE = (PAGES / "official_page.html").read_bytes()
TODAY = dt.date(2026, 12, 2)
QUOTE = "社保卡补办：持有效身份证件到任一测试服务网点办理，咨询电话 12333"
GOOD = Proposal(
    kind="hotline", region="深圳", topic="social_security_card", statement="社保卡补办可拨打咨询电话12333",
    source_url="https://hrss.example.gov.cn/page.html", source_title="测试用官方页面", publisher="测试人社局",
    source_date="2026年11月", quote=QUOTE,
)


def _with(**changes) -> Proposal:
    return Proposal(**{**GOOD.__dict__, **changes})


@pytest.mark.parametrize(
    ("proposal", "problem"),
    [
        (GOOD, None),
        # whitespace and line breaks of the page do not matter (as in the build)
        (_with(quote="持有效身份证件到 任一测试服务网点办理", statement="社保卡补办请到任一测试服务网点办理"), None),
        (_with(quote="咨询电话 12334"), "找不到"),
        (_with(statement="社保卡补办可拨打咨询电话12345"), "数字不在原文摘录里：12345"),
        (_with(source_url="https://hrss.example.com/page.html"), "政府官方网站"),
        (_with(source_url="http://hrss.example.gov.cn/page.html"), "政府官方网站"),
        (_with(region="广州"), "地区"),
        (_with(publisher=" "), "发布机构不能为空"),
        (_with(kind="rumour"), "事实类型"),
    ],
)
def test_check_proposal(proposal, problem):
    problems = check_proposal(proposal, page_text(PAGE))
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


@pytest.fixture
def store(built_kb) -> ServiceFactStore:
    engine = get_engine(built_kb.database_url)
    # why: the PostgreSQL test database is shared by the session and staff facts survive rebuilds (by design).
    ServiceFactBase.metadata.drop_all(engine)
    return ServiceFactStore(lambda: engine)


def test_refused_proposal_stores_nothing(store):
    with pytest.raises(ServiceFactError) as refused:
        store.propose(GOOD, (PAGES / "other_page.html").read_bytes(), "uploaded", "wang", today=TODAY)
    assert any("找不到" in p for p in refused.value.problems)
    assert store.latest() == []


def test_review_versions_rollback_and_expiry(store, built_kb):
    svc = KnowledgeService(built_kb.database_url, built_kb.userdict_path)
    seed = svc.facts_for_topic("social_security_card")
    draft = store.propose(GOOD, PAGE, "fetched", "wang", today=TODAY)
    assert (draft.fact_id, draft.version, draft.status, draft.verified_on) == ("SF-0001", 1, "draft", TODAY)
    assert svc.service_facts(today=TODAY) == []  # a draft is never said
    with pytest.raises(ServiceFactError, match="不能审核自己"):
        store.review(draft.row_id, "wang", approve=True)
    store.review(draft.row_id, "li", approve=True)

    facts = svc.service_facts(topic="social_security_card", region="深圳", today=TODAY)
    assert [f.display for f in facts] == ["社保卡补办可拨打咨询电话12333"]
    fact = facts[0]
    assert (fact.nature, fact.status, fact.period) == ("service", "current", "info")
    assert (fact.source.url, fact.source.publisher, fact.source.date_label, fact.source.verified_on) == (
        GOOD.source_url, "测试人社局", "2026年11月", "2026-12-02",
    )
    assert fact.source.citation == "《测试用官方页面》，2026年11月"
    assert svc.service_facts(topic="social_security_card", region="上海", today=TODAY) == []
    assert svc.service_facts(region="广州", today=TODAY) == []
    svc.reload()
    assert svc.facts_for_topic("social_security_card") == seed + [fact]
    assert "12333" in svc.known_numbers()
    assert svc.search("社保卡补办咨询电话")[0].text == fact.display

    # a second version replaces the first once approved; rollback proposes the old one again
    v2 = store.propose(_with(statement="社保卡补办请到任一测试服务网点办理", kind="address"), PAGE, "uploaded", "wang",
                       fact_id="SF-0001", today=TODAY)
    store.review(v2.row_id, "li", approve=True)
    assert [f.status for f in store.versions("SF-0001")] == ["approved", "superseded"]
    back = store.rollback("SF-0001", 1, "wang")
    assert (back.version, back.status, back.statement) == (3, "draft", GOOD.statement)
    store.review(back.row_id, "li", approve=False, note="不用回滚")
    assert [f.status for f in store.versions("SF-0001")] == ["rejected", "approved", "superseded"]

    # an expiry date: said up to that day, never after
    expiring = store.propose(_with(expires_on=TODAY + dt.timedelta(days=1)), PAGE, "uploaded", "wang", today=TODAY)
    store.review(expiring.row_id, "li", approve=True)
    assert "SF-0002" in [f.id for f in svc.service_facts(today=TODAY + dt.timedelta(days=1))]
    assert "SF-0002" not in [f.id for f in svc.service_facts(today=TODAY + dt.timedelta(days=2))]


def test_staff_facts_survive_a_rebuild(store, built_kb):
    from knowledge.build import build

    draft = store.propose(GOOD, PAGE, "uploaded", "wang", today=TODAY)
    store.review(draft.row_id, "li", approve=True)
    build(built_kb, force=True)
    assert [f.fact_id for f in store.live(TODAY)] == ["SF-0001"]
