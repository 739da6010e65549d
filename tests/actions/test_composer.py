"""Table tests of knowledge answers: (topic, question) -> what the answer must and must not say."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from actions.composer import (
    Question,
    Templates,
    compose_search_answer,
    compose_topic_answer,
    wanted_periods,
)
from knowledge.options import parse_option

CASES = [
    # topic, question, must contain, must not contain
    ("service_points", Question("深圳有多少个社保服务网点", region="深圳"), ["113个", "来源：《"], ["未说明地区"]),
    ("service_points", Question("社保服务网点有多少个"), ["113个", "未说明地区，以下按深圳回答"], []),
    ("social_security_card", Question("上海社保卡持卡人数目标", region="上海"), ["2000万", "来源：《"], ["2287.95", "2300"]),
    ("social_security_card", Question("社保卡持卡人数", region="深圳", period="2024"), ["2287.95"], ["2300万（2025"]),
    ("social_security_card", Question("社保卡目标是多少", region="深圳"), ["2300万"], []),
    ("social_security_card", Question("广州社保卡有多少人", region="广州"), ["现有资料没有覆盖广州"], ["2287.95", "2000万"]),
    ("social_security_card", Question("社保卡怎么补办"), ["现有资料没有提供", "可以通过", "电子社保卡"], []),
    ("social_security_card", Question("深圳社保卡目标是2000万吧", region="深圳"), ["更正", "2300万"], []),
    ("employment", Question("全国十四五新增就业目标", region="全国", period="14th"), ["5500万人以上"], ["60万人以上"]),
    ("employment", Question("上海新增就业", region="上海"), ["50万"], ["5500"]),
    ("wage_arrears", Question("劳动保障监察结案率目标", region="深圳", period="2025"), ["98%以上"], []),
    ("social_security_card", Question("上海社保卡怎么办", region="上海"), ["现有资料没有提供", "当地人力资源和社会保障部门"], ["交通银行"]),
    ("personal_record", Question("查我的社保[身份证号]", has_pii=True), ["请不要在对话中发送身份证号、手机号或银行卡号"], []),
    ("minimum_wage", Question("深圳最低工资多少", region="深圳"), ["2200"], []),
    ("talent_introduction", Question("人才引进入户最快多久"), ["24分钟"], []),
]


@pytest.mark.parametrize("topic, question, must, must_not", CASES, ids=[c[1].text for c in CASES])
def test_topic_answers(service, templates, topic, question, must, must_not):
    answer = compose_topic_answer(service, templates, topic, question)
    for needle in must:
        assert needle in answer.text, answer.text
    for needle in must_not:
        assert needle not in answer.text, answer.text


@pytest.mark.parametrize("topic", ["service_points", "social_security_card", "employment", "pension", "retirement"])
@pytest.mark.parametrize("region", [None, "深圳", "上海", "全国", "北京"])
def test_every_number_in_an_answer_is_in_the_knowledge_base(service, templates, topic, region):
    answer = compose_topic_answer(service, templates, topic, Question("多少", region=region))
    numbers = {n.rstrip("0").rstrip(".") if "." in n else n for n in re.findall(r"\d+(?:\.\d+)?", answer.text)}
    assert numbers <= service.known_numbers(), numbers - service.known_numbers()


def test_every_topic_card_answers(service, templates):
    for card in service.topics():
        answer = compose_topic_answer(service, templates, card.id, Question("介绍一下"))
        assert answer.text.strip()


def test_search_answer_cites_its_source(service, templates):
    answer = compose_search_answer(service, templates, "零工市场和就业驿站有多少家", min_score=1.0)
    assert answer is not None and "来源：《" in answer.text


@pytest.mark.parametrize(
    "text, expected", [("1", 1), ("2", 2), ("第二个", 2), ("②", 2), ("选3", 3), ("你好", None), ("深圳2024年", None)]
)
def test_option_choice(text, expected):
    assert parse_option(text) == expected


@pytest.mark.parametrize(
    "question, periods, missing",
    [
        (Question(period="2024"), ("result_2024",), None),
        (Question(period="last_year", today=dt.date(2025, 3, 1)), ("result_2024",), None),
        # why: 去年 in 2026 asks for 2025 results; the sources only hold 2025 *targets*, which must not pass for
        # results (targets and results are kept apart), so the period is reported missing.
        (Question(period="last_year", today=dt.date(2026, 11, 22)), None, "2025年"),
        (Question(period="2019"), None, "2019年"),
        (Question(text="目标是多少"), ("target_2025", "total_2021_2025", "annual_target"), None),
        (Question(text="实际完成了多少"), ("result_2024", "result_13th", "base_2020"), None),
        (Question(text="多少"), None, None),
        # why: "目标是多少" right after a 十三五 result may ask that plan's own target: both targets, labelled.
        (Question(text="目标是多少", period="13th", period_carried=True),
         ("target_13th", "target_2025", "total_2021_2025", "annual_target"), None),
    ],
)
def test_wanted_periods(question, periods, missing):
    assert wanted_periods(question) == (periods, missing)


def test_wechat_variant_is_used_for_wechat(domain):
    assert "点选" not in Templates.from_domain(domain, "wechat").text("utter_clarify")


def test_a_carried_period_does_not_hide_the_figure_a_question_names(service, templates):
    # why: "十四五规划征求意见…" then "信寄到哪里": the address, not the carried 十四五 targets of a related card.
    question = Question(text="信寄到哪里", carried_region="深圳", period="14th", period_carried=True)
    answer = compose_topic_answer(service, templates, "plan_consultation", question)
    assert "8005号" in answer.text, answer.text


def test_the_plan_period_answers_how_far_it_reaches(service, templates):
    answer = compose_topic_answer(service, templates, "plan_overview", Question(text="规划管到哪一年", carried_region="深圳"))
    assert "2035" in answer.text, answer.text
