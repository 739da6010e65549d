"""Accounts, passwords, sessions and CSRF tokens of the trainer console.

Contract:
- Passwords are hashed with Argon2id (``argon2-cffi``, its current default parameters); a hash made
  with older parameters is upgraded at the next successful sign-in. Passwords need 10+ characters,
  two kinds of character (letters, digits, other), not the user name and not a well-known password.
- A session is a random 256-bit cookie value; the database keeps only ``HMAC(secret, value)``.
  Sessions expire after ``session_idle_seconds`` without a request and ``session_max_seconds`` after
  sign-in; signing in always starts a new session (no fixation).
- Every session carries a random CSRF token; every POST must send it back (form field ``csrf_token``
  or header ``X-CSRF-Token``). The sign-in page stores nothing: its token is ``HMAC(secret, nonce)``
  of a random nonce in the ``rs_console_login`` cookie (:meth:`Authenticator.login_csrf`), so
  cookie-less GET /login requests cannot fill the session table.
- Roles: ``trainer`` edits data, works the inbox, tries sentences and starts training; ``admin`` can
  also activate and roll back models and manage accounts (:data:`ADMIN_ONLY`).
- Failed sign-ins lock one account *from one client address* (never the account for everyone, which
  let anyone lock an admin out): five failures within 15 minutes lock that pair for one minute, each
  further failure doubles the wait, up to 15 minutes. The counts live in this process's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from console.settings import ConsoleSettings
from console.store import ROLES, ConsoleSession, Store, User

logger = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 10
MAX_FAILED_LOGINS = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
FIRST_LOCK_SECONDS = 60.0
ANONYMOUS_SESSION_MAX = timedelta(hours=1)
# why: a length rule alone accepts "aaaaaaaaaa" and "1234567890".
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "0123456789", "qwertyuiop", "1q2w3e4r5t", "password12", "password123",
    "passw0rd12", "admin12345", "admin123456", "iloveyou12", "abc1234567", "a123456789", "qwerty1234",
    "woaini1314", "1qaz2wsx3edc", "zxcvbnm123", "aa12345678", "renshe12345", "changeme123",
})
COOKIE_NAME = "rs_console"
LOGIN_COOKIE_NAME = "rs_console_login"
# Permissions that only the admin role has.
# why: review_facts is admin-only so a service fact always passes a second role before it goes live.
ADMIN_ONLY = frozenset({"activate_model", "rollback_model", "manage_users", "review_facts"})
PERMISSIONS = frozenset({"edit_data", "work_inbox", "try_sentence", "start_training", "view"}) | ADMIN_ONLY

_hasher = PasswordHasher()
# why: verifying against a dummy hash for unknown names makes "no such user" cost the same time.
_DUMMY_HASH: str | None = None


class AuthError(ValueError):
    """A refused account operation (weak password, bad role ...); the message is for the user."""


def can(user: User | None, permission: str) -> bool:
    """Whether ``user`` may do ``permission`` (one of :data:`PERMISSIONS`)."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)
    if user is None or not user.active:
        return False
    return user.is_admin or permission not in ADMIN_ONLY


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is too weak (a message for the user), or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符"
    kinds = sum((any(c.isalpha() for c in password), any(c.isdigit() for c in password),
                 any(not c.isalnum() for c in password)))
    if kinds < 2 or len(set(password)) < 4:
        return "密码须包含字母、数字、符号中的至少两类，且不能是重复的字符"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or (len(username) >= 3 and username.lower() in lowered):
        return "密码太常见或包含用户名，请换一个"
    return None


def hash_password(password: str, username: str = "") -> str:
    problem = password_problem(password, username)
    if problem:
        raise AuthError(problem)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def load_secret(settings: ConsoleSettings) -> str:
    """``CONSOLE_SECRET``, or in development a random secret kept in ``<var>/console-secret``."""
    if settings.secret:
        return settings.secret
    if settings.production:  # pragma: no cover - settings.check() refuses this already
        raise RuntimeError("CONSOLE_SECRET is required in production")
    path = Path(settings.var_dir) / "console-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # why: created 0600 so other local users cannot read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    logger.info("generated a development console secret in %s", path)
    return value


@dataclass(frozen=True)
class NewSession:
    """A session just created: ``cookie`` goes to the browser, the rest stays on the server."""

    cookie: str
    csrf_token: str


class Authenticator:
    """Sign-in, sessions and CSRF checks on top of a :class:`Store` (all methods are synchronous)."""

    def __init__(self, store: Store, settings: ConsoleSettings, secret: str) -> None:
        self.store = store
        self.settings = settings
        self._key = secret.encode("utf-8")
        # (name, address) -> (failure times within the window, locked until); see the module docstring
        self._failures: dict[tuple[str, str], tuple[list[float], float]] = {}
        self._failures_lock = threading.Lock()
        self.clock = time.monotonic

    def token_hash(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode("utf-8"), hashlib.sha256).hexdigest()

    # --- accounts --------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str, by: str = "cli") -> User:
        username = username.strip()
        if not username or len(username) > 64 or any(c.isspace() for c in username):
            raise AuthError("用户名须为 1–64 个字符且不含空格")
        if role not in ROLES:
            raise AuthError(f"角色只能是 {' / '.join(ROLES)}")
        user = self.store.create_user(username, hash_password(password, username), role)
        self.store.audit(by, "user_create", username, role=role)
        return user

    def set_password(self, username: str, password: str, by: str = "cli") -> None:
        found = self.store.user_credentials(username)
        if found is None:
            raise AuthError(f"没有用户 {username}")
        self.store.set_password_hash(found[0].id, hash_password(password, username))
        self.store.audit(by, "user_password", username)

    def locked_for(self, username: str, address: str = "") -> float:
        """Seconds this name stays locked for this address (0 when it may try)."""
        with self._failures_lock:
            _, until = self._failures.get((username, address), ([], 0.0))
            return max(0.0, until - self.clock())

    def _failed(self, username: str, address: str) -> None:
        now = self.clock()
        window = LOCKOUT_WINDOW.total_seconds()
        with self._failures_lock:
            times, until = self._failures.get((username, address), ([], 0.0))
            times = [t for t in times if now - t < window] + [now]
            extra = len(times) - MAX_FAILED_LOGINS
            if extra >= 0:
                until = now + min(window, FIRST_LOCK_SECONDS * 2 ** extra)
            self._failures[(username, address)] = (times, until)
            if len(self._failures) > 10_000:  # bounded: forget the oldest pairs
                for key in list(self._failures)[:1000]:
                    del self._failures[key]

    def authenticate(self, username: str, password: str, address: str = "") -> User | None:
        """The active user with this name and password, or ``None`` (failures are audited with the address)."""
        global _DUMMY_HASH
        username = username.strip()[:64]
        where = {"address": address} if address else {}
        if self.locked_for(username, address) > 0:
            self.store.audit(username or "-", "login_locked", username, **where)
            return None
        found = self.store.user_credentials(username)
        if found is None:
            if _DUMMY_HASH is None:
                _DUMMY_HASH = _hasher.hash(secrets.token_hex(8))
            verify_password(_DUMMY_HASH, password)
            self._failed(username, address)
            self.store.audit(username or "-", "login_failed", username, reason="unknown user", **where)
            return None
        user, password_hash = found
        if not user.active or not verify_password(password_hash, password):
            self._failed(username, address)
            self.store.audit(
                username, "login_failed", username, reason="inactive" if not user.active else "bad password", **where
            )
            return None
        with self._failures_lock:
            self._failures.pop((username, address), None)
        if _hasher.check_needs_rehash(password_hash):
            self.store.set_password_hash(user.id, _hasher.hash(password))
        self.store.mark_login(user.id)
        self.store.audit(username, "login", username, **where)
        return user

    # --- sessions --------------------------------------------------------------------------------

    def start_session(self, user: User | None) -> NewSession:
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self.store.create_session(self.token_hash(cookie), csrf, user.id if user else None)
        return NewSession(cookie, csrf)

    def load_session(self, cookie: str | None) -> ConsoleSession | None:
        if not cookie or len(cookie) > 128:
            return None
        return self.store.load_session(
            self.token_hash(cookie),
            idle=timedelta(seconds=self.settings.session_idle_seconds),
            maximum=timedelta(seconds=self.settings.session_max_seconds),
            anonymous_max=ANONYMOUS_SESSION_MAX,
        )

    def end_session(self, cookie: str | None) -> None:
        if cookie:
            self.store.delete_session(self.token_hash(cookie))

    def login_csrf(self, nonce: str) -> str:
        """The sign-in form's CSRF token for the nonce in :data:`LOGIN_COOKIE_NAME`."""
        digest = hmac.new(self._key, b"login\n" + nonce.encode("utf-8"), hashlib.sha256).digest()
        # why: base32 (no 0, 1, 8, 9): a hex token can hold a digit run the response masker rewrites.
        return base64.b32encode(digest).decode("ascii").rstrip("=").lower()

    def login_csrf_ok(self, nonce: str | None, sent: str | None) -> bool:
        if not nonce or not sent or len(nonce) > 128:
            return False
        return hmac.compare_digest(self.login_csrf(nonce).encode(), sent.encode("utf-8", "replace"))

    @staticmethod
    def csrf_ok(session: ConsoleSession | None, sent: str | None) -> bool:
        """Constant-time comparison of the token a POST sent with its session's token."""
        if session is None or not sent:
            return False
        return hmac.compare_digest(session.csrf_token.encode(), sent.encode())
