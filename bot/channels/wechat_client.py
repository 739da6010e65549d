"""The one client for the WeChat Official Account API: access token + ``message/custom/send``.

Contract:

* :meth:`WeChatClient.send_text` never raises for API or network trouble; it returns a
  :class:`SendResult` and logs one clear error line when delivery finally fails.
* The access token is fetched with ``cgi-bin/token`` and cached in the shared store (so several
  Rasa processes share it) until shortly before it expires; on 40001 / 40014 / 42001 the cached
  token is dropped, a new one fetched and the send retried once without counting an attempt.
* Other transient failures (network errors, HTTP 5xx, errcode -1 "system busy") are retried
  with exponential backoff, ``attempts`` times in all.
* Local mode (no AppID/secret): nothing goes over the network; texts are appended to the store
  outbox ``outbox:<openid>`` so the terminal simulator (and tests) can read them.
* Synchronous (``requests``): the channel calls it from a worker thread, never on the event loop.
  Secrets and tokens are never logged (exception messages, which may hold URLs, are not either).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Tuple

import requests

from bot.channels.wechat_settings import DEFAULT_API_BASE, WeChatSettings
from bot.stores.wechat_store import WeChatStore

logger = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / illegal / expired access_token
RETRYABLE_ERRORS = frozenset({-1})  # system busy
NETWORK_ERROR = -2
HTTP_ERROR = -3
BAD_RESPONSE = -4
OUTBOX_TTL = 3600.0


def mask_openid(openid: str) -> str:
    """Enough of an openid to follow one conversation in the logs, not enough to address it."""
    return (openid[:6] + "…") if openid else "?"


@dataclass(frozen=True)
class SendResult:
    """Outcome of one customer-service delivery."""

    ok: bool
    errcode: int = 0
    errmsg: str = ""
    attempts: int = 0
    local: bool = False


class WeChatClient:
    """Access token + customer-service text messages, with caching, refresh, retries and a local mode."""

    def __init__(
        self,
        store: WeChatStore,
        appid: str = "",
        secret: str = "",
        api_base: str = DEFAULT_API_BASE,
        attempts: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.appid = appid
        self._secret = secret
        self.api_base = api_base.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self._session = session
        self._sleep = sleep
        self._token_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: WeChatSettings, store: WeChatStore) -> WeChatClient:
        return cls(
            store,
            appid=settings.appid,
            secret=settings.secret,
            api_base=settings.api_base,
            attempts=settings.api_attempts,
            backoff=settings.api_backoff,
            timeout=settings.api_timeout,
        )

    @property
    def local(self) -> bool:
        return not (self.appid and self._secret)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    # --- access token -----------------------------------------------------------------------
    def _token_key(self) -> str:
        return f"token:{self.appid}"

    def access_token(self) -> Tuple[str | None, int, str]:
        """``(token, 0, "")`` or ``(None, errcode, errmsg)``; uses the shared cache first."""
        cached = self.store.get(self._token_key())
        if cached:
            return cached, 0, ""
        with self._token_lock:
            # why: another thread may have fetched it while we waited for the lock.
            cached = self.store.get(self._token_key())
            if cached:
                return cached, 0, ""
            return self._fetch_token()

    def invalidate_token(self, token: str) -> None:
        """Drop the cached token if it is still the one WeChat rejected."""
        # why: compare first, so a token another process just refreshed is not thrown away.
        if self.store.get(self._token_key()) == token:
            self.store.delete(self._token_key())

    def _fetch_token(self) -> Tuple[str | None, int, str]:
        try:
            response = self.session.get(
                f"{self.api_base}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self._secret},
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            # why: str(error) may contain the URL with the secret; log the type only.
            return None, NETWORK_ERROR, type(error).__name__
        if response.status_code >= 500:
            return None, HTTP_ERROR, f"HTTP {response.status_code}"
        try:
            body = response.json()
        except ValueError:
            return None, BAD_RESPONSE, "token endpoint did not answer JSON"
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            errcode = int(body.get("errcode", BAD_RESPONSE)) if isinstance(body, dict) else BAD_RESPONSE
            return None, errcode, str(body.get("errmsg", "")) if isinstance(body, dict) else ""
        expires_in = float(body.get("expires_in") or 7200)
        # why: refresh five minutes early so a token never expires between cache read and use.
        self.store.set(self._token_key(), token, max(60.0, expires_in - 300.0))
        logger.info("WeChat access token refreshed (valid %ds)", int(expires_in))
        return token, 0, ""

    # --- customer-service messages ------------------------------------------------------------
    def send_text(self, openid: str, text: str) -> SendResult:
        """Send one text through ``message/custom/send``; see the module docstring for the policy."""
        if self.local:
            self.store.push(f"outbox:{openid}", text, OUTBOX_TTL)
            logger.info("local mode: customer-service text for %s kept in the outbox", mask_openid(openid))
            return SendResult(ok=True, attempts=1, local=True)
        payload = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": text}}, ensure_ascii=False
        ).encode("utf-8")
        attempt = 0
        refreshed = False
        errcode, errmsg = 0, ""
        while attempt < self.attempts:
            attempt += 1
            token, errcode, errmsg = self.access_token()
            if token is not None:
                errcode, errmsg = self._post_send(token, payload)
                if errcode == 0:
                    return SendResult(ok=True, attempts=attempt)
                if errcode in TOKEN_ERRORS and not refreshed:
                    logger.info("WeChat rejected the access token (%s); refreshing", errcode)
                    self.invalidate_token(token)
                    refreshed = True
                    attempt -= 1  # why: a token refresh is not a failed delivery attempt
                    continue
            retryable = errcode in RETRYABLE_ERRORS or errcode in TOKEN_ERRORS or errcode in (
                NETWORK_ERROR, HTTP_ERROR, BAD_RESPONSE,
            )
            if not retryable:
                break
            if attempt < self.attempts:
                self._sleep(self.backoff * (2 ** (attempt - 1)))
        logger.error(
            "WeChat customer-service delivery to %s FAILED after %d attempt(s): errcode=%s %s",
            mask_openid(openid), attempt, errcode, errmsg,
        )
        return SendResult(ok=False, errcode=errcode, errmsg=errmsg, attempts=attempt)

    def send_texts(self, openid: str, texts: List[str]) -> List[SendResult]:
        """Send texts in order; stop at the first failure (later parts would make no sense alone)."""
        results = []
        for text in texts:
            result = self.send_text(openid, text)
            results.append(result)
            if not result.ok:
                break
        return results

    def _post_send(self, token: str, payload: bytes) -> Tuple[int, str]:
        try:
            response = self.session.post(
                f"{self.api_base}/cgi-bin/message/custom/send",
                params={"access_token": token},
                data=payload,
                # why: WeChat shows \\uXXXX escapes literally, so the body is raw UTF-8 JSON.
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            return NETWORK_ERROR, type(error).__name__
        if response.status_code >= 500:
            return HTTP_ERROR, f"HTTP {response.status_code}"
        try:
            body = response.json()
            return int(body.get("errcode", 0)), str(body.get("errmsg", ""))
        except (ValueError, AttributeError, TypeError):
            return BAD_RESPONSE, "send endpoint did not answer JSON"

    def drain_outbox(self, openid: str) -> List[str]:
        """Local mode: the customer-service texts kept for ``openid`` since the last call."""
        return self.store.drain(f"outbox:{openid}")
