"""bot.speedups: the cached JSON-schema check of action-server replies behaves like Rasa's own."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot import speedups

VALID = {
    "events": [{"event": "slot", "name": "topic", "value": "service_points"}],
    "responses": [{"response": "utter_kb_answer", "answer": "…"}],
}


@pytest.fixture(scope="module")
def stock_and_patched():
    action = RemoteAction.__new__(RemoteAction)  # why: validation needs no endpoint or name
    stock = RemoteAction._validate_action_result
    speedups.install()
    yield action, stock
    RemoteAction._validate_action_result = stock
    speedups._installed = False


@pytest.mark.parametrize(
    "result",
    [VALID, {"events": [], "responses": []}, {}],
)
def test_valid_replies_pass(stock_and_patched, result):
    action, stock = stock_and_patched
    assert stock(action, result) is True
    assert action._validate_action_result(result) is True


@pytest.mark.parametrize(
    "result",
    [{"events": [{"event": 5}]}, {"events": "slot"}, {"responses": [1]}, []],
)
def test_invalid_replies_fail_with_rasas_message(stock_and_patched, result):
    action, stock = stock_and_patched
    with pytest.raises(ValidationError) as theirs:
        stock(action, result)
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(result)
    assert ours.value.message == theirs.value.message
    assert "Failed to validate Action server response" in ours.value.message


def test_install_is_idempotent(stock_and_patched):
    patched = RemoteAction._validate_action_result
    speedups.install()
    assert RemoteAction._validate_action_result is patched
