"""The one place that creates SQLAlchemy engines and sessions for the knowledge base.

Contract:
- ``get_engine(url)`` returns one engine per URL per process, created on first use
  (SQLite parent directories are created then, never at import time).
- ``session_scope(engine)`` yields a 2.0-style ``Session`` for ONE unit of work: it commits when
  the block succeeds, rolls back when it raises, and always closes. Never keep a session around.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from knowledge.settings import get_settings

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def make_engine(url: str, sqlite_pragmas: tuple[str, ...] = ("foreign_keys=ON",)) -> Engine:
    """An engine for ``url``: SQLite files get their folder, thread sharing and ``sqlite_pragmas``;
    other databases get a pre-ping pool. Shared with the app database (``widget.store``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # why: database work runs in worker threads (actions, aiohttp handlers).
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            for pragma in sqlite_pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        return engine
    # why: pre-ping survives Postgres restarts between chatbot messages.
    return create_engine(url, future=True, pool_pre_ping=True)


def get_engine(url: str | None = None) -> Engine:
    """Return the process-wide engine for ``url`` (default: ``get_settings().database_url``)."""
    url = url or get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            _engines[url] = engine
            log.debug("created engine for %s", make_url(url).render_as_string(hide_password=True))
        return engine


def dispose_engine(url: str) -> None:
    """Dispose and forget the engine for ``url`` (tests dropping a database need this)."""
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """Yield a session for one unit of work; commit on success, roll back on error, always close."""
    factory = sessionmaker(bind=engine or get_engine(), future=True, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
