"""Shared fixtures: the trained model and the real servers started on free ports."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from bot.launcher import bot_services, free_port, stop_all, wait_ready

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
