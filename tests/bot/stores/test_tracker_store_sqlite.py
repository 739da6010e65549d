"""The single-machine tracker store (endpoints.yml): Rasa's SQL store on SQLite, kept connections, WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker_store import ResilientSQLTrackerStore

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def test_endpoints_use_our_store_for_sqlite():
    store = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))["tracker_store"]
    assert store["type"] == "bot.stores.tracker_store.ResilientSQLTrackerStore"
    assert store["dialect"] == "sqlite"


def _turn(tracker: DialogueStateTracker, text: str) -> None:
    for event in (UserUttered(text, {"name": "greet", "confidence": 1.0}), ActionExecuted("utter_greet"),
                  BotUttered("您好"), ActionExecuted("action_listen")):
        tracker.update(event)


def test_sqlite_store_keeps_connections_in_wal_mode_and_round_trips(domain, tmp_path):
    path = tmp_path / "tracker.db"
    store = ResilientSQLTrackerStore(domain, dialect="sqlite", db=str(path))
    assert type(store.engine.pool).__name__ == "QueuePool"  # not Rasa's NullPool: no connect per call

    async def conversation() -> DialogueStateTracker:
        tracker = DialogueStateTracker("resident-1", domain.slots)
        for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
            tracker.update(event)
        for text in ("你好", "谢谢", "再见"):
            _turn(tracker, text)
            await store.save(tracker)
            tracker = await store.retrieve("resident-1")
        return tracker

    tracker = asyncio.run(conversation())
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["你好", "谢谢", "再见"]
    # why: save() appends only new events; a repeated save must not duplicate the stored ones.
    asyncio.run(store.save(tracker))
    with sqlite3.connect(path) as reader:  # another process (the trainer console) reads meanwhile
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.execute("SELECT count(*) FROM events WHERE type_name = 'user'").fetchone()[0] == 3
        indexes = {row[1] for row in reader.execute("PRAGMA index_list(events)")}
    assert "ix_events_sender_type_ts" in indexes
    store.engine.dispose()
