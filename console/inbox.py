"""The inbox: real residents' messages the bot did not understand well, personal data masked.

Contract:
- Sources: user events in the Rasa tracker store (SQL table ``events``) whose intent is
  ``nlu_fallback`` or whose confidence is below ``low_confidence``; 👎 feedback and leave-a-message
  texts from the website widget, read through :mod:`widget.store` (never its tables).
- Every text that leaves this module went through :func:`bot.sanitize.mask_pii` here, even though the
  channels mask already (defence in depth: older trackers, other channels, a channel bug).
- Items are grouped by their normalised masked text; a decision (assign / dismiss, table
  ``console_inbox_decisions``) applies to that text, so it disappears from the inbox for good.
  Texts that already are training examples are left out, and so are the console's own test
  conversations (sender ids starting with ``console-``) and evaluation runs (``eval-``).
- Nothing here writes to the tracker store or the app database; a missing SQLite file is an empty
  source, not an error (and is not created).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.sanitize import masked as _masked
from console.checks import normalise

logger = logging.getLogger(__name__)

# why: REST conversations are stored as ``rest-<sender>`` (bot.sessions).
IGNORED_SENDER_PREFIXES = ("console-", "eval-", "rest-console-", "rest-eval-")
REASON_LABELS = {
    "inaccurate": "不准确",
    "not_answered": "没有回答问题",
    "unclear": "看不懂",
    "outdated": "过时",
    "other": "其他",
}
SOURCE_LABELS = {
    "fallback": "没听懂（nlu_fallback）",
    "low_confidence": "置信度低",
    # why: no emoji in the page: the servers' fonts often lack them.
    "thumbs_down": "居民差评",
    "handoff": "留言转人工",
}


@dataclass(frozen=True)
class Occurrence:
    """One sighting of a message (already masked)."""

    source: str
    text: str
    at: datetime
    confidence: float | None = None
    predicted: str | None = None
    context: str = ""
    channel: str = ""


@dataclass
class InboxItem:
    key: str
    text: str
    sources: list[str] = field(default_factory=list)
    count: int = 0
    last_seen: datetime | None = None
    confidence: float | None = None
    predicted: str | None = None
    contexts: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)

    @property
    def source_labels(self) -> list[str]:
        return [SOURCE_LABELS.get(s, s) for s in self.sources]


@dataclass(frozen=True)
class InboxFilter:
    """What the trainer narrowed the inbox to (every field optional)."""

    q: str = ""  # text search (normalised substring)
    intent: str = ""  # the model's guess
    source: str = ""  # fallback | low_confidence | thumbs_down | handoff
    channel: str = ""  # socketio | wechat | rest | web
    max_confidence: float | None = None
    since: datetime | None = None

    def accepts(self, item: InboxItem) -> bool:
        if self.q and normalise(self.q) not in normalise(item.text + " ".join(item.contexts)):
            return False
        if self.intent and item.predicted != self.intent:
            return False
        if self.source and self.source not in item.sources:
            return False
        if self.channel and self.channel not in item.channels:
            return False
        if self.max_confidence is not None and (item.confidence is None or item.confidence > self.max_confidence):
            return False
        if self.since is not None and (item.last_seen is None or item.last_seen < self.since):
            return False
        return True


def item_key(masked_text: str) -> str:
    return hashlib.sha256(normalise(masked_text).encode("utf-8")).hexdigest()[:32]


def _utc(timestamp: float | None) -> datetime:
    return datetime.fromtimestamp(timestamp or 0, tz=timezone.utc)


def _sqlite_missing(url: str) -> bool:
    parsed = make_url(url)
    return (
        parsed.get_backend_name() == "sqlite"
        and bool(parsed.database)
        and parsed.database != ":memory:"
        and not Path(parsed.database).exists()
    )


def tracker_occurrences(url: str, low_confidence: float, scan_limit: int = 5000) -> list[Occurrence]:
    """Poorly understood user messages among the newest ``scan_limit`` user events of the tracker store."""
    if _sqlite_missing(url):
        return []
    engine = create_engine(url, future=True)
    found: list[Occurrence] = []
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, sender_id, timestamp, intent_name, data FROM events "
                    "WHERE type_name = 'user' ORDER BY id DESC LIMIT :limit"
                ),
                {"limit": scan_limit},
            ).all()
            for event_id, sender_id, timestamp, intent_name, data in rows:
                if str(sender_id).startswith(IGNORED_SENDER_PREFIXES):
                    continue
                try:
                    occurrence = _from_user_event(intent_name, data, timestamp, low_confidence)
                except Exception:  # noqa: BLE001 - one bad row must not take the inbox down
                    # why: a row another channel or an older version wrote (not an object, odd types).
                    logger.warning("skipped an unreadable tracker event")
                    continue
                if occurrence is not None and len(found) < 500:
                    # why: a message alone is often unclear; what was said just before explains it.
                    occurrence = replace(occurrence, context=_context(connection, sender_id, event_id))
                if occurrence is not None:
                    found.append(occurrence)
    except SQLAlchemyError as error:
        logger.warning("cannot read the tracker store: %s", error.__class__.__name__)
    finally:
        engine.dispose()
    return found


def _context(connection, sender_id: str, event_id: int) -> str:
    """The two turns before a message in its conversation (masked), as one line."""
    rows = connection.execute(
        text(
            "SELECT type_name, data FROM events WHERE sender_id = :sender AND id < :id "
            "AND type_name IN ('user', 'bot') ORDER BY id DESC LIMIT 2"
        ),
        {"sender": sender_id, "id": event_id},
    ).all()
    parts = []
    for type_name, data in reversed(rows):
        try:
            said = (json.loads(data or "{}").get("text") or "").strip()
        except json.JSONDecodeError:
            continue
        if said and not said.startswith("/"):
            parts.append(("居民：" if type_name == "user" else "机器人：") + _masked(said)[:120])
    return ("之前：" + " ／ ".join(parts)) if parts else ""


def _from_user_event(
    intent_name: str | None, data: str | None, timestamp: float | None, low_confidence: float
) -> Occurrence | None:
    try:
        event = json.loads(data or "{}")
    except json.JSONDecodeError:
        return None
    raw = event.get("text") or ""
    # why: "/intent" payloads come from buttons, not from typing.
    if not raw.strip() or raw.lstrip().startswith("/"):
        return None
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name") or intent_name
    try:
        confidence = float(intent.get("confidence")) if intent.get("confidence") is not None else None
    except (TypeError, ValueError):
        confidence = None
    if name == "nlu_fallback":
        source = "fallback"
    elif confidence is not None and confidence < low_confidence:
        source = "low_confidence"
    else:
        return None
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") not in (None, "nlu_fallback")]
    predicted = ranking[0]["name"] if ranking else (None if name == "nlu_fallback" else name)
    best = ranking[0].get("confidence") if ranking else confidence
    return Occurrence(
        source,
        _masked(raw),
        _utc(event.get("timestamp") or timestamp),
        float(best) if best is not None else None,
        predicted,
        channel=str(event.get("input_channel") or ""),
    )


def feedback_occurrences(app_store_factory: Callable[[], object] | None = None, limit: int = 500) -> list[Occurrence]:
    """👎 feedback (the question the resident asked) and hand-off messages from :mod:`widget.store`."""
    try:
        from widget import store as feedback
        from widget.settings import app_database_url
    except ImportError:  # pragma: no cover - widget.store ships with the repository
        return []
    if app_store_factory is None:

        url = app_database_url()
        if _sqlite_missing(url):
            return []

        def app_store_factory():
            return feedback.AppStore(url)

    store = app_store_factory()
    found: list[Occurrence] = []
    try:
        for item in store.list_feedback(limit=limit, rating="down"):
            if not item.user_text:
                continue
            context = "机器人回答：" + _masked(item.bot_text)[:200]
            if item.reason or item.comment:
                reason = REASON_LABELS.get(item.reason or "", item.reason or "")
                context += f"（原因：{reason} {_masked(item.comment)}".rstrip() + "）"
            channel = getattr(item, "channel", "") or ""
            found.append(Occurrence("thumbs_down", _masked(item.user_text), item.created_at, context=context,
                                    channel=channel))
        for item in store.list_handoffs(limit=limit):
            # why: only the message; the (masked) contact has nothing to do with training.
            found.append(
                Occurrence("handoff", _masked(item.message), item.created_at, channel=getattr(item, "channel", ""))
            )
    except SQLAlchemyError as error:
        logger.warning("cannot read widget feedback: %s", error.__class__.__name__)
    return found


def build_inbox(
    occurrences: Iterable[Occurrence], decided: set[str], known_texts: set[str], limit: int = 200
) -> list[InboxItem]:
    """Group occurrences by text, drop decided and already-trained ones; newest first."""
    items: dict[str, InboxItem] = {}
    for occ in occurrences:
        if not normalise(occ.text):
            continue
        key = item_key(occ.text)
        if key in decided or normalise(occ.text) in known_texts:
            continue
        item = items.get(key)
        if item is None:
            item = items[key] = InboxItem(key, occ.text)
        item.count += 1
        if occ.source not in item.sources:
            item.sources.append(occ.source)
        if item.last_seen is None or occ.at > item.last_seen:
            item.last_seen = occ.at
        if occ.predicted and item.predicted is None:
            item.predicted, item.confidence = occ.predicted, occ.confidence
        elif item.confidence is None and occ.confidence is not None:
            item.confidence = occ.confidence
        if occ.channel and occ.channel not in item.channels:
            item.channels.append(occ.channel)
        if occ.context and occ.context not in item.contexts and len(item.contexts) < 3:
            item.contexts.append(occ.context)
    ordered = sorted(
        items.values(), key=lambda i: i.last_seen or datetime.min.replace(tzinfo=timezone.utc), reverse=True
    )
    return ordered[:limit]


def load_inbox(
    tracker_url: str,
    low_confidence: float,
    decided: set[str],
    known_texts: set[str],
    app_store_factory: Callable[[], object] | None = None,
    extra: Sequence[Occurrence] = (),
) -> list[InboxItem]:
    """Everything above in one call (synchronous; the web app runs it in a thread)."""
    occurrences = tracker_occurrences(tracker_url, low_confidence)
    occurrences += feedback_occurrences(app_store_factory)
    occurrences += list(extra)
    return build_inbox(occurrences, decided, known_texts)
