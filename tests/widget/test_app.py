"""widget.app: the widget's HTTP API (limits, validation, CORS, masking, consent) and its static files."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from bot.sessions import issue_widget_session
from widget.app import MAX_BODY, SOCKET_IO_CLIENT, RateLimiter, create_app, main
from widget.settings import WebSettings
from widget.store import AppStore

# why: the API accepts only session ids the server issued (tests/widget/test_sessions.py).
SESSION = issue_widget_session()
FEEDBACK = {
    "session_id": SESSION,
    "rating": "down",
    "bot_text": "深圳有113个社保服务网点\n来源：《深圳人社2024年十件大事》",
}
HANDOFF = {"session_id": SESSION, "message": "想咨询失业保险", "phone": "13812345678", "consent": True}


@pytest.fixture
def store(tmp_path):
    store = AppStore(f"sqlite:///{tmp_path / 'app.db'}", Fernet(Fernet.generate_key()))
    yield store
    store.dispose()


def call(app, method, path, *, origin="own", **kwargs):
    """One request against a fresh test server; returns (status, headers, body as JSON or text)."""

    async def go():
        async with TestClient(TestServer(app)) as client:
            headers = dict(kwargs.pop("headers", {}))
            if origin == "own":
                headers["Origin"] = str(client.make_url("")).rstrip("/")
            elif origin:
                headers["Origin"] = origin
            response = await client.request(method, path, headers=headers, **kwargs)
            text = await response.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            return response.status, response.headers, body

    return run(go)


def run(coroutine_function):
    """asyncio.run in a worker thread.

    # why: Playwright's sync API keeps an event loop running in the main thread while a browser
    # fixture is alive, and asyncio.run refuses to start inside a running loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_function())).result()


def app_for(store, **settings):
    return create_app(WebSettings(**settings), store)


def test_feedback_is_stored_masked(store):
    payload = {
        **FEEDBACK,
        "reason": "inaccurate",
        "comment": "我的电话13812345678",
        "user_text": "网点 6222021234567890",
    }
    status, headers, body = call(app_for(store), "POST", "/api/feedback", json=payload)
    assert status == 201 and body["ok"] is True
    assert headers["Cache-Control"] == "no-store"
    [record] = store.list_feedback()
    assert record.id == body["id"] and record.rating == "down" and record.reason == "inaccurate"
    assert "13812345678" not in record.comment and "6222021234567890" not in record.user_text


@pytest.mark.parametrize(
    "kwargs, status, field",
    [
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, None),
        ({"data": "[1, 2]", "headers": {"Content-Type": "application/json"}}, 400, None),
        ({"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400, None),
        ({"data": json.dumps(FEEDBACK), "headers": {"Content-Type": "text/plain"}}, 415, None),
        ({"data": "rating=up", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, None),
        ({"json": {**FEEDBACK, "rating": "maybe"}}, 400, "rating"),
        ({"json": {**FEEDBACK, "rating": 1}}, 400, "rating"),
        ({"json": {**FEEDBACK, "session_id": None}}, 400, "session_id"),
        ({"json": {**FEEDBACK, "session_id": "../../etc"}}, 403, "session_id"),
        ({"json": {**FEEDBACK, "bot_text": ""}}, 400, "bot_text"),
        ({"json": {**FEEDBACK, "comment": "长" * 501}}, 400, "comment"),
        ({"json": {**FEEDBACK, "reason": "spam"}}, 400, "reason"),
    ],
)
def test_feedback_rejects_bad_requests(store, kwargs, status, field):
    got, _, body = call(app_for(store), "POST", "/api/feedback", **kwargs)
    assert got == status and body["ok"] is False and body["error"]
    if field:
        assert body["field"] == field
    assert store.list_feedback() == []


@pytest.mark.parametrize("chunked", [False, True])
def test_request_size_is_limited(store, chunked):
    big = json.dumps({**FEEDBACK, "comment": "x" * (MAX_BODY + 10)}).encode()

    async def body():
        yield big

    data = body() if chunked else big
    status, _, reply = call(
        app_for(store), "POST", "/api/feedback", data=data, headers={"Content-Type": "application/json"}
    )
    assert status == 413 and reply["ok"] is False
    assert store.list_feedback() == []


def test_handoff_requires_consent(store):
    for consent in (None, False, "true", 1):
        payload = {**HANDOFF, "consent": consent}
        status, _, body = call(app_for(store), "POST", "/api/handoff", json=payload)
        assert status == 400 and body["field"] == "consent"
    assert store.list_handoffs() == []


def test_handoff_is_stored_with_masked_contact(store, tmp_path):
    status, _, body = call(app_for(store), "POST", "/api/handoff", json={**HANDOFF, "name": "王五"})
    assert status == 201 and body == {"ok": True, "id": body["id"], "contact": "138****5678"}
    [record] = store.list_handoffs()
    assert record.contact_masked == "138****5678" and record.name_masked == "王*"
    with sqlite3.connect(tmp_path / "app.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "13812345678" not in dump and "王五" not in dump


@pytest.mark.parametrize(
    "payload, field",
    [
        ({**HANDOFF, "phone": None}, "contact"),
        ({**HANDOFF, "phone": "hello"}, "phone"),
        ({**HANDOFF, "message": ""}, "message"),
        ({**HANDOFF, "message": "长" * 501}, "message"),
        ({**HANDOFF, "email": "x" * 300}, "email"),
        ({**HANDOFF, "session_id": 42}, "session_id"),
    ],
)
def test_handoff_validation(store, payload, field):
    status, _, body = call(app_for(store), "POST", "/api/handoff", json=payload)
    assert status == 400 and body["field"] == field
    assert store.list_handoffs() == []


def test_api_refuses_foreign_origins(store):
    evil = "https://evil.example"
    status, headers, body = call(app_for(store), "POST", "/api/feedback", origin=evil, json=FEEDBACK)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = call(app_for(store), "OPTIONS", "/api/feedback", origin="https://evil.example")
    assert status == 403
    assert store.list_feedback() == []


def test_api_allows_configured_embedding_origin(store):
    def app():
        return app_for(store, allowed_origins=("https://www.example.gov.cn",))

    status, headers, _ = call(app(), "OPTIONS", "/api/feedback", origin="https://www.example.gov.cn")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://www.example.gov.cn"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    status, headers, _ = call(
        app(), "POST", "/api/feedback", origin="https://www.example.gov.cn", json=FEEDBACK
    )
    assert status == 201 and headers["Access-Control-Allow-Origin"] == "https://www.example.gov.cn"


def test_same_origin_needs_no_cors_headers(store):
    status, headers, _ = call(app_for(store), "POST", "/api/feedback", json=FEEDBACK)
    assert status == 201 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = call(app_for(store), "POST", "/api/feedback", origin=None, json=FEEDBACK)
    assert status == 201


def test_api_is_rate_limited(store):
    app = app_for(store, rate_limit=2)

    async def go():
        async with TestClient(TestServer(app)) as client:
            return [(await client.post("/api/feedback", json=FEEDBACK)).status for _ in range(3)]

    assert run(go) == [201, 201, 429]


def test_rate_limiter_window():
    limiter = RateLimiter(2)
    assert limiter.allow("a", now=0) and limiter.allow("a", now=1)
    assert not limiter.allow("a", now=2) and limiter.allow("b", now=2)
    assert limiter.allow("a", now=61.5)


def test_unknown_api_route_is_json_404(store):
    status, _, body = call(app_for(store), "GET", "/api/nothing")
    assert status == 404 and body["ok"] is False


def test_demo_page_and_security_headers(store):
    status, headers, body = call(app_for(store, socket_url="http://127.0.0.1:5999"), "GET", "/", origin=None)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<script src="/widget.js"' in body and "演示" in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "http://127.0.0.1:5999 ws://127.0.0.1:5999" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_default_socket_origin_is_page_host_port_5005(store):
    _, headers, _ = call(app_for(store), "GET", "/", origin=None)
    assert "http://127.0.0.1:5005 ws://127.0.0.1:5005" in headers["Content-Security-Policy"]


def test_config_js_carries_socket_url(store):
    odd = 'http://h:1/"</script>'
    _, headers, body = call(app_for(store, socket_url=odd), "GET", "/config.js", origin=None)
    assert headers["Content-Type"].startswith("application/javascript")
    assert json.dumps('http://h:1/"</script>') in body
    _, _, body = call(app_for(store), "GET", "/config.js", origin=None)
    assert "Object.assign({}, window.RensheWidgetConfig" in body


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/widget.js", "application/javascript"),
        ("/widget.css", "text/css"),
        ("/site.css", "text/css"),
        ("/healthz", "application/json"),
    ],
)
def test_assets(store, path, content_type):
    status, headers, _ = call(app_for(store), "GET", path, origin=None)
    assert status == 200 and headers["Content-Type"].startswith(content_type)


@pytest.mark.node  # needs node_modules (make web-deps)
def test_socket_io_client_is_served_locally(store):
    # why: `make test` runs `make web-deps` (npm ci) first; without it the widget cannot connect.
    assert SOCKET_IO_CLIENT.is_file(), "node_modules missing: run `make web-deps`"
    status, headers, body = call(app_for(store), "GET", "/vendor/socket.io.min.js", origin=None)
    assert status == 200 and headers["Content-Type"].startswith("application/javascript") and "io" in body


@pytest.mark.parametrize(
    "path",
    ["/../widget/app.py", "/node_modules/socket.io-client/package.json", "/index.html.bak", "/web/index.html"],
)
def test_nothing_else_is_served(store, path):
    status, _, _ = call(app_for(store), "GET", path, origin=None)
    assert status == 404


def test_production_start_refuses_without_handoff_key(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("HANDOFF_KEY", raising=False)
    assert main(["--port", "0"]) == 2


@pytest.mark.parametrize("encoding", ["deflate", "gzip", "br", "DEFLATE "])
def test_compressed_request_bodies_are_refused_before_inflating(store, encoding):
    bomb = zlib.compress(json.dumps({**FEEDBACK, "comment": "x" * 20_000_000}).encode(), 9)  # ~20 KB → 20 MB
    assert len(bomb) < 64 * 1024
    status, _, _ = call(app_for(store), "POST", "/api/feedback", data=bomb,
                        headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert status == 415
    assert store.list_feedback() == []
