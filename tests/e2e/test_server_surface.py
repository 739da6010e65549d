"""What the single-machine Rasa server (``make run``'s, started by bot.launcher) shows a stranger.

The HTTP API is on (with a token, as ``make run`` does for the trainer console): still ``/version``
is 404, ``/`` names no version, and a foreign web page gets no CORS permission.
"""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_version_is_not_shown(running_bot):
    version = requests.get(running_bot.rasa_url + "/version", timeout=10)
    assert version.status_code == 404 and "3.6" not in version.text
    root = requests.get(running_bot.rasa_url + "/", timeout=10)
    assert root.status_code == 200 and "3.6" not in root.text
    # the rest of the API is unchanged: behind the token
    assert requests.get(running_bot.rasa_url + "/status", timeout=10).status_code == 401
    assert requests.get(running_bot.rasa_url + "/status", params={"token": running_bot.api_token},
                        timeout=10).status_code == 200


def test_a_foreign_origin_gets_no_cors_permission(running_bot):
    for method in ("GET", "OPTIONS"):
        response = requests.request(method, running_bot.rasa_url + "/webhooks/rest/webhook" if method == "OPTIONS"
                                    else running_bot.rasa_url + "/webhooks/rest/",
                                    headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
                                    timeout=10)
        assert response.headers.get("Access-Control-Allow-Origin") != "https://evil.example"
        assert "Access-Control-Allow-Credentials" not in response.headers
