"""bot.channels.socketio: session rooms, custom JSON (hand-off) and malformed events."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import AsyncMock

import pytest

from bot.channels.socketio import SocketIOChannel, WidgetOutput
from bot.sessions import issue_widget_session, valid_widget_session


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


def _confirmed(channel) -> str:
    return channel.sio.emit.await_args.args[1]


def test_session_request_issues_a_signed_unguessable_id(channel):
    run(handler(channel, "session_request")("sid1", {}))
    session_id = _confirmed(channel)
    assert valid_widget_session(session_id) == session_id and len(session_id) >= 40
    channel.sio.enter_room.assert_awaited_once_with("sid1", session_id, namespace=None)
    channel.sio.emit.assert_awaited_once_with("session_confirm", session_id, room="sid1", namespace=None)


def test_a_reload_keeps_the_session_this_server_issued(channel):
    own = issue_widget_session()
    run(handler(channel, "session_request")("sid1", {"session_id": own}))
    assert _confirmed(channel) == own


@pytest.mark.parametrize(
    "data",
    [None, "abc", {"session_id": "<script>"}, {"session_id": 5}, {},
     # why: ids another resident might hold: old unsigned ids, guessable ones, forged signatures.
     {"session_id": "abc123"}, {"session_id": "1"}, {"session_id": uuid.uuid4().hex},
     {"session_id": "w-" + "a" * 26 + "-" + "b" * 16}],
)
def test_session_request_with_a_foreign_or_bad_id_gets_a_fresh_one(channel, data):
    run(handler(channel, "session_request")("sid1", data))
    session_id = _confirmed(channel)
    assert valid_widget_session(session_id) == session_id
    assert not isinstance(data, dict) or session_id != data.get("session_id")


def test_user_message_is_cleaned_and_keyed_by_the_sockets_session(channel):
    run(handler(channel, "session_request")("sid1", {}))
    session_id = _confirmed(channel)
    data = {"message": "我的电话13812345678", "session_id": session_id, "metadata": {"wechat": 1, "evil": 2}}
    run(handler(channel, "user_uttered")("sid1", data))
    [message] = channel.received
    assert message.sender_id == session_id and message.input_channel == "socketio"
    assert "13812345678" not in message.text and message.metadata["hygiene"]["pii"] == ["phone"]
    assert "evil" not in message.metadata and "wechat" not in message.metadata
    assert isinstance(message.output_channel, WidgetOutput)


def test_a_second_socket_cannot_speak_or_listen_in_another_session(channel):
    run(handler(channel, "session_request")("victim", {}))
    victim = _confirmed(channel)
    run(handler(channel, "session_request")("intruder", {"session_id": "abc123"}))
    intruder = _confirmed(channel)
    assert intruder != victim
    run(handler(channel, "user_uttered")("intruder", {"message": "hi", "session_id": victim}))
    assert channel.received == []  # naming the victim's session is refused
    joined = [c.args[1] for c in channel.sio.enter_room.await_args_list if c.args[0] == "intruder"]
    assert victim not in joined  # and the intruder never joins the victim's room


@pytest.mark.parametrize(
    "data", ["text", None, {"message": "hi"}, {"message": "hi", "session_id": "../x"}, {"message": 5, "session_id": ""}]
)
def test_malformed_user_messages_and_unconfirmed_sockets_are_ignored(channel, data):
    run(handler(channel, "user_uttered")("sid1", data))
    assert channel.received == []


def test_custom_json_reaches_the_browser_as_data():
    sio = AsyncMock()
    run(WidgetOutput(sio, "bot_uttered").send_custom_json("abc123", {"handoff": True}))
    sio.emit.assert_awaited_once_with("bot_uttered", {"handoff": True}, room="abc123")


@pytest.mark.parametrize(
    ("item", "expected"),
    [("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"), ("<script>", None), (5, None), (None, None)],
)
def test_every_reply_names_the_question_it_answers(channel, item, expected):
    """Two tabs share a session room: the reply names the widget's question id so only the asking tab records it."""
    run(handler(channel, "session_request")("sid1", {}))
    session_id = _confirmed(channel)
    web = {"script": "auto"} if item is None else {"script": "auto", "item": item}
    run(handler(channel, "user_uttered")("sid1", {"message": "你好", "session_id": session_id, "metadata": {"web": web}}))
    [message] = channel.received
    output = message.output_channel
    sio = AsyncMock()
    output.sio = sio
    run(output.send_text_message(session_id, "回答"))
    run(output.send_custom_json(session_id, {"citations": [], "reply_to": "forged"}))
    text_payload, custom_payload = (c.args[1] for c in sio.emit.await_args_list)
    assert text_payload.get("reply_to") == expected and text_payload["text"] == "回答"
    assert custom_payload.get("reply_to") == expected  # never what the bot's custom JSON said


@pytest.mark.parametrize(
    ("environ", "allowed"),
    [({"HTTP_ORIGIN": "http://localhost:8000"}, True), ({"HTTP_ORIGIN": "http://127.0.0.1:8000"}, True),
     ({}, True),  # no Origin: not a browser page (scripts, the scale tests); nothing to protect against
     ({"HTTP_ORIGIN": "https://evil.example"}, False), ({"HTTP_ORIGIN": "null"}, False),
     ({"HTTP_ORIGIN": "http://localhost:8000.evil.example"}, False), ({"HTTP_ORIGIN": "http://localhost:8001"}, False),
     ({"HTTP_ORIGIN": ""}, False)],
)
def test_only_pages_of_the_allowed_origins_may_connect(monkeypatch, environ, allowed):
    for name in ("RASA_CORS", "WEB_ALLOWED_ORIGINS", "WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    channel = SocketIOChannel(session_persistence=True)
    channel.blueprint(AsyncMock())
    assert run(handler(channel, "connect")("sid1", environ, None)) is allowed


def test_the_origins_are_rasa_cors_and_the_sites_that_embed_the_widget(monkeypatch):
    monkeypatch.setenv("WEB_ALLOWED_ORIGINS", "https://renshe.example.gov.cn")
    monkeypatch.delenv("RASA_CORS", raising=False)
    channel = SocketIOChannel(session_persistence=True)
    channel.blueprint(AsyncMock())
    connect = handler(channel, "connect")
    assert run(connect("s", {"HTTP_ORIGIN": "https://renshe.example.gov.cn"}, None)) is True
    monkeypatch.setenv("RASA_CORS", r"https://a\.example\.gov\.cn$")
    channel = SocketIOChannel(session_persistence=True)
    channel.blueprint(AsyncMock())
    connect = handler(channel, "connect")
    assert run(connect("s", {"HTTP_ORIGIN": "https://A.example.gov.cn"}, None)) is True
    assert run(connect("s", {"HTTP_ORIGIN": "https://renshe.example.gov.cn"}, None)) is False
    assert run(connect("s", {"HTTP_ORIGIN": "https://a.example.gov.cn.evil.example"}, None)) is False
