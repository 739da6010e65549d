"""Low-confidence messages: ask which topic was meant, else answer from search, else say what we cover."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.base import KnowledgeAction
from actions.composer import (
    SUPPORTED_REGIONS,
    card_relevance,
    compose_plan,
    compose_region_not_covered,
    compose_search_answer,
    compose_topic_answer,
)
from knowledge.thresholds import AMBIGUITY_GAP, MIN_OPTION_CONFIDENCE, MIN_SEARCH_SCORE

logger = logging.getLogger(__name__)

# why: a follow-up is short; a long unclear message is a new question for search.
FOLLOWUP_MAX_CHARS = 12
PERIOD_HINT = re.compile(r"十三五|十四五|20[12]\d|去年|目标|实际|完成")
# why: "那个什么时候开始的" / "这个要多久" point back at the last answer: a follow-up, not a new question.
DEIXIS = re.compile(r"^(?:那|这|那个|这个|它|这项|那项|这件事|那件事)(?!里|边|儿)")


class ActionClarifyOrSearch(KnowledgeAction):
    """Runs on ``nlu_fallback``. Needs ``utter_clarify``, ``utter_default`` and slot ``last_options``."""

    def name(self) -> str:
        return "action_clarify_or_search"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        hygiene = (tracker.latest_message.get("metadata") or {}).get("hygiene") or {}
        if hygiene.get("neutralised_command"):
            # why: a typed "/intent{...}" is plain text with no question in it.
            dispatcher.utter_message(response="utter_default")
            return []
        text = tracker.latest_message.get("text") or ""
        # why: a subject the sources do not cover (缴费基数), a non-人社 matter, a place the sources do not cover
        # or several questions in one message have a definite answer whatever the model was unsure of.
        plan = await self.in_thread(self.service.plan, text, None, None)
        if plan.shape in ("not_covered", "other_domain", "place", "parts"):
            answer = await self.in_thread(
                compose_plan, self.service, self.templates(tracker, domain), plan, self.question(tracker)
            )
            return [SlotSet("last_options", None), *self.send(dispatcher, answer)]
        ranking = [r for r in tracker.latest_message.get("intent_ranking", []) if r.get("name") != "nlu_fallback"]
        cards = []
        for entry in ranking[:3]:
            card = await self.in_thread(self.service.topic_for_intent, entry.get("name"))
            if card is not None and entry.get("confidence", 0) >= MIN_OPTION_CONFIDENCE:
                cards.append((card, entry["confidence"]))
        if len(cards) >= 2:
            # why: when one candidate's own figures or aliases clearly match the words used
            # ("技能人材总量" -> 技能人才总量), answer it instead of asking.
            scored = sorted(((card_relevance(self.service, c, text), c) for c, _ in cards), key=lambda x: -x[0])
            if scored[0][0] >= 3 and scored[0][0] - scored[1][0] >= 2:
                answer = await self.in_thread(
                    compose_topic_answer, self.service, self.templates(tracker, domain), scored[0][1].id,
                    self.question(tracker),
                )
                return [SlotSet("topic", scored[0][1].id), SlotSet("last_options", None),
                        *self.send(dispatcher, answer)]
        if len(cards) >= 2 and cards[0][1] - cards[1][1] <= AMBIGUITY_GAP:
            options = [{"kind": "topic", "value": card.id, "title": card.name} for card, _ in cards[:3]]
            buttons = [{"title": o["title"], "payload": str(i)} for i, o in enumerate(options, 1)]
            dispatcher.utter_message(response="utter_clarify", buttons=buttons)
            return [SlotSet("last_options", options)]

        templates = self.templates(tracker, domain)
        regions = self.service.regions_in(text)
        topic_id = tracker.get_slot("topic")
        if regions and regions[0] not in SUPPORTED_REGIONS:
            # why: never answer a Beijing question with a Shenzhen passage.
            return self.send(dispatcher, compose_region_not_covered(templates, regions[0]))
        if topic_id and len(text) <= FOLLOWUP_MAX_CHARS and (
            regions or PERIOD_HINT.search(text) or DEIXIS.search(text)
        ):
            # why: "深圳是多少" / "2024年的呢" after an answer is a follow-up the model was unsure of.
            question = self.question(tracker, follow_up=True)
            answer = await self.in_thread(compose_topic_answer, self.service, templates, topic_id, question)
            return self.send(dispatcher, answer, question=question)
        answer = await self.in_thread(compose_search_answer, self.service, templates, text, MIN_SEARCH_SCORE)
        if answer is None:
            dispatcher.utter_message(response="utter_default")
            return []
        events = self.send(dispatcher, answer)
        return ([SlotSet("topic", answer.topic_id)] if answer.topic_id else []) + events


class ActionDefaultFallback(KnowledgeAction):
    """Core fallback: the next action was unclear. Say what we cover and forget the message."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        dispatcher.utter_message(response="utter_default")
        return [UserUtteranceReverted()]


class ActionAnswerScope(KnowledgeAction):
    """``out_of_scope`` and ``ask_other_domain``: a definite answer when the planner has one, else the intent's reply.

    A 人社 subject the sources do not cover (生育津贴怎么领), a non-人社 matter (公积金) or a place the sources do not
    cover (浏阳市) gets its honest answer even when the model filed it under out-of-scope; anything else gets
    ``utter_out_of_scope`` / ``utter_other_domain`` as before.
    """

    SHAPES = ("not_covered", "other_domain", "place")

    def name(self) -> str:
        return "action_answer_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        plan = await self.in_thread(self.service.plan, text, None, None)
        if plan.shape in self.SHAPES:
            answer = await self.in_thread(
                compose_plan, self.service, self.templates(tracker, domain), plan, self.question(tracker)
            )
            return self.send(dispatcher, answer)
        reply = "utter_other_domain" if intent == "ask_other_domain" else "utter_out_of_scope"
        dispatcher.utter_message(response=reply)
        return []
