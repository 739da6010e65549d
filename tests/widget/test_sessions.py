"""The widget API takes only session ids this server issued (signed, bot.sessions), on every /api/ route."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.sessions import issue_widget_session
from tests.widget.test_app import call
from widget.app import create_app
from widget.settings import WebSettings
from widget.store import AppStore

ISSUED = issue_widget_session()
OTHER_KEY = issue_widget_session({"PII_HASH_KEY": "some-other-deployment"})
TAMPERED = ISSUED[:5] + ("a" if ISSUED[5] != "a" else "b") + ISSUED[6:]  # a neighbour's id, same signature
BODIES = {
    "/api/feedback": {"rating": "up", "bot_text": "深圳有113个社保服务网点"},
    "/api/handoff": {"message": "想咨询失业保险", "phone": "13812345678", "consent": True},
    "/api/replies": {},
}


@pytest.fixture
def store(tmp_path):
    store = AppStore(f"sqlite:///{tmp_path / 'app.db'}", Fernet(Fernet.generate_key()))
    yield store
    store.dispose()


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize("session_id", ["1", "abc123", "default", "w-" + "a" * 26 + "-" + "b" * 16, TAMPERED,
                                        OTHER_KEY, ISSUED + "x", " " + ISSUED])
def test_an_id_the_server_did_not_issue_is_refused_politely(store, path: str, session_id: str):
    app = create_app(WebSettings(), store)
    status, headers, body = call(app, "POST", path, json={**BODIES[path], "session_id": session_id})
    assert status in (400, 403), (status, body)
    assert headers["Content-Type"].startswith("application/json")
    assert body["ok"] is False and body["field"] == "session_id" and "Traceback" not in str(body)
    assert store.list_handoffs() == [] and store.list_feedback() == []


def test_staff_replies_of_a_resident_cannot_be_read_with_a_made_up_id(store):
    store.record_staff_reply(ISSUED, "您好，失业金可以在网上申领。", staff="li")
    status, _, body = call(create_app(WebSettings(), store), "POST", "/api/replies", json={"session_id": TAMPERED})
    assert status == 403 and "replies" not in body
    status, _, body = call(create_app(WebSettings(), store), "POST", "/api/replies", json={"session_id": ISSUED})
    assert status == 200 and [r["text"] for r in body["replies"]] == ["您好，失业金可以在网上申领。"]


@pytest.mark.parametrize("path,created", [("/api/feedback", 201), ("/api/handoff", 201), ("/api/replies", 200)])
def test_an_issued_id_is_accepted(store, path: str, created: int):
    app = create_app(WebSettings(), store)
    status, _, body = call(app, "POST", path, json={**BODIES[path], "session_id": ISSUED})
    assert status == created and body["ok"] is True
