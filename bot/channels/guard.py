"""A wrapper around Rasa's ``on_new_message`` that every channel of ours uses.

Contract of :func:`guarded` (one resident message in, at least one answer out):

1. the text is cleaned (``bot.sanitize``: PII masked, ``/intent`` neutralised, length cut) before
   Rasa parses, logs or stores it, and what was done is recorded in the metadata (``hygiene``) so
   that actions can warn about personal data without ever seeing it; a conversation id that itself
   holds personal data is replaced by a keyed pseudonym (:func:`bot.sanitize.safe_sender_id`);
2. client-supplied metadata is reduced to the ``web`` key with PII masked; ``wechat`` metadata is
   kept only when the WeChat channel built it itself (``trusted_metadata``);
3. token buckets (:mod:`bot.ratelimit`) stop floods: per conversation, per client address (when the
   channel knows it: ``handler(message, client_address=...)``) and one global bucket; over any limit
   the resident gets the polite ``rate_limited`` reply and Rasa is not called;
4. never silence: when the turn raises (tracker store or lock store down) or produces no bot message
   (action server unreachable: Rasa logs the error and carries on without the action's messages),
   the resident gets the polite ``unavailable`` reply. Texts live in ``replies.yml``;
   a turn that raises shows *only* that reply: what it had said before failing is dropped (a collecting
   output: REST, WeChat) or was never sent (an output that can ``hold``: the widget's socket). why:
   Rasa sends a turn's answers during the turn and stores the turn at its end; when that store fails
   (PostgreSQL down past the retry window) the answers shown belong to a turn the conversation never
   recorded, and the resident's next message ("那上海呢", "2") is answered from the turn before it —
   a reply built on answers the resident did not read (tests/scale/test_faults.py, issue 16);
5. a resident who writes traditional characters (or chose 繁 in the widget) is answered in
   traditional characters, and Rasa reads the message converted to simplified (:mod:`bot.script`).
6. an empty or whitespace-only message (after cleaning) gets the polite ``empty`` reply without
   reaching Rasa (Rasa 3.6 raised ``KeyError`` on it and the resident saw "系统暂时繁忙").
"""
# rasa-patch: empty-message (docs/rasa-patches.md)

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.ratelimit import RateLimiter, limiter_from_env
from bot.sanitize import clean_user_text, mask_continuation, mask_pii, safe_sender_id
from bot.script import HANT, convert_output, is_traditional, to_simplified, wanted_script
from bot.settings import is_development

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
REPLIES_PATH = Path(__file__).with_name("replies.yml")
_METADATA_DEPTH = 3
_METADATA_ITEMS = 20
_METADATA_CHARS = 500
# why: a number split over consecutive messages ("电话138" then "1234 5678"); the trailing digits of
# each conversation's last message are kept here (this process only, bounded) to mask the rest.
_TAILS: OrderedDict[str, str] = OrderedDict()
_MAX_TAILS = 10_000
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@lru_cache(maxsize=1)
def replies() -> Dict[str, str]:
    """``replies.yml`` (read once, on first use)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(REPLIES_PATH.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


@lru_cache(maxsize=1)
def default_limiter() -> RateLimiter:
    """The process-wide limiter (from the environment, built on first use)."""
    return limiter_from_env()


@lru_cache(maxsize=1)
def default_shared_limiters() -> tuple[RateLimiter, RateLimiter]:
    """The per-client-address and the global limiter (from the environment, built on first use)."""
    return limiter_from_env(kind="client"), limiter_from_env(kind="global")


async def _allowed(bucket: RateLimiter, key: str) -> bool:
    if not bucket.enabled:
        return True
    return await asyncio.to_thread(bucket.allow, key) if bucket.blocking else bucket.allow(key)


def conversation_tag(sender_id: Any) -> str:
    """A short, non-reversible tag of a conversation id for logs."""
    return hashlib.sha256(str(sender_id).encode("utf-8")).hexdigest()[:10]


def clean_metadata(value: Any, depth: int = 0) -> Any:
    """JSON-like ``value`` with PII masked in every string, bounded in depth, items and length."""
    if isinstance(value, str):
        return mask_pii(value[:_METADATA_CHARS])[0]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        masked, kinds = mask_pii(str(value))
        return masked if kinds else value
    if depth >= _METADATA_DEPTH:
        return None
    if isinstance(value, dict):
        items = list(value.items())[:_METADATA_ITEMS]
        return {mask_pii(str(k)[:64])[0]: clean_metadata(v, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [clean_metadata(v, depth + 1) for v in list(value)[:_METADATA_ITEMS]]
    return None


def _continue_number(sender_id: str, text: str) -> tuple[str, tuple[str, ...]]:
    tail = _TAILS.pop(sender_id, "")
    text, kinds, tail = mask_continuation(tail, text)
    if tail:
        _TAILS[sender_id] = tail
        while len(_TAILS) > _MAX_TAILS:
            _TAILS.popitem(last=False)
    return text, kinds


def guard_message(message: UserMessage, trusted_metadata: bool = False) -> UserMessage:
    """Clean ``message`` in place (text, conversation id, metadata); returns the message."""
    if isinstance(message.sender_id, str):
        message.sender_id = safe_sender_id(message.sender_id)
    split_kinds: tuple[str, ...] = ()
    if isinstance(message.text, str) and message.sender_id is not None:
        message.text, split_kinds = _continue_number(str(message.sender_id), message.text)
    cleaned = clean_user_text(message.text)
    message.text = cleaned.text
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    kept: Dict[str, Any] = {}
    if "web" in metadata:
        kept["web"] = clean_metadata(metadata["web"])
    if trusted_metadata and "wechat" in metadata:
        # why: built by the WeChat channel from WeChat's own fields, never by a client.
        kept["wechat"] = metadata["wechat"]
    message.metadata = {
        **kept,
        "hygiene": {
            "pii": list(dict.fromkeys(split_kinds + cleaned.pii_kinds)),
            "truncated": cleaned.truncated,
            "neutralised_command": cleaned.neutralised_command,
        },
    }
    return message


def _hold(output: OutputChannel | None) -> None:
    hold = getattr(output, "hold", None)
    if callable(hold):
        hold()


async def _release(output: OutputChannel | None) -> None:
    release = getattr(output, "release", None)
    if callable(release):
        await release()


def _drop_unrecorded(output: OutputChannel | None, before: int | None) -> int:
    """Forget what a failed turn said (contract 4); returns how many messages were dropped."""
    discard = getattr(output, "discard", None)
    if callable(discard):
        return int(discard())
    messages = getattr(output, "messages", None)
    if isinstance(messages, list) and before is not None and len(messages) > before:
        dropped = len(messages) - before
        del messages[before:]
        return dropped
    return 0


def _sent(output: OutputChannel | None) -> int | None:
    """How many bot messages ``output`` has delivered so far, when it can tell."""
    messages = getattr(output, "messages", None)
    if isinstance(messages, list):
        return len(messages)
    count = getattr(output, "sent_count", None)
    return count if isinstance(count, int) else None


async def _say(output: OutputChannel | None, recipient: str, name: str) -> None:
    if output is None:
        return
    try:
        await output.send_text_message(recipient, replies()[name])
    except Exception:  # noqa: BLE001 - the channel itself is broken; nothing more we can do
        logger.warning("could not deliver the %s reply", name, exc_info=True)


def guarded(
    on_new_message: OnNewMessage,
    clean: bool = True,
    limiter: RateLimiter | None = None,
    client_limiter: RateLimiter | None = None,
    global_limiter: RateLimiter | None = None,
) -> OnNewMessage:
    """Return an ``on_new_message`` that keeps the module's contract.

    ``clean=False`` is for the WeChat channel, which cleans resident texts itself (with
    ``trusted_metadata``) and sends trusted ``/intent`` messages for menu clicks and events.
    """

    async def handler(message: UserMessage, client_address: str | None = None) -> Any:
        if clean:
            guard_message(message)
        elif isinstance(message.sender_id, str):
            message.sender_id = safe_sender_id(message.sender_id)
        if wanted_script(message.text, message.metadata) == HANT:
            # why: answers (and the polite replies below) in 繁體 when the resident writes it (issue 18).
            convert_output(message.output_channel)
        if is_traditional(message.text):
            # why: the NLU data, the knowledge search and the answer planning are all simplified.
            message.text = to_simplified(message.text)
        output = message.output_channel
        recipient = message.sender_id
        if clean and not (message.text or "").strip():
            await _say(output, recipient, "empty")
            return None
        if client_limiter is None or global_limiter is None:
            shared = default_shared_limiters()
        by_client = client_limiter or shared[0]
        overall = global_limiter or shared[1]
        checks = [(limiter or default_limiter(), str(recipient), "conversation")]
        if client_address and not (client_address in _LOOPBACK and is_development()):
            # why: fresh conversation ids are free; an address is not (60 new senders, one client).
            # Loopback is exempt in development only, where tests, benchmarks and make run all share it.
            checks.append((by_client, "addr:" + client_address, "client address"))
        checks.append((overall, "global", "global"))
        for bucket, key, label in checks:
            if not await _allowed(bucket, key):
                logger.info("rate limit: %s limit reached (conversation %s)", label, conversation_tag(recipient))
                await _say(output, recipient, "rate_limited")
                return None
        before = _sent(output)
        _hold(output)
        try:
            result = await on_new_message(message)
        except asyncio.CancelledError:
            _drop_unrecorded(output, before)
            raise
        except Exception:  # noqa: BLE001 - the resident must get an answer whatever broke
            # why: the text was masked above, so the traceback cannot carry personal data.
            logger.exception("turn failed for conversation %s", conversation_tag(recipient))
            dropped = _drop_unrecorded(output, before)
            if dropped:
                logger.warning("dropped %d message(s) of the failed turn (not stored) for conversation %s",
                               dropped, conversation_tag(recipient))
            await _say(output, recipient, "unavailable")
            return None
        await _release(output)
        if before is not None and _sent(output) == before:
            logger.warning("turn for conversation %s produced no reply (action server down?); "
                           "sent the fallback", conversation_tag(recipient))
            await _say(output, recipient, "unavailable")
        return result

    return handler
