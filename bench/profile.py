"""Where the servers spend their time: py-spy on the Rasa server and the action server under load.

``python -m bench.profile --kind kb --seconds 30`` starts a private bot (or uses ``--url`` with
``--rasa-pid`` / ``--action-pid``), warms it up, then samples both processes with ``py-spy record``
while the load client sends messages of one kind (``static``: greetings; ``kb``: knowledge questions;
``eval``: the evaluation conversations) at ``--concurrency``. It writes the collapsed stacks per
process into ``bench/out/profile/`` (open them in speedscope or flamegraph.pl) and prints, per
process, the share of samples by package of the innermost frame (self time) and by owner (the
innermost frame on the stack that is ours — ``bot/``, ``actions/``, ``knowledge/`` — Rasa's or
rasa_sdk's), so a missed target can be attributed to ours or Rasa's.

py-spy is a separate tool (``pip install py-spy``); it needs permission to ptrace the servers
(root, or the same user with ``kernel.yama.ptrace_scope`` 0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # why: runnable as a plain script as well as with -m

from bench import procs  # noqa: E402
from bench.load import Counter, run_level  # noqa: E402
from bench.run import KB_CATEGORIES, STATIC_MESSAGES, Settings, bot_under_test, warm_up  # noqa: E402
from bot import speedups  # noqa: E402

logger = logging.getLogger("bench.profile")
OUT = ROOT / "bench" / "out" / "profile"
OURS = ("bot/", "actions/", "knowledge/")
PACKAGES = ("rasa_sdk", "rasa", "tensorflow", "keras", "numpy", "scipy", "sklearn", "sanic", "aiohttp", "sqlalchemy",
            "jieba", "dask", "asyncio", "json", "ruamel", "yaml", "concurrent", "threading", "uvloop", "httptools",
            "multidict", "pydantic", "jsonschema", "rank_bm25", "sqlite3", "logging")


def scripts_for(kind: str) -> list[list[str]]:
    import yaml

    cases = yaml.safe_load((ROOT / "tests" / "eval" / "questions.yml").read_text(encoding="utf-8"))
    if kind == "static":
        return [[m] for m in STATIC_MESSAGES]
    if kind == "kb":
        return [[c["turns"][0]["text"]] for c in cases if c["category"] in KB_CATEGORIES and len(c["turns"]) == 1]
    return [[str(t["text"]) for t in c["turns"]] for c in cases]


def _path(frame: str) -> str:
    """``function (path/to/module.py:12)`` -> ``path/to/module.py`` (py-spy shortens site-packages paths)."""
    path = frame.rsplit("(", 1)[-1].rstrip(")").rsplit(":", 1)[0]
    root = f"{ROOT}/"
    return path[len(root):] if path.startswith(root) else path


def _package(frame: str) -> str:
    """The package a frame belongs to: ``ours:bot`` / ``ours:actions`` / ``ours:knowledge``, a known
    third-party package, or ``other``."""
    path = _path(frame)
    for mine in OURS:
        if path.startswith(mine):
            return "ours:" + mine.rstrip("/")
    top = path.split("/", 1)[0].removesuffix(".py")
    return top if top in PACKAGES else "other"


def _owner(frames: list[str]) -> str:
    """Who is responsible for a sample: the innermost frame that is ours, Rasa's or rasa_sdk's."""
    for frame in reversed(frames):
        package = _package(frame)
        if package.startswith("ours:") or package in ("rasa", "rasa_sdk"):
            return package
    return "other"


# why: py-spy counts these waits as active (the GIL is released in C, not in a known idle call): the
# thread-pool workers blocked on their queue and Sanic's event loop in uvloop's run_forever.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)", "serve (sanic/server/runners.py:155)")


def summarise(collapsed: Path, top: int = 12) -> dict:
    """Self time by package, time by owner (innermost of ours / Rasa / rasa_sdk on the stack, so
    library time counts for whoever called the library), and the hottest of our functions."""
    by_package: collections.Counter = collections.Counter()
    by_owner: collections.Counter = collections.Counter()
    our_functions: collections.Counter = collections.Counter()
    total = idle = 0
    for line in collapsed.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[-1] in IDLE_LEAVES:
            idle += n
            continue
        total += n
        by_package[_package(frames[-1])] += n
        owner = _owner(frames)
        by_owner[owner] += n
        if owner.startswith("ours:"):
            our_functions[next(f for f in reversed(frames) if _package(f) == owner)] += n
    share = (lambda n: round(n / total, 3)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "self_by_package": {k: share(v) for k, v in by_package.most_common(top)},
        "by_owner": {k: share(v) for k, v in by_owner.most_common()},
        "our_hottest": {k: share(v) for k, v in our_functions.most_common(8)},
    }


def record(pid: int, seconds: float, out: Path, idle: bool) -> subprocess.Popen:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200", "--format", "raw",
            "--output", str(out), "--nonblocking"]
    if idle:
        argv.append("--idle")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("static", "kb", "eval"), default="kb")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--idle", action="store_true", help="also sample waiting threads (wall-clock view)")
    parser.add_argument("--url", help="profile a running bot (give --rasa-pid and --action-pid)")
    parser.add_argument("--rasa-pid", type=int)
    parser.add_argument("--action-pid", type=int)
    parser.add_argument("--model", default=os.environ.get("BENCH_MODEL"))
    parser.add_argument("--no-speedups", dest="speedups", action="store_false", default=speedups.enabled(),
                        help="profile plain Rasa, without bot.speedups (RASA_SPEEDUPS=0)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    # why: Settings() defaults to speedups off; without this the profile showed plain Rasa (24% of the
    # Rasa server's samples in jsonschema's meta-schema check, which make run never runs).
    settings = Settings(url=args.url, start=not args.url, model=args.model, out=OUT.parent, speedups=args.speedups)
    with bot_under_test(settings) as bot:
        pids = {"rasa": args.rasa_pid or bot.rasa_pid, "actions": args.action_pid or bot.action_pid}
        asyncio.run(warm_up(bot))
        files = {name: OUT / f"{args.kind}-{name}.txt" for name, pid in pids.items() if pid}
        spies = {name: record(pids[name], args.seconds + 2, path, args.idle) for name, path in files.items()}
        sent, cpu = Counter.sent, {name: procs.cpu_seconds(pid) for name, pid in pids.items() if pid}
        level = asyncio.run(run_level(bot.rest_url, args.concurrency, args.seconds, scripts_for(args.kind),
                                      warmup=1.0))
        sent = Counter.sent - sent
        # why: CPU time per message is what a busy shared machine cannot distort much (wall time it can).
        # py-spy's sampling adds a little to the profiled processes; bench.run measures it unprofiled.
        cpu_ms = {name: round((procs.cpu_seconds(pids[name]) - before) * 1000 / max(sent, 1), 1)
                  for name, before in cpu.items()}
        for name, spy in spies.items():
            _, err = spy.communicate(timeout=args.seconds + 60)
            if spy.returncode:
                logger.error("py-spy on %s failed: %s", name, err.decode(errors="replace").strip()[-300:])
    report = {"kind": args.kind, "concurrency": args.concurrency, "idle": args.idle, "load": level.summary(),
              "cpu_ms_per_message": cpu_ms, "load_average": procs.load_average(),
              **{name: summarise(path) for name, path in files.items() if path.is_file()}}
    (OUT / f"{args.kind}-summary.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                                   encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
