"""Processes and the machine, read from /proc (Linux): resident memory, CPU use, load, who listens on a port.

No psutil: Rasa does not install it and /proc gives everything the benchmark needs.
:class:`Sampler` records, every ``interval`` seconds, the resident memory of the Rasa server and the
action server, the CPU they use, the CPU the rest of the machine uses (other work that makes the
figures noisy) and the load average, so the report can show how busy the machine was in each phase.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (empty when it has none or is gone)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def rss_mb(pid: int, with_children: bool = True) -> float | None:
    """Resident memory (VmRSS) of ``pid`` and its descendants in MiB; None when the process is gone."""
    total = 0.0
    for p in [pid] + (children(pid) if with_children else []):
        try:
            fields = (Path("/proc") / str(p) / "statm").read_text().split()
        except OSError:
            if p == pid:
                return None
            continue
        total += int(fields[1]) * _PAGE_MB
    return round(total, 1)


def cpu_seconds(pid: int, with_children: bool = True) -> float:
    """User + system CPU seconds used so far by ``pid`` (and its live descendants)."""
    total = 0
    for p in [pid] + (children(pid) if with_children else []):
        try:
            fields = (Path("/proc") / str(p) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # why: guest time is already counted in user time; only the first eight fields add up.
    return (sum(values[:8]) - idle) / _CLK_TCK


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def pid_listening(port: int) -> int | None:
    """The pid of the process that listens on TCP ``port`` (IPv4 or IPv6), if this user can see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


def machine() -> dict:
    """What the figures were measured on."""
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "ram_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": load_average(),
    }


@dataclass
class Tick:
    t: float
    phase: str
    messages: int
    rss_rasa_mb: float | None
    rss_actions_mb: float | None
    bot_cores: float
    bench_cores: float
    other_cores: float
    load1: float


@dataclass
class Sampler:
    """Background thread taking a :class:`Tick` every ``interval`` seconds until :meth:`stop`."""

    rasa_pid: int | None = None
    action_pid: int | None = None
    # why: several Rasa instances and action servers (the multi-process run) count as the bot as well.
    extra_pids: tuple[int, ...] = ()
    messages: Callable[[], int] = lambda: 0
    interval: float = 2.0
    phase: str = "start"
    ticks: list[Tick] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(self.interval * 2)

    def _bot_pids(self) -> set[int]:
        pids = set()
        for pid in (self.rasa_pid, self.action_pid, *self.extra_pids):
            if pid:
                pids |= {pid, *children(pid)}
        return pids

    def _cpu(self) -> tuple[float, float]:
        """(bot, bench) CPU seconds; bench = this process, its reaped children and live non-bot ones."""
        bot_pids = self._bot_pids()
        bot = sum(cpu_seconds(p, with_children=False) for p in bot_pids)
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        helpers = sum(cpu_seconds(p, with_children=False) for p in children(os.getpid()) if p not in bot_pids)
        return bot, own + helpers

    def _run(self) -> None:
        t0 = time.monotonic()
        last = (time.monotonic(), machine_busy_seconds(), *self._cpu())
        watched = (self.rasa_pid, self.action_pid, self.extra_pids)
        while not self._stop.wait(self.interval):
            now = (time.monotonic(), machine_busy_seconds(), *self._cpu())
            if (self.rasa_pid, self.action_pid, self.extra_pids) != watched:
                # why: newly watched servers bring all their CPU time since start; start counting now.
                watched, last = (self.rasa_pid, self.action_pid, self.extra_pids), now
                continue
            dt = now[0] - last[0]
            # why: a bot process stopped by us moves its time into children_* at once; clamp that jump.
            busy, bot, bench = (max(0.0, (now[i] - last[i]) / dt) for i in (1, 2, 3))
            last = now
            self.ticks.append(Tick(
                t=round(now[0] - t0, 1),
                phase=self.phase,
                messages=self.messages(),
                rss_rasa_mb=rss_mb(self.rasa_pid) if self.rasa_pid else None,
                rss_actions_mb=rss_mb(self.action_pid) if self.action_pid else None,
                bot_cores=round(bot, 2),
                bench_cores=round(bench, 2),
                other_cores=round(max(0.0, busy - bot - bench), 2),
                load1=load_average()[0],
            ))

    def phases(self) -> dict[str, dict]:
        """Per phase: mean CPU cores used by the bot, by the benchmark (client, training, baseline), by
        everything else on the machine (the noise); max 1-minute load."""
        out: dict[str, dict] = {}
        for phase in dict.fromkeys(t.phase for t in self.ticks):
            ticks = [t for t in self.ticks if t.phase == phase]
            out[phase] = {
                "seconds": round(len(ticks) * self.interval),
                "bot_cores": round(sum(t.bot_cores for t in ticks) / len(ticks), 2),
                "bench_cores": round(sum(t.bench_cores for t in ticks) / len(ticks), 2),
                "other_cores": round(sum(t.other_cores for t in ticks) / len(ticks), 2),
                "load1_max": max(t.load1 for t in ticks),
            }
        return out
