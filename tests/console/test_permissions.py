"""Sign-in, sessions, CSRF, roles and the audit log of the trainer console."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from console import app as console_app
from console.auth import ADMIN_ONLY, PERMISSIONS, AuthError, can, hash_password, verify_password
from console.store import SessionRow, User, utcnow
from tests.console.support import PASSWORD, console_env, csrf_of, flashes, post_form, sign_in

SAMPLE_PARAMS = {
    "name": "ask_pension", "index": "0", "key": "0" * 32, "run_id": "1", "user_id": "1", "case_id": "1",
    "fact_id": "SF-0001", "row_id": "1",
}
SECRET_MARKERS = ("ask_pension", "养老金", "csrf_token", "admin1", "trainer1")


def concrete(path: str) -> str:
    """A route pattern with sample values for its parameters (``{name}``, ``{name:regex{n}}``)."""
    out, depth, name = [], 0, ""
    for ch in path:
        if ch == "{":
            depth += 1
            if depth == 1:
                name = ""
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append(SAMPLE_PARAMS[name.split(":", 1)[0]])
                continue
        if depth:
            name += ch
        else:
            out.append(ch)
    return "".join(out)


def every_route(server) -> list[tuple[str, str]]:
    """(method, concrete path) of every route the running application has, read from its router."""
    found = set()
    for resource in server.app.router.resources():
        info = resource.get_info()
        pattern = info.get("path") or info.get("formatter")
        for route in resource:
            found.add((route.method, concrete(pattern)))
    return sorted(found)


def test_the_router_and_the_route_table_agree(server):
    registered = {(m, concrete(p)) for m, p, _ in console_app.routes()}
    from_router = {(m, p) for m, p in every_route(server) if m != "HEAD"}
    assert registered == from_router
    assert len(registered) >= 20


def test_unauthenticated_requests_to_every_route_are_refused(server, users):
    public = {(m, concrete(p)) for m, p in console_app.PUBLIC}
    checked = 0
    for method, path in every_route(server) + [("GET", "/no-such-page"), ("POST", "/no-such-page")]:
        if (method, path) in public or (method == "HEAD" and ("GET", path) in public):
            continue
        response = requests.request(
            method,
            server.url + path,
            allow_redirects=False,
            timeout=10,
            data={"csrf_token": "x", "raw": "x", "model": "x"},
        )
        checked += 1
        if method in ("GET", "HEAD"):
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)
        assert not any(marker in response.text for marker in SECRET_MARKERS), (method, path)
    assert checked >= 20


def test_public_routes(server):
    assert requests.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
    page = requests.get(server.url + "/login", timeout=10)
    assert page.status_code == 200 and "登录" in page.text


def test_a_forged_cookie_is_refused(server, users):
    response = requests.get(server.url + "/", cookies={"rs_console": "forged"}, allow_redirects=False, timeout=10)
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("user", "permission", "allowed"),
    [(role, p, role == "admin" or p not in ADMIN_ONLY) for role in ("trainer", "admin") for p in sorted(PERMISSIONS)],
)
def test_permission_table(user, permission, allowed):
    account = User(1, "x", user, True, utcnow(), None)
    assert can(account, permission) is allowed
    assert can(None, permission) is False
    assert can(User(1, "x", user, False, utcnow(), None), permission) is False


def test_trainer_is_refused_every_admin_route(server, users):
    session = sign_in(server.url, users["trainer"])
    token = csrf_of(session.get(server.url + "/").text)
    admin_routes = [(m, concrete(p)) for m, p, perm in console_app.routes() if perm in ADMIN_ONLY]
    assert {p for _, p in admin_routes} >= {"/users", "/training/1/activate", "/models/rollback"}
    for method, path in admin_routes:
        response = session.request(
            method, server.url + path, data={"csrf_token": token, "model": "x"}, allow_redirects=False
        )
        assert response.status_code == 403, (method, path)
    admin = sign_in(server.url, users["admin"])
    assert admin.get(server.url + "/users").status_code == 200


@pytest.mark.parametrize(
    ("token", "headers", "status"),
    [
        (None, {}, 403),
        ("wrong", {}, 403),
        ("GOOD", {"Origin": "https://evil.example"}, 403),
        ("GOOD", {}, 303),
    ],
    ids=["missing", "wrong", "other-origin", "good"],
)
def test_csrf_is_checked_on_post(server, users, token, headers, status):
    session = sign_in(server.url, users["trainer"])
    good = csrf_of(session.get(server.url + "/inbox").text)
    data = {"text": "随便问问"}
    if token is not None:
        data["csrf_token"] = good if token == "GOOD" else token
    response = session.post(
        server.url + "/inbox/" + "a" * 32 + "/dismiss", data=data, headers=headers, allow_redirects=False
    )
    assert response.status_code == status


def test_login_needs_the_csrf_token_of_the_login_page(server, users):
    session = requests.Session()
    session.get(server.url + "/login")
    response = session.post(
        server.url + "/login", data={"username": users["admin"], "password": PASSWORD}, allow_redirects=False
    )
    assert response.status_code == 403


def test_session_cookie_flags_and_rotation(server, users):
    session = requests.Session()
    page = session.get(server.url + "/login")
    anonymous = session.cookies.get("rs_console")
    assert "HttpOnly" in page.headers["Set-Cookie"] and "SameSite=Strict" in page.headers["Set-Cookie"]
    response = session.post(
        server.url + "/login",
        data={"username": users["admin"], "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        allow_redirects=False,
    )
    assert response.status_code == 303
    assert session.cookies.get("rs_console") != anonymous
    assert "HttpOnly" in response.headers["Set-Cookie"] and "SameSite=Strict" in response.headers["Set-Cookie"]
    stale = requests.get(server.url + "/", cookies={"rs_console": anonymous}, allow_redirects=False)
    assert stale.status_code == 303


def test_security_headers(server, users):
    session = sign_in(server.url, users["admin"])
    response = session.get(server.url + "/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_idle_sessions_expire(server, store, users):
    session = sign_in(server.url, users["trainer"])
    assert session.get(server.url + "/", allow_redirects=False).status_code == 200
    with store.session() as s:
        s.execute(update(SessionRow).values(last_seen_at=utcnow() - timedelta(hours=9)))
    assert session.get(server.url + "/", allow_redirects=False).status_code == 303


def test_sessions_expire_after_the_absolute_limit(server, store, users):
    session = sign_in(server.url, users["trainer"])
    with store.session() as s:
        s.execute(update(SessionRow).values(created_at=utcnow() - timedelta(hours=25)))
    assert session.get(server.url + "/", allow_redirects=False).status_code == 303


def test_logout_ends_the_session(server, users):
    session = sign_in(server.url, users["trainer"])
    response = post_form(session, server.url, "/", "/logout", {})
    assert response.status_code == 303
    assert session.get(server.url + "/", allow_redirects=False).status_code == 303


def test_wrong_password_and_lockout(server, users, store):
    for _ in range(5):
        page = requests.Session()
        token = csrf_of(page.get(server.url + "/login").text)
        response = page.post(
            server.url + "/login",
            data={"username": users["trainer"], "password": "wrong-password", "csrf_token": token},
            allow_redirects=False,
        )
        assert response.status_code == 401
    page = requests.Session()
    token = csrf_of(page.get(server.url + "/login").text)
    locked = page.post(
        server.url + "/login",
        data={"username": users["trainer"], "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert locked.status_code == 401
    assert [e.action for e in store.audit_entries(action="login_failed")].count("login_failed") == 5


def test_passwords_are_hashed_with_argon2(store, users):
    user, stored = store.user_credentials(users["admin"])
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "x")
    with pytest.raises(AuthError):
        hash_password("short")


def test_disabled_user_cannot_sign_in_and_loses_sessions(server, users, store):
    session = sign_in(server.url, users["trainer"])
    admin = sign_in(server.url, users["admin"])
    trainer_id = store.user_credentials(users["trainer"])[0].id
    response = post_form(admin, server.url, "/users", f"/users/{trainer_id}/active", {"active": "0"})
    assert response.status_code == 303
    assert session.get(server.url + "/", allow_redirects=False).status_code == 303
    assert [e.action for e in store.audit_entries()][0] == "user_disable"


def test_admin_creates_a_user_in_the_browser_form(server, users, store):
    admin = sign_in(server.url, users["admin"])
    response = post_form(
        admin,
        server.url,
        "/users",
        "/users",
        {"username": "new-trainer", "password": "a-long-password", "role": "trainer"},
    )
    assert response.status_code == 303
    assert sign_in(server.url, "new-trainer", "a-long-password")
    entry = store.audit_entries(action="user_create")[0]
    assert (entry.username, entry.target, entry.detail) == ("admin1", "new-trainer", {"role": "trainer"})


def test_every_change_is_in_the_audit_log(server, users, store, project):
    session = sign_in(server.url, users["trainer"])
    post_form(
        session,
        server.url,
        "/intents/ask_pension",
        "/intents/ask_pension/add",
        {"raw": "[深圳](region)养老金领取手续在哪办理"},
    )
    post_form(session, server.url, "/inbox", "/inbox/" + "b" * 32 + "/dismiss", {"text": ""})
    entries = {e.action: e for e in store.audit_entries()}
    assert {"login", "example_add", "inbox_dismiss"} <= set(entries)
    add = entries["example_add"]
    assert add.username == "trainer1" and add.target == "ask_pension"
    assert add.detail["after"] == "[深圳](region)养老金领取手续在哪办理"
    assert add.detail["files"] == ["pension.yml"]
    assert add.at <= utcnow()
    page = session.get(server.url + "/audit").text
    assert "example_add" in page and "login" not in re.findall(r"<td>(login\w*)</td>", page)


def test_cli_creates_users_from_stdin(project):
    env = {**console_env(project)}
    run = subprocess.run(
        [sys.executable, "-m", "console", "create-user", "li", "--role", "admin", "--password-stdin"],
        input="a-very-long-secret\n",
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    weak = subprocess.run(
        [sys.executable, "-m", "console", "create-user", "wang", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        timeout=60,
    )
    assert weak.returncode == 1 and "10" in weak.stderr


def test_flash_after_successful_add(server, users):
    session = sign_in(server.url, users["trainer"])
    post_form(
        session,
        server.url,
        "/intents/ask_pension",
        "/intents/ask_pension/add",
        {"raw": "养老金发放日期是几号呢"},
    )
    assert any("已添加例句" in f for f in flashes(session.get(server.url + "/intents/ask_pension").text))
