"""Conversation state kept by the actions: what the last answer cited (``last_answer``) and its re-citation
(``action_verify``), the numbered capability menu (``last_options``) and the care for a person in distress."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerTopic, ActionSelectOption
from actions.care import ActionAnswerDistress
from actions.menu import MENU_TOPICS, ActionCapabilities
from actions.verify import ActionVerify, compose_verify
from knowledge.options import parse_option


def tracker(text, intent, entities=(), slots=None) -> Tracker:
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": e, "value": v} for e, v in entities],
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "metadata": {},
    }
    events = [{"event": "user", "text": text, "parse_data": message, "input_channel": "rest"}]
    return Tracker("tester", slots or {}, message, events, False, None, {}, "action_listen")


def run(action, tr, domain):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tr, domain))
    return dispatcher.messages, events


def slot(events, name):
    values = [e["value"] for e in events if e.get("event") == "slot" and e["name"] == name]
    assert values, f"no SlotSet({name})"
    return values[-1]


@pytest.mark.parametrize("text, intent, entities, topic, region, a_fact", [
    ("深圳有多少个社保服务网点", "ask_service_points", [("region", "深圳")], "service_points", "深圳", True),
    ("上海社保卡持卡人数", "ask_social_security_card", [("region", "上海")], "social_security_card", "上海", True),
])
def test_a_knowledge_answer_remembers_what_it_cited(service, domain, text, intent, entities, topic, region, a_fact):
    _, events = run(ActionAnswerTopic(service), tracker(text, intent, entities), domain)
    state = slot(events, "last_answer")
    assert set(state) == {"topic", "fact_ids", "metric_keys", "statement_ids", "region", "period"}
    assert state["topic"] == topic and state["region"] == region
    assert bool(state["fact_ids"]) == a_fact
    assert all(service.fact(i).region == region for i in state["fact_ids"])


def _answer_then_verify(service, domain, text, intent, entities, challenge):
    _, events = run(ActionAnswerTopic(service), tracker(text, intent, entities), domain)
    state = slot(events, "last_answer")
    messages, verify_events = run(ActionVerify(service), tracker(challenge, "verify_source", slots={
        "last_answer": state}), domain)
    assert verify_events == []
    return messages, state


@pytest.mark.parametrize("challenge", ["你确定吗？出处呢", "到底以哪个为准", "有依据吗"])
def test_verify_recites_each_fact_with_its_verbatim_quote(service, domain, challenge):
    messages, state = _answer_then_verify(
        service, domain, "深圳社保服务网点有多少个", "ask_service_points", [("region", "深圳")], challenge
    )
    assert [m["response"] for m in messages] == ["utter_kb_answer"]
    answer = messages[0]["answer"]
    for fact_id in state["fact_ids"]:
        fact = service.fact(fact_id)
        assert fact.source.quote in answer and fact.source.citation in answer
    assert "来源：《" in answer


def test_verify_explains_draft_against_final(service, domain, templates):
    """SZD-G05c (征求意见稿 96%以上) is superseded by the final 98%以上: the challenge gets both and the note."""
    final = [o for o in service.conflicts_for("SZD-G05c") if o.status == "current"][0]
    state = {"topic": "wage_arrears", "fact_ids": [final.id], "statement_ids": [], "region": "深圳", "period": None}
    text = compose_verify(service, templates, state, "征求意见稿不是写的96%吗")
    assert "96%以上" in text and final.display in text
    assert service.fact("SZD-G05c").note in text
    assert "征求意见稿" in text and "以正式印发、发布的版本为准" in text


def test_verify_finds_the_quoted_figure_without_a_previous_answer(service, templates):
    text = compose_verify(service, templates, None, "征求意见稿不是写的96%吗")
    assert text is not None and "98%以上" in text and "96%以上" in text


@pytest.mark.parametrize("state", [None, {}, {"topic": None, "fact_ids": []}])
def test_verify_with_nothing_to_cite_says_so(service, domain, state):
    messages, _ = run(ActionVerify(service), tracker("出处呢", "verify_source", slots={"last_answer": state}), domain)
    assert [m["response"] for m in messages] == ["utter_verify_nothing"]


def test_capability_menu_stores_its_options_and_a_digit_picks_one(service, domain):
    messages, events = run(ActionCapabilities(service), tracker("你能干什么", "ask_capabilities"), domain)
    options = slot(events, "last_options")
    assert [o["value"] for o in options] == list(MENU_TOPICS)
    assert all(set(o) == {"kind", "value", "title"} and o["kind"] == "topic" for o in options)
    assert [b["payload"] for b in messages[0]["buttons"]] == [str(i) for i in range(1, len(options) + 1)]
    for text, index in (("2", 1), ("第三个", 2), ("最后一个", len(options) - 1)):
        _, picked = run(ActionSelectOption(service), tracker(text, "select_option", slots={"last_options": options}),
                        domain)
        assert slot(picked, "topic") == options[index]["value"], text


def test_the_2024_list_is_numbered_and_an_ordinal_picks_an_item_again_and_again(service, domain):
    messages, events = run(ActionAnswerTopic(service), tracker("深圳人社2024年十件大事都有啥",
                                                               "ask_annual_review_2024"), domain)
    answer = messages[0]["answer"]
    options = slot(events, "last_options")
    assert len(options) == 10 and all(o["kind"] == "section" for o in options)
    assert "4. 强保障：实现“15分钟社保服务圈”" in answer and "10. 保权益" in answer, answer
    slots = {"last_options": options, "topic": "annual_review_2024"}
    for text, needle in (("第四件", "113个"), ("第十件呢", "连续3个月环比下降"), ("最后一个", "百日攻坚")):
        picked_messages, picked = run(ActionSelectOption(service), tracker(text, "select_option", slots=slots), domain)
        reply = picked_messages[0]["answer"]
        assert needle in reply and "内容编辑" not in reply, (text, reply)
        # why: the list stays on offer for the next pick.
        assert not [e for e in picked if e.get("event") == "slot" and e["name"] == "last_options"], picked


def test_a_figure_question_about_the_2024_list_still_gets_the_figure(service, domain):
    messages, events = run(ActionAnswerTopic(service), tracker("2024年十件大事里社保服务网点有多少个",
                                                               "ask_annual_review_2024"), domain)
    assert "113个" in messages[0]["answer"] and "1. 稳就业" not in messages[0]["answer"]


def test_a_follow_up_after_the_national_plan_asks_the_national_figure(service, domain):
    # why: the national plan card answers for 全国 without setting the region slot; the next card has 全国 figures.
    messages, _ = run(ActionAnswerTopic(service), tracker("城镇调查失业率目标呢", "ask_employment",
                                                          slots={"topic": "national_plan"}), domain)
    assert "5.5%以内" in messages[0]["answer"] and "：5%以内" not in messages[0]["answer"]


@pytest.mark.parametrize("text, count, expected", [
    ("第三件", 10, 3), ("第三條", 10, 3), ("第十件", 10, 10), ("第七个", 10, 7), ("最后一件", 10, 10),
    ("倒数第二件", 10, 9), ("第二个", 3, 2), ("2", 3, 2),
])
def test_one_option_reader_for_every_list(text, count, expected):
    assert parse_option(text, count) == expected


def test_distress_gets_care_and_a_priority_handoff_never_a_figure(domain):
    messages, events = run(ActionAnswerDistress(), tracker("我不想活了", "distress"), domain)
    assert [m.get("response") for m in messages] == ["utter_distress", None]
    assert messages[1]["custom"] == {"handoff": True, "priority": "distress"}
    for variant in domain["responses"]["utter_distress"]:
        text = variant["text"]
        assert "110" in text and "120" in text
        assert text not in [v["text"] for v in domain["responses"]["utter_goodbye"]]
        digits = {d for d in __import__("re").findall(r"\d+", text)}
        assert digits <= {"110", "120"}, f"no hotline or figure without a source: {digits}"
    assert slot(events, "last_options") is None
