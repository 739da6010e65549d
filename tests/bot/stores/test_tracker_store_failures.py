"""Past its retry window, a database failure of ResilientSQLTrackerStore reaches the turn.

Rasa's Agent wraps the store in ``FailSafeTrackerStore``, which would otherwise answer ``retrieve`` with
None (the turn runs on an empty tracker) and ``save`` into memory: the resident is answered normally and
the message is never stored (tests/scale/test_faults.py measured it with PostgreSQL killed for 20 s).
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker_store import ResilientSQLTrackerStore


@pytest.fixture
def broken_store(tmp_path) -> ResilientSQLTrackerStore:
    """Our store, its database gone (an unreachable file stands in for a dead PostgreSQL)."""
    store = ResilientSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"), retry_seconds=0.5)
    store.engine.dispose()
    store.engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 't.db'}")
    store.sessionmaker = sa.orm.sessionmaker(bind=store.engine)
    return store


def test_a_failed_retrieve_fails_the_turn_instead_of_starting_an_empty_tracker(broken_store):
    wrapped = Agent._create_tracker_store(broken_store, Domain.empty())
    assert isinstance(wrapped, FailSafeTrackerStore)
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(wrapped.retrieve("resident-1"))
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(wrapped.get_or_create_tracker("resident-1"))


def test_a_failed_save_is_not_kept_in_memory_instead(broken_store):
    wrapped = Agent._create_tracker_store(broken_store, Domain.empty())
    tracker = DialogueStateTracker("resident-1", [])
    tracker.update(UserUttered("你好"))
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(wrapped.save(tracker))
    assert asyncio.run(wrapped.fallback_tracker_store.retrieve("resident-1")) is None


def test_other_tracker_stores_keep_rasas_fail_safe_behaviour(broken_store):
    wrapped = Agent._create_tracker_store(InMemoryTrackerStore(Domain.empty()), Domain.empty())
    assert wrapped._on_tracker_store_error is None
