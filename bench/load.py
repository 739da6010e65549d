"""Asyncio load client for the REST channel: N concurrent conversations for a fixed time; prints JSON.

``python -m bench.load --url http://localhost:5005/webhooks/rest/webhook --levels 1,10,20,50 --duration 30``

Each simulated conversation replays one case of the evaluation set (``tests/eval/questions.yml``, all
its turns in order, under a fresh sender id), then starts the next case under a new sender, so the
server sees realistic short conversations and trackers do not grow without bound.

Two modes:

- **closed** (default): every conversation sends its next message as soon as the previous reply
  arrives (no think time). This finds the capacity: throughput and latency at saturation. By
  Little's law mean latency = conversations / throughput, so with 20 closed-loop conversations a
  p95 under 300 ms needs roughly 70+ messages/s.
- **paced** (``--rate``): the conversations together offer ``rate`` messages/s (each one sends every
  ``conversations / rate`` seconds, phases spread evenly); a late reply delays only that conversation's
  next message (no catch-up burst). This answers "does the bot serve R messages/s from N
  conversations, and how fast".

Measurement: the first ``warmup`` seconds of a level are not measured. Latency percentiles are over
every request *started* inside the measured window (all of them are awaited, so slow ones are not
dropped); throughput counts successful replies *completed* inside the window, divided by its length.
An error is a timeout, a connection error, an HTTP status other than 200, a body that is not a
JSON list, or the channel guard's polite system reply (``unavailable``: Rasa or the action server
failed; ``rate_limited``) from ``bot/channels/replies.yml``. Nearest-rank percentiles, like ``bench/kb_search.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "eval" / "questions.yml"
# why: the channel guard answers 200 with a polite system message when Rasa or the action server
# fails or a sender is rate-limited; for a benchmark those replies are errors, not answers.
GUARD_REPLIES = ROOT / "bot" / "channels" / "replies.yml"


def _guard_replies() -> dict[str, str]:
    try:
        data = yaml.safe_load(GUARD_REPLIES.read_text(encoding="utf-8")) or {}
    except OSError:
        return {}
    return {str(text).strip(): str(kind) for kind, text in data.items()}


_DEGRADED = _guard_replies()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def conversation_scripts(path: Path = QUESTIONS) -> list[list[str]]:
    """The user turns of every evaluation case, in file order (one list of texts per case)."""
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [[str(turn["text"]) for turn in case["turns"]] for case in cases]


@dataclass
class Sample:
    """One request: when it started (seconds since the level started), how long it took, how it ended."""

    start: float
    latency_ms: float
    ok: bool
    error: str | None = None


@dataclass
class LevelResult:
    """Summary of one load level (``latencies_ms`` is kept for plots and left out of the JSON summary)."""

    mode: str
    conversations: int
    duration_s: float
    offered_rate_msg_s: float | None
    messages: int
    errors: int
    throughput_msg_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    max_ms: float | None
    error_kinds: dict[str, int] = field(default_factory=dict)
    client_cpu_cores: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("latencies_ms")
        return data


class Counter:
    """Messages sent by this process (read by the resource sampler to plot memory against messages)."""

    sent = 0


async def post_message(
    session: aiohttp.ClientSession, url: str, sender: str, text: str
) -> tuple[bool, str | None, list | None]:
    """POST one message; (ok, error kind, reply list). Never raises for transport errors."""
    Counter.sent += 1
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            if response.status != 200:
                await response.read()
                return False, f"http_{response.status}", None
            body = await response.json(content_type=None)
    except asyncio.TimeoutError:
        return False, "timeout", None
    except (aiohttp.ClientError, OSError, ValueError) as error:
        return False, type(error).__name__, None
    if not isinstance(body, list):
        return False, "bad_body", None
    for message in body:
        kind = _DEGRADED.get(str(message.get("text") or "").strip()) if isinstance(message, dict) else None
        if kind:
            return False, kind, body
    return True, None, body


def _summarise(
    samples: list[Sample], mode: str, conversations: int, warmup: float, duration: float,
    rate: float | None, completions: list[float], cpu_s: float,
) -> LevelResult:
    window = [s for s in samples if warmup <= s.start < warmup + duration]
    latencies = [s.latency_ms for s in window if s.ok]
    errors = [s for s in window if not s.ok]
    done = sum(1 for end in completions if warmup <= end < warmup + duration)
    kinds: dict[str, int] = {}
    for s in errors:
        kinds[s.error or "error"] = kinds.get(s.error or "error", 0) + 1

    def r(x: float) -> float | None:
        # why: JSON has no NaN; a level without a single reply reports null.
        return None if math.isnan(x) else round(x, 1)

    return LevelResult(
        mode=mode,
        conversations=conversations,
        duration_s=duration,
        offered_rate_msg_s=rate,
        messages=len(window),
        errors=len(errors),
        throughput_msg_s=round(done / duration, 2) if duration else 0.0,
        p50_ms=r(percentile(latencies, 50)),
        p95_ms=r(percentile(latencies, 95)),
        p99_ms=r(percentile(latencies, 99)),
        mean_ms=r(sum(latencies) / len(latencies) if latencies else math.nan),
        max_ms=r(max(latencies) if latencies else math.nan),
        error_kinds=kinds,
        client_cpu_cores=round(cpu_s / (warmup + duration), 3) if duration else 0.0,
        latencies_ms=latencies,
    )


async def run_level(
    url: str,
    conversations: int,
    duration: float,
    scripts: Sequence[Sequence[str]],
    *,
    warmup: float = 2.0,
    rate: float | None = None,
    timeout: float = 30.0,
    max_messages: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> LevelResult:
    """Drive ``conversations`` concurrent conversations for ``warmup + duration`` seconds.

    With ``max_messages`` the level instead ends after that many messages (``duration`` then only
    bounds it); the summary's window is the whole run. ``rate`` switches to paced mode.
    """
    run_id = uuid.uuid4().hex[:8]
    samples: list[Sample] = []
    completions: list[float] = []
    sent = itertools.count()
    t_start = time.perf_counter()
    deadline = t_start + warmup + duration
    interval = conversations / rate if rate else 0.0
    cpu_before = sum(os.times()[:2])

    def more() -> bool:
        if time.perf_counter() >= deadline:
            return False
        return max_messages is None or next(sent) < max_messages

    async def conversation(index: int, session: aiohttp.ClientSession) -> None:
        # why: spread the paced senders evenly over one interval instead of a burst at t=0.
        next_send = t_start + (index * interval / conversations if rate else 0.0)
        for n, case in enumerate(itertools.count(index)):
            script = scripts[case % len(scripts)]
            sender = f"bench-{run_id}-{index}-{n}"
            for text in script:
                if rate:
                    delay = next_send - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if not more():
                    return
                t0 = time.perf_counter()
                ok, error, _ = await post_message(session, url, sender, text)
                t1 = time.perf_counter()
                samples.append(Sample(t0 - t_start, (t1 - t0) * 1000, ok, error))
                if ok:
                    completions.append(t1 - t_start)
                if on_progress:
                    on_progress(len(samples))
                if rate:
                    # why: no catch-up burst after a slow reply; the shortfall shows as a lower throughput.
                    next_send = max(next_send + interval, time.perf_counter())

    # why: one keep-alive connection per conversation, like one browser or WeChat user each.
    connector = aiohttp.TCPConnector(limit=conversations, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        await asyncio.gather(*(conversation(i, session) for i in range(conversations)))
    cpu_s = sum(os.times()[:2]) - cpu_before
    if max_messages is not None:
        elapsed = time.perf_counter() - t_start
        return _summarise(samples, "closed", conversations, 0.0, elapsed, rate, completions, cpu_s)
    return _summarise(samples, "paced" if rate else "closed", conversations, warmup, duration, rate,
                      completions, cpu_s)


async def run_levels(
    url: str, levels: Sequence[int], duration: float, scripts: Sequence[Sequence[str]], *,
    warmup: float = 2.0, pause: float = 2.0, timeout: float = 30.0,
) -> list[LevelResult]:
    """Closed-loop levels one after another, with a short pause so queues drain between them."""
    results = []
    for level in levels:
        results.append(await run_level(url, level, duration, scripts, warmup=warmup, timeout=timeout))
        await asyncio.sleep(pause)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_URL", "http://localhost:5005/webhooks/rest/webhook"))
    parser.add_argument("--levels", default="1,10,20,50", help="concurrent conversations, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds at the start of a level")
    parser.add_argument("--rate", type=float, help="paced mode: total messages/s offered by all conversations")
    args = parser.parse_args(argv)
    scripts = conversation_scripts()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if args.rate:
        results = [asyncio.run(run_level(args.url, levels[0], args.duration, scripts,
                                         warmup=args.warmup, rate=args.rate))]
    else:
        results = asyncio.run(run_levels(args.url, levels, args.duration, scripts, warmup=args.warmup))
    print(json.dumps([r.summary() for r in results], ensure_ascii=False, indent=2))
    return 0 if all(r.messages and not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
