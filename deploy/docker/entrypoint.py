"""Container entry point: one command per role, the same start-up as ``make run`` / ``make run-cluster``.

Both images (``deploy/docker/Dockerfile.rasa``, ``Dockerfile.actions``), ``deploy/docker/compose.yml`` and
the Helm values run this file, so the three cannot drift apart::

    python deploy/docker/entrypoint.py rasa          # verify the model, check keys, Rasa via bot.speedups
    python deploy/docker/entrypoint.py actions       # the action server (rasa_sdk)
    python deploy/docker/entrypoint.py init          # knowledge base + tracker table and indexes (one-shot)
    python deploy/docker/entrypoint.py nginx-conf    # render deploy/nginx.conf.template for compose
    python deploy/docker/entrypoint.py widget|console
    python deploy/docker/entrypoint.py healthcheck ROLE
    python deploy/docker/entrypoint.py ROLE --print  # print the command instead of running it (tests)

Contract:

* ``rasa`` refuses to start (exit 1) unless :func:`bot.signing.verify_model` accepts ``RASA_MODEL`` — the
  check the launcher and the cluster make — and the keys that have only development defaults are set
  outside development (the launcher's ``check_keys``). Then it ``exec``s the command line the launcher
  builds (``ops.launcher.bot_services``): ``python -m bot.speedups run --model ... --interface $BOT_HOST
  --port 5005 --credentials ... --endpoints ... --cors ...`` plus ``--enable-api --auth-token`` only
  when ``RASA_API_TOKEN`` is set. ``RASA_SPEEDUPS=0`` gives plain ``rasa``, as in the launcher.
* Nothing is downloaded and no model is trained here: the model comes from a mounted volume.
* Module names: one per role (:data:`MODULES`); ``tests/deploy/test_artefacts.py`` checks each is importable.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import urllib.request
from pathlib import Path
from typing import Dict, List, Sequence

APP = Path(__file__).resolve().parents[2]
RASA_PORT = 5005
ACTION_PORT = 5055
WIDGET_PORT = 8000
CONSOLE_PORT = 8001
# why: the launcher's REQUEST_MAX_SIZE: a resident's message is a few KB; Sanic's default is 100 MB.
REQUEST_MAX_SIZE = 64 * 1024

# The module of each role (a tuple: module() takes the first importable one).
MODULES: Dict[str, Sequence[str]] = {
    "speedups": ("bot.speedups",),
    "signing": ("bot.signing",),
    "sessions": ("bot.sessions",),
    "tracker_store": ("bot.stores.tracker_store",),
    "widget": ("widget",),
    "console": ("console",),
    "knowledge": ("knowledge",),
    "actions": ("actions",),
}

# Where each role answers when it is ready: the launcher's health URLs.
HEALTH = {
    "rasa": f"http://127.0.0.1:{RASA_PORT}/webhooks/rest/",
    "actions": f"http://127.0.0.1:{ACTION_PORT}/health",
    "widget": f"http://127.0.0.1:{WIDGET_PORT}/healthz",
    "console": f"http://127.0.0.1:{CONSOLE_PORT}/healthz",
}

NGINX_TEMPLATE = APP / "deploy" / "nginx.conf.template"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def module(role: str) -> str:
    """The first importable module of ``MODULES[role]``."""
    for name in MODULES[role]:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # a parent package that does not exist (yet)
            continue
        # why: a bare directory of that name on sys.path (e.g. tests/data/console) is a namespace
        # package without code (origin None), not the module.
        if spec is not None and spec.origin is not None:
            return name
    raise ModuleNotFoundError(f"none of {', '.join(MODULES[role])} is importable")


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def rasa_argv(model: str) -> List[str]:
    """The launcher's Rasa command line (``bot_services``), with the container's defaults."""
    speedups = importlib.import_module(module("speedups"))
    argv = [
        *speedups.rasa_command(), "run", "--model", model,
        "--interface", _env("BOT_HOST", "0.0.0.0"), "--port", str(RASA_PORT),
        "--credentials", _env("RASA_CREDENTIALS", "credentials.yml"),
        "--endpoints", _env("RASA_ENDPOINTS", "deploy/endpoints.prod.yml"),
        # why: the same origins as the launcher (bot.cors): never "*", which Rasa reflects with credentials.
        "--cors", *importlib.import_module("bot.cors").rasa_cors_origins(os.environ),
    ]
    token = os.environ.get("RASA_API_TOKEN")
    if token:
        # why: the HTTP API is only ever on with a token; without one it stays off.
        argv += ["--enable-api", "--auth-token", token]
    return argv


def verify(model: str) -> None:
    """Refuse a model without a valid manifest, and placeholder keys outside development."""
    signing = importlib.import_module(module("signing"))
    signing.verify_model(model)
    sessions = importlib.import_module(module("sessions"))
    check_keys = getattr(sessions, "check_keys", None)
    if check_keys is not None:
        check_keys()


def command(role: str) -> List[str]:
    """The command line of ``role`` (for ``rasa``: after the model was verified)."""
    python = sys.executable
    if role == "rasa":
        return rasa_argv(_env("RASA_MODEL", "/app/models/current.tar.gz"))
    if role == "actions":
        return [python, "-m", "rasa_sdk", "--actions", module("actions"), "--port", str(ACTION_PORT)]
    if role == "widget":
        return [python, "-m", module("widget"), "--host", _env("BOT_HOST", "0.0.0.0"), "--port", str(WIDGET_PORT)]
    if role == "console":
        return [python, "-m", module("console"), "--host", _env("BOT_HOST", "0.0.0.0"), "--port", str(CONSOLE_PORT)]
    if role == "init":
        return [python, "-m", module("knowledge"), "build"]
    raise SystemExit(f"unknown role {role!r}")


def role_env(role: str) -> Dict[str, str]:
    """Variables the launcher sets for its children, unless the environment sets them."""
    env = {"RASA_TELEMETRY_ENABLED": "false"}
    if role == "rasa":
        env["SANIC_REQUEST_MAX_SIZE"] = str(REQUEST_MAX_SIZE)
    if role == "actions":
        # why: rasa_sdk binds SANIC_HOST; in a container that is every interface of the container only.
        env["SANIC_HOST"] = _env("BOT_HOST", "0.0.0.0")
    return {**env, **{k: v for k, v in os.environ.items() if k in env}}


def init_tracker_store() -> List[str]:
    """Rasa's ``events`` table and the indexes Rasa does not create (``ops.trackers db-index``)."""
    import sqlalchemy as sa

    store = importlib.import_module(module("tracker_store"))
    engine = sa.create_engine(store.tracker_db_url(), future=True)
    try:
        store.create_tables(engine)
        return store.ensure_indexes(engine)
    finally:
        engine.dispose()


def _upstream(hosts: Sequence[str], port: int) -> str:
    return "\n        ".join(f"server {host}:{port} max_fails=1 fail_timeout=5s;" for host in hosts)


def render_nginx_conf(rasa_hosts: Sequence[str], action_hosts: Sequence[str], run_dir: str) -> str:
    """``deploy/nginx.conf.template`` filled like ``ops.cluster.render_nginx_conf``, for containers."""
    values = {
        "run_dir": run_dir,
        "max_body": f"{REQUEST_MAX_SIZE // 1024}k",
        "listen": "0.0.0.0",
        "public_port": RASA_PORT,
        "rasa_servers": _upstream(rasa_hosts, RASA_PORT),
        "action_servers": _upstream(action_hosts, ACTION_PORT),
        "action_lb_port": ACTION_PORT,
        # why: on one machine the actions' load balancer listens on loopback (ops/cluster.py); in compose the
        # Rasa containers reach it over the internal `backend` network, so it listens on the container's interfaces.
        "action_listen": "0.0.0.0",
    }
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), NGINX_TEMPLATE.read_text(encoding="utf-8"))


def healthcheck(role: str) -> int:
    try:
        with urllib.request.urlopen(HEALTH[role], timeout=5) as response:  # noqa: S310 - loopback
            return 0 if response.status < 500 else 1
    except OSError:
        return 1


def _hosts(variable: str, default: str) -> List[str]:
    return [h.strip() for h in _env(variable, default).split(",") if h.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    role, rest = args[0], args[1:]
    printing = "--print" in rest
    if role == "healthcheck":
        return healthcheck(rest[0] if rest else "rasa")
    if role == "nginx-conf":
        text = render_nginx_conf(_hosts("NGINX_RASA_HOSTS", "rasa-1,rasa-2"),
                                 _hosts("NGINX_ACTION_HOSTS", "actions-1,actions-2"),
                                 _env("NGINX_RUN_DIR", "/tmp/nginx"))
        out = None if printing else _env("NGINX_CONF", "/etc/nginx/renshe/nginx.conf")
        if out is None:
            print(text)
        else:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(text, encoding="utf-8")
            print(f"wrote {out}")
        return 0
    os.chdir(APP)
    if role == "rasa" and not printing:
        model = _env("RASA_MODEL", "/app/models/current.tar.gz")
        try:
            verify(model)
        except Exception as error:  # noqa: BLE001 - ModelRejected, MissingKey: refuse, say why
            print(f"refusing to start: {error}", file=sys.stderr, flush=True)
            return 1
    argv_out = command(role)
    if printing:
        print(" ".join(argv_out))
        return 0
    os.environ.update(role_env(role))
    if role == "init":
        import subprocess

        subprocess.run(argv_out, check=True)
        print("tracker store indexes created: " + (", ".join(init_tracker_store()) or "none (all present)"))
        return 0
    sys.stdout.flush()
    os.execv(argv_out[0], argv_out)
    return 0  # pragma: no cover - exec does not return


if __name__ == "__main__":
    sys.exit(main())
