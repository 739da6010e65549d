"""bot.channels.socketio: session rooms, custom JSON (hand-off) and malformed events."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import AsyncMock

import pytest

from bot.channels.socketio import SocketIOChannel, WidgetOutput


def run(coroutine):
    # why: a worker thread, so this also works while a Playwright fixture runs a loop in the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def channel():
    received = []

    async def on_new_message(message):
        received.append(message)

    channel = SocketIOChannel(session_persistence=True)
    channel.blueprint(on_new_message)
    channel.sio.enter_room = AsyncMock()
    channel.sio.emit = AsyncMock()
    channel.received = received
    return channel


def handler(channel, event):
    return channel.sio.handlers["/"][event]


def test_session_request_joins_the_session_room(channel):
    run(handler(channel, "session_request")("sid1", {"session_id": "abc123"}))
    channel.sio.enter_room.assert_awaited_once_with("sid1", "abc123", namespace=None)
    channel.sio.emit.assert_awaited_once_with("session_confirm", "abc123", room="sid1", namespace=None)


@pytest.mark.parametrize("data", [None, "abc", {"session_id": "<script>"}, {"session_id": 5}, {}])
def test_session_request_with_bad_data_gets_a_fresh_id(channel, data):
    run(handler(channel, "session_request")("sid1", data))
    session_id = channel.sio.emit.await_args.args[1]
    assert len(session_id) == 32 and session_id.isalnum()
    channel.sio.enter_room.assert_awaited_once_with("sid1", session_id, namespace=None)


def test_user_message_is_cleaned_and_keyed_by_session(channel):
    data = {"message": "我的电话13812345678", "session_id": "abc123", "metadata": {"wechat": 1, "evil": 2}}
    run(handler(channel, "user_uttered")("sid1", data))
    [message] = channel.received
    assert message.sender_id == "abc123" and message.input_channel == "socketio"
    assert "13812345678" not in message.text and message.metadata["hygiene"]["pii"] == ["phone"]
    assert "evil" not in message.metadata and "wechat" not in message.metadata
    assert isinstance(message.output_channel, WidgetOutput)


@pytest.mark.parametrize(
    "data", ["text", None, {"message": "hi"}, {"message": "hi", "session_id": "../x"}, {"message": 5, "session_id": ""}]
)
def test_malformed_user_messages_are_ignored(channel, data):
    run(handler(channel, "user_uttered")("sid1", data))
    assert channel.received == []


def test_custom_json_reaches_the_browser_as_data():
    sio = AsyncMock()
    run(WidgetOutput(sio, "bot_uttered").send_custom_json("abc123", {"handoff": True}))
    sio.emit.assert_awaited_once_with("bot_uttered", {"handoff": True}, room="abc123")
