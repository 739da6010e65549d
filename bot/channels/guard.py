"""A wrapper around Rasa's ``on_new_message`` that every channel of ours uses.

It cleans the text (``bot.sanitize``) before Rasa parses, logs or stores it, and
records what was done in the message metadata (``hygiene``) so that actions can
warn about personal data without ever seeing it.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from bot.sanitize import clean_user_text

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def guard_message(message: UserMessage) -> UserMessage:
    """Clean ``message.text`` in place and annotate its metadata; returns the message."""
    cleaned = clean_user_text(message.text)
    message.text = cleaned.text
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    # why: client-supplied metadata is untrusted; keep only our own annotations.
    message.metadata = {
        **{k: v for k, v in metadata.items() if k in {"wechat", "web"}},
        "hygiene": {
            "pii": list(cleaned.pii_kinds),
            "truncated": cleaned.truncated,
            "neutralised_command": cleaned.neutralised_command,
        },
    }
    return message


def guarded(on_new_message: OnNewMessage) -> OnNewMessage:
    """Return an ``on_new_message`` that cleans every message first."""

    async def handler(message: UserMessage) -> Any:
        return await on_new_message(guard_message(message))

    return handler
