"""Settings of the website demo and its API (``python -m widget``): every environment variable it reads.

Contract: :class:`WebSettings` is the frozen configuration of the app (how the page reaches Rasa, who
may call the API, its rate limit), built by :meth:`WebSettings.from_env`; the functions below are the
other reads (listen address, app database, hand-off key, environment name). Nothing is read at import.
``.env.example`` lists every variable (``tests/test_env_example.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'app.db'}"
DEFAULT_KEY_PATH = ROOT / "var" / "handoff.key"
_DEV_ENVIRONMENTS = {"development", "dev", "test", "testing", "local"}


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


@dataclass(frozen=True)
class WebSettings:
    """How the demo page reaches Rasa and who may call the API."""

    socket_url: str | None = None  # None: the widget uses the page's host on port 5005
    allowed_origins: tuple[str, ...] = ()  # extra sites that embed the widget
    rate_limit: int = 30  # API requests per client address per minute

    @classmethod
    def from_env(cls, socket_url: str | None = None, env: Mapping[str, str] | None = None) -> WebSettings:
        env = _env(env)
        origins = tuple(
            o.strip().rstrip("/") for o in env.get("WEB_ALLOWED_ORIGINS", "").split(",") if o.strip()
        )
        return cls(
            socket_url=socket_url or env.get("RASA_SOCKET_URL") or None,
            allowed_origins=origins,
            rate_limit=int(env.get("WEB_RATE_LIMIT", "30")),
        )


def listen_host(env: Mapping[str, str] | None = None) -> str:
    return _env(env).get("WEB_HOST", "127.0.0.1")


def listen_port(env: Mapping[str, str] | None = None) -> int:
    return int(_env(env).get("WEB_PORT", "8000"))


def app_database_url(env: Mapping[str, str] | None = None) -> str:
    """``APP_DATABASE_URL``: feedback and hand-off records (the console reads them too)."""
    return _env(env).get("APP_DATABASE_URL") or DEFAULT_DATABASE_URL


def handoff_key(env: Mapping[str, str] | None = None) -> str:
    """``HANDOFF_KEY``: the Fernet key of hand-off contacts (empty: see :func:`widget.store.load_fernet`)."""
    return _env(env).get("HANDOFF_KEY", "").strip()


def is_development(env: Mapping[str, str] | None = None) -> bool:
    return _env(env).get("APP_ENV", "development").lower() in _DEV_ENVIRONMENTS
