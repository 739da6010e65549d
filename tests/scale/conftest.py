"""Fixtures for the scale tests: the whole cluster (``ops.cluster``) on free ports.

Real processes everywhere: a private PostgreSQL server (see :class:`PrivatePostgres` for why not the
shared one), a private Redis server (:class:`PrivateRedis`; the machine's Redis with a random key
prefix when ``TEST_REDIS_URL`` is set or ``redis-server`` is missing), two action servers, two Rasa
servers and nginx. One cluster serves the whole session; tests that kill a process bring it back before they end.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests
import sqlalchemy as sa

from bot.signing import ModelRejected, sign_model, verify_model
from ops.cluster import Cluster, ClusterPlan
from ops.supervise import wait_ready
from tests.scale.support import PrivatePostgres, PrivateRedis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# why: the fault tests stop Redis; only a server of our own may be stopped.
PRIVATE_REDIS = not os.environ.get("TEST_REDIS_URL") and PrivateRedis.available()
WECHAT_TOKEN = "scale-" + uuid.uuid4().hex[:12]
# why: a burst large enough for the concurrency test's 12 messages per conversation; a slow refill
# so that the rate-limit test and the fuzz's flood conversations meet the limit quickly.
RATE_LIMIT_BURST = 12
RATE_LIMIT_PER_MINUTE = 6


@dataclass
class ScaleCluster:
    cluster: Cluster
    pg: PrivatePostgres
    engine: sa.engine.Engine
    api_token: str
    log_dir: Path
    redis_server: PrivateRedis | None = None

    @property
    def plan(self) -> ClusterPlan:
        return self.cluster.plan

    @property
    def rest_url(self) -> str:
        return f"{self.plan.public_url}/webhooks/rest/webhook"

    @property
    def wechat_url(self) -> str:
        return f"{self.plan.public_url}/webhooks/wechat/webhook"

    def instance_rest_url(self, index: int) -> str:
        return f"{self.plan.rasa_urls[index]}/webhooks/rest/webhook"

    def say(self, message: str, sender: str, url: str | None = None, timeout: float = 60) -> requests.Response:
        return requests.post(url or self.rest_url, json={"sender": sender, "message": message}, timeout=timeout)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (sockets held until all are chosen, so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _signed_model(bot_model: str) -> str:
    """The model under test, signed like ``make train`` does when its manifest is missing."""
    try:
        verify_model(bot_model)
    except ModelRejected:
        sign_model(bot_model)
    return bot_model


@pytest.fixture(scope="session")
def scale_cluster(bot_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleCluster]:
    if shutil.which(os.environ.get("NGINX", "nginx")) is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: run `make nginx-deps` (make test-scale does it)")
    pg_port, public, rasa_1, rasa_2, action_1, action_2, action_lb, redis_port = free_ports(8)
    redis_server = PrivateRedis(redis_port).start() if PRIVATE_REDIS else None
    redis_url = redis_server.url if redis_server else REDIS_URL
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except Exception as error:  # noqa: BLE001 - any failure means no Redis
        pytest.fail(f"Redis is not reachable at {redis_url}: {error}")
    run_dir = tmp_path_factory.mktemp("cluster")
    pg = PrivatePostgres(pg_port).start()
    token = uuid.uuid4().hex
    prefix = "t" + uuid.uuid4().hex[:12]
    plan = ClusterPlan(
        model=_signed_model(bot_model),
        database_url=pg.url("renshe_scale"),
        redis_url=redis_url,
        key_prefix=prefix,
        public_port=public,
        listen="127.0.0.1",
        rasa_ports=(rasa_1, rasa_2),
        action_ports=(action_1, action_2),
        action_lb_port=action_lb,
        run_dir=run_dir,
        api_token=token,
        nginx=shutil.which(os.environ.get("NGINX", "nginx")) or "/usr/sbin/nginx",
        extra_env={
            "WECHAT_TOKEN": WECHAT_TOKEN,
            "RATE_LIMIT_BURST": str(RATE_LIMIT_BURST),
            "RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE),
            # why: seconds, not the default 20, so a failed fault test does not hang the session.
            "TRACKER_DB_RETRY_SECONDS": "15",
        },
    )
    cluster = Cluster(plan)
    try:
        cluster.prepare()
        cluster.start(timeout=420)
    except Exception:
        cluster.stop()
        for log in run_dir.glob("*.log"):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        pg.destroy()
        if redis_server:
            redis_server.destroy()
        raise
    engine = sa.create_engine(plan.database_url, future=True, pool_pre_ping=True)
    yield ScaleCluster(cluster, pg, engine, token, run_dir, redis_server)
    engine.dispose()
    cluster.stop()
    pg.destroy()
    if redis_server:
        redis_server.destroy()
    else:
        _forget_redis_keys(prefix)


@pytest.fixture
def cluster(scale_cluster: ScaleCluster) -> ScaleCluster:
    """The session's cluster with every process up (an earlier test may have killed one)."""
    for service in scale_cluster.cluster.services:
        if not service.alive():
            service.start()
    wait_ready(scale_cluster.cluster.services, timeout=420)
    return scale_cluster


def _forget_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"{prefix}*", f"lock:{prefix}*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.close()
