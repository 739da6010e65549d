"""Child processes and the one supervision loop of ``ops.launcher`` and ``ops.cluster``.

Contract: :class:`Service` is one child process (own process group, dies with its parent through
PR_SET_PDEATHSIG) and the URL that says it is ready; :func:`wait_ready` blocks until every service
answers; :func:`supervise` starts the services, prints the banner, then calls ``watch`` every
``interval`` seconds until Ctrl-C / SIGTERM (exit 0), ``watch`` returns an exit code, or start-up
fails (exit 1, logged); a signal during start-up interrupts it (exit 130). Every child is stopped on
the way out, whatever happened.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Service:
    """One child process and the URL that says it is ready."""

    name: str
    argv: Sequence[str]
    health_url: str
    public_url: str
    env: dict = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        out = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            list(self.argv), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
            preexec_fn=_die_with_parent,
        )
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:  # noqa: S310 - loopback
                return response.status < 500
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wait_ready(services: Sequence[Service], timeout: float = 180.0) -> None:
    """Block until every service answers its health URL; raise if one dies or time runs out."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        for service in list(pending):
            if not service.alive():
                raise RuntimeError(f"{service.name} exited with code {service.process.returncode}")
            if service.ready():
                pending.remove(service)
        if time.monotonic() > deadline:
            raise TimeoutError("not ready: " + ", ".join(s.name for s in pending))
        if pending:
            time.sleep(0.5)


def stop_all(services: Sequence[Service]) -> None:
    for service in reversed(services):
        service.stop()


def supervise(
    services: Callable[[], Sequence[Service]],
    start: Callable[[], None],
    banner: Callable[[float], None],
    watch: Callable[[], int | None],
    interval: float = 0.5,
    refusals: tuple[type[BaseException], ...] = (),
    failures: tuple[type[BaseException], ...] = (RuntimeError, TimeoutError),
) -> int:
    """Run ``start()``, ``banner(seconds it took)``, then ``watch()`` until stopped (module docstring).

    ``services`` is called on the way out (a cluster builds its list during ``start``); ``refusals`` are
    logged as "refusing to start", ``failures`` as "start-up failed".
    """
    stopping = False
    ready = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        if not ready:
            # why: interrupt a start-up that is still waiting for a health check.
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        start()
        ready = True
        banner(time.monotonic() - started)
        while not stopping:
            code = watch()
            if code is not None:
                return code
            time.sleep(interval)
        return 0
    except refusals as error:
        logger.error("refusing to start: %s", error)
        return 1
    except failures as error:
        logger.error("start-up failed: %s", error)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        stop_all(services())
        logger.info("all services stopped")
