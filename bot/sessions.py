"""Conversation ids issued by the server, and the key that signs them.

Contract:

* :func:`issue_widget_session` returns ``w-<26 random base32>-<16 base32 HMAC>``: 130 random bits,
  so a session id cannot be guessed, and signed, so the widget channel accepts back only ids it
  issued (:func:`valid_widget_session`). Base32 has no 0, 1, 8 or 9: an id can never look like a
  phone or card number to the masker.
* Channel namespaces: widget conversations are ``w-…``, REST conversations ``rest-…``
  (:func:`rest_sender`), WeChat conversations the openid. A client of one channel can therefore
  never name (read, write or rate-limit) a conversation of another.
* :func:`pii_hash_key` is ``PII_HASH_KEY``; outside development (:mod:`bot.settings`) a missing key
  raises :class:`MissingKey` (checked at channel start-up by :func:`check_keys`), in development a
  published default keeps ``make run`` working. Session ids are signed with a key derived from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Mapping

from bot.settings import environ, environment_name, is_development

PII_KEY_ENV = "PII_HASH_KEY"
DEV_PII_KEY = "renshe-dev-sender-key"
WIDGET_PREFIX = "w-"
REST_PREFIX = "rest-"
_WIDGET = re.compile(r"^w-([a-z2-7]{26})-([a-z2-7]{16})$")
# why: REST callers are integrations; a short id ("1", "a") is a shared or guessable conversation.
_REST_SENDER = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class MissingKey(RuntimeError):
    """A secret that has only a public development default is unset outside development."""


def pii_hash_key(env: Mapping[str, str] | None = None) -> str:
    env = environ(env)
    key = (env.get(PII_KEY_ENV) or "").strip()
    if key:
        return key
    if is_development(env):
        return DEV_PII_KEY
    raise MissingKey(
        f"{PII_KEY_ENV} must be set when APP_ENV={environment_name(env)!r} (only development may use the default)"
    )


def check_keys(env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`MissingKey` now (at start-up) rather than on a resident's first message."""
    pii_hash_key(env)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _signature(body: str, env: Mapping[str, str] | None) -> str:
    key = hashlib.sha256(b"renshe-session\n" + pii_hash_key(env).encode("utf-8")).digest()
    return _b32(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:10])


def issue_widget_session(env: Mapping[str, str] | None = None) -> str:
    body = _b32(secrets.token_bytes(16))
    return f"{WIDGET_PREFIX}{body}-{_signature(body, env)}"


def valid_widget_session(value: object, env: Mapping[str, str] | None = None) -> str | None:
    """``value`` when it is a session id this server issued, else None."""
    if not isinstance(value, str):
        return None
    match = _WIDGET.match(value)
    if not match:
        return None
    return value if hmac.compare_digest(match.group(2), _signature(match.group(1), env)) else None


def rest_sender(value: object) -> str | None:
    """The REST conversation id for a client-chosen ``sender``; None when it is unacceptable."""
    if not isinstance(value, str) or not _REST_SENDER.match(value):
        return None
    return REST_PREFIX + value


def fresh_rest_sender() -> str:
    return REST_PREFIX + secrets.token_hex(16)
