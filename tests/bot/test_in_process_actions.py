"""ACTIONS_IN_PROCESS: Rasa's RemoteAction answered by rasa_sdk's executor in the Rasa process (bot.speedups)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

import actions.base
from bot import speedups
from knowledge.build import build
from knowledge.service import KnowledgeService
from knowledge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# why: builds a knowledge base (~20 s): the full gate, not make check.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.db'}"
    settings = Settings(database_url=url, content_dir=ROOT / "knowledge",
                        userdict_path=ROOT / "data" / "dict" / "userdict.txt")
    build(settings, force=True)
    shared = actions.base._shared_service
    actions.base._shared_service = KnowledgeService(database_url=url, userdict_path=settings.userdict_path)
    stock = EndpointConfig.request
    speedups._run_actions_in_process("actions")
    yield Domain.load(str(ROOT / "domain.yml"))
    EndpointConfig.request = stock
    actions.base._shared_service = shared


def _run(domain, action_name, text, intent):
    tracker = DialogueStateTracker.from_events("resident", [
        ActionExecuted("action_listen"),
        UserUttered(text, {"name": intent, "confidence": 0.99}, input_channel="rest"),
    ], domain.slots)
    # why: nothing listens on this port; an answer can only come from the executor in this process.
    action = RemoteAction(action_name, EndpointConfig("http://127.0.0.1:9/webhook", enable_selective_domain=True))
    return asyncio.run(action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                                  tracker, domain))


def test_a_knowledge_action_answers_inside_the_rasa_process(in_process):
    events = _run(in_process, "action_answer_topic", "深圳有多少个社保服务网点", "ask_service_points")
    said = [e.text for e in events if isinstance(e, BotUttered)]
    assert said and "113个" in said[0], said
    assert any(isinstance(e, SlotSet) and e.key == "topic" and e.value == "service_points" for e in events)


def test_an_unknown_action_fails_as_an_unreachable_action_server_would(in_process):
    with pytest.raises(RasaException) as failure:
        _run(in_process, "action_that_does_not_exist", "你好", "greet")
    assert not isinstance(failure.value, ActionExecutionRejection)


def test_other_endpoint_calls_still_go_over_http(in_process):
    # why: only action calls (a body with next_action and tracker) are intercepted; this one reaches aiohttp.
    with pytest.raises(Exception) as failure:
        asyncio.run(EndpointConfig("http://127.0.0.1:9/nlg").request(json={"template": "utter_greet"}))
    assert not isinstance(failure.value, RasaException)
