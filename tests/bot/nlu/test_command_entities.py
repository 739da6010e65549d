"""A typed ``/intent{...}`` (neutralised by the channel) means nothing: IntentGuard gives it ``nlu_fallback``
and drops every entity the extractors read out of it, so nothing reaches a slot on any channel."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import IntentGuard
from bot.sanitize import clean_user_text

CITY = [{"entity": "region", "value": "上海", "start": 14, "end": 16, "extractor": "RegexEntityExtractor"}]


def guarded(text: str, metadata: dict | None = None) -> Message:
    message = Message(data={TEXT: text, INTENT: {"name": "ask_pension", "confidence": 0.6}, ENTITIES: list(CITY)})
    if metadata is not None:
        message.set(METADATA, metadata)
    guard = IntentGuard(IntentGuard.get_default_config())
    return guard.process([message])[0]


@pytest.mark.parametrize("typed", ['/ask_pension{"city":"上海"}', '/followup{"region": "上海"}', "/greet 上海"])
def test_typed_command_keeps_no_entity(typed):
    cleaned = clean_user_text(typed)
    message = guarded(cleaned.text, {"hygiene": {"neutralised_command": cleaned.neutralised_command}})
    assert message.get(INTENT)["name"] == "nlu_fallback"
    assert message.get(ENTITIES) == []


def test_a_question_keeps_its_entities():
    message = guarded("上海养老保险参保人数", {"hygiene": {"neutralised_command": False}})
    assert message.get(ENTITIES) == CITY
