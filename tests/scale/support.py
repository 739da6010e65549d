"""Test support for the scale tests: a private PostgreSQL server, tracker queries, PII scanning."""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, List

import sqlalchemy as sa

from bot.sanitize import contains_pii


def _pg_bindir() -> Path:
    explicit = os.environ.get("PG_BINDIR")
    if explicit:
        return Path(explicit)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BINDIR")


class PrivatePostgres:
    """A throw-away PostgreSQL server on a free port, owned by the test session.

    why: the restart fault test restarts PostgreSQL; doing that to the machine's shared server
    (127.0.0.1:5432) would break whatever else is using it. Same binaries, same engine — a real
    PostgreSQL — just our own instance, removed afterwards.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.bindir = _pg_bindir()
        self.base = Path(tempfile.mkdtemp(prefix="renshe-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self._prefix: List[str] = []
        if os.geteuid() == 0:
            # why: PostgreSQL refuses to run as root; the Debian package's postgres user runs it.
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run([*self._prefix, *argv], check=True, timeout=timeout, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--no-sync", "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off " \
                  "-c full_page_writes=off -c max_connections=100"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_for: float = 1.0) -> None:
        """Stop (fast: open connections are terminated), stay down ``down_for`` seconds, start."""
        self.stop("fast")
        time.sleep(down_for)
        self.start()

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> int:
        """SIGKILL the postmaster (a crash, not a shutdown); returns its pid.

        Its backends notice the postmaster is gone and exit by themselves; nothing is flushed or
        checkpointed, so the next start runs crash recovery from the write-ahead log.
        """
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def start_after_crash(self, timeout: float = 60.0) -> float:
        """Start on the same data directory after :meth:`kill`; seconds it took until it accepted.

        why: the first attempts can fail while the dead postmaster's backends still hold its shared
        memory ("pre-existing shared memory block is still in use"); retry until they are gone.
        """
        started = time.monotonic()
        while True:
            try:
                self.start()
                return time.monotonic() - started
            except subprocess.CalledProcessError:
                if time.monotonic() - started > timeout:
                    raise
                time.sleep(0.3)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.base, ignore_errors=True)


class PrivateRedis:
    """A throw-away ``redis-server`` on a free port (no persistence), owned by the test session.

    why: the fault tests stop Redis; the machine's shared server (127.0.0.1:6379) serves others.
    """

    def __init__(self, port: int, binary: str | None = None) -> None:
        self.port = port
        self.binary = binary or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.base = Path(tempfile.mkdtemp(prefix="renshe-redis-"))
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("redis-server") or Path("/usr/bin/redis-server").exists())

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> PrivateRedis:
        import redis

        log = open(self.base / "redis.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.base), "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return self
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)

    def destroy(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.lower() in ("c.utf8", "c.utf-8") for line in out.splitlines())


# --- tracker store ---------------------------------------------------------------------------------
def user_texts(engine: sa.engine.Engine, sender_id: str) -> List[str]:
    """The texts of the ``user`` events of a conversation, in stored order."""
    with engine.connect() as connection:
        rows = connection.execute(
            # why: REST conversations are stored as rest-<sender> (bot.sessions); the tests know the bare id.
            sa.text("SELECT data FROM events WHERE sender_id IN (:s, :r) AND type_name = 'user' ORDER BY id"),
            {"s": sender_id, "r": "rest-" + sender_id},
        ).all()
    return [json.loads(row[0]).get("text") or "" for row in rows]


# why: identifiers that are long digit runs or random hex by construction, not personal data.
_ID_KEYS = frozenset({"message_id", "msg_id", "model_id", "assistant_id", "timestamp"})


def strings_in(value: Any, key: str = "") -> Iterator[str]:
    """Every string in a JSON value, except under identifier keys."""
    if key in _ID_KEYS:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings_in(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v, key)


def pii_in_tracker(engine: sa.engine.Engine) -> List[str]:
    """Sender ids and event strings in the tracker store that still look like ID/phone/bank numbers."""
    found: List[str] = []
    with engine.connect() as connection:
        for sender_id, data in connection.execute(sa.text("SELECT sender_id, data FROM events")):
            if contains_pii(sender_id):
                found.append(f"sender_id {sender_id!r}")
            for text in strings_in(json.loads(data)):
                if contains_pii(text):
                    found.append(text[:120])
    return found


# why: log lines carry timestamps, pids, ports and hex ids; only these fields can hold user input.
# A hex run with at least one letter (signatures, uuids) cannot be a decimal ID or phone number;
# ``msg:<MsgId>`` is WeChat's 64-bit message id, logged by the channel to trace retries.
_LOG_NOISE = re.compile(
    # why: WeChat's query signature is 40 hex digits, all digits by chance or in the fuzz's forgeries.
    r"signature=[0-9a-f]{40}|\b(?=[0-9a-f]*[a-f])[0-9a-f]{16,}\b|\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}[,.]\d+|\bmsg:\d+"
)


def pii_in_logs(paths: Iterable[Path]) -> List[str]:
    """Log lines that look like they hold an ID, phone or bank-card number."""
    found = []
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if contains_pii(_LOG_NOISE.sub(" ", line)):
                found.append(f"{path.name}: {line[:160]}")
    return found
