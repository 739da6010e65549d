"""The console database: accounts, sessions, audit log, inbox decisions, training runs, activations.

Contract:
- :class:`Store` wraps one SQLAlchemy 1.4 engine (2.0-style ``select()``, ``future=True``), created
  on first use; tables are created then too (``create_all``; the schema is small and additive).
- Every public method is ONE unit of work in its own short session (commit on success, rollback on
  error) and returns plain frozen records, never ORM objects, so callers can use them anywhere.
- The methods are synchronous; the web app calls them through ``asyncio.to_thread``.
- Timestamps are naive UTC ``datetime`` values.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator, Sequence

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

from knowledge.db import make_engine

logger = logging.getLogger(__name__)

Base = declarative_base()

ROLES = ("trainer", "admin")


def utcnow() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


class UserRow(Base):
    __tablename__ = "console_users"
    id = Column(Integer, primary_key=True)
    username = Column(String(64), unique=True, nullable=False)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_login_at = Column(DateTime)


class SessionRow(Base):
    __tablename__ = "console_sessions"
    id = Column(Integer, primary_key=True)
    # why: only a keyed hash of the cookie value is stored, so a copy of the database opens no session.
    token_hash = Column(String(64), unique=True, nullable=False)
    user_id = Column(Integer, ForeignKey("console_users.id", ondelete="CASCADE"))
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)


class AuditRow(Base):
    __tablename__ = "console_audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    username = Column(String(64), nullable=False)
    action = Column(String(64), nullable=False, index=True)
    target = Column(String(255), nullable=False, default="")
    detail = Column(Text, nullable=False, default="{}")


class InboxDecisionRow(Base):
    __tablename__ = "console_inbox_decisions"
    id = Column(Integer, primary_key=True)
    item_key = Column(String(64), unique=True, nullable=False)
    decision = Column(String(16), nullable=False)  # assigned | dismissed
    intent = Column(String(128))
    text_masked = Column(Text, nullable=False)
    decided_by = Column(String(64), nullable=False)
    decided_at = Column(DateTime, nullable=False, default=utcnow)


class TrainingRunRow(Base):
    __tablename__ = "console_training_runs"
    id = Column(Integer, primary_key=True)
    status = Column(String(16), nullable=False, default="queued")  # queued|running|done|failed
    phase = Column(String(64), nullable=False, default="")
    progress = Column(Float, nullable=False, default=0.0)
    started_by = Column(String(64), nullable=False)
    started_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime)
    data_hash = Column(String(64))
    model_name = Column(String(255))
    run_dir = Column(String(1024))
    report = Column(Text, nullable=False, default="{}")
    timings = Column(Text, nullable=False, default="{}")
    error = Column(Text)


class ActivationRow(Base):
    __tablename__ = "console_model_activations"
    id = Column(Integer, primary_key=True)
    model_name = Column(String(255), nullable=False)
    previous_model = Column(String(255))
    kind = Column(String(16), nullable=False)  # activate | rollback
    run_id = Column(Integer)
    by = Column(String(64), nullable=False)
    at = Column(DateTime, nullable=False, default=utcnow)
    seconds = Column(Float)


class EvaluationRow(Base):
    """A cached evaluation of one model or data version (so the live side is computed once)."""

    __tablename__ = "console_evaluations"
    id = Column(Integer, primary_key=True)
    key = Column(String(255), unique=True, nullable=False)  # e.g. heldout:<data hash>, evalset:<model>
    result = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


# --- plain records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class ConsoleSession:
    id: int
    user: User | None
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    username: str
    action: str
    target: str
    detail: dict


@dataclass(frozen=True)
class InboxDecision:
    item_key: str
    decision: str
    intent: str | None
    text_masked: str
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True)
class TrainingRun:
    id: int
    status: str
    phase: str
    progress: float
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    data_hash: str | None
    model_name: str | None
    run_dir: str | None
    report: dict
    timings: dict
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass(frozen=True)
class Activation:
    id: int
    model_name: str
    previous_model: str | None
    kind: str
    run_id: int | None
    by: str
    at: datetime
    seconds: float | None


def _user(row: UserRow) -> User:
    return User(row.id, row.username, row.role, bool(row.active), row.created_at, row.last_login_at)


def _run(row: TrainingRunRow) -> TrainingRun:
    return TrainingRun(
        row.id,
        row.status,
        row.phase,
        row.progress,
        row.started_by,
        row.started_at,
        row.finished_at,
        row.data_hash,
        row.model_name,
        row.run_dir,
        json.loads(row.report or "{}"),
        json.loads(row.timings or "{}"),
        row.error,
    )


def _activation(row: ActivationRow) -> Activation:
    return Activation(row.id, row.model_name, row.previous_model, row.kind, row.run_id, row.by, row.at, row.seconds)


class StoreError(RuntimeError):
    """A request the store refuses (duplicate user name, unknown role ...)."""


class Store:
    """Session-per-call access to the console database (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
                Base.metadata.create_all(self._engine)
                self._sessionmaker = sessionmaker(self._engine, future=True, expire_on_commit=False)
        return self._engine

    def _create_engine(self) -> Engine:
        # why: the background training task and page requests write concurrently.
        return make_engine(self.url, sqlite_pragmas=("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=5000"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        self.engine  # noqa: B018 - creates the engine and sessionmaker on first use
        assert self._sessionmaker is not None
        with self._sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    # --- users -----------------------------------------------------------------------------------

    def create_user(self, username: str, password_hash: str, role: str) -> User:
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        with self.session() as s:
            if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                raise StoreError(f"user {username!r} already exists")
            row = UserRow(username=username, password_hash=password_hash, role=role, active=True)
            s.add(row)
            s.flush()
            return _user(row)

    def user_credentials(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash, or ``None`` when there is no such user."""
        with self.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            return (_user(row), row.password_hash) if row else None

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self.session() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash))

    def set_user_active(self, user_id: int, active: bool) -> None:
        with self.session() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(active=active))
            if not active:
                s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))

    def mark_login(self, user_id: int) -> None:
        with self.session() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(last_login_at=utcnow()))

    def users(self) -> list[User]:
        with self.session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def user(self, user_id: int) -> User | None:
        with self.session() as s:
            row = s.get(UserRow, user_id)
            return _user(row) if row else None

    # --- sessions --------------------------------------------------------------------------------

    def create_session(self, token_hash: str, csrf_token: str, user_id: int | None) -> None:
        with self.session() as s:
            s.add(SessionRow(token_hash=token_hash, csrf_token=csrf_token, user_id=user_id))

    def load_session(
        self, token_hash: str, idle: timedelta, maximum: timedelta, anonymous_max: timedelta
    ) -> ConsoleSession | None:
        """The live session for this token, touched; expired sessions are deleted and give ``None``."""
        now = utcnow()
        with self.session() as s:
            row = s.scalar(select(SessionRow).where(SessionRow.token_hash == token_hash))
            if row is None:
                return None
            user_row = s.get(UserRow, row.user_id) if row.user_id else None
            limit = maximum if row.user_id else anonymous_max
            if (
                now - row.last_seen_at > idle
                or now - row.created_at > limit
                or (row.user_id and (user_row is None or not user_row.active))
            ):
                s.delete(row)
                return None
            # why: one write a minute at most, not one per request.
            if (now - row.last_seen_at).total_seconds() >= 60:
                row.last_seen_at = now
            return ConsoleSession(
                row.id,
                _user(user_row) if user_row else None,
                row.csrf_token,
                row.created_at,
                row.last_seen_at,
            )

    def delete_session(self, token_hash: str) -> None:
        with self.session() as s:
            s.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash))

    def purge_sessions(self, idle: timedelta) -> int:
        with self.session() as s:
            result = s.execute(delete(SessionRow).where(SessionRow.last_seen_at < utcnow() - idle))
            return result.rowcount or 0

    # --- audit log -------------------------------------------------------------------------------

    def audit(self, username: str, action: str, target: str = "", **detail: Any) -> None:
        """Record one change: who, when (now), what."""
        with self.session() as s:
            s.add(
                AuditRow(
                    username=username,
                    action=action,
                    target=target[:255],
                    detail=json.dumps(detail, ensure_ascii=False, default=str),
                )
            )

    def audit_entries(
        self, limit: int = 200, action: str | None = None, since: datetime | None = None,
        exclude: Sequence[str] = (), only: Sequence[str] = (),
    ) -> list[AuditEntry]:
        with self.session() as s:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if action:
                query = query.where(AuditRow.action == action)
            if exclude:
                query = query.where(AuditRow.action.not_in(list(exclude)))
            if only:
                query = query.where(AuditRow.action.in_(list(only)))
            if since:
                query = query.where(AuditRow.at >= since)
            return [
                AuditEntry(r.id, r.at, r.username, r.action, r.target, json.loads(r.detail or "{}"))
                for r in s.scalars(query)
            ]

    def count_audit(self, action: str, target: str, since: datetime) -> int:
        with self.session() as s:
            return (
                s.scalar(
                    select(func.count(AuditRow.id)).where(
                        AuditRow.action == action, AuditRow.target == target, AuditRow.at >= since
                    )
                )
                or 0
            )

    # --- inbox -----------------------------------------------------------------------------------

    def decide(self, item_key: str, decision: str, intent: str | None, text_masked: str, by: str) -> None:
        with self.session() as s:
            row = s.scalar(select(InboxDecisionRow).where(InboxDecisionRow.item_key == item_key))
            if row is None:
                s.add(
                    InboxDecisionRow(
                        item_key=item_key,
                        decision=decision,
                        intent=intent,
                        text_masked=text_masked,
                        decided_by=by,
                    )
                )
            else:
                row.decision, row.intent, row.decided_by, row.decided_at = decision, intent, by, utcnow()

    def decided_keys(self) -> set[str]:
        with self.session() as s:
            return set(s.scalars(select(InboxDecisionRow.item_key)))

    # --- training runs ---------------------------------------------------------------------------

    def create_run(self, started_by: str) -> TrainingRun:
        with self.session() as s:
            row = TrainingRunRow(started_by=started_by, status="queued", phase="排队中", progress=0.0)
            s.add(row)
            s.flush()
            return _run(row)

    def update_run(self, run_id: int, **values: Any) -> None:
        for key in ("report", "timings"):
            if key in values and not isinstance(values[key], str):
                values[key] = json.dumps(values[key], ensure_ascii=False, default=str)
        with self.session() as s:
            s.execute(update(TrainingRunRow).where(TrainingRunRow.id == run_id).values(**values))

    def run(self, run_id: int) -> TrainingRun | None:
        with self.session() as s:
            row = s.get(TrainingRunRow, run_id)
            return _run(row) if row else None

    def runs(self, limit: int = 50) -> list[TrainingRun]:
        with self.session() as s:
            return [_run(r) for r in s.scalars(select(TrainingRunRow).order_by(TrainingRunRow.id.desc()).limit(limit))]

    def fail_unfinished_runs(self, reason: str) -> int:
        """Mark runs left running by a previous process as failed (their subprocesses died with it)."""
        with self.session() as s:
            result = s.execute(
                update(TrainingRunRow)
                .where(TrainingRunRow.status.in_(("queued", "running")))
                .values(status="failed", error=reason, finished_at=utcnow())
            )
            return result.rowcount or 0

    # --- activations -----------------------------------------------------------------------------

    def record_activation(
        self,
        model_name: str,
        previous: str | None,
        kind: str,
        run_id: int | None,
        by: str,
        seconds: float | None,
    ) -> Activation:
        with self.session() as s:
            row = ActivationRow(
                model_name=model_name,
                previous_model=previous,
                kind=kind,
                run_id=run_id,
                by=by,
                seconds=seconds,
            )
            s.add(row)
            s.flush()
            return _activation(row)

    def activations(self, limit: int = 50) -> list[Activation]:
        with self.session() as s:
            return [
                _activation(r) for r in s.scalars(select(ActivationRow).order_by(ActivationRow.id.desc()).limit(limit))
            ]

    # --- cached evaluations ----------------------------------------------------------------------

    def cached_evaluation(self, key: str) -> dict | None:
        with self.session() as s:
            row = s.scalar(select(EvaluationRow).where(EvaluationRow.key == key))
            return json.loads(row.result) if row else None

    def cache_evaluation(self, key: str, result: dict) -> None:
        text = json.dumps(result, ensure_ascii=False, default=str)
        with self.session() as s:
            row = s.scalar(select(EvaluationRow).where(EvaluationRow.key == key))
            if row is None:
                s.add(EvaluationRow(key=key, result=text))
            else:
                row.result, row.created_at = text, utcnow()
