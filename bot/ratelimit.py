"""Per-conversation rate limits: a token bucket per sender id, in memory or in Redis.

Contract: :meth:`RateLimiter.allow` (synchronous, thread-safe) takes one token from the bucket of
``key`` and says whether the message may go to Rasa. A bucket holds ``burst`` tokens and refills at
``per_minute`` tokens a minute. :func:`limiter_from_env` builds the process-wide limiter once:
``RATE_LIMIT_BURST`` (default 10), ``RATE_LIMIT_PER_MINUTE`` (default 20; 0 turns limiting off), and
``REDIS_URL`` for a bucket shared by every instance behind the load balancer (else one per process).

Three limiters guard every channel (:func:`limiters_from_env`): per conversation (above), per client
address (``RATE_LIMIT_CLIENT_BURST`` 60, ``RATE_LIMIT_CLIENT_PER_MINUTE`` 300: many fresh conversation
ids from one address) and one global bucket (``RATE_LIMIT_GLOBAL_BURST`` 300,
``RATE_LIMIT_GLOBAL_PER_MINUTE`` 3000: what the servers can answer at all). :func:`client_address`
honours ``X-Forwarded-For`` only when the socket peer is listed in ``TRUSTED_PROXIES``.

Redis failures fail open (the message is allowed and a warning logged): a broken limiter must not
silence the bot for everyone.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from typing import Dict, Mapping, Tuple

from bot.settings import environ

logger = logging.getLogger(__name__)

DEFAULT_BURST = 10
DEFAULT_PER_MINUTE = 20.0
_MAX_KEYS = 100_000

# why: read, refill and take in one atomic step, so two instances cannot both spend the last token.
_LUA_TAKE = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 's'))
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if tokens == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


class RateLimiter(abc.ABC):
    """A token bucket per key."""

    def __init__(self, burst: int = DEFAULT_BURST, per_minute: float = DEFAULT_PER_MINUTE) -> None:
        self.burst = max(1, int(burst))
        self.rate = max(per_minute, 0.0) / 60.0  # tokens per second

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @abc.abstractmethod
    def allow(self, key: str) -> bool:
        """Take a token for ``key``; False when its bucket is empty."""

    #: True when :meth:`allow` does network I/O (async callers use a thread).
    blocking: bool = False


class MemoryRateLimiter(RateLimiter):
    """Buckets in this process (correct for one instance)."""

    def __init__(
        self, burst: int = DEFAULT_BURST, per_minute: float = DEFAULT_PER_MINUTE, clock=time.monotonic
    ) -> None:
        super().__init__(burst, per_minute)
        self._clock = clock
        self._buckets: Dict[str, Tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if not self.enabled:
            return True
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > _MAX_KEYS:
                self._forget_full(now)
            return allowed

    def _forget_full(self, now: float) -> None:
        # why: a bucket that has refilled completely carries no information; keep memory bounded.
        full = [k for k, (t, s) in self._buckets.items() if t + (now - s) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class RedisRateLimiter(RateLimiter):
    """Buckets in Redis, shared by every instance; keys expire once full again."""

    blocking = True

    def __init__(self, url: str, prefix: str = "renshe:rate:", burst: int = DEFAULT_BURST,
                 per_minute: float = DEFAULT_PER_MINUTE) -> None:
        super().__init__(burst, per_minute)
        self.url = url
        self.prefix = prefix
        self._client = None
        self._script = None
        self._lock = threading.Lock()

    def _take(self):
        with self._lock:
            if self._script is None:
                import redis

                self._client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
                self._script = self._client.register_script(_LUA_TAKE)
            return self._script

    def allow(self, key: str) -> bool:
        if not self.enabled:
            return True
        try:
            return bool(self._take()(keys=[self.prefix + key], args=[self.burst, self.rate, time.time()]))
        except Exception:  # noqa: BLE001 - fail open: see the module docstring
            logger.warning("rate limit: Redis unavailable; message allowed", exc_info=True)
            return True


# kind -> (environment prefix, default burst, default per minute)
_KINDS = {
    "conversation": ("RATE_LIMIT_", DEFAULT_BURST, DEFAULT_PER_MINUTE),
    "client": ("RATE_LIMIT_CLIENT_", 60, 300.0),
    "global": ("RATE_LIMIT_GLOBAL_", 300, 3000.0),
}


def limiter_from_env(env: Mapping[str, str] | None = None, kind: str = "conversation") -> RateLimiter:
    """The limiter of ``kind`` the environment asks for (module docstring)."""
    env = environ(env)
    name, default_burst, default_rate = _KINDS[kind]
    burst = int(env.get(f"{name}BURST") or default_burst)
    raw = env.get(f"{name}PER_MINUTE")
    per_minute = default_rate if raw in (None, "") else float(raw)
    redis_url = env.get("REDIS_URL") or ""
    if redis_url:
        prefix = (env.get("RATE_LIMIT_PREFIX") or env.get("WECHAT_STORE_PREFIX") or "renshe:") + "rate:"
        if kind != "conversation":
            prefix += kind + ":"
        return RedisRateLimiter(redis_url, prefix, burst, per_minute)
    return MemoryRateLimiter(burst, per_minute)


def trusted_proxies(env: Mapping[str, str] | None = None) -> frozenset[str]:
    env = environ(env)
    return frozenset(p.strip() for p in (env.get("TRUSTED_PROXIES") or "").split(",") if p.strip())


def client_address(peer: str | None, forwarded_for: str | None, proxies: frozenset[str]) -> str:
    """The client's address: the socket peer, or, when the peer is a trusted proxy, the last
    ``X-Forwarded-For`` entry that is not a trusted proxy itself."""
    peer = (peer or "").strip() or "unknown"
    if peer not in proxies or not forwarded_for:
        # why: anyone can send X-Forwarded-For; believing it from any peer would make the limit useless.
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in proxies:
            return hop[:64]
    return peer
