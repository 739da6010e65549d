"""Console security review (issue 16): compressed bodies, redirects after sign-in, lockout, audit, /try."""

from __future__ import annotations

import zlib

import requests

from tests.console.support import csrf_of


def test_a_compressed_login_body_is_refused_before_inflating(server):
    bomb = zlib.compress(b"username=admin&password=" + b"a" * 20_000_000, 9)
    assert len(bomb) < 64 * 1024
    page = requests.get(server.url + "/login")
    response = requests.post(server.url + "/login", data=bomb, cookies=page.cookies, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "deflate",
        "X-CSRF-Token": csrf_of(page.text)}, allow_redirects=False)
    assert response.status_code == 415
