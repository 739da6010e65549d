"""The running Rasa server, as the console uses it: status, parse, webhook, model swap.

Contract: every method returns a :class:`RasaReply` and never raises for network or HTTP errors —
``ok`` is false and ``error`` says why in Chinese for the page. The HTTP session is created on first
use and must be closed with :meth:`close`. Without a token the API calls answer
"API 未开启" without touching the network (the bot's HTTP API is on only when ``RASA_API_TOKEN`` is set).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

NO_TOKEN = "机器人的 HTTP API 未开启（未设置 RASA_API_TOKEN），无法调用"


@dataclass(frozen=True)
class RasaReply:
    ok: bool
    data: Any = None
    error: str = ""
    status: int = 0


class RasaClient:
    """Thin async client of one Rasa server (``base_url``) with its API token."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _call(
        self, method: str, path: str, json: Any = None, api: bool = True, timeout: float | None = None
    ) -> RasaReply:
        if api and not self.token:
            return RasaReply(False, error=NO_TOKEN)
        params = {"token": self.token} if api and self.token else None
        try:
            session = await self._http()
            async with session.request(
                method,
                self.base_url + path,
                json=json,
                params=params,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as response:
                body: Any = None
                if response.content_type == "application/json":
                    body = await response.json()
                else:
                    body = await response.text()
                if response.status >= 400:
                    message = body.get("message") if isinstance(body, dict) else str(body)[:200]
                    return RasaReply(False, body, f"机器人返回 HTTP {response.status}：{message}", response.status)
                return RasaReply(True, body, "", response.status)
        except asyncio.TimeoutError:
            return RasaReply(False, error=f"机器人在 {timeout or self.timeout:.0f} 秒内没有回应")
        except aiohttp.ClientError as error:
            logger.info("rasa %s %s failed: %s", method, path, error)
            return RasaReply(False, error=f"无法连接机器人（{self.base_url}）")

    async def status(self) -> RasaReply:
        """``{"model_file": ..., "model_id": ...}`` of the loaded model."""
        return await self._call("GET", "/status", timeout=5)

    async def parse(self, text: str) -> RasaReply:
        """Intent ranking and entities of ``text`` (``/model/parse``)."""
        return await self._call("POST", "/model/parse", {"text": text})

    async def load_model(self, model_file: str, timeout: float = 600) -> RasaReply:
        """Swap the running bot's model in place (``PUT /model``); returns when it is loaded."""
        return await self._call("PUT", "/model", {"model_file": model_file}, timeout=timeout)

    async def say(self, sender: str, text: str) -> RasaReply:
        """What the bot answers, through the REST channel (input hygiene applies as for residents)."""
        return await self._call("POST", "/webhooks/rest/webhook", {"sender": sender, "message": text}, api=False)
