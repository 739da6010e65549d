"""The channel guard: cleaning, pseudonyms, metadata, rate limits and "never silent" (no Rasa needed)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.guard import clean_metadata, guard_message, guarded, replies
from bot.ratelimit import MemoryRateLimiter, RedisRateLimiter, client_address, limiter_from_env
from bot.sanitize import contains_pii, safe_sender_id
from tests.bot.conftest import REDIS_URL, redis_available


def _message(text: str = "你好", sender: str = "s1", metadata=None) -> UserMessage:
    return UserMessage(text, CollectingOutputChannel(), sender, input_channel="rest", metadata=metadata)


def _texts(message: UserMessage) -> list[str]:
    return [m.get("text") for m in message.output_channel.messages]


class Recorder:
    """Stands in for Rasa: records messages, answers, stays silent or fails."""

    def __init__(self, mode: str = "answer") -> None:
        self.mode = mode
        self.seen: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.seen.append(message)
        if self.mode == "raise":
            raise RuntimeError("tracker store down")
        if self.mode in ("answer", "answer-then-raise"):
            await message.output_channel.send_text_message(message.sender_id, "答复")
        if self.mode == "answer-then-raise":
            # why: Rasa sends a turn's answers during the turn and stores the turn at its end.
            raise RuntimeError("tracker store down when the turn was saved")


def _run(handler, message: UserMessage) -> UserMessage:
    asyncio.run(handler(message))
    return message


@pytest.mark.parametrize(
    "sender, pseudonymised",
    [
        ("a1b2c3", False),
        ("13812345678", True),
        ("user-440301199001011234", True),
        ("6222020200112233445", True),
    ],
)
def test_sender_ids_holding_pii_become_stable_pseudonyms(sender, pseudonymised):
    message = guard_message(_message(sender=sender))
    assert (message.sender_id != sender) is pseudonymised
    assert not contains_pii(message.sender_id)
    assert message.sender_id == safe_sender_id(sender)  # stable: the same resident, the same conversation
    assert safe_sender_id(message.sender_id) == message.sender_id  # idempotent


def test_client_metadata_is_masked_and_wechat_metadata_needs_trust():
    metadata = {
        "web": {"page": "/index", "phone": "13812345678", "deep": {"a": {"b": {"c": "x"}}}, "n": 13812345678},
        "wechat": {"msg_id": "1234567890123456789"},
        "anything": "else",
    }
    message = guard_message(_message(metadata=metadata))
    assert set(message.metadata) == {"web", "hygiene"}
    assert message.metadata["web"]["phone"] == "[手机号]"
    assert message.metadata["web"]["n"] == "[手机号]"
    assert message.metadata["web"]["deep"]["a"]["b"] is None  # depth bounded
    trusted = guard_message(_message(metadata=metadata), trusted_metadata=True)
    assert trusted.metadata["wechat"] == {"msg_id": "1234567890123456789"}
    assert clean_metadata(["身份证440301199001011234"] * 50) == ["身份证[身份证号]"] * 20


def test_text_is_cleaned_before_rasa_sees_it():
    rasa = Recorder()
    _run(guarded(rasa, limiter=MemoryRateLimiter(per_minute=0)), _message("/greet 我的卡号6222 0202 0011 2233 445"))
    assert rasa.seen[0].text.startswith("／greet")
    assert "[银行卡号]" in rasa.seen[0].text
    assert rasa.seen[0].metadata["hygiene"]["pii"] == ["bank_card"]


@pytest.mark.parametrize("mode", ["raise", "silent"])
def test_a_failed_or_silent_turn_gets_the_polite_fallback(mode):
    message = _run(guarded(Recorder(mode), limiter=MemoryRateLimiter(per_minute=0)), _message())
    assert _texts(message) == [replies()["unavailable"]]


def test_a_turn_that_fails_after_answering_shows_only_the_polite_reply():
    """The answer belongs to a turn that was never stored: showing it would make the resident's next
    message ("那上海呢", "2") be answered from the turn before it (issue 16)."""
    message = _run(guarded(Recorder("answer-then-raise"), limiter=MemoryRateLimiter(per_minute=0)), _message())
    assert _texts(message) == [replies()["unavailable"]]


def test_the_widget_gets_a_turns_answers_only_once_the_turn_is_stored():
    from unittest.mock import AsyncMock

    from bot.channels.socketio import WidgetOutput

    for mode, expected in [("answer", ["答复"]), ("answer-then-raise", [replies()["unavailable"]])]:
        sio = AsyncMock()
        output = WidgetOutput(sio, "bot_uttered", room="w-room")
        message = UserMessage("你好", output, "w-room", input_channel="socketio")
        asyncio.run(guarded(Recorder(mode), limiter=MemoryRateLimiter(per_minute=0))(message))
        assert [c.args[1]["text"] for c in sio.emit.await_args_list] == expected, mode
        assert all(c.kwargs["room"] == "w-room" for c in sio.emit.await_args_list)


def test_an_answered_turn_gets_no_fallback():
    message = _run(guarded(Recorder("answer"), limiter=MemoryRateLimiter(per_minute=0)), _message())
    assert _texts(message) == ["答复"]


def test_over_the_limit_the_resident_is_asked_to_slow_down_and_rasa_is_not_called():
    rasa = Recorder()
    handler = guarded(rasa, limiter=MemoryRateLimiter(burst=3, per_minute=6))
    answers = [_texts(_run(handler, _message(sender="busy")))[0] for _ in range(5)]
    assert answers == ["答复"] * 3 + [replies()["rate_limited"]] * 2
    assert len(rasa.seen) == 3
    assert _texts(_run(handler, _message(sender="other"))) == ["答复"]  # per conversation


def test_memory_bucket_refills_over_time():
    now = [0.0]
    limiter = MemoryRateLimiter(burst=2, per_minute=60, clock=lambda: now[0])
    assert [limiter.allow("k") for _ in range(3)] == [True, True, False]
    now[0] += 1.0  # one token a second
    assert [limiter.allow("k") for _ in range(2)] == [True, False]


@pytest.mark.redis
def test_redis_bucket_is_shared_between_limiters():
    if not redis_available():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"test:{uuid.uuid4().hex}:rate:"
    first = RedisRateLimiter(REDIS_URL, prefix, burst=3, per_minute=1)
    second = RedisRateLimiter(REDIS_URL, prefix, burst=3, per_minute=1)  # another instance
    assert [first.allow("c"), second.allow("c"), first.allow("c"), second.allow("c")] == [True, True, True, False]
    assert first.allow("other")


def test_redis_outage_fails_open():
    assert RedisRateLimiter("redis://127.0.0.1:9/0", burst=1, per_minute=1).allow("c")


@pytest.mark.parametrize(
    "env, kind, burst, per_minute",
    [
        ({}, MemoryRateLimiter, 10, 20.0),
        ({"RATE_LIMIT_BURST": "5", "RATE_LIMIT_PER_MINUTE": "0"}, MemoryRateLimiter, 5, 0.0),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, RedisRateLimiter, 10, 20.0),
    ],
)
def test_limiter_from_env(env, kind, burst, per_minute):
    limiter = limiter_from_env(env)
    assert isinstance(limiter, kind)
    assert (limiter.burst, limiter.rate * 60) == (burst, per_minute)
    assert limiter.enabled is (per_minute > 0)


def test_widget_replies_reach_the_browser_room_even_under_a_pseudonym():
    from bot.channels.socketio import WidgetOutput

    class FakeSio:
        def __init__(self) -> None:
            self.emitted: list[tuple[str, object]] = []

        async def emit(self, event, data, room=None, **kwargs):
            self.emitted.append((room, data))

    sio = FakeSio()
    session_id = "13812345678"  # a session id that looks like a phone number
    message = UserMessage("你好", WidgetOutput(sio, "bot_uttered", room=session_id), session_id,
                          input_channel="socketio")

    async def rasa(msg: UserMessage) -> None:
        assert msg.sender_id.startswith("pii-")
        await msg.output_channel.send_text_message(msg.sender_id, "答复")
        await msg.output_channel.send_custom_json(msg.sender_id, {"handoff": True})

    asyncio.run(guarded(rasa, limiter=MemoryRateLimiter(per_minute=0))(message))
    assert [room for room, _ in sio.emitted] == [session_id, session_id]
    assert message.output_channel.sent_count == 2


# --- per client address and global limits (issue 16) ----------------------------------------------
def _limited(client_burst: int = 1000, global_burst: int = 1000):
    return guarded(
        Recorder(),
        limiter=MemoryRateLimiter(burst=1000, per_minute=1),
        client_limiter=MemoryRateLimiter(burst=client_burst, per_minute=0.001),
        global_limiter=MemoryRateLimiter(burst=global_burst, per_minute=0.001),
    )


def _answer(handler, sender: str, address: str | None) -> list[str]:
    message = _message(sender=sender)
    asyncio.run(handler(message, client_address=address))
    return _texts(message)


def test_sixty_fresh_senders_from_one_address_hit_the_client_limit():
    handler = _limited(client_burst=60)
    answers = [_answer(handler, uuid.uuid4().hex, "203.0.113.7") for _ in range(61)]
    assert all(a == ["答复"] for a in answers[:60])
    assert answers[60] == [replies()["rate_limited"]]
    assert _answer(handler, uuid.uuid4().hex, "198.51.100.9") == ["答复"]  # another client is not affected


def test_the_global_limit_holds_across_senders_and_addresses():
    handler = _limited(global_burst=5)
    answers = [_answer(handler, uuid.uuid4().hex, f"203.0.113.{n}") for n in range(6)]
    assert answers[:5] == [["答复"]] * 5 and answers[5] == [replies()["rate_limited"]]


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [
        ("203.0.113.7", "1.2.3.4", "203.0.113.7"),  # a client cannot choose its address
        ("127.0.0.1", "1.2.3.4", "1.2.3.4"),  # our nginx
        ("127.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the client prepended a fake hop
        ("127.0.0.1", "1.2.3.4, 10.0.0.2", "1.2.3.4"),  # two proxies of ours
        ("127.0.0.1", None, "127.0.0.1"),
        (None, None, "unknown"),
    ],
)
def test_forwarded_address_is_believed_only_from_a_trusted_proxy(peer, forwarded, expected):
    assert client_address(peer, forwarded, frozenset({"127.0.0.1", "10.0.0.2"})) == expected
