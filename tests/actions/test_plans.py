"""Answer shapes through the actions: the asked facet, the honest gap first, nothing unrelated."""

from __future__ import annotations

import re

import pytest

from actions.answer import ActionAnswerTopic
from actions.fallback import ActionAnswerScope, ActionClarifyOrSearch

from .test_actions import run, tracker

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _body(answer: str) -> str:
    return "\n".join(line for line in answer.split("\n") if not line.startswith("来源："))


@pytest.mark.parametrize(
    "text, intent, must, must_not, first_line",
    [
        # the asked facet, not the topic's figures
        ("电子社保卡能拿来干嘛", "ask_social_security_card", ["功能", "来源：《"], ["2300万"], None),
        ("公共就业服务收不收费", "ask_employment", ["免费"], [], None),
        # procedures: the gap first, one statement, the channel, no unrelated figures
        ("失业金要准备什么材料", "ask_unemployment_insurance", ["现有资料没有提供", "可以通过"], ["万人", "参保人数"],
         "现有资料没有提供"),
        ("建筑工地的工人怎么参加工伤保险", "ask_work_injury_insurance", ["现有资料没有提供", "工程建设"], ["1291"],
         "现有资料没有提供"),
        # adjacent subjects the sources do not cover: never a neighbour's figures
        ("深圳社保最低缴费基数是多少", "ask_minimum_wage", ["现有资料没有提供", "缴费基数"], ["2200"], "现有资料没有提供"),
        ("深圳生育津贴怎么领", "ask_unemployment_insurance", ["现有资料没有提供", "生育"], ["失业保险参保"], None),
        # places: counties and provinces are not covered, districts are their city
        ("浏阳市社保卡怎么办", "ask_social_security_card", ["现有资料没有覆盖浏阳市"], ["未说明地区", "2287.95"], None),
        ("宝安区社保服务网点在哪里", "ask_service_points", ["宝安区", "现有资料没有提供"], ["未说明地区"], None),
        # comparisons and several questions in one message
        ("深圳和上海的社保卡持卡人数目标各是多少", "ask_social_security_card", ["【深圳】", "【上海】", "2000万"], [], None),
        ("1. 社保卡怎么补办？2. 失业金怎么领？3. 深圳有多少个社保服务网点？", "ask_social_security_card",
         ["1. ", "2. ", "3. ", "113个"], [], None),
        # the subject phrase of the question, not a sentence sharing only a facet word (支付, 认证, 账户)
        ("什么企业年金,有啥特殊含义", "ask_pension", ["企业年金"], ["1319万人"], None),
        ("个人养老金账户有什么用", "ask_pension", ["个人养老金"], ["农民工工资专用账户", "主动认证"], None),
        # a when-question answered by the dated fact it names: no list of what else the sources lack
        ("国务院就业促进规划什么时候印发的", "ask_national_plan", ["印发日期：2021年8月23日"], ["现有资料没有"], None),
        # a definition the plans never give: said first, then the one related sentence and the channel
        ("欠薪是指什么", "ask_wage_arrears", ["现有资料没有提供“欠薪”的定义", "可以通过"], [], "现有资料没有提供"),
        # a year is not a figure cue: "2025年…文件是什么" is a what-question, not a list of 2025 targets
        ("上海知青2025年补贴文件是什么", "ask_shanghai_plan", ["现有资料没有"], ["1700万人", "2000万"], None),
    ],
)
def test_answer_shapes(service, domain, text, intent, must, must_not, first_line):
    messages, _ = run(ActionAnswerTopic(service), tracker(text, intent), domain)
    answer = messages[0]["answer"]
    for needle in must:
        assert needle in answer, answer
    for needle in must_not:
        assert needle not in answer, answer
    if first_line:
        assert answer.split("\n")[0].startswith(first_line), answer


def test_a_gap_answer_states_no_figure_the_question_did_not_ask(service, domain):
    messages, _ = run(ActionAnswerTopic(service), tracker("社保卡丢了怎么补办", "ask_social_security_card"), domain)
    assert _NUMBER.findall(_body(messages[0]["answer"])) == [], messages[0]["answer"]


@pytest.mark.parametrize(
    "text, intent, must",
    [
        ("公积金怎么提取", "ask_other_domain", "住房公积金"),
        ("生育保险怎么报销", "out_of_scope", "现有资料没有提供生育保险"),
        ("长沙浏阳的社保", "out_of_scope", "现有资料没有覆盖"),
    ],
)
def test_scope_intents_still_get_the_honest_answer(service, domain, text, intent, must):
    messages, _ = run(ActionAnswerScope(service), tracker(text, intent), domain)
    assert must in messages[0]["answer"]


def test_scope_intents_without_a_plan_keep_their_reply(service, domain):
    messages, _ = run(ActionAnswerScope(service), tracker("你吃过榴莲吗", "out_of_scope"), domain)
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]


def test_low_confidence_subject_the_sources_do_not_cover(service, domain):
    ranking = [{"name": "nlu_fallback", "confidence": 1.0}, {"name": "ask_minimum_wage", "confidence": 0.3}]
    messages, _ = run(ActionClarifyOrSearch(service), tracker("社平工资多少", "nlu_fallback", ranking=ranking), domain)
    assert "现有资料没有提供社会平均工资" in messages[0]["answer"]


def test_a_challenge_re_cites_the_statements_of_the_last_answer(service, domain):
    from actions.verify import ActionVerify

    messages, events = run(ActionAnswerTopic(service), tracker("电子社保卡能拿来干嘛", "ask_social_security_card"), domain)
    state = next(e["value"] for e in events if e.get("name") == "last_answer")
    assert state["statement_ids"]
    messages, _ = run(ActionVerify(service), tracker("出处呢", "verify_source", slots={"last_answer": state}), domain)
    quoted = service.statement(state["statement_ids"][0]).text
    assert quoted in messages[0]["answer"]


@pytest.mark.parametrize(
    "first, intent, entities, fragment, slots, must, must_not",
    [
        ("深圳2024年城镇新增就业有多少人", "ask_employment", [("region", "深圳"), ("period", "2024")], "之前呢",
         {"period": "2024"}, ["64.4万人"], ["20.7万人", "我可以回答"]),
        ("深圳2024年城镇新增就业有多少人", "ask_employment", [("region", "深圳"), ("period", "2024")], "目标定的多少",
         {"period": "2024"}, ["60万人以上"], ["20.7万人"]),
        ("深圳社保卡现在有多少人持卡", "ask_social_security_card", [("region", "深圳")], "目标定的多少",
         {}, ["2300万"], ["人口覆盖率"]),
    ],
)
def test_a_fragment_asks_the_figure_answered_last(service, domain, first, intent, entities, fragment, slots, must,
                                                  must_not):
    from actions.answer import ActionFollowup

    _, events = run(ActionAnswerTopic(service), tracker(first, intent, entities), domain)
    state = next(e["value"] for e in events if e.get("name") == "last_answer")
    topic = next(e["value"] for e in events if e.get("name") == "topic")
    slots = {"topic": topic, "region": "深圳", "last_answer": state, **slots}
    messages, _ = run(ActionFollowup(service), tracker(fragment, "followup", slots=slots), domain)
    answer = messages[0]["answer"]
    assert all(n in answer for n in must) and not any(n in answer for n in must_not), answer


def test_actions_word_their_answer_without_a_domain_in_the_request(service):
    # why: endpoints.yml enables Rasa's selective domain, so the action call carries no domain; the wording
    # comes from domain.yml (actions.base.file_responses) and must be the same answer.
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    assert yaml.safe_load((root / "endpoints.yml").read_text())["action_endpoint"]["enable_selective_domain"] is True
    full = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    with_domain, _ = run(ActionAnswerTopic(service), tracker("深圳有多少个社保服务网点", "ask_service_points"), full)
    without, _ = run(ActionAnswerTopic(service), tracker("深圳有多少个社保服务网点", "ask_service_points"), {})
    assert without[0]["answer"] == with_domain[0]["answer"] and "113个" in without[0]["answer"]
