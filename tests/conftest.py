"""Shared fixtures: the trained model, the real servers started on free ports, one browser, coroutines.

Order independence: Playwright's sync API runs an event loop in the main thread for as long as it is
started, so a second ``sync_playwright()`` (in another test module) fails, and so does ``asyncio.run``
after it. Hence one session-wide Playwright (:func:`playwright`, :func:`browser`) for every browser
test, and :func:`run_async` for coroutines in tests, which runs them on a fresh loop in a worker thread.
Tests that need the trained model or a browser are marked ``model`` / ``browser`` here, by the fixtures
they use, so that ``make check`` (``-m "not model and not browser ..."``) never starts either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest
import requests

from ops.launcher import bot_services
from ops.supervise import free_port, stop_all, wait_ready

ROOT = Path(__file__).resolve().parent.parent


def _model_path() -> str:
    model = os.environ.get("BOT_MODEL")
    if model:
        return model
    models = sorted((ROOT / "models").glob("rs-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("no trained model: run `make train` (make test does it for you)")
    return str(models[-1])


@dataclass
class RunningBot:
    rest_url: str
    rasa_url: str
    action_url: str
    api_token: str
    log_dir: Path

    def say(self, message: str, sender: str | None = None, timeout: float = 30) -> list[dict]:
        """Send one message over the REST channel; returns Rasa's list of bot messages."""
        response = requests.post(
            self.rest_url, json={"sender": sender or uuid.uuid4().hex, "message": message}, timeout=timeout
        )
        response.raise_for_status()
        return response.json()

    def reply_text(self, message: str, sender: str | None = None) -> str:
        return "\n".join(m.get("text", "") for m in self.say(message, sender))


MODEL_FIXTURES = {"bot_model", "running_bot"}
BROWSER_FIXTURES = {"playwright", "browser", "new_page"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by what their fixtures start: ``model`` (a trained model), ``browser`` (Chromium)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & MODEL_FIXTURES:
            item.add_marker(pytest.mark.model)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)


def run_coroutine(awaitable: Awaitable[Any]) -> Any:
    """``asyncio.run`` in a worker thread: works while Playwright's loop runs in the main thread."""
    async def main() -> Any:
        return await awaitable

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


@pytest.fixture
def run_async() -> Callable[[Awaitable[Any]], Any]:
    """``run_async(coroutine)`` -> its result, on a fresh event loop (see the module docstring)."""
    return run_coroutine


@pytest.fixture(scope="session")
def playwright():
    """The one sync Playwright of the session (module docstring)."""
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's headless Chromium (``make browser-deps``), shared by every browser test."""
    from tests.widget.conftest import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def bot_model() -> str:
    return _model_path()


@pytest.fixture(scope="session")
def running_bot(bot_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """The real action server and Rasa server (REST + socket.io) on free ports."""
    tmp = tmp_path_factory.mktemp("bot")
    rasa_port, action_port = free_port(), free_port()
    token = uuid.uuid4().hex
    services = bot_services(
        bot_model,
        rasa_port=rasa_port,
        action_port=action_port,
        tracker_db=str(tmp / "tracker.db"),
        log_dir=tmp,
        # why: the browser tests' demo site runs on a free port; any loopback port may call this Rasa.
        extra_env={"RASA_API_TOKEN": token, "RASA_CORS": r"http://127\.0\.0\.1:\d+$ http://localhost:\d+$"},
    )
    try:
        for service in services:
            service.start()
        wait_ready(services, timeout=240)
    except Exception:
        stop_all(services)
        for log in tmp.glob("*.log"):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    yield RunningBot(
        rest_url=f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        action_url=f"http://127.0.0.1:{action_port}",
        api_token=token,
        log_dir=tmp,
    )
    stop_all(services)
