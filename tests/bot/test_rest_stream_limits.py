"""The REST channel's stream path (``?stream=true``) keeps the same rate limits as the normal path.

Per conversation, per client address and global (bot.channels.guard): over any of them the resident
gets the polite ``rate_limited`` reply and Rasa is not called, streamed or not.
"""

from __future__ import annotations

import asyncio
import json
from typing import List

import pytest

from bot.channels import guard
from bot.channels.guard import replies
from bot.channels.rest import RestChannel
from bot.ratelimit import MemoryRateLimiter


class FakeRequest:
    def __init__(self, body, ip: str, stream: bool) -> None:
        self.json = body
        # why: Sanic's request.args.get gives the first value, as this dict does.
        self.args = {"stream": "true"} if stream else {}
        self.ip = ip
        self.headers = {}


class Written:
    """What a streamed response wrote (Sanic's StreamingHTTPResponse calls write())."""

    def __init__(self) -> None:
        self.chunks: List[str] = []

    async def write(self, data) -> None:
        self.chunks.append(data if isinstance(data, str) else data.decode("utf-8"))


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch):
    def set_limits(conversation: int = 100, client: int = 100, overall: int = 100) -> None:
        conv = MemoryRateLimiter(conversation, 0.001)
        shared = (MemoryRateLimiter(client, 0.001), MemoryRateLimiter(overall, 0.001))
        monkeypatch.setattr(guard, "default_limiter", lambda: conv)
        monkeypatch.setattr(guard, "default_shared_limiters", lambda: shared)

    return set_limits


def _texts(result) -> List[str]:
    """The bot's texts of one answer, streamed or not."""
    if hasattr(result, "streaming_fn"):
        written = Written()
        asyncio.run(result.streaming_fn(written))
        return [json.loads(line)["text"] for chunk in written.chunks for line in chunk.splitlines() if line]
    return [m["text"] for m in json.loads(result.body)]


def _send(messages, stream: bool):
    """Send ``messages`` (sender, ip) through one channel; the texts of each answer, and Rasa's calls."""
    received: list = []

    async def on_new_message(message):
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "答复")

    blueprint = RestChannel().blueprint(on_new_message)
    [route] = [r for r in blueprint._future_routes if r.uri == "/webhook"]
    answers = []
    for sender, ip in messages:
        result = asyncio.run(route.handler(FakeRequest({"sender": sender, "message": "你好"}, ip, stream)))
        assert hasattr(result, "streaming_fn") == stream  # the path under test was taken
        answers.append(_texts(result))
    return answers, received


LIMITED = [replies()["rate_limited"]]


@pytest.mark.parametrize("stream", [False, True], ids=["normal", "stream"])
def test_one_address_with_many_fresh_conversations_meets_the_client_limit(limits, stream: bool):
    limits(client=2)
    answers, received = _send([(f"resident-{i:08d}", "203.0.113.7") for i in range(4)], stream)
    assert answers == [["答复"], ["答复"], LIMITED, LIMITED]
    assert len(received) == 2  # Rasa was not called over the limit


@pytest.mark.parametrize("stream", [False, True], ids=["normal", "stream"])
def test_many_addresses_meet_the_global_limit(limits, stream: bool):
    limits(overall=3)
    answers, received = _send([(f"resident-{i:08d}", f"203.0.113.{i + 1}") for i in range(5)], stream)
    assert answers == [["答复"]] * 3 + [LIMITED] * 2
    assert len(received) == 3


@pytest.mark.parametrize("stream", [False, True], ids=["normal", "stream"])
def test_one_conversation_meets_its_own_limit(limits, stream: bool):
    limits(conversation=2)
    answers, received = _send([("resident-00000001", f"203.0.113.{i + 1}") for i in range(3)], stream)
    assert answers == [["答复"], ["答复"], LIMITED]
    assert len(received) == 2
