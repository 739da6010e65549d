"""Console security review (issue 16): compressed bodies, redirects after sign-in, lockout, audit, /try."""

from __future__ import annotations

import zlib

import pytest
import requests
from sqlalchemy import func, select

from console.app import _safe_next
from console.auth import password_problem
from console.store import SessionRow, Store
from tests.console.support import PASSWORD, csrf_of, sign_in


def test_a_compressed_login_body_is_refused_before_inflating(server):
    bomb = zlib.compress(b"username=admin&password=" + b"a" * 20_000_000, 9)
    assert len(bomb) < 64 * 1024
    page = requests.get(server.url + "/login")
    response = requests.post(server.url + "/login", data=bomb, cookies=page.cookies, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "deflate",
        "X-CSRF-Token": csrf_of(page.text)}, allow_redirects=False)
    assert response.status_code == 415


def _session_rows(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count(SessionRow.id)))


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/\t/evil.example", "/"), ("/\n/evil.example", "/"), ("/\r\n//evil.example", "/"), ("/ /evil.example", "/"),
        ("//evil.example", "/"), ("/\\evil.example", "/"), ("https://evil.example", "/"), ("/\x00/evil", "/"),
        ("/inbox", "/inbox"), ("/training?tab=runs", "/training?tab=runs"), ("", "/"), (None, "/"),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(value, expected):
    assert _safe_next(value) == expected


def test_sign_in_redirect_ignores_a_tab_smuggled_next(server, users):
    page = requests.Session()
    form = page.get(server.url + "/login")
    response = page.post(server.url + "/login", allow_redirects=False, data={
        "username": users["admin"], "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/\t/evil.example"})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_a_stranger_cannot_lock_an_admin_out_and_locks_back_off(auth, users):
    clock = [1000.0]
    auth.clock = lambda: clock[0]
    for _ in range(5):
        assert auth.authenticate(users["admin"], "wrong-password-1", "203.0.113.66") is None
    assert auth.authenticate(users["admin"], PASSWORD, "203.0.113.66") is None  # that address is locked
    assert auth.authenticate(users["admin"], PASSWORD, "198.51.100.1") is not None  # the admin is not
    first = auth.locked_for(users["admin"], "203.0.113.66")
    assert 0 < first <= 60
    clock[0] += 61
    assert auth.authenticate(users["admin"], "wrong-password-1", "203.0.113.66") is None
    assert auth.locked_for(users["admin"], "203.0.113.66") > first  # the wait doubles
    clock[0] += 15 * 60 + 1
    assert auth.authenticate(users["admin"], PASSWORD, "203.0.113.66") is not None


@pytest.mark.parametrize(
    "password, ok",
    [("aaaaaaaaaaaa", False), ("1234567890", False), ("abcdefghijkl", False), ("Password123", False), ("Tiger-lily-42", True),
     ("qwertyuiop", False), ("admin1-secret-9", False), ("深圳人社2026年培训", True), ("correct-horse-battery", True)],
)
def test_password_rule_is_more_than_length(password, ok):
    assert (password_problem(password, "admin1") is None) is ok


def test_failed_sign_ins_and_refusals_are_audited_with_the_address_and_do_not_hide_real_entries(server, users, store):
    store.audit("admin1", "user_create", "real-entry")
    for n in range(300):
        store.audit("x", "login_failed", f"x{n}", reason="unknown user", address="203.0.113.66")
    trainer = sign_in(server.url, users["trainer"])
    assert trainer.get(server.url + "/users").status_code == 403  # an admin-only page
    assert trainer.post(server.url + "/try", data={"text": "x"}).status_code == 403  # no CSRF token
    refused = store.audit_entries(action="refused")
    assert {e.detail["reason"] for e in refused} >= {"csrf"} and all(e.detail["address"] for e in refused)
    page = sign_in(server.url, users["admin"]).get(server.url + "/audit").text
    assert "real-entry" in page and "203.0.113.66" in page
    assert store.audit_entries(action="login")[0].detail["address"] == "127.0.0.1"


@pytest.mark.parametrize("body, content_type", [(b"", None), (b'{"text": "hi"}', "application/json"),
                                                (b"\xff\xfe", "application/x-www-form-urlencoded")])
def test_try_with_an_empty_or_json_body_is_answered_not_500(server, users, body, content_type):
    session = sign_in(server.url, users["trainer"])
    token = csrf_of(session.get(server.url + "/try").text)
    headers = {"X-CSRF-Token": token, **({"Content-Type": content_type} if content_type else {})}
    response = session.post(server.url + "/try", data=body, headers=headers)
    assert response.status_code == 200 and "请输入一句话" in response.text


def test_cookie_less_login_pages_store_no_session_rows(server, store):
    before = _session_rows(store)
    for _ in range(20):
        assert requests.get(server.url + "/login").status_code == 200
    assert _session_rows(store) == before
