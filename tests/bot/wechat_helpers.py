"""Test doubles for the WeChat channel: a fake Rasa, a fake WeChat API, the channel on a real port."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any, Callable, Dict, List
from urllib.parse import parse_qs, urlparse

from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from ops.supervise import free_port

DATA = Path(__file__).resolve().parent.parent / "data" / "wechat"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
APPID = "wx0123456789abcdef"
SECRET = "test-secret-never-logged"


def fixture_xml(name: str, **values: Any) -> str:
    """``tests/data/wechat/<name>.xml`` with ``${openid}``, ``${create_time}``, ``${msg_id}`` ... filled."""
    defaults = {"openid": "oTest" + uuid.uuid4().hex[:12], "create_time": int(time.time()),
                "msg_id": uuid.uuid4().int % 10**18}
    return Template((DATA / f"{name}.xml").read_text(encoding="utf-8")).substitute({**defaults, **values})


def new_openid() -> str:
    return "oTest" + uuid.uuid4().hex[:20]


class FakeRasa:
    """Stands in for Rasa's ``on_new_message``: records calls, waits, answers ``respond(message)``."""

    def __init__(self, delay: float = 0.0,
                 respond: Callable[[UserMessage], List[Dict[str, Any]]] | None = None) -> None:
        self.delay = delay
        self.respond = respond or (lambda message: [{"text": f"收到：{message.text}"}])
        self.calls: List[UserMessage] = []

    @property
    def texts(self) -> List[str]:
        return [m.text for m in self.calls]

    async def __call__(self, message: UserMessage) -> None:
        self.calls.append(message)
        await asyncio.sleep(self.delay)
        for bot_message in self.respond(message):
            await message.output_channel.send_response(message.sender_id, dict(bot_message))


class ChannelServer:
    """A Sanic app with the channel's blueprint at ``/webhooks/wechat``, served on a free port in a thread."""

    def __init__(self, channel, on_new_message) -> None:
        # why: several apps in one process; test mode keeps Sanic from rewriting its protocol class twice.
        Sanic.test_mode = True
        self.channel = channel
        self.app = Sanic(f"wechat_test_{uuid.uuid4().hex[:8]}")
        self.app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/wechat")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/wechat/webhook"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._server = await self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        await self._server.startup()
        await self._server.before_start()
        await self._server.after_start()

    def start(self) -> ChannelServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("channel server did not start")
        return self

    def stop(self) -> None:
        async def _stop():
            await self._server.before_stop()
            await self._server.close()
            await self._server.after_stop()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


class FakeWeChatAPI:
    """``cgi-bin/token`` and ``cgi-bin/message/custom/send`` on 127.0.0.1.

    ``reject_token(code)`` makes the current token fail once with ``code`` (40001/42001);
    ``fail_sends(n, kind)`` makes the next ``n`` sends fail (``"busy"``: errcode -1, ``"http"``: HTTP 500).
    """

    def __init__(self, appid: str = APPID, secret: str = SECRET) -> None:
        self.appid, self.secret = appid, secret
        self.token_calls = 0
        self.send_calls = 0
        self.sent: List[Dict[str, Any]] = []
        self.current_token: str | None = None
        self._rejected: Dict[str, int] = {}
        self._failures: List[str] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _json(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/cgi-bin/token":
                    return self._json(404, {})
                with api._lock:
                    api.token_calls += 1
                    if query.get("appid") != api.appid or query.get("secret") != api.secret:
                        return self._json(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
                    api.current_token = f"tok-{api.token_calls}"
                    return self._json(200, {"access_token": api.current_token, "expires_in": 7200})

            def do_POST(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if url.path != "/cgi-bin/message/custom/send":
                    return self._json(404, {})
                with api._lock:
                    api.send_calls += 1
                    token = query.get("access_token")
                    if token in api._rejected:
                        code = api._rejected.pop(token)
                        return self._json(200, {"errcode": code, "errmsg": "token rejected"})
                    if token != api.current_token:
                        return self._json(200, {"errcode": 40001, "errmsg": "invalid credential"})
                    if api._failures:
                        kind = api._failures.pop(0)
                        if kind == "http":
                            return self._json(500, {})
                        return self._json(200, {"errcode": -1, "errmsg": "system error"})
                    api.sent.append(json.loads(body.decode("utf-8")))
                    return self._json(200, {"errcode": 0, "errmsg": "ok"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeWeChatAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reject_token(self, code: int) -> None:
        with self._lock:
            if self.current_token:
                self._rejected[self.current_token] = code

    def fail_sends(self, count: int, kind: str = "busy") -> None:
        with self._lock:
            self._failures.extend([kind] * count)

    def texts_for(self, openid: str) -> List[str]:
        with self._lock:
            return [m["text"]["content"] for m in self.sent if m.get("touser") == openid]

    def wait_for_texts(self, openid: str, count: int, timeout: float = 10.0) -> List[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = self.texts_for(openid)
            if len(texts) >= count:
                return texts
            time.sleep(0.05)
        return self.texts_for(openid)
