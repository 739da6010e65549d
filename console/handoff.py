"""The hand-off queue: residents who asked for a person, left a message or were flagged in distress.

Contract:
- Sources (read, never written): bot events in the Rasa tracker store whose custom JSON is
  ``{"handoff": true}`` (``action_request_human``) or ``{"handoff": true, "priority": "distress"}``;
  leave-a-message requests of the website widget, read through :mod:`widget.store`.
- One case per conversation (``<channel>:<sender id>``), kept in the console database (tables
  ``console_handoff_cases`` / ``console_handoff_replies``, created on first use on the console store's
  engine). A closed case is reopened by a newer trigger. Distress cases sort first.
- Status: ``open`` → ``claimed`` (one staff member) → ``answered`` (after each delivered reply) →
  ``closed``. Every change is audited by the web app.
- Every text shown (conversation, messages) is masked with :func:`bot.sanitize.mask_pii` here.
- Delivery (:func:`deliver`): socket.io and widget conversations through the Rasa server's
  ``/webhooks/staff/reply`` (live when the browser is connected, else kept in the app database for
  the widget to show on return); WeChat through the same route and the channel's customer-service
  client, refused here when the resident's last message is older than 48 hours. Other channels
  (REST, the console's own tests) cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

import aiohttp
from sqlalchemy import Column, DateTime, Integer, String, Text, create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import declarative_base, sessionmaker

from bot.sanitize import masked as _masked
from console.inbox import IGNORED_SENDER_PREFIXES, _sqlite_missing

logger = logging.getLogger(__name__)

Base = declarative_base()

WECHAT_WINDOW = timedelta(hours=48)
MAX_REPLY = 1000
DELIVERABLE = ("socketio", "wechat")
CHANNEL_LABELS = {"socketio": "网页", "wechat": "微信", "rest": "REST 接口"}
SOURCE_LABELS = {"request": "要求转人工", "distress": "情绪困扰", "message": "网页留言"}
STATUS_LABELS = {"open": "待认领", "claimed": "处理中", "answered": "已回复", "closed": "已关闭"}


def utcnow() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


class CaseRow(Base):
    __tablename__ = "console_handoff_cases"
    id = Column(Integer, primary_key=True)
    key = Column(String(160), unique=True, nullable=False)
    channel = Column(String(16), nullable=False)
    sender_id = Column(String(128), nullable=False)
    priority = Column(String(16), nullable=False, default="normal")  # normal | distress
    sources = Column(Text, nullable=False, default="[]")
    summary = Column(Text, nullable=False, default="")
    contact = Column(String(80))
    status = Column(String(16), nullable=False, default="open", index=True)
    opened_at = Column(DateTime, nullable=False, default=utcnow)
    last_trigger_at = Column(DateTime, nullable=False, default=utcnow)
    claimed_by = Column(String(64))
    claimed_at = Column(DateTime)
    answered_by = Column(String(64))
    answered_at = Column(DateTime)
    closed_by = Column(String(64))
    closed_at = Column(DateTime)


class ReplyRow(Base):
    __tablename__ = "console_handoff_replies"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, nullable=False, index=True)
    text = Column(Text, nullable=False)
    by = Column(String(64), nullable=False)
    at = Column(DateTime, nullable=False, default=utcnow)
    delivery = Column(String(16), nullable=False)  # live | queued | wechat


@dataclass(frozen=True)
class Trigger:
    """One reason to open a case (already masked)."""

    channel: str
    sender_id: str
    source: str  # request | distress | message
    at: datetime  # naive UTC
    summary: str = ""
    contact: str | None = None

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.sender_id}"


@dataclass(frozen=True)
class Case:
    id: int
    key: str
    channel: str
    sender_id: str
    priority: str
    sources: tuple[str, ...]
    summary: str
    contact: str | None
    status: str
    opened_at: datetime
    last_trigger_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    answered_by: str | None
    answered_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None

    @property
    def distress(self) -> bool:
        return self.priority == "distress"

    @property
    def deliverable(self) -> bool:
        return self.channel in DELIVERABLE

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def source_labels(self) -> list[str]:
        return [SOURCE_LABELS.get(s, s) for s in self.sources]


@dataclass(frozen=True)
class Reply:
    id: int
    text: str
    by: str
    at: datetime
    delivery: str


@dataclass(frozen=True)
class Turn:
    """One line of the conversation as staff see it (masked)."""

    who: str  # resident | bot | staff
    text: str
    at: datetime


def _case(row: CaseRow) -> Case:
    return Case(
        row.id, row.key, row.channel, row.sender_id, row.priority, tuple(json.loads(row.sources or "[]")),
        row.summary, row.contact, row.status, row.opened_at, row.last_trigger_at, row.claimed_by,
        row.claimed_at, row.answered_by, row.answered_at, row.closed_by, row.closed_at,
    )


def _naive_utc(timestamp: float | None) -> datetime:
    return datetime.fromtimestamp(timestamp or 0, tz=timezone.utc).replace(tzinfo=None, microsecond=0)


class QueueError(RuntimeError):
    """A refused queue operation; the message is for the page."""


class HandoffQueue:
    """Cases and replies in the console database (one short session per call, plain records back)."""

    def __init__(self, engine_factory: Callable[[], object]) -> None:
        self._engine_factory = engine_factory
        self._sessionmaker: sessionmaker | None = None
        self._lock = threading.Lock()

    def _session(self):
        with self._lock:
            if self._sessionmaker is None:
                engine = self._engine_factory()
                Base.metadata.create_all(engine)
                self._sessionmaker = sessionmaker(engine, future=True, expire_on_commit=False)
        return self._sessionmaker.begin()

    def sync(self, triggers: Iterable[Trigger]) -> int:
        """Open (or reopen) cases for the triggers; returns how many cases were opened."""
        opened = 0
        latest: dict[str, list[Trigger]] = {}
        for trigger in triggers:
            latest.setdefault(trigger.key, []).append(trigger)
        if not latest:
            return 0
        with self._session() as s:
            rows = {r.key: r for r in s.scalars(select(CaseRow).where(CaseRow.key.in_(list(latest))))}
            for key, group in latest.items():
                group.sort(key=lambda t: t.at)
                newest = group[-1]
                row = rows.get(key)
                if row is None:
                    row = CaseRow(key=key, channel=newest.channel, sender_id=newest.sender_id,
                                  opened_at=group[0].at, last_trigger_at=newest.at, status="open")
                    s.add(row)
                    opened += 1
                elif row.status == "closed" and row.closed_at and newest.at > row.closed_at:
                    # why: the resident asked again after the case was closed: it needs a person again.
                    row.status, row.claimed_by, row.claimed_at, row.opened_at = "open", None, None, newest.at
                    opened += 1
                sources = set(json.loads(row.sources or "[]")) | {t.source for t in group}
                row.sources = json.dumps(sorted(sources))
                if "distress" in sources:
                    row.priority = "distress"
                row.last_trigger_at = max(row.last_trigger_at or newest.at, newest.at)
                summary = next((t.summary for t in reversed(group) if t.summary), "")
                if summary:
                    row.summary = summary[:500]
                contact = next((t.contact for t in reversed(group) if t.contact), None)
                if contact:
                    row.contact = contact
        return opened

    def cases(self, include_closed: bool = False) -> list[Case]:
        """Distress first, then waiting before claimed before answered, oldest waiting first."""
        with self._session() as s:
            query = select(CaseRow)
            if not include_closed:
                query = query.where(CaseRow.status != "closed")
            found = [_case(r) for r in s.scalars(query)]
        order = {"open": 0, "claimed": 1, "answered": 2, "closed": 3}
        return sorted(found, key=lambda c: (not c.distress, order.get(c.status, 9), c.last_trigger_at))

    def case(self, case_id: int) -> Case | None:
        with self._session() as s:
            row = s.get(CaseRow, case_id)
            return _case(row) if row else None

    def claim(self, case_id: int, username: str) -> Case:
        with self._session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise QueueError("没有这个转人工请求")
            if row.status == "closed":
                raise QueueError("这个请求已关闭")
            if row.claimed_by and row.claimed_by != username:
                raise QueueError(f"{row.claimed_by} 已认领这个请求")
            row.claimed_by, row.claimed_at = username, row.claimed_at or utcnow()
            if row.status == "open":
                row.status = "claimed"
            return _case(row)

    def add_reply(self, case_id: int, text_: str, username: str, delivery: str) -> Reply:
        with self._session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise QueueError("没有这个转人工请求")
            reply = ReplyRow(case_id=case_id, text=text_, by=username, delivery=delivery, at=utcnow())
            s.add(reply)
            row.status, row.answered_by, row.answered_at = "answered", username, reply.at
            s.flush()
            return Reply(reply.id, reply.text, reply.by, reply.at, reply.delivery)

    def replies(self, case_id: int) -> list[Reply]:
        with self._session() as s:
            rows = s.scalars(select(ReplyRow).where(ReplyRow.case_id == case_id).order_by(ReplyRow.id))
            return [Reply(r.id, r.text, r.by, r.at, r.delivery) for r in rows]

    def close(self, case_id: int, username: str) -> Case:
        with self._session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise QueueError("没有这个转人工请求")
            row.status, row.closed_by, row.closed_at = "closed", username, utcnow()
            return _case(row)


# --- reading the sources -------------------------------------------------------------------------


def _engine(url: str):
    return create_engine(url, future=True)


def tracker_triggers(url: str, scan_limit: int = 20000) -> list[Trigger]:
    """Hand-off messages the bot sent (newest ``scan_limit`` bot events), with the conversation's channel."""
    if _sqlite_missing(url):
        return []
    engine = _engine(url)
    found: list[Trigger] = []
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT sender_id, timestamp, data FROM events WHERE type_name = 'bot' "
                    "ORDER BY id DESC LIMIT :limit"
                ),
                {"limit": scan_limit},
            ).all()
            hits = []
            for sender_id, timestamp, data in rows:
                if str(sender_id).startswith(IGNORED_SENDER_PREFIXES):
                    continue
                try:
                    event = json.loads(data or "{}")
                except json.JSONDecodeError:
                    continue
                custom = (event.get("data") or {}).get("custom")
                if isinstance(custom, dict) and custom.get("handoff") is True:
                    distress = custom.get("priority") == "distress"
                    hits.append((str(sender_id), event.get("timestamp") or timestamp, distress))
            for sender_id, timestamp, distress in hits:
                channel, question = _channel_and_question(connection, sender_id, timestamp)
                found.append(
                    Trigger(channel, sender_id, "distress" if distress else "request", _naive_utc(timestamp), question)
                )
    except SQLAlchemyError as error:
        logger.warning("cannot read the tracker store: %s", error.__class__.__name__)
    finally:
        engine.dispose()
    return found


def _channel_and_question(connection, sender_id: str, before: float | None) -> tuple[str, str]:
    rows = connection.execute(
        text(
            "SELECT data FROM events WHERE sender_id = :sender AND type_name = 'user' "
            "AND timestamp <= :before ORDER BY id DESC LIMIT 5"
        ),
        {"sender": sender_id, "before": (before or 0) + 1},
    ).all()
    channel, said = "", []
    for (data,) in rows:
        try:
            event = json.loads(data or "{}")
        except json.JSONDecodeError:
            continue
        channel = channel or str(event.get("input_channel") or "")
        if len(said) < 2 and event.get("text") and not str(event.get("text")).startswith("/"):
            said.append(_masked(event.get("text")))
    # why: the request alone ("转人工") says nothing; the message before it usually says what about.
    return channel or "unknown", " → ".join(reversed(said))


def message_triggers(app_store_factory: Callable[[], object] | None) -> list[Trigger]:
    """Leave-a-message requests of the widget; its session id is the socket.io conversation id."""
    if app_store_factory is None:
        return []
    try:
        handoffs = app_store_factory().list_handoffs(limit=500)
    except SQLAlchemyError as error:
        logger.warning("cannot read widget messages: %s", error.__class__.__name__)
        return []
    return [
        Trigger(
            "socketio",
            h.session_id,
            "message",
            h.created_at.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0),
            "留言：" + _masked(h.message),
            h.contact_masked,
        )
        for h in handoffs
    ]


def conversation(url: str, sender_id: str, limit: int = 400) -> list[Turn]:
    """The whole conversation (resident and bot texts), masked, oldest first."""
    if _sqlite_missing(url):
        return []
    engine = _engine(url)
    turns: list[Turn] = []
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT type_name, timestamp, data FROM events WHERE sender_id = :sender "
                    "AND type_name IN ('user', 'bot') ORDER BY id DESC LIMIT :limit"
                ),
                {"sender": sender_id, "limit": limit},
            ).all()
    except SQLAlchemyError as error:
        logger.warning("cannot read the tracker store: %s", error.__class__.__name__)
        return []
    finally:
        engine.dispose()
    for type_name, timestamp, data in reversed(rows):
        try:
            event = json.loads(data or "{}")
        except json.JSONDecodeError:
            continue
        said = event.get("text") or ""
        if type_name == "user" and str(said).startswith("/"):
            continue
        if not said:
            custom = (event.get("data") or {}).get("custom")
            if isinstance(custom, dict) and custom.get("handoff"):
                said = "（转人工）" if custom.get("priority") != "distress" else "（转人工：情绪困扰，优先处理）"
        if said:
            turns.append(Turn("resident" if type_name == "user" else "bot", _masked(said), _naive_utc(timestamp)))
    return turns


def last_resident_message(url: str, sender_id: str) -> datetime | None:
    turns = [t for t in conversation(url, sender_id) if t.who == "resident"]
    return turns[-1].at if turns else None


# --- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    ok: bool
    delivery: str = ""  # live | queued | wechat
    message: str = ""


async def _post_reply(rasa_url: str, token: str | None, body: dict) -> tuple[int, dict]:
    if not token:
        return 0, {"error": "STAFF_REPLY_TOKEN 未设置"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                rasa_url.rstrip("/") + "/webhooks/staff/reply",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=20),
            ) as response:
                try:
                    data = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    data = {}
                return response.status, data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        logger.info("staff reply: bot unreachable (%s)", error.__class__.__name__)
        return 0, {"error": "无法连接机器人"}


async def deliver(
    case: Case,
    text_: str,
    staff: str,
    rasa_url: str,
    token: str | None,
    tracker_url: str,
    app_store_factory: Callable[[], object] | None,
    now: datetime | None = None,
) -> Delivery:
    """Send one staff reply to the resident on the case's channel (see the module docstring)."""
    if case.channel == "socketio":
        status, data = await _post_reply(
            rasa_url, token, {"channel": "socketio", "sender_id": case.sender_id, "text": text_, "staff": staff}
        )
        live = status == 200 and data.get("delivery") == "live"
        if app_store_factory is None:
            return Delivery(live, "live" if live else "", "" if live else "居民不在线，且无法保存留言回复")
        # why: kept in the app database either way: the live one as a record, the other for the widget.
        await asyncio.to_thread(
            app_store_factory().record_staff_reply, case.sender_id, text_, staff, live
        )
        if live:
            return Delivery(True, "live", "居民正在网页上，回复已即时送达")
        return Delivery(True, "queued", "居民现在不在线，回复已保存，居民回到网页时会看到")
    if case.channel == "wechat":
        last = await asyncio.to_thread(last_resident_message, tracker_url, case.sender_id)
        if last is None or (now or utcnow()) - last > WECHAT_WINDOW:
            return Delivery(False, "", "居民最后一条微信消息已超过 48 小时，微信不允许再发客服消息；请通过其他方式联系")
        status, data = await _post_reply(
            rasa_url, token, {"channel": "wechat", "sender_id": case.sender_id, "text": text_, "staff": staff}
        )
        if status == 200 and data.get("ok"):
            return Delivery(True, "wechat", "已通过微信客服消息发送")
        if status == 409:
            return Delivery(False, "", "微信 48 小时客服消息窗口已关闭，未发送")
        return Delivery(False, "", f"微信发送失败：{data.get('error') or status}")
    return Delivery(False, "", f"无法把回复送到这个渠道（{case.channel_label}）")
