"""Settings of the WeChat Official Account channel, read once from the environment.

Contract: :meth:`WeChatSettings.from_env` returns a frozen, checked object or raises
:class:`WeChatConfigError`. Outside production an unset ``WECHAT_TOKEN`` falls back to
:data:`DEV_TOKEN` (with a warning) so ``make run`` works on embedded defaults only in development
(:mod:`bot.settings`: ``APP_ENV``/``RASA_ENV`` unset or ``development``); every other environment name is
production, where an empty or placeholder token (the published development token included) is refused.

This module imports neither rasa nor sanic, so the simulator and the benchmark can use it cheaply.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from bot.settings import environ, environment_name, is_development

logger = logging.getLogger(__name__)

DEV_TOKEN = "renshe-dev-wechat-token"
DEFAULT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_MENU_PATH = Path(__file__).with_name("wechat_menu.yml")
# why: values people paste from examples; a production server must never accept them.
PLACEHOLDER_TOKENS = frozenset(
    {"", DEV_TOKEN, "token", "changeme", "change-me", "your-token", "your_token", "xxx", "${WECHAT_TOKEN}"}
)


class WeChatConfigError(ValueError):
    """The WeChat settings are unusable (placeholder token in production, bad AES key, ...)."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise WeChatConfigError(f"{name} must be a number, got {raw!r}") from error


@dataclass(frozen=True)
class WeChatSettings:
    """Everything the channel, its store and its API client need. Secrets are never logged."""

    token: str = DEV_TOKEN
    appid: str = ""
    secret: str = ""
    aes_key: str = ""
    api_base: str = DEFAULT_API_BASE
    redis_url: str = ""
    store_prefix: str = "renshe:wechat:"
    # why: WeChat drops the connection after 5 s and retries; answering by 4.5 s leaves room
    # for the network and the encryption of the reply.
    reply_deadline: float = 4.5
    timestamp_window: float = 300.0
    max_body_bytes: int = 64 * 1024
    api_attempts: int = 3
    api_backoff: float = 0.5
    api_timeout: float = 5.0
    # why: give WeChat time to show the passive reply before the rest of a long answer arrives.
    followup_delay: float = 0.8
    menu_path: Path = DEFAULT_MENU_PATH
    environment: str = "development"

    @property
    def safe_mode(self) -> bool:
        """AES ("安全模式") when ``WECHAT_AES_KEY`` is set."""
        return bool(self.aes_key)

    @property
    def local_mode(self) -> bool:
        """No app credentials: customer-service messages go to a local outbox, not to WeChat."""
        return not (self.appid and self.secret)

    @property
    def production(self) -> bool:
        return not is_development({"APP_ENV": self.environment})

    def __repr__(self) -> str:  # why: never show secrets in logs or tracebacks
        return (
            f"WeChatSettings(appid={self.appid!r}, safe_mode={self.safe_mode}, local_mode={self.local_mode}, "
            f"api_base={self.api_base!r}, redis={'yes' if self.redis_url else 'no'}, "
            f"env={self.environment!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WeChatSettings:
        """Read ``WECHAT_*`` (and ``REDIS_URL``, ``RASA_ENV``/``APP_ENV``) and check them."""
        env = environ(env)
        environment = environment_name(env)
        # why: "staging", "test" or a typo must not run on the token published in this repository.
        production = not is_development(env)
        token = (env.get("WECHAT_TOKEN") or "").strip()
        if token in PLACEHOLDER_TOKENS:
            if production:
                raise WeChatConfigError(
                    "WECHAT_TOKEN is empty or a placeholder; set the token configured on mp.weixin.qq.com"
                )
            if token:
                logger.warning("WECHAT_TOKEN is a placeholder value; acceptable only in development")
            else:
                logger.warning("WECHAT_TOKEN is not set; using the development token (never in production)")
                token = DEV_TOKEN
        aes_key = (env.get("WECHAT_AES_KEY") or "").strip()
        appid = (env.get("WECHAT_APPID") or "").strip()
        if aes_key:
            check_aes_key(aes_key)
            if not appid:
                raise WeChatConfigError(
                    "WECHAT_AES_KEY needs WECHAT_APPID (the AppID is part of the cipher text)"
                )
        menu = env.get("WECHAT_MENU")
        settings = cls(
            token=token,
            appid=appid,
            secret=(env.get("WECHAT_SECRET") or "").strip(),
            aes_key=aes_key,
            api_base=(env.get("WECHAT_API_BASE") or DEFAULT_API_BASE).strip().rstrip("/"),
            redis_url=(env.get("REDIS_URL") or "").strip(),
            store_prefix=env.get("WECHAT_STORE_PREFIX") or cls.store_prefix,
            reply_deadline=_float(env, "WECHAT_REPLY_DEADLINE", cls.reply_deadline),
            timestamp_window=_float(env, "WECHAT_TIMESTAMP_WINDOW", cls.timestamp_window),
            max_body_bytes=int(_float(env, "WECHAT_MAX_BODY_BYTES", cls.max_body_bytes)),
            api_attempts=max(1, int(_float(env, "WECHAT_API_ATTEMPTS", cls.api_attempts))),
            api_backoff=_float(env, "WECHAT_API_BACKOFF", cls.api_backoff),
            menu_path=Path(menu) if menu else DEFAULT_MENU_PATH,
            environment=environment,
        )
        if production and settings.local_mode:
            logger.warning(
                "WECHAT_APPID/WECHAT_SECRET are not set: slow answers and long answers cannot be delivered"
            )
        if settings.reply_deadline >= 5.0:
            raise WeChatConfigError("WECHAT_REPLY_DEADLINE must stay below WeChat's 5 second limit")
        return settings


def check_aes_key(aes_key: str) -> None:
    """WeChat's EncodingAESKey is 43 base64 characters that decode to 32 bytes."""
    if len(aes_key) != 43:
        raise WeChatConfigError("WECHAT_AES_KEY must be the 43-character EncodingAESKey")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as error:
        raise WeChatConfigError("WECHAT_AES_KEY is not valid base64") from error
    if len(key) != 32:
        raise WeChatConfigError("WECHAT_AES_KEY does not decode to 32 bytes")
