"""knowledge.service: the public API actions and bot code use."""

from __future__ import annotations

import dataclasses

import pytest

from knowledge import models
from knowledge.service import (
    Channel,
    Fact,
    Hit,
    KnowledgeBaseNotBuilt,
    KnowledgeService,
    Source,
    TopicCard,
)


@pytest.fixture(scope="module")
def svc(shared_kb):
    return KnowledgeService(shared_kb.database_url, shared_kb.userdict_path)


def test_topic_card(svc):
    card = svc.topic("service_points")
    assert isinstance(card, TopicCard)
    assert card.name == "社保服务网点"
    assert card.intents == ("ask_service_points",)
    assert card.fact_ids == ("SZ24-16", "SZ24-18")
    assert card.gaps == ("网点地址", "营业时间")
    assert card.related == ("social_security_card",)
    text, source = card.summary[0]
    assert "113" in text and isinstance(source, Source) and "113" in source.quote
    assert source.section == "四、强保障:实现“15分钟社保服务圈”"
    assert card.channels == (card.channels[0],) and isinstance(card.channels[0], Channel)
    assert card.channels[0].name == "社保服务网点"
    assert card.channels[0].source.citation.startswith("《深圳人社2024年十件大事》")


@pytest.mark.parametrize(
    "intent, topic_id",
    [
        ("ask_service_points", "service_points"),
        ("ask_social_security_card", "social_security_card"),
        ("ask_employment", "employment"),
        ("greet", None),
        ("", None),
    ],
)
def test_topic_for_intent(svc, intent, topic_id):
    card = svc.topic_for_intent(intent)
    assert (card.id if card else None) == topic_id


def test_topics_in_content_order(svc):
    assert [t.id for t in svc.topics()] == ["employment", "service_points", "social_security_card"]
    assert svc.topic("nope") is None


def test_fact(svc):
    fact = svc.fact("SZ24-18")
    assert isinstance(fact, Fact)
    assert (fact.metric, fact.region, fact.period, fact.value, fact.unit, fact.qualifier) == (
        "社银自助服务终端",
        "深圳",
        "result_2024",
        "3500",
        "台",
        "超",
    )
    assert fact.display == "超3500台"
    assert fact.period_label == "2024年实绩"
    assert fact.status == "current" and fact.topics == ("service_points",)
    assert fact.source.doc_id == "003" and fact.source.date_label == "2024年"
    assert svc.fact("NOPE") is None


@pytest.mark.parametrize("doc_id, region", [("000", "深圳"), ("002", "上海"), ("004", "全国"), ("999", None)])
def test_document_region(svc, doc_id, region):
    assert svc.document_region(doc_id) == region


def test_table_fact_is_available(svc):
    fact = svc.fact("SZD-T2-19")
    assert (fact.value, fact.unit, fact.period, fact.period_label) == ("75", "%", "target_2025", "2025年目标")
    assert fact.source.section.endswith("专栏2 “十四五”时期主要指标")


@pytest.mark.parametrize(
    "topic_id, region, period, expected",
    [
        ("service_points", None, None, ["SZ24-16", "SZ24-18"]),
        ("service_points", "深圳", "2024", ["SZ24-16", "SZ24-18"]),
        ("service_points", "上海", None, []),
        ("service_points", "广州", None, []),  # not covered: no figure of another region
        ("social_security_card", "上海", None, ["SH-13"]),
        ("social_security_card", "沪", "2025", ["SH-13"]),
        ("social_security_card", "深圳", "result_2024", ["SZ24-34"]),
        ("employment", "全国", None, ["CN-G1"]),
        ("nope", None, None, []),
    ],
)
def test_facts_for_topic(svc, topic_id, region, period, expected):
    assert [f.id for f in svc.facts_for_topic(topic_id, region=region, period=period)] == expected


def test_facts_for_topic_order_card_first_superseded_last(svc):
    ids = [f.id for f in svc.facts_for_topic("employment", region="深圳")]
    # card order: SZF-02, CN-G1 (other region), SZD-G05-C (superseded), SZF-07; then table facts of the topic
    assert ids[:2] == ["SZF-02", "SZF-07"]
    statuses = [svc.fact(i).status for i in ids]
    assert statuses == sorted(statuses, key=lambda s: s == "superseded")
    assert set(ids[-2:]) == {"SZD-G05-C", "SZD-T2-17"}


def test_conflicts_for(svc):
    assert [f.id for f in svc.conflicts_for("SZF-07")] == ["SZD-G05-C", "SZD-T2-17"]
    others = svc.conflicts_for("SZD-G05-C")
    assert others[0].id == "SZF-07" and others[0].status == "current"
    assert svc.conflicts_for("SZ24-16") == []
    assert svc.conflicts_for("NOPE") == []


@pytest.mark.parametrize(
    "number", ["113", "2287.95", "3500", "98", "96", "64.64", "20", "2024", "2022", "1319"]
)
def test_known_numbers(svc, number):
    assert number in svc.known_numbers()


@pytest.mark.parametrize("number", ["114", "2287.96", "12333"])
def test_unknown_numbers(svc, number):
    assert number not in svc.known_numbers()


def test_returns_frozen_dataclasses_never_orm_objects(svc):
    values = [svc.topic("service_points"), svc.fact("SZ24-16"), *svc.search("社保服务网点")]
    for value in values:
        assert dataclasses.is_dataclass(value)
        assert not isinstance(value, models.Base)
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.id = "x" if hasattr(value, "id") else None  # type: ignore[misc]
    assert all(isinstance(h, Hit) for h in svc.search("社保服务网点"))


def test_lookups_are_cached(svc):
    assert svc.topic("service_points") is svc.topic("service_points")
    assert svc.fact("SZ24-16") is svc.fact("SZ24-16")
    assert svc.known_numbers() is svc.known_numbers()


def test_not_built(tmp_path):
    svc = KnowledgeService(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(KnowledgeBaseNotBuilt):
        svc.topics()


def test_construction_does_no_io(tmp_path):
    KnowledgeService(database_url=f"sqlite:///{tmp_path / 'nothing' / 'kb.db'}")
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize(
    "text, region",
    [
        ("深圳", "深圳"),
        ("深", "深圳"),
        ("鹏城", "深圳"),
        ("鵬城", "深圳"),
        ("SZ", "深圳"),
        ("sz", "深圳"),
        ("Shenzhen", "深圳"),
        ("深圳市", "深圳"),
        (" 深圳的 ", "深圳"),
        ("上海", "上海"),
        ("沪", "上海"),
        ("滬", "上海"),
        ("申城", "上海"),
        ("SH", "上海"),
        ("Shanghai", "上海"),
        ("上海市", "上海"),
        ("全国", "全国"),
        ("國家", "全国"),
        ("国家", "全国"),
        ("national", "全国"),
        ("全國", "全国"),
        ("广州", "广州"),
        ("廣州", "广州"),
        ("广州市", "广州"),
        ("北京", "北京"),
        ("杭州", "杭州"),
        ("东莞", "东莞"),
        ("成都", "成都"),
        ("武汉", "武汉"),
        ("香港", "香港"),
        ("澳门", "澳门"),
        ("澳門", "澳门"),
        ("Hong Kong", "香港"),
        ("深化", None),
        ("社保", None),
        ("", None),
        (None, None),
        ("火星", None),
    ],
)
def test_normalise_region(text, region):
    assert KnowledgeService.normalise_region(text) == region


@pytest.mark.parametrize(
    "text, kind",
    [
        ("社保卡怎么办", "howto"),
        ("如何申请失业金", "howto"),
        ("退休办理流程", "howto"),
        ("要准备什么材料", "howto"),
        ("點樣申請", "howto"),
        ("步骤是什么", "howto"),
        ("失业金多少钱", "amount"),
        ("培训补贴多少", "amount"),
        ("最低工资标准是多少", "amount"),
        ("贷款额度", "amount"),
        ("补贴金额", "amount"),
        ("申请条件", "eligibility"),
        ("我有资格吗", "eligibility"),
        ("外地人能不能参保", "eligibility"),
        ("灵活就业可以申请吗", "eligibility"),
        ("社保局地址", "address"),
        ("网点在哪", "address"),
        ("喺邊度辦", "address"),
        ("去哪里办", "address"),
        ("咨询电话", "hotline"),
        ("热线是多少", "hotline"),
        ("打12333吗", "hotline"),
        ("要打几号", "hotline"),
        ("要多久", "time"),
        ("几天能办好", "time"),
        ("办理时限", "time"),
        ("什么时候发", "time"),
        ("网点有多少个", "figure"),
        ("有几个零工市场", "figure"),
        ("几多人", "figure"),
        ("高技能人才比例", "figure"),
        ("就业目标", "figure"),
        ("参保人数", "figure"),
        ("你好", "general"),
        ("", "general"),
    ],
)
def test_question_kind(text, kind):
    assert KnowledgeService.question_kind(text) == kind


def test_from_settings_is_a_lazy_singleton(monkeypatch, tmp_path):
    from knowledge import settings as settings_module

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x' / 'kb.db'}")
    settings_module.get_settings.cache_clear()
    monkeypatch.setattr(KnowledgeService, "_default", None)
    try:
        first = KnowledgeService.from_settings()
        assert first is KnowledgeService.from_settings()
        assert first.database_url.endswith("x/kb.db")
        assert not (tmp_path / "x").exists()
    finally:
        settings_module.get_settings.cache_clear()
