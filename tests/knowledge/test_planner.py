"""Question analysis, places, statements and answer plans on the project's own knowledge base."""

from __future__ import annotations

import pytest

from knowledge.build import build
from knowledge.gazetteer import places_in
from knowledge.planner import defined_term, find_uncovered, verify_uncovered
from knowledge.question import analyse, split_parts
from knowledge.service import KnowledgeService
from knowledge.settings import PACKAGE_DIR, Settings, get_settings
from knowledge.textutil import squash


@pytest.fixture(scope="module")
def svc(tmp_path_factory) -> KnowledgeService:
    url = f"sqlite:///{tmp_path_factory.mktemp('planner') / 'kb.db'}"
    settings = Settings(database_url=url, content_dir=PACKAGE_DIR, userdict_path=get_settings().userdict_path)
    build(settings, force=True)
    return KnowledgeService(settings.database_url, settings.userdict_path)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("失业金要准备什么材料", "howto"),
        ("电子社保卡能拿来干嘛", "what"),
        ("公共就业服务收不收费", "whether"),
        ("深圳有多少个社保服务网点", "figure"),
        ("失业金一个月能领多少钱", "amount"),
        ("哪些人可以申请创业担保贷款", "eligibility"),
        ("宝安区社保服务网点在哪", "where"),
        ("劳动仲裁要多久", "when"),
        ("人社局电话多少", "hotline"),
        ("深圳和上海的城镇新增就业目标各是多少", "compare"),
        ("这个数字的出处呢", "verify"),
        ("深圳人社十四五规划怎么样", "general"),
    ],
)
def test_question_kind(text, kind):
    assert analyse(text).kind == kind


@pytest.mark.parametrize(
    "text, parts",
    [
        ("1. 社保卡怎么补办？2. 失业金怎么领？3. 深圳有多少社保网点？", 3),
        ("我想问两个问题：一是退休年龄会不会推迟，二是养老金每年涨多少", 2),
        ("社保卡丢了怎么补办？补办要钱吗？", 2),
        ("深圳有多少个社保服务网点", 1),
        ("我2019年来深圳，1. 5年社保", 1),
    ],
)
def test_split_parts(text, parts):
    assert len(split_parts(text)) == parts


@pytest.mark.parametrize(
    "text, expected",
    [
        ("浏阳市的社保怎么交", [("浏阳市", None)]),
        ("宁乡县失业金", [("宁乡市", None)]),
        ("宝安区社保服务网点在哪", [("宝安区", "深圳")]),
        ("南山的网点", [("南山区", "深圳")]),
        ("广东省的最低工资", [("广东省", None)]),
        ("上海浦东新区", [("上海市", "上海"), ("浦东新区", "上海")]),
        # ordinary words that hold a division's name are no place
        ("人力资源县级服务", []),
        ("特大城市就业", []),
        ("和平年代的技能培训", []),
        ("社保卡合作银行网点", []),
    ],
)
def test_places(text, expected):
    assert [(p.name, p.covered) for p in places_in(text)] == expected


def test_districts_are_their_city_and_counties_are_not_covered():
    assert analyse("宝安区社保服务网点在哪").regions == ("深圳",)
    assert analyse("宝安区社保服务网点在哪").districts == ("宝安区",)
    assert analyse("浏阳市的社保怎么交").regions == ("浏阳市",)
    assert analyse("宁乡县失业金怎么领").regions == ("宁乡县",)


def test_statements_are_verbatim_and_cited(svc):
    statements = svc.statements()
    assert len(statements) > 1000
    texts = {}
    for s in statements[:: max(1, len(statements) // 200)]:
        if s.source.doc_id not in texts:
            texts[s.source.doc_id] = squash(svc._engine().connect().exec_driver_sql(
                "select clean_text from kb_document where id = ?", (s.source.doc_id,)
            ).scalar_one())
        assert squash(s.text) in texts[s.source.doc_id]
        assert s.source.quote == s.text
        assert s.region in ("深圳", "上海", "全国")


@pytest.mark.parametrize(
    "text, topic, shape, must, must_not",
    [
        ("电子社保卡能拿来干嘛", "social_security_card", "statement", "功能", "2300"),
        ("公共就业服务收不收费", "employment", "statement", "免费", ""),
        ("失业金要准备什么材料", "unemployment_insurance", "gap", "", "万人"),
        ("建筑工地的工人怎么参加工伤保险", "work_injury_insurance", "gap", "工伤保险", "1291"),
        # a yes/no question: the sources never answer a resident's case, so the gap comes first, then what they say
        ("港澳台居民可以在深圳交养老保险吗", "hk_macau", "gap", "延缴或趸缴", ""),
        ("劳动仲裁要多久", "labor_dispute", "gap", "快立", ""),
        ("延迟退休什么时候开始", "retirement", "gap", "渐进式延迟法定退休年龄", ""),
    ],
)
def test_plans_answer_the_asked_facet(svc, text, topic, shape, must, must_not):
    plan = svc.plan(text, topic)
    assert plan.shape == shape
    said = " ".join(s.text for s in plan.statements)
    assert must in said
    if must_not:
        assert must_not not in said


@pytest.mark.parametrize(
    "text, topic, shape",
    [
        ("深圳社保缴费基数是多少", "minimum_wage", "not_covered"),
        ("生育津贴怎么领", "unemployment_insurance", "not_covered"),
        ("深圳社平工资是多少", "minimum_wage", "not_covered"),
        ("公积金怎么提取", None, "other_domain"),
        ("浏阳市社保怎么交", "pension", "place"),
        ("广东省的最低工资标准", "minimum_wage", "place"),
        ("深圳和上海的城镇新增就业目标各是多少", "employment", "compare"),
        ("1. 社保卡怎么补办？2. 失业金怎么领？3. 深圳有多少社保网点？", "social_security_card", "parts"),
        ("深圳有多少个社保服务网点", "service_points", "figure"),
    ],
)
def test_plan_shapes(svc, text, topic, shape):
    assert svc.plan(text, topic).shape == shape


def test_a_gap_answer_names_channels_of_its_region_only(svc):
    plan = svc.plan("失业金要准备什么材料", "unemployment_insurance")
    assert plan.channels and all(svc.document_region(c.source.doc_id) == "深圳" for c in plan.channels)


def test_uncovered_subjects_verify_against_the_sources():
    texts = {"x": "适时调整职工基本养老保险缴费基数下限。"}
    assert verify_uncovered({"x": squash((PACKAGE_DIR / "sources" / "001_91542df00c6ef5ef.txt").read_text())}, {
        "e_sscard", "sb_service_points", "hrss_website", "tiaoyuancaisu_center", "talent_one_thing"}) == []
    problems = verify_uncovered(texts | {"y": "生育保险参保人数"}, set())
    assert any("生育保险" in p for p in problems)  # a term the sources DO mention cannot be "not covered"
    assert any("unknown channel" in p for p in problems)


def test_find_uncovered_prefers_the_longest_term():
    assert find_uncovered("社保交多少钱一个月").id == "contribution_base"
    assert find_uncovered("深圳有多少个社保服务网点") is None


@pytest.mark.parametrize("text, term", [
    ("欠薪是指什么", "欠薪"), ("什么企业年金,有啥特殊含义", "企业年金"), ("秒批是指什么", "秒批"),
    ("请问灵活就业是啥意思", "灵活就业"), ("15分钟社保服务圈是什么", None), ("深圳最低工资是多少", None),
])
def test_the_term_a_definition_question_asks(text, term):
    assert defined_term(text) == term
