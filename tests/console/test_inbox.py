"""The inbox (tracker store + widget feedback) and "try a sentence": personal data never shows unmasked."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from console.app import CONSOLE, create_app, mask_response_text
from console.inbox import build_inbox, feedback_occurrences, item_key, tracker_occurrences
from console.nlu_files import NluRepository
from tests.console.support import FakeRasa, ServerThread, flashes, post_form, sign_in
from widget.store import AppStore

ID_CARD = "440301199001011234"
PHONE = "13812345678"
BANK = "6222 0212 3456 7890 123"
RAW_NUMBERS = (ID_CARD, PHONE, "13812345678", "6222021234567890123", "1381234 5678")


def tracker_db(path: Path, events: list[tuple[str, str, dict]]) -> str:
    """A tracker store with Rasa's ``events`` schema holding (sender, type, data) rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
        "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
        "action_name VARCHAR(255), data TEXT)"
    )
    for n, (sender, type_name, data) in enumerate(events):
        intent = ((data.get("parse_data") or {}).get("intent") or {}).get("name")
        db.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) VALUES (?,?,?,?,?)",
            (sender, type_name, 1_700_000_000 + n, intent, json.dumps(data, ensure_ascii=False)),
        )
    db.commit()
    db.close()
    return f"sqlite:///{path}"


def user_event(text: str, intent: str, confidence: float, ranking: list | None = None) -> dict:
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
        },
    }


EVENTS = [
    (
        "r1",
        "user",
        user_event(
            f"我身份证{ID_CARD}社保怎么查",
            "nlu_fallback",
            0.45,
            [
                {"name": "nlu_fallback", "confidence": 0.45},
                {"name": "ask_personal_record", "confidence": 0.3},
            ],
        ),
    ),
    ("r2", "user", user_event(f"打我电话{PHONE}问下退休", "ask_retirement", 0.41)),
    ("r3", "user", user_event("社保卡怎么补办", "ask_social_security_card", 0.97)),
    ("r4", "user", user_event("/greet", "greet", 1.0)),
    ("console-try-1", "user", user_event("控制台试的句子", "nlu_fallback", 0.2)),
    ("eval-1", "user", user_event("评估集的句子", "nlu_fallback", 0.2)),
    ("r5", "bot", {"event": "bot", "text": f"机器人不会说 {PHONE}"}),
    ("r6", "user", user_event(f"我身份证{ID_CARD}社保怎么查", "nlu_fallback", 0.44)),
    ("r7", "user", user_event("养老金", "ask_pension", 0.3)),
]


class RawFeedbackStore:
    """Feedback as an older or buggy writer might have stored it: NOT masked."""

    def list_feedback(self, limit=100, rating=None, since=None):
        from widget.store import Feedback

        return [
            Feedback(
                1,
                datetime(2024, 5, 1, tzinfo=timezone.utc),
                "web",
                "s1",
                "m1",
                "down",
                "inaccurate",
                f"我的卡号{BANK}",
                f"你打{PHONE}吧",
                f"银行卡{BANK}怎么交社保",
            )
        ]

    def list_handoffs(self, limit=100, status=None):
        from widget.store import Handoff

        return [
            Handoff(
                2,
                datetime(2024, 5, 2, tzinfo=timezone.utc),
                "web",
                "s2",
                "phone",
                "138****5678",
                "张*",
                f"请回电{PHONE}，灵活就业怎么参保",
                "v1",
                "new",
            )
        ]


def test_tracker_store_selects_poorly_understood_messages_and_masks_them(tmp_path):
    url = tracker_db(tmp_path / "tracker.db", EVENTS)
    found = tracker_occurrences(url, 0.6)
    texts = [o.text for o in found]
    assert texts == [
        "养老金",
        "我身份证[身份证号]社保怎么查",
        "打我电话[手机号]问下退休",
        "我身份证[身份证号]社保怎么查",
    ]
    assert [o.source for o in found] == ["low_confidence", "fallback", "low_confidence", "fallback"]
    assert found[-1].predicted == "ask_personal_record"


def test_missing_tracker_file_is_an_empty_source_and_is_not_created(tmp_path):
    path = tmp_path / "none.db"
    assert tracker_occurrences(f"sqlite:///{path}", 0.6) == []
    assert not path.exists()


def test_feedback_and_handoffs_are_masked_even_if_stored_unmasked():
    found = feedback_occurrences(lambda: RawFeedbackStore())
    joined = json.dumps([o.__dict__ for o in found], ensure_ascii=False, default=str)
    assert not any(number in joined for number in RAW_NUMBERS)
    assert [o.source for o in found] == ["thumbs_down", "handoff"]
    assert found[0].text == "银行卡[银行卡号]怎么交社保"


def test_feedback_through_the_real_app_store(tmp_path):
    store = AppStore(f"sqlite:///{tmp_path / 'app.db'}")
    store.record_feedback(session_id="abc", rating="down", bot_text="答非所问", user_text=f"我电话{PHONE}失业金怎么领")
    store.record_feedback(session_id="abc", rating="up", bot_text="好", user_text="谢谢")
    found = feedback_occurrences(lambda: store)
    assert [o.text for o in found] == ["我电话[手机号]失业金怎么领"]


def test_inbox_groups_by_text_and_hides_decided_and_known(tmp_path):
    url = tracker_db(tmp_path / "tracker.db", EVENTS)
    occurrences = tracker_occurrences(url, 0.6)
    items = build_inbox(occurrences, decided=set(), known_texts={"养老金"})
    assert [(i.text, i.count) for i in items] == [
        ("我身份证[身份证号]社保怎么查", 2),
        ("打我电话[手机号]问下退休", 1),
    ]
    decided = {item_key("打我电话[手机号]问下退休")}
    assert [i.text for i in build_inbox(occurrences, decided, set())] == [
        "养老金",
        "我身份证[身份证号]社保怎么查",
    ]


@pytest.fixture
def inbox_server(settings, store, users, project):
    tracker_db(Path(settings.tracker_db_url.removeprefix("sqlite:///")), EVENTS)
    rasa = FakeRasa(replies=[{"text": f"请拨打{PHONE}咨询", "buttons": [{"title": f"身份证{ID_CARD}"}]}])
    rasa.parse_data = {
        **rasa.parse_data,
        "entities": [{"entity": "phone", "value": PHONE, "start": 0, "end": 11}],
    }
    server = ServerThread(create_app(settings, store=store, rasa=rasa, app_store_factory=RawFeedbackStore)).start()
    yield server
    server.stop()


def test_inbox_page_never_shows_raw_numbers(inbox_server, users):
    session = sign_in(inbox_server.url, users["trainer"])
    page = session.get(inbox_server.url + "/inbox").text
    for masked in (
        "我身份证[身份证号]社保怎么查",
        "打我电话[手机号]问下退休",
        "银行卡[银行卡号]怎么交社保",
        "请回电[手机号],灵活就业怎么参保",
    ):  # NFKC, as the channels do
        assert masked in page
    assert not any(number in page for number in RAW_NUMBERS)
    assert "控制台试的句子" not in page and "评估集的句子" not in page and "社保卡怎么补办" not in page


def test_assign_makes_a_training_example_and_leaves_the_inbox(inbox_server, users, store, project):
    session = sign_in(inbox_server.url, users["trainer"])
    text = "打我电话[手机号]问下退休"
    key = item_key(text)
    response = post_form(
        session,
        inbox_server.url,
        "/inbox",
        f"/inbox/{key}/assign",
        {"intent": "ask_retirement", "text": text, "raw": "问下退休年龄怎么算"},
    )
    assert response.status_code == 303
    data = NluRepository(project / "data" / "nlu").load()
    assert "问下退休年龄怎么算" in [e.raw for e in data.intents["ask_retirement"].examples]
    page = session.get(inbox_server.url + "/inbox").text
    assert text not in page and any("已把" in f for f in flashes(page))
    entry = store.audit_entries(action="inbox_assign")[0]
    assert entry.detail["item"] == key and entry.detail["intent"] == "ask_retirement"


def test_assigning_a_text_with_a_raw_number_is_refused_without_echoing_it(inbox_server, users, project):
    session = sign_in(inbox_server.url, users["trainer"])
    key = item_key("打我电话[手机号]问下退休")
    refused = post_form(
        session,
        inbox_server.url,
        "/inbox",
        f"/inbox/{key}/assign",
        {"intent": "ask_retirement", "text": "打我电话[手机号]问下退休", "raw": f"打我电话{PHONE}问下退休"},
    )
    assert refused.status_code == 422
    assert any("个人信息" in f for f in flashes(refused.text))
    assert PHONE not in refused.text
    assert PHONE not in (project / "data" / "nlu" / "retirement.yml").read_text(encoding="utf-8")


def test_dismiss_hides_the_message_and_is_audited(inbox_server, users, store):
    session = sign_in(inbox_server.url, users["trainer"])
    text = "我身份证[身份证号]社保怎么查"
    response = post_form(session, inbox_server.url, "/inbox", f"/inbox/{item_key(text)}/dismiss", {"text": text})
    assert response.status_code == 303
    assert text not in session.get(inbox_server.url + "/inbox").text
    assert store.audit_entries(action="inbox_dismiss")[0].detail == {"text": text}


def test_try_a_sentence_shows_ranking_entities_and_answer_masked(inbox_server, users):
    session = sign_in(inbox_server.url, users["trainer"])
    response = post_form(session, inbox_server.url, "/try", "/try", {"text": f"我电话{PHONE}深圳养老金多少"})
    page = response.text
    assert response.status_code == 200
    assert 'id="top-intent">ask_pension' in page and "ask_retirement" in page
    assert "请拨打[手机号]咨询" in page and "身份证[身份证号]" in page
    assert not any(number in page for number in RAW_NUMBERS)
    rasa = inbox_server.app[CONSOLE].rasa
    sent = [c for c in rasa.calls if c[0] in ("parse", "say")]
    assert all(PHONE not in str(c) for c in sent), "the bot must get the cleaned text, as from a resident"
    assert any(c[0] == "say" and c[1].startswith("console-try-") for c in sent)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<td>13812345678</td>\n<td>，。</td>", "<td>[手机号]</td>\n<td>，。</td>"),
        ("无号码，全角标点保持。", "无号码，全角标点保持。"),
    ],
)
def test_last_line_of_defence_masks_responses_line_by_line(body, expected):
    assert mask_response_text(body) == expected


def _poison_db(path: Path) -> None:
    """A tracker store whose newest rows are a lone surrogate (as Rasa stores it: escaped JSON) and junk."""
    tracker_db(path, [("r1", "user", user_event("养老金怎么领", "nlu_fallback", 0.2))])
    db = sqlite3.connect(path)
    for data in (json.dumps(user_event("\ud800abc", "nlu_fallback", 0.1)), "[1, 2]", '{"text": 5}', "not json"):
        db.execute("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES ('r9', 'user', 1, ?)", (data,))
    db.commit()
    db.close()


def test_a_poison_message_does_not_take_the_inbox_down(settings, store, users, project):
    _poison_db(Path(settings.tracker_db_url.removeprefix("sqlite:///")))
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=RawFeedbackStore)).start()
    try:
        response = sign_in(server.url, users["trainer"]).get(server.url + "/inbox")
    finally:
        server.stop()
    assert response.status_code == 200
    assert "养老金怎么领" in response.text and "\ufffdabc" in response.text
# --- issue 17: context, filters, search, bulk ---------------------------------------------------------

CONTEXT_EVENTS = [
    ("c1", "user", {**user_event("深圳的养老金", "ask_pension", 0.95), "input_channel": "socketio"}),
    ("c1", "bot", {"event": "bot", "text": "深圳养老金……"}),
    ("c1", "user", {**user_event("那上海那边咋样哩", "nlu_fallback", 0.3), "input_channel": "socketio"}),
    ("w1", "user", {**user_event("失业金咋领", "ask_unemployment_insurance", 0.42), "input_channel": "wechat"}),
    ("w2", "user", {**user_event("退休年龄", "ask_retirement", 0.55), "input_channel": "wechat"}),
]


def test_context_and_channel_of_each_message(tmp_path):
    url = tracker_db(tmp_path / "t.db", CONTEXT_EVENTS)
    found = {o.text: o for o in tracker_occurrences(url, 0.6)}
    assert found["那上海那边咋样哩"].context == "之前：居民：深圳的养老金 ／ 机器人：深圳养老金……"
    assert found["那上海那边咋样哩"].channel == "socketio" and found["失业金咋领"].channel == "wechat"
    assert found["失业金咋领"].context == ""


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["退休年龄", "失业金咋领", "那上海那边咋样哩"]),
        ("?q=失业", ["失业金咋领"]),
        ("?channel=wechat", ["退休年龄", "失业金咋领"]),
        ("?intent=ask_retirement", ["退休年龄"]),
        ("?source=fallback", ["那上海那边咋样哩"]),
        ("?max_conf=0.5", ["失业金咋领", "那上海那边咋样哩"]),
        ("?since=2099-01-01", []),
        ("?max_conf=abc", ["退休年龄", "失业金咋领", "那上海那边咋样哩"]),  # bad input is ignored, not an error
    ],
)
def test_inbox_filters_and_search(settings, store, users, query, expected):
    tracker_db(Path(settings.tracker_db_url.removeprefix("sqlite:///")), CONTEXT_EVENTS)
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyFeedback)).start()
    try:
        page = sign_in(server.url, users["trainer"]).get(server.url + "/inbox" + query)
    finally:
        server.stop()
    assert page.status_code == 200
    shown = [t for t in ("退休年龄", "失业金咋领", "那上海那边咋样哩") if f'value="{t}" class="grow' in page.text]
    assert shown == expected


class EmptyFeedback:
    def list_feedback(self, **_kwargs):
        return []

    def list_handoffs(self, **_kwargs):
        return []


def test_bulk_assign_and_dismiss(settings, store, users, project):
    tracker_db(Path(settings.tracker_db_url.removeprefix("sqlite:///")), CONTEXT_EVENTS)
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyFeedback)).start()
    try:
        session = sign_in(server.url, users["trainer"])
        keys = [item_key("失业金咋领"), item_key("那上海那边咋样哩")]
        token = session.get(server.url + "/inbox").text.split('name="csrf_token" value="')[1].split('"')[0]
        assigned = session.post(server.url + "/inbox/bulk", allow_redirects=False, data=[
            ("csrf_token", token), ("key", keys[0]), ("key", keys[1]), ("intent", "ask_unemployment_insurance"),
            ("bulk", "assign"),
        ])
        assert assigned.status_code == 303
        dismissed = session.post(server.url + "/inbox/bulk", allow_redirects=False, data=[
            ("csrf_token", token), ("key", item_key("退休年龄")), ("bulk", "dismiss"),
        ])
        assert dismissed.status_code == 303
        page = session.get(server.url + "/inbox").text
    finally:
        server.stop()
    nlu = (project / "data" / "nlu" / "unemployment_insurance.yml").read_text(encoding="utf-8")
    assert "- 失业金咋领\n" in nlu and "- 那上海那边咋样哩\n" in nlu
    assert "没有待处理的消息" in page
    assert [e.detail.get("bulk") for e in store.audit_entries(action="inbox_assign")] == [True, True]
