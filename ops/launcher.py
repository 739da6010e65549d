"""Start the action server and the Rasa server (plus the web pages when present), supervise them.

``python -m ops.launcher --model models/x.tar.gz`` is what ``make run`` calls. It refuses a model whose
manifest does not match (:func:`bot.signing.verify_model`; ``make train`` signs), prints the URLs
once every service answers, logs to the console, and on Ctrl-C (or SIGTERM) stops every child
process group; children also die with the launcher (PR_SET_PDEATHSIG), so none is left behind.
Tests use :func:`bot_services` (and :mod:`ops.supervise`) to start the same processes on free ports.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Sequence

from bot import speedups
from bot.cors import rasa_cors_origins
from bot.sessions import MissingKey, check_keys
from bot.signing import ModelRejected, verify_model
from ops.settings import setting
from ops.supervise import Service, supervise, wait_ready

logger = logging.getLogger("launcher")

# why: a resident's message is at most a few kilobytes; Sanic's default accepts 100 MB per request.
REQUEST_MAX_SIZE = 64 * 1024


def bot_services(
    model: str,
    rasa_port: int = 5005,
    action_port: int = 5055,
    tracker_db: str | None = None,
    log_dir: Path | None = None,
    extra_env: dict | None = None,
) -> list[Service]:
    """The action server and the Rasa server, wired to each other."""
    bin_dir = Path(sys.executable).parent
    # why: the action server has no authentication and Rasa's API shows its version: both listen on
    # loopback unless BOT_HOST says otherwise (e.g. 0.0.0.0 inside a container behind a proxy).
    host = (extra_env or {}).get("BOT_HOST") or setting("BOT_HOST") or "127.0.0.1"
    env = {
        "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
        "TRACKER_DB": tracker_db or setting("TRACKER_DB", "var/tracker.db"),
        "RASA_TELEMETRY_ENABLED": "false",
        **(extra_env or {}),
    }
    # why: Sanic reads SANIC_* variables into the app config: bodies over this get 413. Rasa only —
    # the action server receives whole trackers, which grow past 64 KB in a long conversation.
    rasa_env = {"SANIC_REQUEST_MAX_SIZE": setting("SANIC_REQUEST_MAX_SIZE", str(REQUEST_MAX_SIZE)), **env}
    rasa_args = [
        *speedups.rasa_command(), "run", "--model", model, "--interface", host, "--port", str(rasa_port),
        "--credentials", setting("RASA_CREDENTIALS", "credentials.yml"),
        "--endpoints", setting("RASA_ENDPOINTS", "endpoints.yml"),
        # why: the website widget on :8000 talks to :5005 from the browser; only the site's origins (bot.cors).
        "--cors", *rasa_cors_origins({**os.environ, **(extra_env or {})}),
    ]
    token = setting("RASA_API_TOKEN") or env.get("RASA_API_TOKEN")
    if token:
        # why: the HTTP API is only ever on with a token; without one it stays off.
        rasa_args += ["--enable-api", "--auth-token", token]
    log = (lambda name: log_dir / f"{name}.log") if log_dir else (lambda name: None)
    return [
        Service(
            "action server",
            [str(bin_dir / "python"), "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            f"http://127.0.0.1:{action_port}/health",
            f"http://localhost:{action_port}",
            {**env, "SANIC_HOST": host},
            log("actions"),
        ),
        Service(
            "rasa server",
            rasa_args,
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/",
            f"http://localhost:{rasa_port}/webhooks/rest/webhook",
            rasa_env,
            log("rasa"),
        ),
    ]


def page_services(log_dir: Path | None = None) -> list[Service]:
    """The website demo (8000) and the trainer console (8001), when their modules exist."""
    services = []
    for module, name, port in (("widget", "website demo", 8000), ("console", "trainer console", 8001)):
        if importlib.util.find_spec(module) is None:
            continue
        services.append(
            Service(
                name,
                [sys.executable, "-m", module, "--port", str(port)],
                f"http://127.0.0.1:{port}/healthz",
                f"http://localhost:{port}/",
                {},
                (log_dir / f"{module}.log") if log_dir else None,
            )
        )
    return services


def _several_processes(args: argparse.Namespace) -> int | None:
    """With ``RASA_PROCESSES`` (default ``auto``: one per core, at most 4) above 1 and PostgreSQL, Redis
    and nginx at hand, run that many Rasa instances behind nginx (:mod:`ops.cluster`) and return its
    exit code; otherwise log why one process runs and return None.
    """
    from ops import cluster

    try:
        wanted = cluster.wanted_processes()
    except ValueError as error:
        logger.error("RASA_PROCESSES: %s; running one Rasa process", error)
        return None
    if wanted == 1:
        logger.info("one Rasa process (RASA_PROCESSES=%s, %d cores)", setting("RASA_PROCESSES", "auto"),
                    os.cpu_count() or 1)
        return None
    plan = cluster.plan_from_env(args.model)
    missing = cluster.shared_stores_missing(plan)
    if missing:
        # why: several processes must share trackers and locks; SQLite and the in-memory lock store cannot.
        logger.warning("one Rasa process, not %d: %s. Several processes need PostgreSQL, Redis and nginx "
                       "(CLUSTER_DATABASE_URL, REDIS_URL; README 'Running at scale'); RASA_PROCESSES=1 hides "
                       "this message", wanted, missing)
        return None
    logger.info("%d Rasa processes behind nginx on :%d, PostgreSQL + Redis (RASA_PROCESSES=1 for one)",
                wanted, args.rasa_port)
    argv = ["--model", args.model, "--instances", str(wanted), "--port", str(args.rasa_port),
            "--action-lb-port", str(args.action_port)]
    return cluster.main(argv + ([] if args.no_pages else ["--pages"]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--action-port", type=int, default=5055)
    parser.add_argument("--no-pages", action="store_true", help="do not start the web pages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        verify_model(args.model)
        check_keys()
    except (ModelRejected, MissingKey) as error:
        logger.error("refusing to start: %s", error)
        return 1

    if not args.no_pages and importlib.util.find_spec("console") and not setting("RASA_API_TOKEN"):
        # why: the trainer console needs the bot's HTTP API ("try a sentence", activation); it is
        # never open, so a random token is made for this run and shared with the console only.
        os.environ["RASA_API_TOKEN"] = secrets.token_urlsafe(32)
    if not args.no_pages and not setting("STAFF_REPLY_TOKEN"):
        # why: the console's hand-off queue sends staff replies through the bot; same one-run secret idea.
        os.environ["STAFF_REPLY_TOKEN"] = secrets.token_urlsafe(32)
    several = _several_processes(args)
    if several is not None:
        return several
    os.environ.setdefault("RASA_URL", f"http://localhost:{args.rasa_port}")
    # why: on one Rasa process the knowledge actions run inside it (no round trip to the action server:
    # knowledge/static p50 1.36 -> 1.14, docs/rasa-patches.md in-process-actions); the action server still
    # runs on its port for ACTIONS_IN_PROCESS=0. Several processes (above) keep the action servers.
    os.environ.setdefault("ACTIONS_IN_PROCESS", "1")
    services = bot_services(args.model, args.rasa_port, args.action_port)
    if not args.no_pages:
        services += page_services()

    def start() -> None:
        for service in services:
            service.start()
        wait_ready(services)

    def banner(seconds: float) -> None:
        print(f"\n人社小助手 is ready in {seconds:.0f}s:", flush=True)
        for service in services:
            print(f"  {service.name:16} {service.public_url}", flush=True)
        print("Press Ctrl-C to stop.\n", flush=True)

    def watch() -> int | None:
        dead = [s for s in services if not s.alive()]
        if dead:
            logger.error("%s stopped unexpectedly; stopping everything", dead[0].name)
            return 1
        return None

    return supervise(lambda: services, start, banner, watch, interval=0.5)


if __name__ == "__main__":
    sys.exit(main())
