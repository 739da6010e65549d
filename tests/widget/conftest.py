"""Browser fixtures: Debian's headless Chromium driven by Playwright, the widget's web server, screenshots.

Playwright's own browser download is never used (no `playwright install`): we launch /usr/bin/chromium,
which `make browser-deps` installs with apt.
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import ConsoleMessage, Page

from bot.sessions import DEV_PII_KEY
from ops.supervise import Service, free_port, wait_ready
from widget.store import AppStore

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# why: the demo site of a browser test runs on a free port; a Rasa started for it allows any loopback
# origin (RASA_CORS, bot.cors; the same value as tests/conftest.py's running_bot).
LOOPBACK_CORS = r"http://127\.0\.0\.1:\d+$ http://localhost:\d+$"
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 640}


@dataclass
class WebSite:
    """A running ``python -m widget`` and the store it writes to."""

    url: str
    service: Service
    store: AppStore
    socket_url: str


def start_web_site(socket_url: str, tmp: Path) -> WebSite:
    """Start widget.app on a free port, its widget pointed at ``socket_url``; caller stops it."""
    port = free_port()
    key = Fernet.generate_key().decode()
    database_url = f"sqlite:///{tmp / 'app.db'}"
    service = Service(
        "website demo",
        [sys.executable, "-m", "widget", "--port", str(port), "--socket-url", socket_url],
        f"http://127.0.0.1:{port}/healthz",
        f"http://127.0.0.1:{port}/",
        {"APP_DATABASE_URL": database_url, "HANDOFF_KEY": key, "APP_ENV": "test", "WEB_RATE_LIMIT": "1000",
         # why: the API checks session ids signed by the socket server (real Rasa or the fake, both in
         # development mode with the development key); outside development the key must be explicit.
         "PII_HASH_KEY": DEV_PII_KEY},
        tmp / "web.log",
    )
    service.start()
    try:
        wait_ready([service], timeout=30)
    except Exception:
        service.stop()
        raise
    return WebSite(service.public_url, service, AppStore(database_url, Fernet(key.encode())), socket_url)


# `browser` (one Chromium for the whole session, shared with tests/console) is in tests/conftest.py.


@pytest.fixture(scope="session")
def demo_site(running_bot, tmp_path_factory) -> Iterator[WebSite]:
    """The demo page served by widget.app, its widget talking to the real Rasa server."""
    site = start_web_site(running_bot.rasa_url, tmp_path_factory.mktemp("web"))
    yield site
    site.service.stop()
    site.store.dispose()


@dataclass
class BrowserPage:
    page: Page
    errors: list[str]
    dialogs: list[str]


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., BrowserPage]]:
    """Factory for pages in fresh browser contexts (own localStorage); closes them afterwards."""
    contexts = []

    def make(viewport: dict = DESKTOP, **options) -> BrowserPage:
        context = browser.new_context(viewport=viewport, locale="zh-CN", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        dialogs: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            # why: refused connections are expected in the offline tests; anything else is a bug.
            if message.type == "error" and "ERR_CONNECTION_REFUSED" not in message.text:
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))

        def on_dialog(dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return BrowserPage(page, errors, dialogs)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def shot() -> Callable[[Page, str], Path]:
    """Save a screenshot under screenshots/ (gitignored) and return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page: Page, name: str, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        logger.info("screenshot %s", path)
        return path

    return take


def unique() -> str:
    return uuid.uuid4().hex[:8]
