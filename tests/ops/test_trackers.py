"""Conversation-store operations (indexes, retention, export) on SQLite and PostgreSQL, and model manifests."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from bot.signing import ModelRejected, manifest_path, sign_model, verify_model
from bot.stores.tracker_store import INDEXES, tracker_db_url
from ops import launcher, supervise, trackers

PG_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DAY = 86400.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path: Path) -> Iterator[sa.engine.Engine]:
    """An empty tracker database: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'tracker.db'}", future=True)
        yield engine
        engine.dispose()
        return
    name = f"test_ops_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER}: {error}")
    engine = sa.create_engine(sa.engine.make_url(PG_SERVER).set(database=name), future=True)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _add_events(engine: sa.engine.Engine, sender: str, timestamps: list[float]) -> None:
    with engine.begin() as connection:
        for ts in timestamps:
            connection.execute(
                sa.text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', :t, :d)"),
                {"s": sender, "t": ts, "d": json.dumps({"event": "user", "text": f"第{ts}条", "timestamp": ts})},
            )


def _senders(engine: sa.engine.Engine) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(sa.text("SELECT DISTINCT sender_id FROM events"))}


def test_db_index_creates_rasa_table_and_our_indexes_idempotently(engine):
    created = trackers.db_index(engine)
    assert created == [name for name, _ in INDEXES]
    names = {index["name"] for index in sa.inspect(engine).get_indexes("events")}
    assert {name for name, _ in INDEXES} | {"ix_events_sender_id"} <= names  # Rasa's own index is there too
    assert trackers.db_index(engine) == []


def test_retention_removes_whole_idle_conversations_only(engine):
    trackers.db_index(engine)
    now = time.time()
    _add_events(engine, "old", [now - 400 * DAY, now - 200 * DAY])
    _add_events(engine, "alive", [now - 400 * DAY, now - 1 * DAY])  # old session, but still in use
    _add_events(engine, "new", [now - 60])
    assert trackers.retention(engine, days=180, now=now, dry_run=True) == trackers.RetentionResult(1, 2, now - 180 * DAY)
    assert _senders(engine) == {"old", "alive", "new"}
    result = trackers.retention(engine, days=180, now=now)
    assert (result.conversations, result.events) == (1, 2)
    assert _senders(engine) == {"alive", "new"}
    with pytest.raises(ValueError):
        trackers.retention(engine, days=0)


def test_export_has_every_event_of_one_resident_in_order(engine):
    trackers.db_index(engine)
    _add_events(engine, "resident-1", [3.0, 1.0, 2.0])
    _add_events(engine, "resident-2", [1.0])
    _add_events(engine, trackers.safe_sender_id("13812345678"), [5.0])
    export = trackers.export_conversation(engine, "resident-1")
    assert export["sender_id"] == "resident-1" and export["event_count"] == 3
    assert [e["event"]["timestamp"] for e in export["events"]] == [3.0, 1.0, 2.0]  # stored order (id)
    # why: a conversation id that was a phone number is stored as its pseudonym; the raw id finds it.
    assert trackers.export_conversation(engine, "13812345678")["event_count"] == 1
    assert trackers.export_conversation(engine, "nobody")["events"] == []


def test_cli_on_a_sqlite_file(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 't.db'}"
    assert trackers.main(["--db", url, "db-index"]) == 0
    engine = sa.create_engine(url, future=True)
    _add_events(engine, "r", [time.time() - 10 * DAY])
    assert trackers.main(["--db", url, "export", "r", "--out", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["event_count"] == 1
    assert trackers.main(["--db", url, "retention", "--days", "5"]) == 0
    assert "deleted 1 events of 1 conversations" in capsys.readouterr().out
    engine.dispose()


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"TRACKER_DB_URL": "postgresql://u@h:5433/d"}, "postgresql://u@h:5433/d"),
        ({"TRACKER_DB_HOST": "db", "TRACKER_DB_NAME": "t", "TRACKER_DB_USER": "rasa", "TRACKER_DB_PASSWORD": "pw"},
         "postgresql://rasa:pw@db:5432/t"),
        ({"TRACKER_DB": "/tmp/x.db"}, "sqlite:////tmp/x.db"),
    ],
)
def test_tracker_db_url(env, expected):
    assert tracker_db_url(env).render_as_string(hide_password=False) == expected


# --- model manifests ------------------------------------------------------------------------------
@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "rs-test.tar.gz"
    path.write_bytes(os.urandom(4096))
    return path


def test_signed_model_verifies_and_a_tampered_one_is_refused(model: Path):
    sign_model(model, env={})
    assert verify_model(model, env={})
    with open(model, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelRejected, match="SHA-256"):
        verify_model(model, env={})


def test_unsigned_or_renamed_model_is_refused(model: Path, tmp_path: Path):
    with pytest.raises(ModelRejected, match="no manifest"):
        verify_model(model, env={})
    sign_model(model, env={})
    other = tmp_path / "rs-other.tar.gz"
    shutil.copy(model, other)
    shutil.copy(manifest_path(model), manifest_path(other))
    with pytest.raises(ModelRejected, match="another model"):
        verify_model(other, env={})


def test_with_a_key_only_our_hmac_passes(model: Path):
    sign_model(model, env={})  # digest only: anyone could have written it
    with pytest.raises(ModelRejected, match="HMAC"):
        verify_model(model, env={"MODEL_SIGNING_KEY": "k1"})
    sign_model(model, env={"MODEL_SIGNING_KEY": "k1"})
    assert verify_model(model, env={"MODEL_SIGNING_KEY": "k1"})
    with pytest.raises(ModelRejected, match="HMAC"):
        verify_model(model, env={"MODEL_SIGNING_KEY": "someone-else"})


def test_launcher_refuses_to_start_a_model_that_is_not_ours(model: Path, monkeypatch):
    sign_model(model, env={})
    model.write_bytes(b"a different model")
    started = []
    monkeypatch.setattr(supervise.Service, "start", lambda self: started.append(self.name))
    assert launcher.main(["--model", str(model), "--no-pages"]) == 1
    assert started == []


def test_export_survives_a_stored_lone_surrogate(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    assert trackers.main(["--db", url, "db-index"]) == 0
    engine = sa.create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp, data) "
                                   "VALUES ('resident-1', 'user', 1, :d)"), {"d": json.dumps({"text": "\ud800abc"})})
    out = tmp_path / "r.json"
    assert trackers.main(["--db", url, "export", "resident-1", "--out", str(out)]) == 0
    assert "\ufffdabc" in out.read_text(encoding="utf-8")


def test_make_run_binds_the_action_server_and_rasa_to_loopback(monkeypatch):
    monkeypatch.delenv("BOT_HOST", raising=False)
    actions, rasa = launcher.bot_services("m.tar.gz")
    assert actions.env["SANIC_HOST"] == "127.0.0.1"
    assert rasa.argv[rasa.argv.index("--interface") + 1] == "127.0.0.1"


@pytest.mark.parametrize("name", ["production", "staging", "test"])
def test_launcher_refuses_to_start_outside_development_without_pii_hash_key(model: Path, monkeypatch, name):
    sign_model(model, env={})
    monkeypatch.setenv("APP_ENV", name)
    monkeypatch.delenv("PII_HASH_KEY", raising=False)
    started = []
    monkeypatch.setattr(supervise.Service, "start", lambda self: started.append(self.name))
    assert launcher.main(["--model", str(model), "--no-pages"]) == 1
    assert started == []
