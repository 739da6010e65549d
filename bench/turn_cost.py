"""CPU cost of a turn: CPU milliseconds per message of the Rasa server and the action server.

``python -m bench.turn_cost --model models/x.tar.gz --kind eval --messages 600 --concurrency 4``
starts a private bot (as ``make bench`` does), times its start-up, warms it up, then sends
``--messages`` messages of one kind and reads the servers' CPU time from ``/proc`` before and after.
Prints JSON: CPU ms per message per process, resident memory, start-up seconds, whether TensorFlow's
shared library is mapped into the Rasa server, the wall-clock figures and the load average beside
them.

why: on a shared machine wall-clock latency and throughput move with other people's work; the CPU
time a process spends per message barely does, so before/after comparisons use this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # why: runnable as a plain script as well as with -m

from bench import procs  # noqa: E402
from bench.load import Counter, run_level  # noqa: E402
from bench.profile import scripts_for  # noqa: E402
from bench.run import Settings, bot_under_test, warm_up  # noqa: E402
from bot import speedups  # noqa: E402

logger = logging.getLogger("bench.turn_cost")


def tensorflow_mapped(pid: int | None) -> bool | None:
    """True when TensorFlow's framework library is mapped into ``pid`` (it was imported)."""
    if not pid:
        return None
    try:
        return "libtensorflow_framework" in (Path("/proc") / str(pid) / "maps").read_text()
    except OSError:
        return None


async def cost(rest_url: str, pids: dict[str, int | None], kind: str, messages: int, concurrency: int) -> dict:
    """Send ``messages`` messages of ``kind``; CPU ms per message of each process in ``pids``."""
    before_sent = Counter.sent
    before = {name: procs.cpu_seconds(pid) for name, pid in pids.items() if pid}
    level = await run_level(rest_url, concurrency, 24 * 3600, scripts_for(kind), warmup=0,
                            max_messages=messages)
    sent = Counter.sent - before_sent
    return {
        "kind": kind,
        "messages": sent,
        "cpu_ms_per_message": {name: round((procs.cpu_seconds(pids[name]) - cpu) * 1000 / max(sent, 1), 2)
                               for name, cpu in before.items()},
        "errors": level.errors,
        "wall": {"throughput_msg_s": level.throughput_msg_s, "p50_ms": level.p50_ms, "p95_ms": level.p95_ms,
                 "load_average": procs.load_average()},
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--kind", choices=("static", "kb", "eval"), action="append",
                        help="message kinds, each measured in turn (default: static, kb, eval)")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-speedups", dest="speedups", action="store_false", default=speedups.enabled())
    args = parser.parse_args(argv)
    settings = Settings(start=True, model=args.model, speedups=args.speedups, out=ROOT / "bench" / "out")
    started = time.monotonic()
    with bot_under_test(settings) as bot:
        start_s = round(time.monotonic() - started, 1)
        asyncio.run(warm_up(bot))
        pids = {"rasa": bot.rasa_pid, "actions": bot.action_pid}
        runs = [asyncio.run(cost(bot.rest_url, pids, kind, args.messages, args.concurrency))
                for kind in args.kind or ("static", "kb", "eval")]
        report = {
            "model": Path(args.model).name,
            "speedups": args.speedups,
            "start_s": start_s,
            "tensorflow_loaded": tensorflow_mapped(bot.rasa_pid),
            "rss_mb": {"rasa": procs.rss_mb(bot.rasa_pid), "actions": procs.rss_mb(bot.action_pid)},
            "runs": runs,
        }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
