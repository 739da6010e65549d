"""The WeChat channel's shared state: de-duplication records, the access token, option maps, outbox.

Contract: one small key/value interface, :class:`WeChatStore`, with two implementations —
:class:`MemoryStore` (one process; the default) and :class:`RedisStore` (``REDIS_URL``; shared by
every Rasa process behind the same WeChat account). Values are strings; every key expires.
Methods are synchronous and thread-safe: the channel calls them through ``asyncio.to_thread``
when :attr:`WeChatStore.blocking` is true, and the API client calls them from its worker thread.
No connection is made before the first call.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from typing import Dict, List, Tuple

logger = logging.getLogger(__name__)


class WeChatStore(abc.ABC):
    """Expiring string values and lists, namespaced by ``prefix``."""

    #: True when calls do network I/O (async callers must use a thread).
    blocking: bool = False

    def __init__(self, prefix: str = "renshe:wechat:") -> None:
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @abc.abstractmethod
    def add(self, name: str, value: str, ttl: float) -> bool:
        """Set ``name`` only if it is absent (atomic); True when this call set it."""

    @abc.abstractmethod
    def get(self, name: str) -> str | None:
        """The value, or None when absent or expired."""

    @abc.abstractmethod
    def set(self, name: str, value: str, ttl: float) -> None:
        """Set ``name`` unconditionally."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove ``name`` (no error when absent)."""

    @abc.abstractmethod
    def push(self, name: str, value: str, ttl: float) -> None:
        """Append ``value`` to the list ``name``; the list expires ``ttl`` seconds after the last push."""

    @abc.abstractmethod
    def drain(self, name: str) -> List[str]:
        """Remove and return the whole list ``name`` (oldest first)."""

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release connections (no-op by default)."""


class MemoryStore(WeChatStore):
    """Process-local store. Correct for one Rasa process; use Redis when there are several."""

    def __init__(self, prefix: str = "renshe:wechat:", clock=time.monotonic) -> None:
        super().__init__(prefix)
        self._values: Dict[str, Tuple[object, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _alive(self, key: str) -> object | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires <= self._clock():
            del self._values[key]
            return None
        return value

    def _sweep(self) -> None:
        # why: without Redis's expiry the dict would grow forever on a busy account.
        if len(self._values) > 10_000:
            now = self._clock()
            for key in [k for k, (_, exp) in self._values.items() if exp <= now]:
                del self._values[key]

    def add(self, name: str, value: str, ttl: float) -> bool:
        key = self.key(name)
        with self._lock:
            if self._alive(key) is not None:
                return False
            self._sweep()
            self._values[key] = (value, self._clock() + ttl)
            return True

    def get(self, name: str) -> str | None:
        with self._lock:
            value = self._alive(self.key(name))
        return value if isinstance(value, str) else None

    def set(self, name: str, value: str, ttl: float) -> None:
        with self._lock:
            self._sweep()
            self._values[self.key(name)] = (value, self._clock() + ttl)

    def delete(self, name: str) -> None:
        with self._lock:
            self._values.pop(self.key(name), None)

    def push(self, name: str, value: str, ttl: float) -> None:
        key = self.key(name)
        with self._lock:
            current = self._alive(key)
            items = list(current) if isinstance(current, list) else []
            items.append(value)
            self._values[key] = (items, self._clock() + ttl)

    def drain(self, name: str) -> List[str]:
        key = self.key(name)
        with self._lock:
            current = self._alive(key)
            self._values.pop(key, None)
        return list(current) if isinstance(current, list) else []


class RedisStore(WeChatStore):
    """Redis-backed store (``redis`` package, synchronous client, connection pool created lazily)."""

    blocking = True

    def __init__(self, url: str, prefix: str = "renshe:wechat:") -> None:
        super().__init__(prefix)
        self._url = url
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import redis  # why: only needed when REDIS_URL is set

                    self._client = redis.Redis.from_url(
                        self._url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
                    )
        return self._client

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    def add(self, name: str, value: str, ttl: float) -> bool:
        return bool(self.client.set(self.key(name), value, nx=True, px=self._ms(ttl)))

    def get(self, name: str) -> str | None:
        return self.client.get(self.key(name))

    def set(self, name: str, value: str, ttl: float) -> None:
        self.client.set(self.key(name), value, px=self._ms(ttl))

    def delete(self, name: str) -> None:
        self.client.delete(self.key(name))

    def push(self, name: str, value: str, ttl: float) -> None:
        key = self.key(name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, value)
            pipe.pexpire(key, self._ms(ttl))
            pipe.execute()

    def drain(self, name: str) -> List[str]:
        key = self.key(name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            items, _ = pipe.execute()
        return list(items or [])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def store_from_url(redis_url: str = "", prefix: str = "renshe:wechat:") -> WeChatStore:
    """Redis when ``redis_url`` is set, memory otherwise."""
    if redis_url:
        logger.info("WeChat store: Redis (prefix %s)", prefix)
        return RedisStore(redis_url, prefix)
    logger.info("WeChat store: memory (one process only; set REDIS_URL when running several)")
    return MemoryStore(prefix)
