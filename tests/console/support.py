"""Helpers shared by the console tests: a project copy, a fake bot API, a server thread, form helpers."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from aiohttp import web

from console.rasa_client import RasaClient, RasaReply
from ops.supervise import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"


def copy_project(target: Path) -> Path:
    """config.yml, domain.yml, credentials/endpoints and data/ of the repository, copied to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.yml", "domain.yml", "credentials.yml", "endpoints.yml"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "data", target / "data")
    return target


def console_env(project: Path, **extra: str) -> dict[str, str]:
    env = {
        "CONSOLE_PROJECT_ROOT": str(project),
        "CONSOLE_VAR_DIR": str(project / "var"),
        "TRACKER_DB": str(project / "var" / "tracker.db"),
        "CONSOLE_VALIDATE": "off",
        "APP_ENV": "test",
        "RASA_URL": "http://127.0.0.1:9",
        "RASA_API_TOKEN": "test-token",
    }
    env.update(extra)
    return env


@dataclass
class FakeRasa(RasaClient):
    """The bot's HTTP API as the console sees it, with canned answers and a record of calls."""

    model_file: str = "models/rs-000000000000.tar.gz"
    parse_data: dict = field(
        default_factory=lambda: {
            "intent": {"name": "ask_pension", "confidence": 0.91},
            "intent_ranking": [
                {"name": "ask_pension", "confidence": 0.91},
                {"name": "ask_retirement", "confidence": 0.05},
            ],
            "entities": [{"entity": "region", "value": "深圳", "start": 0, "end": 2, "extractor": "DIETClassifier"}],
        }
    )
    replies: list = field(default_factory=lambda: [{"text": "深圳养老金……\n来源：《深圳人社2024年十件大事》"}])
    calls: list = field(default_factory=list)
    fail_load: bool = False

    def __post_init__(self) -> None:
        RasaClient.__init__(self, "http://fake", "token")

    async def status(self) -> RasaReply:
        self.calls.append(("status",))
        return RasaReply(True, {"model_file": self.model_file})

    async def parse(self, text: str) -> RasaReply:
        self.calls.append(("parse", text))
        return RasaReply(True, {**self.parse_data, "text": text})

    async def say(self, sender: str, text: str) -> RasaReply:
        self.calls.append(("say", sender, text))
        return RasaReply(True, self.replies)

    async def load_model(self, model_file: str, timeout: float = 600) -> RasaReply:
        self.calls.append(("load_model", model_file))
        if self.fail_load:
            return RasaReply(False, error="机器人返回 HTTP 500")
        self.model_file = model_file
        return RasaReply(True, None, "", 204)

    async def close(self) -> None:
        return None


class ServerThread:
    """An aiohttp app served on a free port from a background thread (tests use ``requests``)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            runner = web.AppRunner(self.app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 - reported to the test
            self.error = error
            self._ready.set()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self.error:
            raise self.error
        return self

    def call(self, coroutine) -> Any:
        """Run a coroutine on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(600)

    def stop(self) -> None:
        if self.loop and self._stop:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


class EmptyAppStore:
    def list_feedback(self, limit: int = 100, rating: str | None = None, since=None) -> list:
        return []

    def list_handoffs(self, limit: int = 100, status: str | None = None) -> list:
        return []


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def sign_in(base_url: str, username: str, password: str = PASSWORD) -> requests.Session:
    """A requests session signed in through the real login form."""
    session = requests.Session()
    page = session.get(base_url + "/login")
    response = session.post(
        base_url + "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
        allow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    return session


def post_form(session: requests.Session, base_url: str, page: str, action: str, data: dict) -> requests.Response:
    """Open ``page``, take its CSRF token and POST ``data`` to ``action`` (redirects not followed)."""
    token = csrf_of(session.get(base_url + page).text)
    return session.post(base_url + action, data={**data, "csrf_token": token}, allow_redirects=False)


def flashes(html: str) -> list[str]:
    return re.findall(r'class="flash [a-z]+"[^>]*>([^<]+)', html)
