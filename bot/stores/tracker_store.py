"""The conversation tracker store for several instances, and the SQL it needs around it.

Contract:

* :class:`ResilientSQLTrackerStore` is Rasa's ``SQLTrackerStore`` (same ``events`` table, same
  endpoint keys: ``dialect``, ``url``, ``port``, ``db``, ``username``, ``password``) that survives a
  database restart: its engine pings pooled connections before use, and ``retrieve`` / ``save`` retry
  connection errors for up to ``retry_seconds`` (default 20, env ``TRACKER_DB_RETRY_SECONDS``).
  Rasa wraps every tracker store in ``FailSafeTrackerStore``, which on an error answers from an empty
  in-memory store: the conversation would restart and the turn's events would never reach
  PostgreSQL. Retrying here keeps a short outage invisible except for latency; past the retry window
  the error reaches the turn (:func:`_failures_reach_the_turn`), so the resident is told politely
  instead of being answered for a message that is never stored.
* :func:`ensure_indexes` creates, idempotently, the indexes Rasa's queries need beyond the
  single-column ``sender_id`` index that Rasa 3.6 creates (see :data:`INDEXES`).
* :func:`tracker_db_url` resolves the tracker database from the environment the same way for the
  servers, ``python -m ops.trackers`` and the tests.

Registered in ``deploy/endpoints.prod.yml`` (PostgreSQL) and ``endpoints.yml`` (SQLite: kept connections
in WAL mode, see :func:`create_engine`) as ``type: bot.stores.tracker_store.ResilientSQLTrackerStore``.
"""
# rasa-patch: tracker-store (docs/rasa-patches.md)

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, Mapping, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs

from bot.settings import environ

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# why: Rasa 3.6.21 indexes ``sender_id`` alone (``ix_events_sender_id``). Every turn first looks up
# max(timestamp) of the conversation's ``session_started`` events: with the sender index alone that
# reads every event the conversation ever had (all sessions); the composite index answers it with
# an index-only scan and also serves the second query (events since that timestamp). ``timestamp``
# serves the retention job. Nothing more: each index costs a write on every stored event.
INDEXES = (
    ("ix_events_sender_type_ts", "events (sender_id, type_name, timestamp)"),
    ("ix_events_timestamp", "events (timestamp)"),
)


def tracker_db_url(env: Mapping[str, str] | None = None) -> sa.engine.URL:
    """The tracker database: ``TRACKER_DB_URL``, else ``TRACKER_DB_HOST``/... parts, else SQLite ``TRACKER_DB``."""
    env = environ(env)
    if env.get("TRACKER_DB_URL"):
        return sa.engine.make_url(env["TRACKER_DB_URL"])
    if env.get("TRACKER_DB_HOST"):
        return sa.engine.URL.create(
            "postgresql",
            username=env.get("TRACKER_DB_USER") or None,
            password=env.get("TRACKER_DB_PASSWORD") or None,
            host=env["TRACKER_DB_HOST"],
            port=int(env.get("TRACKER_DB_PORT") or 5432),
            database=env.get("TRACKER_DB_NAME") or "renshe_tracker",
        )
    path = Path(env.get("TRACKER_DB") or "var/tracker.db")
    return sa.engine.make_url(f"sqlite:///{path if path.is_absolute() else ROOT / path}")


def ensure_indexes(engine: sa.engine.Engine) -> list[str]:
    """Create the missing :data:`INDEXES` on ``events`` (which must exist); returns their names."""
    created = []
    existing = {index["name"] for index in sa.inspect(engine).get_indexes("events")}
    for name, columns in INDEXES:
        if name in existing:
            continue
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}"))
            created.append(name)
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError) as error:
            # why: two instances starting together may race on the catalogue; the other one won.
            logger.info("index %s created concurrently elsewhere (%s)", name, type(error).__name__)
    return created


def create_tables(engine: sa.engine.Engine) -> None:
    """Rasa's ``events`` table (and its own ``sender_id`` index) when missing."""
    SQLTrackerStore.Base.metadata.create_all(engine)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_engine(url: sa.engine.URL) -> sa.engine.Engine:
    """The tracker store's engine: pre-pinged pooled connections for a server database; for SQLite, kept
    connections in WAL mode.

    why (SQLite, the single-machine default): SQLAlchemy 1.4 gives a SQLite file a NullPool, so Rasa's
    SQLTrackerStore opened a new connection for every retrieve and every save, and each commit waited
    for two fsyncs with the event loop blocked (py-spy, 2026-12-02: 22% of the Rasa server's samples in
    sqlite's commit). A QueuePool (SQLAlchemy 2.0's default for SQLite files, which likewise turns off
    pysqlite's same-thread check) and WAL with synchronous=NORMAL: 5.6 -> 3.1 ms CPU and 6.6 -> 3.1 ms
    wall per turn (``python -m bench.tracker_store``: retrieve + save of a 5-event turn, medians of
    three interleaved runs of 120 turns). WAL with
    NORMAL stays consistent and survives a crash of the process; a power cut may lose the last turns.
    WAL also lets the trainer console read while Rasa writes.
    """
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # why: pre-ping replaces connections that died with a database restart before a query uses them.
    return sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))


def _retryable(error: Exception) -> bool:
    if isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    return isinstance(error, sa.exc.DBAPIError) and bool(error.connection_invalidated)


class ResilientSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` with pre-pinged connections, retries and our indexes (module docstring)."""

    def __init__(
        self,
        domain: Any = None,
        dialect: str = "sqlite",
        host: str | None = None,
        port: int | None = None,
        db: str = "rasa.db",
        username: str | None = None,
        password: str | None = None,
        event_broker: Any = None,
        login_db: str | None = None,
        query: dict | None = None,
        retry_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        # why: an empty ${TRACKER_DB_PASSWORD} (trust or peer auth) must mean "no password".
        super().__init__(domain, dialect, host, port, db, username or None, password or None, event_broker,
                         login_db, query, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = create_engine(url)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self.retry_seconds = float(
            retry_seconds if retry_seconds is not None else environ().get("TRACKER_DB_RETRY_SECONDS", 20)
        )
        try:
            ensure_indexes(self.engine)
        except sa.exc.SQLAlchemyError:
            logger.exception("tracker store: could not create indexes (run python -m ops.trackers db-index)")
        _failures_reach_the_turn()

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                return await call()
            except sa.exc.SQLAlchemyError as error:
                if not _retryable(error) or time.monotonic() + delay > deadline:
                    raise
                logger.warning("tracker store: %s failed (%s); retrying in %.1fs", what, type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def retrieve(self, sender_id: str):
        return await self._retrying("retrieve", lambda: super(ResilientSQLTrackerStore, self).retrieve(sender_id))

    async def retrieve_full_tracker(self, conversation_id: str):
        return await self._retrying(
            "retrieve_full_tracker",
            lambda: super(ResilientSQLTrackerStore, self).retrieve_full_tracker(conversation_id),
        )

    async def save(self, tracker) -> None:
        # why: safe to repeat: save() appends only the events the table does not have yet.
        await self._retrying("save", lambda: super(ResilientSQLTrackerStore, self).save(tracker))

    async def keys(self):
        return await self._retrying("keys", lambda: super(ResilientSQLTrackerStore, self).keys())

    def _additional_events(self, session: Any, tracker: Any) -> Iterator:
        """The tracker's events the table does not have yet (Rasa's rule: those past the count of this
        session's stored events).

        why: Rasa counts with ``Query.count()``, which wraps the whole event query (every column, the JSON
        ``data`` included) in a subquery: SQLite reads each stored event of the session on every save, a
        cost that grows with the conversation (py-spy, issue 20: ~10% of the Rasa server's samples). The
        same count over ids, with the session start looked up first, reads the index only.
        """
        from rasa.shared.core.events import SessionStarted

        events = self.SQLEvent
        start = session.execute(
            sa.select(sa.func.max(events.timestamp)).where(
                events.sender_id == tracker.sender_id, events.type_name == SessionStarted.type_name
            )
        ).scalar()
        count = sa.select(sa.func.count(events.id)).where(events.sender_id == tracker.sender_id)
        if start is not None:
            count = count.where(events.timestamp >= start)
        stored = session.execute(count).scalar() or 0
        return itertools.islice(tracker.events, stored, len(tracker.events))


def _reraise(error: Exception) -> None:
    raise error


def _failures_reach_the_turn() -> None:
    """Make Rasa's ``FailSafeTrackerStore`` pass the errors of :class:`ResilientSQLTrackerStore` on (idempotent).

    why: Rasa's Agent wraps every tracker store in ``FailSafeTrackerStore``. When our retries give up,
    it answers ``retrieve`` with None (the turn then runs on a fresh, empty tracker) and ``save`` into
    an in-memory store: the resident gets a normal answer for a message PostgreSQL never receives
    (tests/scale/test_faults.py, PostgreSQL killed for 20 s: 4 acknowledged messages lost). Its
    error callback re-raising instead makes the turn fail; the channel guard answers the polite
    "unavailable" and nothing is half stored. Other tracker stores keep Rasa's behaviour. Installed
    by our store's constructor, i.e. only in a process that uses it.
    """
    from rasa.core.tracker_store import FailSafeTrackerStore

    if getattr(FailSafeTrackerStore.__init__, "__renshe_strict__", False):
        return
    original = FailSafeTrackerStore.__init__

    def __init__(self, tracker_store, on_tracker_store_error=None, fallback_tracker_store=None) -> None:
        if on_tracker_store_error is None and isinstance(tracker_store, ResilientSQLTrackerStore):
            on_tracker_store_error = _reraise
        original(self, tracker_store, on_tracker_store_error, fallback_tracker_store)

    __init__.__renshe_strict__ = True  # type: ignore[attr-defined]
    FailSafeTrackerStore.__init__ = __init__  # type: ignore[method-assign]
