"""bot.channels.rest: conversation ids in their own namespace, polite refusals (no Rasa needed)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.channels.guard import replies
from bot.channels.rest import RestChannel


class FakeRequest:
    def __init__(self, body, ip: str = "203.0.113.7", headers=None) -> None:
        self.json = body
        self.args = {}
        self.ip = ip
        self.headers = headers or {}


def _receive(received: list):
    async def on_new_message(message):
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "答复")

    blueprint = RestChannel().blueprint(on_new_message)
    [route] = [r for r in blueprint._future_routes if r.uri == "/webhook"]
    return route.handler


def _post(body):
    received: list = []
    result = asyncio.run(_receive(received)(FakeRequest(body)))
    return result, received


@pytest.mark.parametrize(
    "sender",
    ["oWeChatOpenid1234567890abcd", "w-aaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb", "resident-0123456789"],
)
def test_a_rest_sender_never_names_another_channels_conversation(sender):
    result, [message] = _post({"sender": sender, "message": "你好"})
    assert message.sender_id == "rest-" + sender  # a WeChat openid or widget id lands in its own REST conversation
    assert result.status == 200 and result.headers["X-Sender"] == sender


@pytest.mark.parametrize("sender", ["1", "default", "a" * 7, "x" * 65, "../etc", "名字名字名字名字名字名字名字名字", 12, [1]])
def test_short_or_odd_senders_are_refused_politely(sender):
    result, received = _post({"sender": sender, "message": "你好"})
    assert received == [] and result.status == 400
    assert json.loads(result.body)[0]["text"] == replies()["bad_sender"]


def test_requests_without_a_sender_do_not_share_a_conversation():
    (_, [first]), (_, [second]) = _post({"message": "你好"}), _post({"message": "你好"})
    assert first.sender_id != second.sender_id and first.sender_id.startswith("rest-")
    assert first.sender_id != "default"


@pytest.mark.parametrize("text", ["", "   ", "\u3000\t", "\u200b"])
def test_an_empty_message_gets_the_polite_empty_reply_without_rasa(text):
    result, received = _post({"sender": "resident-0123456789", "message": text})
    assert received == []
    assert [m["text"] for m in json.loads(result.body)] == [replies()["empty"]]
