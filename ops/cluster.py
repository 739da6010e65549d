"""Several instances on one machine: ``python -m ops.cluster --model models/x.tar.gz`` (``make run-cluster``).

Layout (the same as on Kubernetes, see ``deploy/README.md``)::

    resident ──► nginx :5005 ──► rasa-1, rasa-2 (loopback) ──► nginx :5055 ──► actions-1, actions-2
                                   │   PostgreSQL: trackers (events) + knowledge base (kb_*)
                                   └── Redis: lock store, WeChat state, rate limits

Start-up: verify the model's manifest (:mod:`bot.signing`), create the PostgreSQL database when
missing, build the knowledge base into it, create the tracker table and indexes, render
``deploy/nginx.conf.template`` into the run directory, start the action servers and the Rasa
servers (``deploy/endpoints.prod.yml``), then nginx in the foreground. The launcher supervises: a
child that dies is restarted (nginx routes around it meanwhile). Ctrl-C or SIGTERM stops everything.

Environment: ``CLUSTER_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/renshe_cluster``),
``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), ``RASA_API_TOKEN`` (Rasa's HTTP API on the
instances' loopback ports; off when unset), ``MODEL_SIGNING_KEY``, ``NGINX`` (binary, default ``nginx``).
Tests build a :class:`ClusterPlan` on free ports and use :class:`Cluster` directly.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import sqlalchemy as sa

from bot import speedups
from bot.cors import rasa_cors_origins
from bot.signing import ModelRejected, verify_model
from ops.launcher import REQUEST_MAX_SIZE
from ops.settings import setting
from ops.supervise import ROOT, Service, stop_all, supervise, wait_ready

logger = logging.getLogger("cluster")

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
ENDPOINTS = ROOT / "deploy" / "endpoints.prod.yml"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/renshe_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class ClusterPlan:
    """Where everything runs: by default two Rasa instances and two action servers (any number >= 1 each)."""

    model: str
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    # why: Rasa's RedisLockStore ignores prefixes that are not alphanumeric.
    key_prefix: str = "renshe"
    public_port: int = 5005
    # why: loopback unless the operator opens it (CLUSTER_LISTEN=0.0.0.0 behind a firewall / TLS proxy).
    listen: str = "127.0.0.1"
    rasa_ports: tuple = (5015, 5016)
    action_ports: tuple = (5065, 5066)
    action_lb_port: int = 5055
    run_dir: Path = ROOT / "var" / "cluster"
    api_token: str = ""
    nginx: str = "nginx"
    extra_env: Dict[str, str] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def rasa_urls(self) -> List[str]:
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    def db_url(self) -> sa.engine.URL:
        return sa.engine.make_url(self.database_url)

    def shared_env(self) -> Dict[str, str]:
        """The environment every Rasa instance and action server gets."""
        db = self.db_url()
        redis = _redis_parts(self.redis_url)
        return {
            "RASA_TELEMETRY_ENABLED": "false",
            "DATABASE_URL": db.render_as_string(hide_password=False),
            "ACTION_SERVER_URL": f"http://127.0.0.1:{self.action_lb_port}/webhook",
            "TRACKER_DB_HOST": db.host or "127.0.0.1",
            "TRACKER_DB_PORT": str(db.port or 5432),
            "TRACKER_DB_NAME": db.database or "",
            "TRACKER_DB_USER": db.username or "",
            "TRACKER_DB_PASSWORD": db.password or "",
            "REDIS_URL": self.redis_url,
            "REDIS_HOST": redis["host"],
            "REDIS_PORT": redis["port"],
            "REDIS_LOCK_DB": redis["db"],
            "REDIS_PASSWORD": redis["password"],
            "LOCK_KEY_PREFIX": self.key_prefix,
            "WECHAT_STORE_PREFIX": f"{self.key_prefix}:wechat:",
            "RATE_LIMIT_PREFIX": f"{self.key_prefix}:",
            # why: every request reaches Rasa from nginx on loopback; the client is in X-Forwarded-For.
            "TRUSTED_PROXIES": "127.0.0.1",
            **self.extra_env,
        }


def _redis_parts(url: str) -> Dict[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    db = (parts.path or "/0").lstrip("/") or "0"
    return {"host": parts.hostname or "127.0.0.1", "port": str(parts.port or 6379), "db": db,
            "password": parts.password or ""}


# --- preparation ---------------------------------------------------------------------------------
def ensure_database(url: sa.engine.URL) -> bool:
    """Create the database of ``url`` when missing (connecting to ``postgres``); True when created."""
    name = url.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"refusing database name {name!r}")
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as connection:
            exists = connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists:
                return False
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            logger.info("created database %s", name)
            return True
    finally:
        admin.dispose()


def build_knowledge(plan: ClusterPlan) -> None:
    """``python -m knowledge build`` into the cluster's database (skipped by it when up to date)."""
    env = {**os.environ, "DATABASE_URL": plan.shared_env()["DATABASE_URL"]}
    subprocess.run([sys.executable, "-m", "knowledge", "build"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def prepare_tracker_store(plan: ClusterPlan) -> List[str]:
    """Rasa's ``events`` table and our indexes, created once before the instances race for them."""
    from ops.trackers import db_index

    engine = sa.create_engine(plan.db_url(), future=True)
    try:
        return db_index(engine)
    finally:
        engine.dispose()


def _upstream_servers(ports: Sequence[int]) -> str:
    """One nginx ``server`` line per port, indented for the template's upstream blocks."""
    return "\n        ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports)


def render_nginx_conf(plan: ClusterPlan) -> Path:
    """Fill ``deploy/nginx.conf.template`` for ``plan``; returns the written file."""
    values = {
        "run_dir": str(plan.run_dir),
        "max_body": f"{REQUEST_MAX_SIZE // 1024}k",
        "listen": plan.listen,
        "public_port": plan.public_port,
        "rasa_servers": _upstream_servers(plan.rasa_ports),
        "action_servers": _upstream_servers(plan.action_ports),
        "action_lb_port": plan.action_lb_port,
        # why: on one machine the actions' load balancer is for the local Rasa instances only.
        "action_listen": "127.0.0.1",
    }

    def fill(match: re.Match) -> str:
        return str(values[match.group(1)])

    text = _PLACEHOLDER.sub(fill, TEMPLATE.read_text(encoding="utf-8"))
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (plan.run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    path = plan.run_dir / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


# --- processes -------------------------------------------------------------------------------------
def action_service(plan: ClusterPlan, index: int) -> Service:
    port = plan.action_ports[index]
    bin_dir = Path(sys.executable).parent
    return Service(
        f"actions-{index + 1}",
        [str(bin_dir / "python"), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        f"http://127.0.0.1:{port}",
        # why: rasa_sdk binds SANIC_HOST (default 0.0.0.0); actions are for the instances only.
        {**plan.shared_env(), "SANIC_HOST": "127.0.0.1"},
        plan.run_dir / f"actions-{index + 1}.log",
    )


def rasa_service(plan: ClusterPlan, index: int) -> Service:
    port = plan.rasa_ports[index]
    argv = [
        *speedups.rasa_command(), "run", "--model", plan.model,
        "--interface", "127.0.0.1", "--port", str(port),
        "--credentials", str(ROOT / "credentials.yml"), "--endpoints", str(ENDPOINTS),
        "--cors", *rasa_cors_origins({**os.environ, **plan.extra_env}),
    ]
    if plan.api_token:
        # why: the HTTP API is only ever on with a token (from the environment).
        argv += ["--enable-api", "--auth-token", plan.api_token]
    env = {**plan.shared_env(), "SANIC_REQUEST_MAX_SIZE": str(REQUEST_MAX_SIZE)}
    return Service(
        f"rasa-{index + 1}", argv,
        f"http://127.0.0.1:{port}/webhooks/rest/",
        f"http://127.0.0.1:{port}",
        env,
        plan.run_dir / f"rasa-{index + 1}.log",
    )


def nginx_service(plan: ClusterPlan, conf: Path) -> Service:
    return Service(
        "nginx",
        [plan.nginx, "-c", str(conf), "-p", str(plan.run_dir), "-e", str(plan.run_dir / "nginx-error.log"),
         "-g", "daemon off;"],
        f"http://127.0.0.1:{plan.public_port}/nginx-health",
        f"http://localhost:{plan.public_port}",
        {},
        plan.run_dir / "nginx.log",
    )


def cluster_pages(plan: ClusterPlan) -> List[Service]:
    """The website demo and the trainer console, reading the cluster's databases.

    why: the console reads conversations from ``TRACKER_DB_URL`` and tries sentences through Rasa's
    HTTP API, which only the instances' loopback ports serve (nginx does not expose it).
    """
    from ops.launcher import page_services

    services = page_services(plan.run_dir)
    env = {**plan.shared_env(), "TRACKER_DB_URL": plan.shared_env()["DATABASE_URL"], "RASA_URL": plan.rasa_urls[0]}
    if plan.api_token:
        env["RASA_API_TOKEN"] = plan.api_token
    for service in services:
        service.env = {**service.env, **env}
    return services


class Cluster:
    """The processes of a :class:`ClusterPlan`, addressable by name (``rasa-1``, ``actions-2``, ``nginx``)."""

    def __init__(self, plan: ClusterPlan, pages: bool = False) -> None:
        self.plan = plan
        self.pages = pages
        self.services: List[Service] = []
        self._restarted: Dict[str, float] = {}

    def prepare(self) -> None:
        """Everything before the processes start (idempotent)."""
        verify_model(self.plan.model)
        self.plan.run_dir.mkdir(parents=True, exist_ok=True)
        ensure_database(self.plan.db_url())
        build_knowledge(self.plan)
        created = prepare_tracker_store(self.plan)
        logger.info("tracker store ready (indexes created: %s)", ", ".join(created) or "none")
        conf = render_nginx_conf(self.plan)
        self.services = [
            *(action_service(self.plan, i) for i in range(len(self.plan.action_ports))),
            *(rasa_service(self.plan, i) for i in range(len(self.plan.rasa_ports))),
            nginx_service(self.plan, conf),
        ]
        if self.pages:
            self.services += cluster_pages(self.plan)

    def start(self, timeout: float = 300.0) -> None:
        """Start every process and wait until each answers its health URL."""
        for service in self.services:
            service.start()
        wait_ready(self.services, timeout=timeout)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL one process group (a crash, not a clean stop)."""
        service = self.service(name)
        if service.alive():
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()

    def restart(self, name: str, timeout: float = 180.0) -> None:
        service = self.service(name)
        service.stop()
        service.start()
        wait_ready([service], timeout=timeout)

    def supervise_once(self, backoff: float = 5.0) -> List[str]:
        """Restart every child that died (at most once per ``backoff`` seconds each); returns their names."""
        restarted = []
        now = time.monotonic()
        for service in self.services:
            if not service.alive() and now - self._restarted.get(service.name, 0.0) >= backoff:
                self._restarted[service.name] = now
                logger.error("%s exited (code %s); restarting it", service.name,
                             service.process.returncode if service.process else None)
                service.start()
                restarted.append(service.name)
        return restarted

    def stop(self) -> None:
        stop_all(self.services)


def plan_from_env(model: str, env: Dict[str, str] | None = None, **ports) -> ClusterPlan:
    """The plan for ``make run-cluster``: ports from ``ports`` (else defaults), the rest from ``env``."""
    env = dict(os.environ if env is None else env)
    return ClusterPlan(
        model=model,
        **{k: v for k, v in ports.items() if v is not None},
        database_url=setting("CLUSTER_DATABASE_URL", env=env) or DEFAULT_DATABASE_URL,
        redis_url=setting("REDIS_URL", env=env) or DEFAULT_REDIS_URL,
        key_prefix=setting("LOCK_KEY_PREFIX", env=env) or "renshe",
        listen=setting("CLUSTER_LISTEN", env=env) or "127.0.0.1",
        api_token=setting("RASA_API_TOKEN", env=env),
        nginx=setting("NGINX", env=env) or shutil.which("nginx") or "/usr/sbin/nginx",
    )


def _ports(text: str) -> tuple:
    try:
        ports = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated port numbers") from None
    return ports


# --- several Rasa processes for `make run` ------------------------------------------------------------
MAX_AUTO_PROCESSES = 4


def wanted_processes(env: Dict[str, str] | None = None, cpus: int | None = None) -> int:
    """How many Rasa processes ``make run`` should start: ``RASA_PROCESSES`` (a number, or ``auto``).

    ``auto`` (the default) is one per CPU core, at most :data:`MAX_AUTO_PROCESSES`.
    why: one Rasa process uses about one core under load (it is CPU-bound, bench/README.md), so more
    processes than cores only add memory (about 0.7 GB each); 4 keeps a big machine's memory in bounds.
    Raises ValueError for anything else.
    """
    value = setting("RASA_PROCESSES", "auto", env).strip().lower()
    if value == "auto":
        return max(1, min(cpus if cpus is not None else (os.cpu_count() or 1), MAX_AUTO_PROCESSES))
    number = int(value)
    if number < 1:
        raise ValueError(f"RASA_PROCESSES must be at least 1, not {number}")
    return number


def shared_stores_missing(plan: ClusterPlan, timeout: float = 2.0) -> str | None:
    """Why several instances cannot run here (nginx, PostgreSQL or Redis missing), or None when they can.

    why: several Rasa processes must share the tracker store and the lock store; the embedded
    SQLite file and in-memory lock store cannot be shared, so without these the launcher runs one.
    """
    if not (shutil.which(plan.nginx) or os.path.exists(plan.nginx)):
        return f"nginx not found ({plan.nginx}; make nginx-deps)"
    url = plan.db_url()
    engine = sa.create_engine(url.set(database="postgres"), future=True,
                              connect_args={"connect_timeout": max(1, int(timeout))})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        return f"PostgreSQL at {url.render_as_string(hide_password=True)} does not answer ({type(error).__name__})"
    finally:
        engine.dispose()
    redis = _redis_parts(plan.redis_url)
    import redis as redis_client

    client = redis_client.Redis(host=redis["host"], port=int(redis["port"]), db=int(redis["db"]),
                                password=redis["password"] or None, socket_timeout=timeout,
                                socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis_client.RedisError as error:
        return f"Redis at {redis['host']}:{redis['port']} does not answer ({type(error).__name__})"
    finally:
        client.close()
    return None


def instance_ports(first: int, count: int) -> tuple:
    return tuple(range(first, first + count))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, help="public nginx port (default 5005)")
    parser.add_argument("--rasa-ports", type=_ports, help="comma-separated ports, e.g. 5015,5016")
    parser.add_argument("--instances", type=int, help="this many Rasa instances on ports 5015, 5016, ...")
    parser.add_argument("--action-ports", type=_ports, help="comma-separated ports, e.g. 5065,5066")
    parser.add_argument("--action-lb-port", type=int, help="nginx port in front of the action servers (5055)")
    parser.add_argument("--pages", action="store_true", help="also start the website demo and trainer console")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rasa_ports = args.rasa_ports or (instance_ports(ClusterPlan.rasa_ports[0], args.instances)
                                     if args.instances else None)
    plan = plan_from_env(args.model, public_port=args.port, rasa_ports=rasa_ports,
                         action_ports=args.action_ports, action_lb_port=args.action_lb_port)
    cluster = Cluster(plan, pages=args.pages)

    def start() -> None:
        cluster.prepare()
        cluster.start()

    def banner(seconds: float) -> None:
        print(f"\n人社小助手 cluster is ready in {seconds:.0f}s:", flush=True)
        print(f"  through nginx    http://localhost:{plan.public_port}/webhooks/rest/webhook", flush=True)
        for service in cluster.services:
            print(f"  {service.name:16} {service.public_url}", flush=True)
        print(f"  Rasa HTTP API    {'on the instances, token from RASA_API_TOKEN' if plan.api_token else 'off'}")
        print(f"  logs             {plan.run_dir}\nPress Ctrl-C to stop.\n", flush=True)

    def watch() -> None:
        cluster.supervise_once()  # why: a cluster restarts a dead child (nginx routes around it meanwhile)

    return supervise(lambda: cluster.services, start, banner, watch, interval=1.0, refusals=(ModelRejected,),
                     failures=(RuntimeError, TimeoutError, OSError, sa.exc.SQLAlchemyError,
                               subprocess.CalledProcessError))


if __name__ == "__main__":
    sys.exit(main())
