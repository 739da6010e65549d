"""Operations on the conversation store and the models: ``python -m ops.trackers <command>``.

Commands (the tracker database comes from ``--db`` or :func:`bot.stores.tracker_store.tracker_db_url`:
``TRACKER_DB_URL``, ``TRACKER_DB_HOST``/``_PORT``/``_NAME``/``_USER``/``_PASSWORD``, else SQLite ``TRACKER_DB``):

* ``db-index``            create the ``events`` table if missing and the indexes Rasa does not create;
* ``retention --days N``  delete every conversation whose last event is older than N days
                          (``RETENTION_DAYS`` when ``--days`` is omitted); ``--dry-run`` only counts;
* ``export SENDER_ID``    one resident's events, all sessions, as JSON (data-subject request);
                          ``--out FILE`` writes a file instead of standard output;
* ``sign-model MODEL``    write ``MODEL.sig`` (``make train`` does it); ``verify-model MODEL`` checks it.

Works on SQLite and PostgreSQL. Exit code 0 on success, 1 on a refused model, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import sqlalchemy as sa

from bot.sanitize import repair_text, safe_sender_id
from bot.sessions import REST_PREFIX
from bot.signing import ModelRejected, sign_model, verify_model
from ops.settings import setting

logger = logging.getLogger("ops.trackers")

_EVENTS = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("data", sa.Text),
)


def engine_for(url: str | None = None) -> sa.engine.Engine:
    """An engine on ``url`` or on the configured tracker database."""
    from bot.stores.tracker_store import tracker_db_url

    return sa.create_engine(sa.engine.make_url(url) if url else tracker_db_url(), future=True)


def db_index(engine: sa.engine.Engine) -> list[str]:
    """Create Rasa's ``events`` table when missing and our indexes; returns the indexes created."""
    from bot.stores.tracker_store import create_tables, ensure_indexes

    create_tables(engine)
    return ensure_indexes(engine)


@dataclass(frozen=True)
class RetentionResult:
    """What a retention run removed (or would remove, with ``dry_run``)."""

    conversations: int
    events: int
    cutoff: float


def retention(
    engine: sa.engine.Engine, days: float, now: float | None = None, dry_run: bool = False
) -> RetentionResult:
    """Delete the events of conversations whose newest event is older than ``days`` days.

    A conversation is removed whole or not at all: one still in use keeps its older sessions too,
    so an export for a data-subject request is never missing the start of a live conversation.
    """
    if days <= 0:
        raise ValueError("days must be positive")
    cutoff = (time.time() if now is None else now) - days * 86400
    stale = (
        sa.select(_EVENTS.c.sender_id)
        .group_by(_EVENTS.c.sender_id)
        .having(sa.func.max(_EVENTS.c.timestamp) < cutoff)
    )
    with engine.begin() as connection:
        senders = [row[0] for row in connection.execute(stale)]
        if not senders or dry_run:
            events = 0
            if senders:
                events = connection.execute(
                    sa.select(sa.func.count()).select_from(_EVENTS).where(_EVENTS.c.sender_id.in_(senders))
                ).scalar_one()
            return RetentionResult(len(senders), int(events), cutoff)
        deleted = 0
        # why: bounded IN lists; a city's backlog can hold many thousands of conversations.
        for start in range(0, len(senders), 500):
            chunk = senders[start : start + 500]
            deleted += connection.execute(sa.delete(_EVENTS).where(_EVENTS.c.sender_id.in_(chunk))).rowcount
    logger.info("retention: removed %d events of %d conversations older than %s days", deleted, len(senders), days)
    return RetentionResult(len(senders), deleted, cutoff)


def export_conversation(engine: sa.engine.Engine, sender_id: str) -> dict[str, Any]:
    """All stored events of one conversation, oldest first, as a JSON-ready dict.

    ``sender_id`` is the id as the resident or channel knows it; a REST conversation is stored as
    ``rest-<sender>`` (bot.sessions), so that spelling is tried when the bare one holds nothing.
    """
    with engine.connect() as connection:
        rest_id = sender_id if sender_id.startswith(REST_PREFIX) else REST_PREFIX + sender_id
        for candidate in dict.fromkeys((sender_id, rest_id)):
            stored_id = safe_sender_id(candidate)
            query = (
                sa.select(_EVENTS.c.id, _EVENTS.c.type_name, _EVENTS.c.timestamp, _EVENTS.c.data)
                .where(_EVENTS.c.sender_id == stored_id)
                .order_by(_EVENTS.c.id)
            )
            rows = connection.execute(query).all()
            if rows:
                break
    events = []
    for row in rows:
        try:
            data = json.loads(row.data) if row.data else None
        except ValueError:
            data = row.data
        events.append({"id": row.id, "type": row.type_name, "timestamp": row.timestamp, "event": data})
    return {
        "sender_id": stored_id,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "event_count": len(events),
        "events": events,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.trackers", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLAlchemy URL of the tracker database (default: from the environment)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("db-index", help="create the events table and the indexes Rasa does not create")
    ret = sub.add_parser("retention", help="delete conversations older than N days")
    ret.add_argument("--days", type=float, default=None, help="default: RETENTION_DAYS")
    ret.add_argument("--dry-run", action="store_true")
    exp = sub.add_parser("export", help="one resident's events as JSON")
    exp.add_argument("sender_id")
    exp.add_argument("--out", type=Path)
    sign = sub.add_parser("sign-model", help="write MODEL.sig (MODEL_SIGNING_KEY adds an HMAC)")
    sign.add_argument("model", type=Path)
    check = sub.add_parser("verify-model", help="check MODEL against MODEL.sig")
    check.add_argument("model", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "sign-model":
        print(sign_model(args.model))
        return 0
    if args.command == "verify-model":
        try:
            print(f"{args.model.name}: ok ({verify_model(args.model)[:12]})")
        except ModelRejected as error:
            print(f"refused: {error}", file=sys.stderr)
            return 1
        return 0
    engine = engine_for(args.db)
    try:
        if args.command == "db-index":
            created = db_index(engine)
            print("indexes created: " + (", ".join(created) if created else "none (all present)"))
        elif args.command == "retention":
            days = args.days if args.days is not None else float(setting("RETENTION_DAYS") or 0)
            if days <= 0:
                print("retention: give --days N or set RETENTION_DAYS", file=sys.stderr)
                return 2
            result = retention(engine, days, dry_run=args.dry_run)
            verb = "would delete" if args.dry_run else "deleted"
            print(f"retention: {verb} {result.events} events of {result.conversations} conversations "
                  f"older than {days:g} days")
        elif args.command == "export":
            # why: a stored lone surrogate cannot be written as UTF-8; repair it rather than fail the export.
            text = repair_text(json.dumps(export_conversation(engine, args.sender_id), ensure_ascii=False, indent=2))
            if args.out:
                args.out.write_text(text + "\n", encoding="utf-8")
                print(f"exported to {args.out}")
            else:
                print(text)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
