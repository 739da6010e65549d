"""Knowledge answers: a topic question, a follow-up, a numbered option."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import KnowledgeAction
from actions.composer import (
    DEFAULT_REGION,
    card_relevance,
    compose_plan,
    compose_section,
    compose_section_list,
    compose_topic_answer,
    is_list_question,
    regions_with_facts,
)
from knowledge.options import parse_option

logger = logging.getLogger(__name__)

# why: "参保率呢", "那电子的呢": a few words and 呢, asking the same thing about something else.
FRAGMENT = re.compile(r"(?:那|那么)?[^，。？！,.?!\s]{1,6}呢[？?]?")
# why: words of a resident who does ask about their own record (查询 / 缴费记录 / 参保记录 …).
RECORD_WORDS = re.compile(r"查|记录|記錄|缴费|繳費|参保|參保|明细|明細|账户|賬戶|个人权益|個人權益")
# why: a follow-up made of period words and fillers only ("十四五目标呢", "那2020年的呢", "十三五期间的实际呢").
PERIOD_ONLY = re.compile(
    r"(?:那|那么|那个|请问|再问下?)?(?:的|在)?"
    r"(?:十三五|十四五|“十三五”|“十四五”|20[0-3]\d年?|去年|今年|前年)(?:时期|期间|末)?"
    r"(?:的)?(?:目标|目標|实际|實際|实绩|完成情况|情况|数字|数据)?(?:是)?(?:多少|几多)?(?:呢|嘞|咧|啊|吗|？|\?)*"
)


class ActionAnswerTopic(KnowledgeAction):
    """Answers a topic intent from its topic card (intent -> card via ``TopicCard.intents``)."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        question = self.question(tracker)
        templates = self.templates(tracker, domain)
        last_topic = tracker.get_slot("topic")
        if last_topic and FRAGMENT.fullmatch(question.text.strip()):
            # why: "参保率呢" after a pension answer asks the pension card's 参保率, even when the model
            # filed the two words under another topic; decided in the thread below.
            followup = self.question(tracker, follow_up=True)
            found = await self.in_thread(self._fragment, intent, followup, last_topic, templates)
            if found is not None:
                topic_id, answer = found
                events = self.send(dispatcher, answer, question=followup)
                return self.changed_only(tracker, [SlotSet("topic", topic_id), SlotSet("last_options", None), *events])
        # why: one thread hop for the whole answer; a hop per call cost more than the calls (issue 20).
        found = await self.in_thread(self._answer, intent, question, templates, last_topic)
        if found is None:
            logger.warning("no topic card for intent %s", intent)
            dispatcher.utter_message(response="utter_default")
            return []
        card_id, answer = found
        events = self.send(dispatcher, answer, question=question)
        if question.has_pii and card_id == "personal_record" and not RECORD_WORDS.search(question.text):
            # why: "我手机138…，有培训补贴通知我一下" lands on the personal-record card because of the number;
            # the resident did not change the subject, so the thread (topic, last figure) stays as it was.
            return []
        # why: a numbered list ("十件大事都有啥") is remembered so that "第四件" picks from it.
        options = list(answer.options) or None
        return self.changed_only(
            tracker, [SlotSet("topic", answer.topic_id or card_id), SlotSet("last_options", options), *events]
        )

    def _fragment(self, intent: str | None, question, last_topic: str, templates):
        """(last topic, its answer) when a fragment matches the last topic's figures at least as well as the
        card of the predicted intent; else None."""
        card = self.service.topic_for_intent(intent)
        last = self.service.topic(last_topic)
        if last is None or (card is not None and card.id == last.id):
            return None
        ours = card_relevance(self.service, last, question.text)
        theirs = card_relevance(self.service, card, question.text) if card is not None else 0
        if ours == 0 or ours < theirs:
            return None
        return last.id, compose_topic_answer(self.service, templates, last.id, question)

    def _answer(self, intent: str | None, question, templates, last_topic: str | None = None):
        card = self.service.topic_for_intent(intent)
        if card is None:
            return None
        if not question.region and not question.carried_region and last_topic and last_topic != card.id:
            # why: "城镇调查失业率目标呢" right after the national plan asks the national figure: a card about one
            # region only (国务院规划 → 全国, 上海规划 → 上海) lends its region when the new card has figures there.
            last = self.service.topic(last_topic)
            lent = regions_with_facts(self.service, last) if last is not None else []
            if len(lent) == 1 and lent[0] != DEFAULT_REGION and lent[0] in regions_with_facts(self.service, card):
                question = dataclasses.replace(question, carried_region=lent[0])
        if is_list_question(card.id, question.text):
            return card.id, compose_section_list(self.service, templates, card.id)
        plan = self.service.plan(question.text, card.id, question.region or question.carried_region)
        return card.id, compose_plan(self.service, templates, plan, question)


class ActionFollowup(KnowledgeAction):
    """"那上海呢？" / "2024年呢？" / "目标是多少？": the last topic again with one thing changed."""

    def name(self) -> str:
        return "action_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        question = self.question(tracker, follow_up=True)
        topic_id, answer = await self.in_thread(
            self._answer, question, tracker.get_slot("topic"), self.templates(tracker, domain)
        )
        if answer is None:
            dispatcher.utter_message(response="utter_capabilities")
            return []
        if not topic_id:
            return self.send(dispatcher, answer, question=question)
        return [SlotSet("topic", topic_id), *self.send(dispatcher, answer, question=question)]

    def _answer(self, question, last_topic: str | None, templates):
        """(topic id or None, answer or None: no topic and nothing else to say)."""
        # why: "那工伤保险的目标呢" changes the topic, not the region; the topic named wins. "十四五目标呢" names
        # only a period (an alias of the plan overview card): the same figure of the last topic, other period.
        mentioned = None if last_topic and PERIOD_ONLY.fullmatch(question.text.strip()) else (
            self.service.topic_mentioned(question.text))
        topic_id = mentioned.id if mentioned else last_topic
        if not topic_id:
            # why: "上海居转户具体流程" read as a follow-up with nothing before it is still a question.
            plan = self.service.plan(question.text, None, question.region)
            if plan.shape in ("not_covered", "other_domain", "place", "parts"):
                return None, compose_plan(self.service, templates, plan, question)
            return None, None
        return topic_id, compose_topic_answer(self.service, templates, topic_id, question)


class ActionSelectOption(KnowledgeAction):
    """A digit chooses one of the numbered options the bot offered last (slot ``last_options``)."""

    def name(self) -> str:
        return "action_select_option"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        options = tracker.get_slot("last_options") or []
        text = tracker.latest_message.get("text") or ""
        choice = parse_option(text, len(options))
        # why: "最后一个" is a choice even when no options are on offer (its number is unknown then).
        if choice is None and parse_option(text, 5) is None:
            # why: the model can mistake text holding a digit ("<img src=x onerror=alert(1)>") for a choice.
            dispatcher.utter_message(response="utter_default")
            return []
        if choice is None or not options or not 1 <= choice <= len(options):
            dispatcher.utter_message(response="utter_option_unknown")
            return []
        option = options[choice - 1]
        question = self.question(tracker)
        if option.get("kind") == "section":
            # why: the list stays on offer: "第十件呢" after "第四件" picks again from the same ten.
            topic = tracker.get_slot("topic")
            answer = await self.in_thread(
                compose_section, self.service, self.templates(tracker, domain), option["value"], topic
            )
            return self.send(dispatcher, answer, question=question)
        answer = await self.in_thread(
            compose_topic_answer, self.service, self.templates(tracker, domain), option["value"], question
        )
        return [SlotSet("topic", option["value"]), SlotSet("last_options", None),
                *self.send(dispatcher, answer, question=question)]
