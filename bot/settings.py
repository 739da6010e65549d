"""The settings of the Rasa server's own code: every environment variable it reads, in one table.

Contract:

* :data:`VARIABLES` names every environment variable that code under ``bot/`` reads, with its default
  and meaning; ``.env.example`` lists each of them (``tests/test_env_example.py``).
* :func:`environ` is the only door to the environment for ``bot/``: it returns ``env`` (a mapping that
  tests pass) or ``os.environ``, seen through :data:`VARIABLES` — reading a name that is not declared
  there raises ``KeyError``, so a new variable cannot be read without being declared (and documented).
  Nothing is read at import; each reader takes what it needs when it builds its frozen object
  (:class:`bot.channels.wechat_settings.WeChatSettings`, the rate limiters, the tracker store ...).
* :func:`environment_name` reads ``APP_ENV`` (``RASA_ENV`` is still honoured, it came first); unset
  means ``development``, which is what ``make run`` and the test fixtures use. :func:`is_development`
  is true for ``development`` only: every other name (``prod``, ``staging``, ``test``, a typo) is
  production, so development defaults (published tokens and keys) are refused.
"""

from __future__ import annotations

import os
from typing import Iterator, Mapping

DEVELOPMENT = "development"

# name -> (default, meaning). Keep .env.example in step (tests/test_env_example.py checks it).
VARIABLES: dict[str, tuple[str, str]] = {
    "APP_ENV": (DEVELOPMENT, "environment name; only development accepts the published development keys"),
    "RASA_ENV": ("", "older name of APP_ENV, still honoured"),
    "PII_HASH_KEY": ("development key", "key of conversation-id pseudonyms and of the widget's session ids"),
    "MODEL_SIGNING_KEY": ("", "HMAC key of model manifests (bot.signing)"),
    "STAFF_REPLY_TOKEN": ("", "token of the console's staff replies (/webhooks/staff/reply; off without it)"),
    "REDIS_URL": ("", "shared rate limits and WeChat state (several processes)"),
    "TRUSTED_PROXIES": ("", "proxies whose X-Forwarded-For is believed (comma-separated)"),
    "RATE_LIMIT_BURST": ("10", "per-conversation burst"),
    "RATE_LIMIT_PER_MINUTE": ("20", "per-conversation messages a minute"),
    "RATE_LIMIT_CLIENT_BURST": ("60", "per-client-address burst"),
    "RATE_LIMIT_CLIENT_PER_MINUTE": ("300", "per-client-address messages a minute"),
    "RATE_LIMIT_GLOBAL_BURST": ("300", "global burst"),
    "RATE_LIMIT_GLOBAL_PER_MINUTE": ("3000", "global messages a minute"),
    "RATE_LIMIT_PREFIX": ("WECHAT_STORE_PREFIX or renshe:", "Redis key prefix of the rate limits"),
    "RASA_CORS": ("the site's origins + WEB_ALLOWED_ORIGINS", "origins that may call Rasa from a browser"),
    "WEB_ALLOWED_ORIGINS": ("", "other sites that embed the widget"),
    "WEB_PORT": ("8000", "port of the website demo (its origins are allowed by default)"),
    "RASA_SPEEDUPS": ("1", "0 runs plain Rasa without bot.speedups"),
    "RASA_STUB_TENSORFLOW": ("1", "0 loads the real TensorFlow even for a model that needs none"),
    "ACTIONS_IN_PROCESS": ("0", "1 answers the action endpoint's calls inside the Rasa process (docs/rasa-patches.md); "
                                "make run sets 1 on one process"),
    "ACTIONS_MODULE": ("actions", "the actions package run in process"),
    "TRACKER_DB": ("var/tracker.db", "SQLite file of the tracker store"),
    "TRACKER_DB_URL": ("", "SQLAlchemy URL of the tracker store (wins over the parts below)"),
    "TRACKER_DB_HOST": ("", "PostgreSQL host of the tracker store"),
    "TRACKER_DB_PORT": ("5432", "PostgreSQL port of the tracker store"),
    "TRACKER_DB_NAME": ("renshe_tracker", "PostgreSQL database of the tracker store"),
    "TRACKER_DB_USER": ("", "PostgreSQL user of the tracker store"),
    "TRACKER_DB_PASSWORD": ("", "PostgreSQL password of the tracker store"),
    "TRACKER_DB_RETRY_SECONDS": ("20", "how long a tracker read or write is retried"),
    "WECHAT_TOKEN": ("development token", "WeChat server token"),
    "WECHAT_APPID": ("", "WeChat app id"),
    "WECHAT_SECRET": ("", "WeChat app secret (customer-service messages)"),
    "WECHAT_AES_KEY": ("", "WeChat EncodingAESKey: safe (AES) mode when set"),
    "WECHAT_API_BASE": ("https://api.weixin.qq.com", "WeChat API base URL"),
    "WECHAT_MENU": ("bot/channels/wechat_menu.yml", "the Official Account menu file"),
    "WECHAT_STORE_PREFIX": ("renshe:", "Redis key prefix of the WeChat state"),
    "WECHAT_REPLY_DEADLINE": ("4.5", "seconds before a WeChat reply goes out as customer-service message"),
    "WECHAT_TIMESTAMP_WINDOW": ("300", "seconds a WeChat signature timestamp stays valid"),
    "WECHAT_MAX_BODY_BYTES": ("65536", "largest WeChat request body"),
    "WECHAT_API_ATTEMPTS": ("3", "attempts of a WeChat API call"),
    "WECHAT_API_BACKOFF": ("0.5", "seconds between WeChat API attempts"),
}


class _Declared(Mapping[str, str]):
    """``source`` limited to :data:`VARIABLES`; an undeclared name is a programming error (KeyError)."""

    def __init__(self, source: Mapping[str, str]) -> None:
        self._source = source

    def _check(self, name: str) -> None:
        if name not in VARIABLES:
            raise KeyError(f"{name} is not declared in bot.settings.VARIABLES (and .env.example)")

    def __getitem__(self, name: str) -> str:
        self._check(name)
        return self._source[name]

    def get(self, name: str, default=None):  # type: ignore[override]
        self._check(name)
        return self._source.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._source if name in VARIABLES)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def environ(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """``env`` (or ``os.environ``) seen through :data:`VARIABLES` (module docstring)."""
    if isinstance(env, _Declared):
        return env
    return _Declared(os.environ if env is None else env)


def environment_name(env: Mapping[str, str] | None = None) -> str:
    """``APP_ENV`` (or ``RASA_ENV``) lower-cased; ``development`` when neither is set."""
    env = environ(env)
    return (env.get("RASA_ENV") or env.get("APP_ENV") or DEVELOPMENT).strip().lower()


def is_development(env: Mapping[str, str] | None = None) -> bool:
    # why: a deny-list ("production", "prod") let "staging" or "Prod " run on public dev secrets.
    return environment_name(env) == DEVELOPMENT
