"""Fixtures for the WeChat channel tests: the channel on a real port, WeChat's side, a fake WeChat API."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, List

import pytest
import requests

from bot.channels.wechat import WeChatInput
from bot.channels.wechat_client import WeChatClient
from bot.channels.wechat_settings import WeChatSettings
from bot.stores.wechat_store import MemoryStore, RedisStore, WeChatStore
from ops.launcher import bot_services
from ops.supervise import Service, free_port, stop_all, wait_ready
from ops.wechat_sim import WeChatPeer
from tests.bot.wechat_helpers import AES_KEY, APPID, SECRET, ChannelServer, FakeRasa, FakeWeChatAPI

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_TOKEN = "test-token-" + uuid.uuid4().hex[:8]


@dataclass
class Channel:
    """A running channel with its fake Rasa, as WeChat (``peer``) sees it."""

    server: ChannelServer
    peer: WeChatPeer
    rasa: FakeRasa
    channel: WeChatInput


@pytest.fixture
def fake_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI().start()
    yield api
    api.stop()


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001 - any failure means "no Redis here"
        return False


@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    """A Redis store with a random key prefix (tests never see each other's keys)."""
    if not redis_available():
        pytest.fail(f"Redis is not reachable at {REDIS_URL} (CI starts it; locally: redis-server)")
    store = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
    yield store
    for key in store.client.scan_iter(f"{store.prefix}*"):
        store.client.delete(key)
    store.close()


@pytest.fixture
def make_channel() -> Iterator[Callable[..., Channel]]:
    """``make_channel(rasa=, safe=, api=, store=, **settings)`` → a running :class:`Channel`."""
    servers: List[ChannelServer] = []

    def factory(rasa: FakeRasa | None = None, safe: bool = False, api: FakeWeChatAPI | None = None,
                store: WeChatStore | None = None, **overrides) -> Channel:
        rasa = rasa or FakeRasa()
        settings = WeChatSettings(
            token=TEST_TOKEN,
            appid=APPID if (safe or api) else "",
            secret=SECRET if api else "",
            aes_key=AES_KEY if safe else "",
            api_base=api.base_url if api else "http://127.0.0.1:9",
            api_backoff=0.01,
            followup_delay=0.05,
        )
        settings = replace(settings, **overrides)
        store = store or MemoryStore(prefix=f"test:{uuid.uuid4().hex}:")
        client = WeChatClient.from_settings(settings, store)
        channel = WeChatInput(settings, store=store, client=client)
        server = ChannelServer(channel, rasa).start()
        servers.append(server)
        peer = WeChatPeer(server.url, settings.token, settings.aes_key, settings.appid,
                          session=requests.Session())
        return Channel(server, peer, rasa, channel)

    yield factory
    for server in servers:
        server.stop()


# --- real Rasa processes sharing Redis (cross-process de-duplication) ----------------------------
@dataclass
class RasaPair:
    urls: List[str]  # WeChat webhook URL of each Rasa process
    rasa_urls: List[str]
    api_token: str
    token: str
    prefix: str
    log_dir: Path


@pytest.fixture(scope="module")
def rasa_pair(bot_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaPair]:
    """One action server and two Rasa servers sharing Redis, in safe mode, each with its own tracker."""
    if not redis_available():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}")
    tmp = tmp_path_factory.mktemp("rasa-pair")
    prefix = f"test:{uuid.uuid4().hex}:"
    token, api_token = "pair-" + uuid.uuid4().hex[:12], uuid.uuid4().hex
    env = {
        "RASA_API_TOKEN": api_token,
        "WECHAT_TOKEN": token,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_APPID": APPID,
        "REDIS_URL": REDIS_URL,
        "WECHAT_STORE_PREFIX": prefix,
    }
    action_port = free_port()
    ports = [free_port(), free_port()]
    first = bot_services(bot_model, ports[0], action_port, str(tmp / "tracker-a.db"), tmp, env)
    second_rasa = bot_services(bot_model, ports[1], action_port, str(tmp / "tracker-b.db"), tmp, env)[1]
    services = [*first, Service("rasa server b", second_rasa.argv, second_rasa.health_url,
                                second_rasa.public_url, second_rasa.env, tmp / "rasa-b.log")]
    try:
        for service in services:
            service.start()
        wait_ready(services, timeout=300)
    except Exception:
        stop_all(services)
        for log in tmp.glob("*.log"):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    yield RasaPair(
        urls=[f"http://127.0.0.1:{p}/webhooks/wechat/webhook" for p in ports],
        rasa_urls=[f"http://127.0.0.1:{p}" for p in ports],
        api_token=api_token,
        token=token,
        prefix=prefix,
        log_dir=tmp,
    )
    stop_all(services)
