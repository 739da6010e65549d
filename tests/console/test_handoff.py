"""The hand-off queue without a browser: sources, ordering, claiming, the 48-hour WeChat window.

The tracker store is a real SQLite file with Rasa's ``events`` columns, filled from
``tests/data/handoff/tracker_events.json`` (times relative to now).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from console import handoff
from console.store import Store

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "handoff" / "tracker_events.json"


@pytest.fixture
def tracker_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = create_engine(url, future=True)
    now = time.time()
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT, timestamp REAL, "
                "intent_name TEXT, action_name TEXT, data TEXT)"
            )
        )
        for event in json.loads(FIXTURE.read_text(encoding="utf-8")):
            at = now - event["age_hours"] * 3600
            data = {"event": event["type_name"], "timestamp": at, **event["data"]}
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :at, :d)"),
                {"s": event["sender_id"], "t": event["type_name"], "at": at, "d": json.dumps(data, ensure_ascii=False)},
            )
    engine.dispose()
    return url


@pytest.fixture
def queue(tmp_path: Path) -> handoff.HandoffQueue:
    store = Store(f"sqlite:///{tmp_path / 'console.db'}")
    return handoff.HandoffQueue(lambda: store.engine)


def test_triggers_from_the_tracker(tracker_url):
    triggers = {t.sender_id: t for t in handoff.tracker_triggers(tracker_url)}
    # console tests are ignored; a custom "handoff" that is not exactly true is no hand-off
    assert set(triggers) == {"web0001", "oWechatDistress01", "oWechatOld0000001", "rest-user-1"}
    assert [triggers[s].channel for s in sorted(triggers)] == ["wechat", "wechat", "rest", "socketio"]
    assert triggers["oWechatDistress01"].source == "distress"
    assert triggers["web0001"].source == "request"
    # the summary is the message before the request, masked
    assert triggers["web0001"].summary.replace(",", "，") == "社保卡丢了怎么办，我的电话[手机号] → 转人工"


def test_conversation_is_masked_and_ordered(tracker_url):
    turns = handoff.conversation(tracker_url, "web0001")
    assert [t.who for t in turns] == ["resident", "bot", "resident", "bot", "bot"]
    assert "13812345678" not in json.dumps([t.text for t in turns], ensure_ascii=False)
    assert turns[-1].text == "（转人工）"


@pytest.mark.parametrize(
    ("sender", "expected_first"),
    [("oWechatDistress01", True)],
)
def test_distress_first_then_oldest_waiting(tracker_url, queue, sender, expected_first):
    assert queue.sync(handoff.tracker_triggers(tracker_url)) == 4
    cases = queue.cases()
    assert (cases[0].sender_id == sender) is expected_first
    assert cases[0].distress and not any(c.distress for c in cases[1:])
    waiting = [c.last_trigger_at for c in cases[1:]]
    assert waiting == sorted(waiting)
    # syncing again opens nothing new
    assert queue.sync(handoff.tracker_triggers(tracker_url)) == 0


def test_claim_reply_close_and_reopen(tracker_url, queue):
    queue.sync(handoff.tracker_triggers(tracker_url))
    case = next(c for c in queue.cases() if c.sender_id == "web0001")
    assert queue.claim(case.id, "wang").status == "claimed"
    with pytest.raises(handoff.QueueError, match="wang 已认领"):
        queue.claim(case.id, "li")
    queue.add_reply(case.id, "您好", "wang", "live")
    assert queue.case(case.id).status == "answered" and queue.case(case.id).answered_by == "wang"
    closed = queue.close(case.id, "wang")
    assert closed.status == "closed" and case.id not in [c.id for c in queue.cases()]
    # an older trigger does not reopen it; a newer one does, unclaimed
    old = handoff.Trigger("socketio", "web0001", "request", closed.closed_at.replace(year=2020))
    assert queue.sync([old]) == 0
    new = handoff.Trigger("socketio", "web0001", "message", closed.closed_at.replace(year=2099), "留言：还在吗")
    assert queue.sync([new]) == 1
    reopened = queue.case(case.id)
    assert (reopened.status, reopened.claimed_by, reopened.summary) == ("open", None, "留言：还在吗")
    assert set(reopened.sources) == {"request", "message"}


class RecordingAppStore:
    def __init__(self) -> None:
        self.kept: list[tuple] = []

    def record_staff_reply(self, session_id, text_, staff, delivered):
        self.kept.append((session_id, text_, staff, delivered))


@pytest.mark.parametrize(
    ("sender", "channel", "ok", "message"),
    [
        ("oWechatOld0000001", "wechat", False, "超过 48 小时"),
        ("rest-user-1", "rest", False, "无法把回复送到"),
        # the bot is unreachable (port 9): a web reply is kept for the widget, not lost
        ("web0001", "socketio", True, "回到网页时会看到"),
    ],
)
def test_delivery_rules(tracker_url, sender, channel, ok, message, run_async):
    case = handoff.Case(1, f"{channel}:{sender}", channel, sender, "normal", (), "", None, "claimed",
                        *([None] * 2), "wang", *([None] * 5))
    kept = RecordingAppStore()
    result = run_async(
        handoff.deliver(case, "您好", "wang", "http://127.0.0.1:9", "token", tracker_url, lambda: kept)
    )
    assert (result.ok, message in result.message) == (ok, True)
    assert kept.kept == ([("web0001", "您好", "wang", False)] if ok else [])
