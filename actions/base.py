"""Shared base for actions that answer from the knowledge base."""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
import os
from pathlib import Path
from typing import Any, Dict, List

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.composer import Answer, Question, Templates
from knowledge.service import KnowledgeService

logger = logging.getLogger(__name__)

_shared_service: KnowledgeService | None = None


def default_service() -> KnowledgeService:
    """The process-wide knowledge service, built on first use from settings."""
    global _shared_service
    if _shared_service is None:
        _shared_service = KnowledgeService.from_settings()
    return _shared_service


DOMAIN_PATH = Path(os.environ.get("ACTIONS_DOMAIN", Path(__file__).resolve().parent.parent / "domain.yml"))


@functools.lru_cache(maxsize=1)
def file_responses() -> Dict[str, Any]:
    """The ``responses`` of the domain file (``ACTIONS_DOMAIN``, default the checkout's ``domain.yml``)."""
    return (yaml.safe_load(DOMAIN_PATH.read_text(encoding="utf-8")) or {}).get("responses") or {}


def answer_state(answer: Answer, question: Question | None = None) -> Dict[str, Any] | None:
    """What a knowledge answer cited, for slot ``last_answer`` (read by ``action_verify``); None when it cited
    nothing (a search intro, a region not covered) so a challenge does not re-cite an older answer."""
    if not answer.topic_id and not answer.facts:
        return None
    regions = [f.region for f in answer.facts if f.region]
    return {
        "topic": answer.topic_id,
        "fact_ids": [f.id for f in answer.facts],
        "metric_keys": [f.metric_key for f in answer.facts[:1] if f.metric_key],
        "statement_ids": list(getattr(answer, "statement_ids", ()) or ()),
        "region": regions[0] if regions else (question.region or question.carried_region if question else None),
        "period": question.period if question else None,
    }


class KnowledgeAction(Action, abc.ABC):
    """Base for actions that ask the knowledge service.

    Needs from the domain: the ``utter_kb_answer`` response and the ``utter_part_*`` pieces,
    the slots ``region``, ``period``, ``topic``, ``last_options`` and ``last_answer``.
    """

    def __init__(self, service: KnowledgeService | None = None) -> None:
        self._service = service

    @property
    def service(self) -> KnowledgeService:
        if self._service is None:
            self._service = default_service()
        return self._service

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @staticmethod
    def channel(tracker: Tracker) -> str | None:
        return tracker.get_latest_input_channel()

    def templates(self, tracker: Tracker, domain: Dict[str, Any]) -> Templates:
        # why: endpoints.yml enables Rasa's selective domain, so requests carry no domain (17 KB of JSON
        # serialised, sent and parsed on every turn); the wording then comes from the same domain.yml the
        # model was trained from (same checkout, same image).
        responses = (domain or {}).get("responses") or file_responses()
        return Templates(responses, self.channel(tracker))

    @staticmethod
    def question(tracker: Tracker, *, follow_up: bool = False) -> Question:
        """What the resident asked, from the latest message and (for follow-ups) the slots."""
        message = tracker.latest_message or {}
        entities = {e.get("entity"): e.get("value") for e in message.get("entities", []) if e.get("value")}
        hygiene = (message.get("metadata") or {}).get("hygiene") or {}
        text = message.get("text") or ""
        has_pii = bool(hygiene.get("pii")) or any(m in text for m in ("[身份证号]", "[手机号]", "[银行卡号]"))
        entity_list = message.get("entities", [])
        periods = list(dict.fromkeys(e.get("value") for e in entity_list if e.get("entity") == "period"))
        period = periods[0] if periods else None
        period_carried = False
        prior_metrics: tuple[str, ...] = ()
        if follow_up:
            if period is None:
                period = tracker.get_slot("period")
                period_carried = period is not None
            # why: "之前呢 / 目标定的多少 / 那上海呢" after a figure asks the same figure again (issue 15).
            last = tracker.get_slot("last_answer") or {}
            prior_metrics = tuple(last.get("metric_keys") or ()) if isinstance(last, dict) else ()
        carried = tracker.get_slot("region") if not entities.get("region") else None
        return Question(
            text=text,
            region=entities.get("region"),
            carried_region=carried,
            period=period,
            more_periods=tuple(p for p in periods[1:] if p),
            has_pii=has_pii,
            period_carried=period_carried,
            prior_metrics=prior_metrics,
        )

    @staticmethod
    def send(
        dispatcher: CollectingDispatcher,
        answer: Answer,
        buttons: List[dict] | None = None,
        question: Question | None = None,
    ) -> List[Dict[str, Any]]:
        """Send ``answer``; returns the events that remember what it cited (slot ``last_answer``)."""
        kwargs: Dict[str, Any] = {"response": "utter_kb_answer", "answer": answer.text}
        if buttons:
            kwargs["buttons"] = buttons
        citations = answer.citations()
        if citations:
            # why: the widget links each 《title》 to /source/<doc_id> with the quote highlighted; channels that
            # do not know this JSON (WeChat, REST clients reading text) ignore it.
            kwargs["json_message"] = {"citations": citations}
        dispatcher.utter_message(**kwargs)
        return [SlotSet("last_answer", answer_state(answer, question))]

    @staticmethod
    def changed_only(tracker: Tracker, events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """``events`` without the slot events that set a slot to the value it has.

        why: every event is a row in the tracker store and part of every later tracker the servers
        exchange; a knowledge answer's ``last_options = None`` / same ``topic`` changed nothing (issue 20).
        """
        return [
            e for e in events
            if e.get("event") != "slot" or tracker.get_slot(e.get("name")) != e.get("value")
        ]

    @staticmethod
    async def in_thread(func, *args, **kwargs):
        # why: database work is synchronous; never block the action server's event loop.
        return await asyncio.to_thread(func, *args, **kwargs)
