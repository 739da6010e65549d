"""Residents' feedback on answers and leave-a-message (hand-off) requests from the website widget.

Contract (the trainer console reads through this module, never through the tables directly):

* ``AppStore(database_url)`` owns one engine; ``get_store()`` returns the process-wide store for
  ``APP_DATABASE_URL`` (default: the SQLite file ``var/app.db``), created on first use.
* ``record_feedback`` / ``list_feedback`` and ``record_handoff`` / ``list_handoffs`` take and return
  plain values and frozen dataclasses, never ORM objects; one short session per call.
* Every free text that is stored (reasons, the answer and question the feedback is about, hand-off
  messages) goes through :func:`bot.sanitize.mask_pii` first, so no ID, phone or bank-card number
  reaches the database in clear text.
* A hand-off is stored only with ``consent=True`` (else :class:`ConsentRequired`). The contact details
  are kept encrypted with Fernet (key from ``HANDOFF_KEY``); listings show only a masked form such as
  ``138****5678``. ``reveal_contact`` decrypts for the staff member who answers.
* Outside development (``APP_ENV`` not development/test) ``HANDOFF_KEY`` is required; in development
  a key is generated once and kept in ``var/handoff.key`` (mode 600, gitignored).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Boolean, Column, DateTime, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

from bot.sanitize import mask_pii
from knowledge.db import make_engine
from widget.settings import DEFAULT_KEY_PATH, app_database_url, handoff_key, is_development

logger = logging.getLogger(__name__)


RATINGS = ("up", "down")
# why: the widget offers these reasons after a 👎; free text goes into ``comment``.
REASONS = ("inaccurate", "not_answered", "unclear", "outdated", "other")
MAX_TEXT = 2000
MAX_REASON_TEXT = 500
MAX_MESSAGE = 500
MAX_NAME = 50
CONSENT_VERSION = "web-handoff-v1"

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,24}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# why: landlines (区号-号码) and +852/+853 numbers are legitimate contacts for residents too.
_OTHER_PHONE = re.compile(r"^\+?\d{7,15}$")

# why: SQLAlchemy 1.4 has no Mapped[]/mapped_column; classic Column declarations, used with the
# 2.0-style select() and Session(future=True).
Base = declarative_base()


class FeedbackRow(Base):
    __tablename__ = "web_feedback"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False, index=True)
    channel = Column(String(16), nullable=False, default="web")
    session_id = Column(String(64), nullable=False, index=True)
    message_id = Column(String(64), nullable=False, default="")
    rating = Column(String(8), nullable=False, index=True)
    reason = Column(String(32), nullable=True)
    comment = Column(Text, nullable=True)
    bot_text = Column(Text, nullable=False, default="")
    user_text = Column(Text, nullable=True)


class HandoffRow(Base):
    __tablename__ = "web_handoff"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False, index=True)
    channel = Column(String(16), nullable=False, default="web")
    session_id = Column(String(64), nullable=False, index=True)
    contact_kind = Column(String(8), nullable=False)
    contact_masked = Column(String(80), nullable=False)
    name_masked = Column(String(16), nullable=True)
    contact_encrypted = Column(Text, nullable=False)
    message = Column(Text, nullable=False)
    consent = Column(Boolean, nullable=False)
    consent_version = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False, default="new", index=True)


class StaffReplyRow(Base):
    """A staff member's answer from the console's hand-off queue, kept until the widget shows it."""

    __tablename__ = "web_staff_reply"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False, index=True)
    session_id = Column(String(64), nullable=False, index=True)
    text = Column(Text, nullable=False)
    staff = Column(String(64), nullable=False, default="")
    # why: set when a browser received it (live over socket.io or fetched on return); never shown twice.
    delivered_at = Column(DateTime(timezone=True), nullable=True, index=True)


class StoreError(ValueError):
    """A record was refused; ``str(error)`` is a short English reason, ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ConsentRequired(StoreError):
    def __init__(self) -> None:
        super().__init__("consent", "explicit consent is required to store contact details")


@dataclass(frozen=True)
class Feedback:
    id: int
    created_at: _dt.datetime
    channel: str
    session_id: str
    message_id: str
    rating: str
    reason: str | None
    comment: str | None
    bot_text: str
    user_text: str | None


@dataclass(frozen=True)
class Handoff:
    id: int
    created_at: _dt.datetime
    channel: str
    session_id: str
    contact_kind: str
    contact_masked: str
    name_masked: str | None
    message: str
    consent_version: str
    status: str


@dataclass(frozen=True)
class Contact:
    """Decrypted contact details (only for the staff member who replies)."""

    name: str | None
    phone: str | None
    email: str | None


# ---------------------------------------------------------------------------------------------
# small pure helpers (unit-tested)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def clean_text(value: object, limit: int) -> str:
    """Coerce to str, strip control characters, mask PII, cut to ``limit`` characters."""
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()
    masked, _ = mask_pii(text[: limit * 2])
    return masked[:limit]


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; other numbers keep only their last four digits."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 4, 3) + digits[-4:]


def mask_email(email: str) -> str:
    """``zhang.san@example.com`` -> ``z***@example.com``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张**``: enough for staff to greet the resident, not to identify them."""
    return name[:1] + "*" * min(max(len(name) - 1, 1), 4)


def normalise_phone(value: str) -> str | None:
    """Digits only (a leading + kept); ``None`` when it does not look like a phone number."""
    text = re.sub(r"[\s\-()（）]", "", value.strip())
    text = text.translate(str.maketrans("０１２３４５６７８９＋", "0123456789+"))
    if text.startswith("+86"):
        text = text[3:]
    if _MOBILE.match(text) or _OTHER_PHONE.match(text):
        return text
    return None


def valid_session_id(value: object) -> str:
    text = str(value or "")
    if not _SESSION_ID.match(text):
        raise StoreError("session_id", "session_id must be 1-64 letters, digits, '-' or '_'")
    return text


# ---------------------------------------------------------------------------------------------
# encryption key


def load_fernet(environ: dict | None = None, key_path: Path = DEFAULT_KEY_PATH) -> Fernet:
    """Fernet from ``HANDOFF_KEY``; in development a persisted generated key (see module docstring)."""
    key = handoff_key(environ)
    if key:
        return Fernet(key.encode())
    if not is_development(environ):
        raise RuntimeError("HANDOFF_KEY must be set outside development (Fernet.generate_key())")
    if key_path.exists():
        return Fernet(key_path.read_bytes().strip())
    key_path.parent.mkdir(parents=True, exist_ok=True)
    generated = Fernet.generate_key()
    # why: created 0600 from the start, so the key is never readable by other users, even briefly.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(generated)
    logger.warning("HANDOFF_KEY not set: generated a development key in %s", key_path)
    return Fernet(generated)


# ---------------------------------------------------------------------------------------------
# the store


def _create_engine(url: str) -> Engine:
    # why: the trainer console reads while the widget server writes.
    return make_engine(url, sqlite_pragmas=("journal_mode=WAL",))


class AppStore:
    """Feedback and hand-off records in the app database."""

    def __init__(self, database_url: str | None = None, fernet: Fernet | None = None) -> None:
        self.database_url = database_url or app_database_url()
        if self.database_url.startswith("postgres://"):
            self.database_url = "postgresql://" + self.database_url[len("postgres://") :]
        self._fernet = fernet
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    # -- infrastructure
    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = _create_engine(self.database_url)
                Base.metadata.create_all(self._engine)
            return self._engine

    @property
    def fernet(self) -> Fernet:
        if self._fernet is None:
            self._fernet = load_fernet()
        return self._fernet

    def _session(self):
        return _session_scope(self.engine)

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # -- feedback
    def record_feedback(
        self,
        session_id: str,
        rating: str,
        bot_text: str,
        message_id: str = "",
        reason: str | None = None,
        comment: str | None = None,
        user_text: str | None = None,
        channel: str = "web",
    ) -> Feedback:
        """Store one 👍/👎; raises :class:`StoreError` on bad input. Texts are masked."""
        if rating not in RATINGS:
            raise StoreError("rating", f"rating must be one of {RATINGS}")
        if reason is not None and reason not in REASONS:
            raise StoreError("reason", f"reason must be one of {REASONS}")
        row = FeedbackRow(
            created_at=_now(),
            channel=clean_text(channel, 16) or "web",
            session_id=valid_session_id(session_id),
            message_id=clean_text(message_id, 64),
            rating=rating,
            reason=reason,
            comment=clean_text(comment, MAX_REASON_TEXT) or None,
            bot_text=clean_text(bot_text, MAX_TEXT),
            user_text=clean_text(user_text, MAX_MESSAGE) or None,
        )
        with self._session() as session:
            session.add(row)
            session.flush()
            return _feedback(row)

    def list_feedback(
        self, limit: int = 100, rating: str | None = None, since: _dt.datetime | None = None
    ) -> list[Feedback]:
        """Newest first."""
        query = select(FeedbackRow).order_by(FeedbackRow.id.desc()).limit(max(1, min(limit, 1000)))
        if rating:
            query = query.where(FeedbackRow.rating == rating)
        if since:
            query = query.where(FeedbackRow.created_at >= since)
        with self._session() as session:
            return [_feedback(row) for row in session.execute(query).scalars()]

    # -- hand-off
    def record_handoff(
        self,
        session_id: str,
        message: str,
        consent: bool,
        phone: str | None = None,
        email: str | None = None,
        name: str | None = None,
        channel: str = "web",
    ) -> Handoff:
        """Store a leave-a-message request; consent and a phone number or e-mail are required."""
        if consent is not True:
            raise ConsentRequired()
        session_id = valid_session_id(session_id)
        phone_value = normalise_phone(phone) if phone and phone.strip() else None
        if phone and phone.strip() and phone_value is None:
            raise StoreError("phone", "phone number not recognised")
        email_value = email.strip() if email and email.strip() else None
        if email_value is not None and (len(email_value) > 254 or not _EMAIL.match(email_value)):
            raise StoreError("email", "e-mail address not recognised")
        if not phone_value and not email_value:
            raise StoreError("contact", "a phone number or an e-mail address is required")
        text = clean_text(message, MAX_MESSAGE)
        if not text:
            raise StoreError("message", "message is empty")
        name_value = clean_text(name, MAX_NAME) or None
        if phone_value:
            kind, shown = "phone", mask_phone(phone_value)
        else:
            kind, shown = "email", mask_email(email_value or "")
        secret = json.dumps(
            {"name": name_value, "phone": phone_value, "email": email_value}, ensure_ascii=False
        )
        row = HandoffRow(
            created_at=_now(),
            channel=clean_text(channel, 16) or "web",
            session_id=session_id,
            contact_kind=kind,
            contact_masked=shown,
            name_masked=mask_name(name_value) if name_value else None,
            contact_encrypted=self.fernet.encrypt(secret.encode()).decode(),
            message=text,
            consent=True,
            consent_version=CONSENT_VERSION,
            status="new",
        )
        with self._session() as session:
            session.add(row)
            session.flush()
            logger.info("hand-off #%s recorded (%s %s)", row.id, kind, shown)
            return _handoff(row)

    def list_handoffs(self, limit: int = 100, status: str | None = None) -> list[Handoff]:
        """Newest first; contact details masked."""
        query = select(HandoffRow).order_by(HandoffRow.id.desc()).limit(max(1, min(limit, 1000)))
        if status:
            query = query.where(HandoffRow.status == status)
        with self._session() as session:
            return [_handoff(row) for row in session.execute(query).scalars()]

    def reveal_contact(self, handoff_id: int) -> Contact | None:
        """Decrypt the contact details of one hand-off (``None`` if unknown or the key changed)."""
        with self._session() as session:
            row = session.get(HandoffRow, handoff_id)
            token = row.contact_encrypted if row else None
        if token is None:
            return None
        try:
            data = json.loads(self.fernet.decrypt(token.encode()))
        except InvalidToken:
            logger.error("hand-off #%s: contact cannot be decrypted with the current HANDOFF_KEY", handoff_id)
            return None
        return Contact(name=data.get("name"), phone=data.get("phone"), email=data.get("email"))

    # -- staff replies (written by the console, read by the widget through widget.app)
    def record_staff_reply(self, session_id: str, text: str, staff: str = "", delivered: bool = False) -> StaffReply:
        """Keep a staff reply for a widget conversation; ``delivered`` when a browser already got it."""
        body = clean_text(text, MAX_TEXT)
        if not body:
            raise StoreError("text", "reply is empty")
        now = _now()
        row = StaffReplyRow(
            created_at=now,
            session_id=valid_session_id(session_id),
            text=body,
            staff=clean_text(staff, 64),
            delivered_at=now if delivered else None,
        )
        with self._session() as session:
            session.add(row)
            session.flush()
            return _staff_reply(row)

    def take_staff_replies(self, session_id: str) -> list[StaffReply]:
        """Undelivered replies of one conversation, oldest first, marked delivered in the same unit of work."""
        query = (
            select(StaffReplyRow)
            .where(StaffReplyRow.session_id == valid_session_id(session_id), StaffReplyRow.delivered_at.is_(None))
            .order_by(StaffReplyRow.id)
            .limit(50)
        )
        with self._session() as session:
            rows = list(session.execute(query).scalars())
            now = _now()
            for row in rows:
                row.delivered_at = now
            return [_staff_reply(row) for row in rows]

    def list_staff_replies(self, session_id: str) -> list[StaffReply]:
        query = select(StaffReplyRow).where(StaffReplyRow.session_id == valid_session_id(session_id))
        with self._session() as session:
            return [_staff_reply(row) for row in session.execute(query.order_by(StaffReplyRow.id)).scalars()]

    def set_handoff_status(self, handoff_id: int, status: str) -> bool:
        if status not in ("new", "answered", "closed"):
            raise StoreError("status", "status must be new, answered or closed")
        with self._session() as session:
            row = session.get(HandoffRow, handoff_id)
            if row is None:
                return False
            row.status = status
            return True


@dataclass(frozen=True)
class StaffReply:
    id: int
    created_at: _dt.datetime
    session_id: str
    text: str
    staff: str
    delivered_at: _dt.datetime | None


def _staff_reply(row: StaffReplyRow) -> StaffReply:
    return StaffReply(
        id=row.id,
        created_at=_aware(row.created_at),
        session_id=row.session_id,
        text=row.text,
        staff=row.staff,
        delivered_at=_aware(row.delivered_at) if row.delivered_at else None,
    )


def _aware(value: _dt.datetime) -> _dt.datetime:
    # why: SQLite gives naive datetimes back; every timestamp we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(
        id=row.id,
        created_at=_aware(row.created_at),
        channel=row.channel,
        session_id=row.session_id,
        message_id=row.message_id,
        rating=row.rating,
        reason=row.reason,
        comment=row.comment,
        bot_text=row.bot_text,
        user_text=row.user_text,
    )


def _handoff(row: HandoffRow) -> Handoff:
    return Handoff(
        id=row.id,
        created_at=_aware(row.created_at),
        channel=row.channel,
        session_id=row.session_id,
        contact_kind=row.contact_kind,
        contact_masked=row.contact_masked,
        name_masked=row.name_masked,
        message=row.message,
        consent_version=row.consent_version,
        status=row.status,
    )


@contextmanager
def _session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, always close."""
    session = sessionmaker(bind=engine, future=True, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# ---------------------------------------------------------------------------------------------
# module-level API on the default store

_default: AppStore | None = None
_default_lock = threading.Lock()


def get_store() -> AppStore:
    global _default
    with _default_lock:
        if _default is None:
            _default = AppStore()
        return _default


def record_feedback(**kwargs) -> Feedback:
    return get_store().record_feedback(**kwargs)


def list_feedback(**kwargs) -> list[Feedback]:
    return get_store().list_feedback(**kwargs)


def record_handoff(**kwargs) -> Handoff:
    return get_store().record_handoff(**kwargs)


def list_handoffs(**kwargs) -> list[Handoff]:
    return get_store().list_handoffs(**kwargs)
