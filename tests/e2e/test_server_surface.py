"""What the single-machine Rasa server (``make run``'s, started by ops.launcher) shows a stranger.

The HTTP API is on (with a token, as ``make run`` does for the trainer console): still ``/version``
is 404, ``/`` names no version, and a foreign web page gets no CORS permission and cannot open the
widget's socket.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio

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


async def _polling_reply(url: str, origin: str | None) -> str | None:
    """What a python-socketio client sending ``origin`` gets for "你好"; None when the server refuses it."""
    client = socketio.AsyncClient(reconnection=False)
    loop = asyncio.get_running_loop()
    confirmed: asyncio.Future = loop.create_future()
    answers: asyncio.Queue = asyncio.Queue()
    client.on("session_confirm", lambda session: confirmed.done() or confirmed.set_result(session))
    client.on("bot_uttered", answers.put_nowait)
    try:
        await client.connect(url, headers={"Origin": origin} if origin else {}, transports=["polling"],
                             wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return None
    try:
        await client.emit("session_request", {})
        session = await asyncio.wait_for(confirmed, 10)
        await client.emit("user_uttered", {"message": "你好", "session_id": session})
        return (await asyncio.wait_for(answers.get(), 60)).get("text") or ""
    finally:
        await client.disconnect()


async def _websocket_reply(url: str, origin: str | None) -> str | None:
    """The same over a WebSocket from the first request (what a page's ``io(url, {transports: ["websocket"]})``
    does), speaking engine.io 4 / socket.io 5 frames itself.

    why: python-socketio's WebSocket client needs aiohttp >= 3.10 (``ClientWSTimeout``) or websocket-client;
    Rasa 3.6 pins aiohttp 3.9.5 and the project has no websocket-client.
    """
    import aiohttp

    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url, headers={"Origin": origin} if origin else {}, timeout=10) as ws:

            async def frame() -> str:
                while True:
                    message = await asyncio.wait_for(ws.receive(), 60)
                    if message.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"socket closed: {message.type}")
                    if message.data == "2":  # engine.io ping
                        await ws.send_str("3")
                        continue
                    return message.data

            assert (await frame()).startswith("0")  # engine.io open
            await ws.send_str("40")  # socket.io connect to "/"
            connected = await frame()
            if connected.startswith("44"):  # socket.io CONNECT_ERROR: refused
                return None
            assert connected.startswith("40"), connected
            await ws.send_str('42["session_request",{}]')
            while not (confirm := await frame()).startswith('42["session_confirm"'):
                pass
            session = json.loads(confirm[2:])[1]
            await ws.send_str("42" + json.dumps(["user_uttered", {"message": "你好", "session_id": session}]))
            while not (answer := await frame()).startswith('42["bot_uttered"'):
                pass
            return json.loads(answer[2:])[1].get("text") or ""


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize(("origin", "answered"), [
    ("https://evil.example", False), ("null", False), ("http://127.0.0.1:8000.evil.example", False),
    ("http://127.0.0.1:8000", True),  # the test server's RASA_CORS: loopback pages on any port
    (None, True),  # no Origin: not a browser page
])
def test_only_allowed_origins_may_open_the_widgets_socket(running_bot, origin, answered, transport):
    talk = _websocket_reply if transport == "websocket" else _polling_reply
    # why: a worker thread with its own loop, so this also works beside a Playwright fixture's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        reply = pool.submit(asyncio.run, talk(running_bot.rasa_url, origin)).result()
    if answered:
        assert reply, f"{origin} was not answered"
    else:
        assert reply is None, f"{origin} could talk to the bot: {reply!r}"
