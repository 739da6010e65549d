"""Rasa's version is not shown: ``/version`` is 404 and ``/`` names no version (bot.speedups.hide_version).

The app is the one ``rasa run`` builds (``rasa.core.run.configure_app``), with the HTTP API on and a
token, as ``make run`` starts it; the request goes in through ASGI, no server needed.
"""

from __future__ import annotations

import pytest
import rasa
import rasa.core.run
from sanic import Sanic

from bot import speedups
from tests.bot.asgi import requests_to


@pytest.fixture
def rasa_app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Sanic, "test_mode", True)
    # why: hide_version replaces configure_app; monkeypatch puts Rasa's back after the test.
    monkeypatch.setattr(rasa.core.run, "configure_app", rasa.core.run.configure_app)
    speedups.hide_version()
    speedups.hide_version()  # idempotent
    return rasa.core.run.configure_app(enable_api=True, auth_token="secret-token", cors=["http://localhost:8000"])


@pytest.mark.parametrize("path", ["/version", "/version/"])
def test_version_is_not_found(rasa_app, path: str):
    [(status, _, body)] = requests_to(rasa_app, ("GET", path, {}))
    assert status == 404
    assert rasa.__version__.encode() not in body


def test_the_root_answers_without_the_version_and_the_api_still_works(rasa_app):
    root, status, status_with_token = requests_to(
        rasa_app, ("GET", "/", {}), ("GET", "/status", {}), ("GET", "/status?token=secret-token", {}))
    assert root[0] == 200 and rasa.__version__.encode() not in root[2]
    assert status[0] == 401  # the rest of the API is unchanged: still behind the token
    assert status_with_token[0] != 404
