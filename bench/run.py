"""``make bench``: measure the bot on this machine; write ``bench/results.json`` and a report under ``bench/out/``.

``python -m bench.run`` runs, one after another (never two measurements at once, so they do not
disturb each other):

1. training time from scratch (``rasa train`` into a temporary directory with an empty cache);
2. 5-fold NLU cross-validation (reused from ``make crossval`` when the NLU inputs are unchanged);
3. the knowledge-base benchmark (``bench/kb_search.py``: build time, search p50/p95);
4. the bot: the one answering on ``BENCH_URL`` / localhost:5005, or, when nothing (or a load
   balancer) answers there, its own action server and Rasa server started on free ports with
   ``ops.launcher.bot_services`` (temporary tracker store, HTTP API on with a random token);
5. warm-up, then resident memory of both servers;
6. NLU parse latency over every evaluation turn (``/model/parse``; in-process when the API is off);
7. static vs knowledge-base reply latency, interleaved A-B-B-A in one sequence so machine noise hits
   both alike, and the ratio of their p95s; beside them, as the baseline, the static reply of stock
   Rasa (plain ``rasa run``, no bot.speedups, same model); and the servers' CPU ms per reply of each;
8. the evaluation set over REST and the BM25-passage baseline on the same questions;
9. load: 1 / 10 / 20 / 50 closed-loop conversations, then 20 conversations paced at 30 messages/s,
   with the CPU ms per message of the Rasa and action servers at each level;
10. WeChat-path latency (``bench/wechat_latency.py``);
11. messages until 10,000 have been sent since warm-up, then resident memory again (leaks);
12. after the single bot has stopped, the same load levels against several Rasa processes: the
   cluster at ``BENCH_CLUSTER_URL`` (or nginx found on localhost:5005), else a private one on free
   ports (``BENCH_PROCESSES``, default ``RASA_PROCESSES`` / one per core as ``make run``) when
   PostgreSQL, Redis and nginx answer; the report puts one and several side by side.

A background sampler records memory, CPU use of the bot, of the benchmark and of everything else on
the machine, and the load average, so the report says how noisy each phase was.
Environment knobs (each also a flag; see ``--help``): BENCH_URL, BENCH_API_TOKEN, BENCH_ACTION_URL,
BENCH_CLUSTER_URL, BENCH_START, BENCH_MODEL, BENCH_QUICK, BENCH_SKIP_TRAIN, BENCH_SKIP_CROSSVAL,
BENCH_LEVELS, BENCH_LOAD_SECONDS, BENCH_PAIRS, BENCH_MESSAGES, BENCH_RATE, BENCH_SPEEDUPS, BENCH_STOCK,
BENCH_PROCESSES.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # why: runnable as a plain script as well as with -m

from bench import crossval, procs  # noqa: E402
from bench.load import Counter, conversation_scripts, percentile, post_message, run_level  # noqa: E402
from bench.report import write_report  # noqa: E402
from bot import speedups  # noqa: E402
from ops.launcher import bot_services  # noqa: E402
from ops.supervise import Service, free_port, stop_all, wait_ready  # noqa: E402

logger = logging.getLogger("bench")

OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results.json"
QUESTIONS = ROOT / "tests" / "eval" / "questions.yml"
# why: each is answered by a rule with a fixed domain response (no action server, no knowledge base).
STATIC_MESSAGES = ["你好", "谢谢", "你是谁", "您好", "谢谢你的帮助"]
KB_CATEGORIES = {"plan_targets", "social_insurance", "sscard_service", "employment_skills", "entrepreneurship",
                 "labour", "talent", "shanghai_national"}
TARGETS = {
    "kb_over_static_p95": ("<=", 1.2, "knowledge answer p95 / static reply p95"),
    "throughput_msg_s": (">=", 30.0, "messages/s at 20 concurrent conversations (closed loop)"),
    "p95_ms_at_20": ("<", 300.0, "p95 ms, 20 conversations offering 30 messages/s"),
    "nlu_p95_ms": ("<", 40.0, "NLU parse p95 ms"),
    "train_s": ("<", 180.0, "training from scratch, s"),
    "rss_mb_rasa": ("<", 1024.0, "Rasa server resident memory after the messages, MiB"),
}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    """What to measure and against what (flags override the BENCH_* environment)."""

    url: str | None = None
    api_token: str | None = None
    action_url: str = "http://localhost:5055"
    cluster_url: str | None = None
    start: bool = False
    model: str | None = None
    skip_train: bool = False
    skip_crossval: bool = False
    speedups: bool = False
    levels: list[int] = field(default_factory=lambda: [1, 10, 20, 50])
    load_seconds: float = 30.0
    pairs: int = 150
    messages: int = 10_000
    rate: float = 30.0
    stock_baseline: bool = True
    processes: int | None = None
    out: Path = OUT
    results: Path = RESULTS


def parse_settings(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    quick = _env_flag("BENCH_QUICK")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=env("BENCH_URL"), help="Rasa base URL of a running bot")
    parser.add_argument("--api-token", default=env("BENCH_API_TOKEN") or env("RASA_API_TOKEN"))
    parser.add_argument("--action-url", default=env("BENCH_ACTION_URL", "http://localhost:5055"))
    parser.add_argument("--cluster-url", default=env("BENCH_CLUSTER_URL"), help="base URL of make run-cluster")
    parser.add_argument("--start", action="store_true", default=_env_flag("BENCH_START"),
                        help="always start a private bot on free ports")
    parser.add_argument("--model", default=env("BENCH_MODEL"))
    parser.add_argument("--quick", action="store_true", default=quick,
                        help="short run: no training, cached cross-validation only, 10 s levels, 1,000 messages")
    parser.add_argument("--skip-train", action="store_true", default=_env_flag("BENCH_SKIP_TRAIN"))
    parser.add_argument("--skip-crossval", action="store_true", default=_env_flag("BENCH_SKIP_CROSSVAL"))
    parser.add_argument("--no-speedups", dest="speedups", action="store_false",
                        default=speedups.enabled(),
                        help="start the private Rasa server without bot.speedups (RASA_SPEEDUPS=0; for a before/after)")
    parser.add_argument("--levels", default=env("BENCH_LEVELS", "1,10,20,50"))
    parser.add_argument("--load-seconds", type=float, default=float(env("BENCH_LOAD_SECONDS", 0) or 0))
    parser.add_argument("--pairs", type=int, default=int(env("BENCH_PAIRS", 0) or 0))
    parser.add_argument("--messages", type=int, default=int(env("BENCH_MESSAGES", 0) or 0))
    parser.add_argument("--rate", type=float, default=float(env("BENCH_RATE", 30)))
    parser.add_argument("--no-stock", dest="stock_baseline", action="store_false",
                        default=env("BENCH_STOCK", "1").strip().lower() not in ("0", "false", "no", "off"),
                        help="skip the stock-Rasa static-reply baseline (BENCH_STOCK=0)")
    parser.add_argument("--processes", type=int, default=int(env("BENCH_PROCESSES", 0) or 0),
                        help="Rasa processes of the multi-process run (default: RASA_PROCESSES / auto; 1 skips it)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    return Settings(
        url=args.url.rstrip("/") if args.url else None,
        api_token=args.api_token,
        action_url=args.action_url.rstrip("/"),
        cluster_url=args.cluster_url.rstrip("/") if args.cluster_url else None,
        start=args.start,
        model=args.model,
        skip_train=args.skip_train or args.quick,
        skip_crossval=args.skip_crossval,
        speedups=args.speedups,
        levels=[int(x) for x in args.levels.split(",") if x.strip()],
        load_seconds=args.load_seconds or (10.0 if args.quick else 30.0),
        pairs=args.pairs or (40 if args.quick else 150),
        messages=args.messages or (1_000 if args.quick else 10_000),
        rate=args.rate,
        stock_baseline=args.stock_baseline,
        processes=args.processes or None,
        out=args.out,
        results=args.results,
    )


# ------------------------------------------------------------------------------------------ the bot


@dataclass
class Bot:
    """The bot under test: URLs, API token, the pids whose memory is measured, and how it was found."""

    base_url: str
    api_token: str | None
    rasa_pid: int | None
    action_pid: int | None
    origin: str  # "started" | "running"
    model: str | None = None
    # why: CPU per message counts every process of a kind (several Rasa instances in a cluster).
    cpu_pids: dict[str, list[int]] = field(default_factory=dict)
    action_url: str | None = None

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/webhooks/rest/webhook"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback by default
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


def _port(url: str) -> int:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def _cmdline(pid: int | None) -> str:
    if not pid:
        return ""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def newest_model() -> str:
    models = sorted((ROOT / "models").glob("rs-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("no trained model: run `make train` first")
    return str(models[-1])


@contextmanager
def bot_under_test(settings: Settings) -> Iterator[Bot]:
    """The running bot (BENCH_URL or localhost:5005 when a Rasa server answers there), else a private one."""
    candidate = settings.url or "http://localhost:5005"
    if settings.url and not _answers(f"{candidate}/"):
        raise SystemExit(f"BENCH_URL {settings.url} does not answer")
    if not settings.start and _answers(f"{candidate}/"):
        rasa_pid = procs.pid_listening(_port(candidate))
        if settings.url or "rasa" in _cmdline(rasa_pid):
            action_pid = procs.pid_listening(_port(settings.action_url))
            if "rasa" not in _cmdline(rasa_pid):
                logger.warning("%s is not served by a local Rasa process; its memory is not measured", candidate)
                rasa_pid = action_pid = None
            logger.info("benchmarking the running bot at %s", candidate)
            yield Bot(candidate, settings.api_token, rasa_pid, action_pid, "running", settings.model,
                      _pids(rasa=rasa_pid, actions=action_pid), settings.action_url)
            return
        if not settings.cluster_url:
            # why: `make run-cluster` puts nginx on :5005; measure it as the cluster, and a private
            # single instance as the bot, so the report compares the two.
            settings.cluster_url = candidate
            logger.info("%s is served by %s: treating it as the cluster", candidate, _cmdline(rasa_pid)[:60])
    model = settings.model or newest_model()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    token = uuid.uuid4().hex
    rasa_port, action_port = free_port(), free_port()
    log_dir = settings.out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    services: list[Service] = bot_services(
        model, rasa_port=rasa_port, action_port=action_port, tracker_db=str(tmp / "tracker.db"),
        log_dir=log_dir,
        # why: measure what `make run` runs on one process (ops.launcher: in-process actions unless set).
        extra_env={"RASA_API_TOKEN": token, "ACTIONS_IN_PROCESS": os.environ.get("ACTIONS_IN_PROCESS", "1")},
    )
    if not settings.speedups:
        # why: plain `rasa run` with the same arguments, for a before/after comparison.
        argv = services[1].argv
        services[1].argv = [str(Path(sys.executable).with_name("rasa")), *argv[argv.index("run"):]]
    logger.info("starting a private bot (model %s%s) on :%d / :%d", Path(model).name,
                ", with bot.speedups" if settings.speedups else "", rasa_port, action_port)
    try:
        for service in services:
            service.start()
        wait_ready(services, timeout=300)
        yield Bot(f"http://127.0.0.1:{rasa_port}", token, services[1].process.pid, services[0].process.pid,
                  "started", model, _pids(rasa=services[1].process.pid, actions=services[0].process.pid),
                  f"http://127.0.0.1:{action_port}")
    finally:
        stop_all(services)
        shutil.rmtree(tmp, ignore_errors=True)


def _pids(**by_kind: int | None) -> dict[str, list[int]]:
    return {kind: [pid] for kind, pid in by_kind.items() if pid}


def cpu_by_kind(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each kind of process (``rasa``, ``actions``), children included."""
    return {kind: sum(procs.cpu_seconds(pid) for pid in group) for kind, group in pids.items()}


def cpu_ms_per_message(before: dict[str, float], after: dict[str, float], messages: int) -> dict[str, float]:
    return {kind: round((after[kind] - before[kind]) * 1000 / messages, 2) for kind in before
            if kind in after} if messages else {}


@contextmanager
def stock_rasa(settings: Settings, bot: Bot) -> Iterator[Bot | None]:
    """Plain ``rasa run`` (no bot.speedups) with the same model, for the static-reply baseline.

    why: the knowledge-answer target is relative to a static reply; measuring that reply on stock Rasa
    as well shows what our own layers (channels, speed-ups) add or save. It shares ``bot``'s action
    server (a static reply never calls it). Yields None for a running bot whose model is unknown.
    """
    model = bot.model or (None if bot.origin == "running" else newest_model())
    if not model or not settings.stock_baseline:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-stock-"))
    port = free_port()
    action_port = _port(bot.action_url) if bot.action_url else free_port()
    service = bot_services(model, rasa_port=port, action_port=action_port, tracker_db=str(tmp / "tracker.db"),
                           log_dir=settings.out / "logs", extra_env={"RASA_SPEEDUPS": "0"})[1]
    argv = list(service.argv)
    service.argv = [str(Path(sys.executable).with_name("rasa")), *argv[argv.index("run"):]]
    service.name, service.log_path = "stock rasa", settings.out / "logs" / "rasa-stock.log"
    logger.info("starting stock Rasa (no speed-ups, model %s) on :%d for the static baseline", Path(model).name,
                port)
    try:
        service.start()
        wait_ready([service], timeout=300)
        yield Bot(f"http://127.0.0.1:{port}", None, service.process.pid, None, "started", model,
                  _pids(rasa=service.process.pid))
    finally:
        stop_all([service])
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def cluster_under_test(settings: Settings, model: str | None) -> Iterator[tuple[str | None, dict, str]]:
    """The several-process layout: ``(base URL, pids by kind, note)``; URL None when it cannot run.

    ``BENCH_CLUSTER_URL`` (or nginx on :5005) is used as it is (its processes' CPU is not counted);
    otherwise, with ``BENCH_PROCESSES`` (default: ``RASA_PROCESSES`` / auto, as ``make run``) above 1 and
    PostgreSQL, Redis and nginx at hand, a private cluster on free ports in its own database.
    """
    if settings.cluster_url:
        yield settings.cluster_url, {}, f"the cluster at {settings.cluster_url}"
        return
    from ops import cluster

    processes = settings.processes or cluster.wanted_processes()
    if processes < 2:
        yield None, {}, f"{processes} process wanted (BENCH_PROCESSES / RASA_PROCESSES; {os.cpu_count()} cores)"
        return
    run_dir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    base = cluster.plan_from_env(model or newest_model())
    database = base.db_url().set(database="renshe_bench").render_as_string(hide_password=False)
    plan = cluster.ClusterPlan(
        model=base.model, database_url=database, redis_url=base.redis_url, key_prefix="renshebench",
        public_port=free_port(), listen="127.0.0.1", rasa_ports=tuple(free_port() for _ in range(processes)),
        action_ports=(free_port(), free_port()), action_lb_port=free_port(), run_dir=run_dir, nginx=base.nginx)
    missing = cluster.shared_stores_missing(plan)
    if missing:
        yield None, {}, f"no multi-process run: {missing}"
        return
    group = cluster.Cluster(plan)
    logger.info("starting a private cluster: %d Rasa processes, 2 action servers, nginx on :%d", processes,
                plan.public_port)
    try:
        group.prepare()
        group.start()
        pids = {"rasa": [s.process.pid for s in group.services if s.name.startswith("rasa-")],
                "actions": [s.process.pid for s in group.services if s.name.startswith("actions-")]}
        yield plan.public_url, pids, f"{processes} Rasa processes + 2 action servers behind nginx, PostgreSQL + Redis"
    finally:
        group.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------- measurements


def _ms(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
            "p99_ms": round(percentile(values, 99), 1), "max_ms": round(max(values), 1)} if values else {"n": 0}


def measure_training(out: Path) -> dict:
    """Seconds for ``rasa train`` from scratch: a new output folder and an empty component cache."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        env = {**os.environ, "RASA_CACHE_DIRECTORY": str(Path(tmp) / "cache"), "RASA_TELEMETRY_ENABLED": "false"}
        argv = [str(Path(sys.executable).with_name("rasa")), "train", "--config", "config.yml", "--domain",
                "domain.yml", "--data", "data", "--out", str(Path(tmp) / "models"), "--fixed-model-name", "bench",
                "--quiet"]
        log = out / "logs" / "train.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(log, "wb") as handle:
            subprocess.run(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, check=True)
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (Path(tmp) / "models").glob("*.tar.gz"))
    return {"train_s": round(seconds, 1), "model_mb": round(size / 2**20, 1)}


def measure_script(argv: list[str]) -> dict:
    """Run one of the JSON-printing bench scripts; its JSON, or ``{"error": ...}``."""
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=900)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]}


def eval_texts() -> list[str]:
    cases = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    return [str(turn["text"]) for case in cases for turn in case["turns"]]


def kb_questions(limit: int = 40) -> list[str]:
    cases = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    return [c["turns"][0]["text"] for c in cases if c.get("category") in KB_CATEGORIES and len(c["turns"]) == 1][
        :limit]


async def warm_up(bot: Bot) -> None:
    """Every code path once (static, knowledge, follow-up, fallback search) so lazy loads are done."""
    # why: every third case spans all categories (the file is grouped by category), including the
    # robustness questions that reach the fallback search and build the search index.
    scripts = conversation_scripts()[::3] + [[m] for m in STATIC_MESSAGES]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for i, script in enumerate(scripts):
            for text in script:
                await post_message(session, bot.rest_url, f"bench-warmup-{uuid.uuid4().hex[:8]}-{i}", text)


async def measure_nlu(bot: Bot, texts: list[str]) -> tuple[dict, list[float]]:
    """Sequential ``POST /model/parse`` of every text (after 20 unmeasured ones); falls back in-process."""
    url = f"{bot.base_url}/model/parse"
    params = {"token": bot.api_token} if bot.api_token else {}
    latencies: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(url, params=params, json={"text": "你好"}) as probe:
            available = probe.status == 200
            await probe.read()
        if available:
            for i, text in enumerate(texts[:20] + texts):
                t0 = time.perf_counter()
                async with session.post(url, params=params, json={"text": text}) as response:
                    await response.read()
                    ok = response.status == 200
                if i >= 20 and ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
            return {"mode": "http /model/parse", **_ms(latencies)}, latencies
    logger.warning("the HTTP API is off (set BENCH_API_TOKEN to the bot's RASA_API_TOKEN); parsing in-process")
    return await _nlu_in_process(bot.model or newest_model(), texts)


async def _nlu_in_process(model: str, texts: list[str]) -> tuple[dict, list[float]]:
    from rasa.core.agent import Agent  # why: heavy (TensorFlow); only when the HTTP API is off

    agent = Agent.load(model)
    for text in texts[:20]:
        await agent.parse_message(text)
    latencies = []
    for text in texts:
        t0 = time.perf_counter()
        await agent.parse_message(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {"mode": f"in-process {Path(model).name}", **_ms(latencies)}, latencies


def _ratio(samples: dict[str, list[float]], top: str, bottom: str, q: int) -> float | None:
    if not samples.get(top) or not samples.get(bottom):
        return None
    return round(percentile(samples[top], q) / percentile(samples[bottom], q), 2)


async def measure_static_vs_kb(bot: Bot, pairs: int, stock: Bot | None = None) -> tuple[dict, dict[str, list[float]]]:
    """Static and knowledge replies (and the stock-Rasa static reply) interleaved, one at a time, each in a
    new conversation; latency and the CPU milliseconds each kind cost the servers."""
    kb = kb_questions()
    targets = {"static": bot, "kb": bot, **({"stock_static": stock} if stock else {})}
    samples: dict[str, list[float]] = {kind: [] for kind in targets}
    cpu_ms: dict[str, float] = {kind: 0.0 for kind in targets}
    with_source = {kind: 0 for kind in targets}
    errors = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for i in range(pairs):
            # why: A-B-B-A ordering (a rotation with three kinds) cancels a linear drift between the kinds.
            kinds = list(targets)
            order = kinds if i % 2 == 0 else kinds[::-1]
            for kind in order:
                target = targets[kind]
                text = kb[i % len(kb)] if kind == "kb" else STATIC_MESSAGES[i % len(STATIC_MESSAGES)]
                before = cpu_by_kind(target.cpu_pids)
                t0 = time.perf_counter()
                ok, _, body = await post_message(session, target.rest_url, f"bench-pair-{uuid.uuid4().hex}", text)
                elapsed = (time.perf_counter() - t0) * 1000
                if not ok:
                    errors += 1
                    continue
                # why: one request at a time, so the servers' CPU in between is this reply's (10 ms ticks,
                # unbiased over many replies).
                cpu_ms[kind] += sum(cpu_ms_per_message(before, cpu_by_kind(target.cpu_pids), 1).values())
                samples[kind].append(elapsed)
                with_source[kind] += any("来源：《" in (m.get("text") or "") for m in body or [])
    out = {kind: {**_ms(values), "cpu_ms_per_message": round(cpu_ms[kind] / len(values), 1) if values else None}
           for kind, values in samples.items()}
    return {**out, "kb_over_static_p95": _ratio(samples, "kb", "static", 95),
            "kb_over_static_p50": _ratio(samples, "kb", "static", 50),
            "kb_over_stock_static_p95": _ratio(samples, "kb", "stock_static", 95),
            "static_over_stock_static_p95": _ratio(samples, "static", "stock_static", 95),
            "replies_with_source": with_source, "errors": errors}, samples


def measure_eval(bot: Bot) -> dict:
    from evaluation.runner import run, summarise

    summary = summarise(run(bot.rest_url))
    return {k: summary[k] for k in ("passed", "total", "pass_rate", "categories")}


def measure_baseline() -> dict:
    from bench.baseline import run_baseline

    summary = run_baseline()
    return {k: summary[k] for k in ("passed", "total", "pass_rate", "categories")}


async def measure_load(rest_url: str, settings: Settings, label: str, sampler: procs.Sampler,
                       pids: dict[str, list[int]] | None = None) -> tuple[list[dict], dict[str, list[float]]]:
    """Closed-loop levels, then the paced level at 20 conversations; with ``pids``, the CPU milliseconds
    per message of each kind of process (over every message of the level, warm-up included)."""
    scripts = conversation_scripts()
    summaries, raw = [], {}
    levels = [(level, None) for level in settings.levels] + [(20, settings.rate)]
    for level, rate in levels:
        sampler.phase = f"load {label} " + (f"c={level}" if rate is None else "paced")
        logger.info("load %s: %d conversations for %.0f s%s", label, level, settings.load_seconds,
                    f", paced at {rate:.0f} msg/s" if rate else "")
        sent, before = Counter.sent, cpu_by_kind(pids or {})
        result = await run_level(rest_url, level, settings.load_seconds, scripts, rate=rate)
        summary = result.summary()
        summary["cpu_ms_per_message"] = cpu_ms_per_message(before, cpu_by_kind(pids or {}), Counter.sent - sent)
        summary["load_average"] = procs.load_average()[0]
        summaries.append(summary)
        raw["paced-20" if rate else f"closed-{level}"] = result.latencies_ms
        if rate is None:
            await asyncio.sleep(2)
    return summaries, raw


def _level(summaries: list[dict], mode: str, conversations: int) -> dict:
    return next((s for s in summaries if s["mode"] == mode and s["conversations"] == conversations), {})


def judge(results: dict) -> dict:
    """Each target with its value and whether it is met (None when not measured)."""
    out = {}
    for key, (op, limit, what) in TARGETS.items():
        value = results.get(key)
        met = None
        if value is not None:
            met = {"<": value < limit, "<=": value <= limit, ">=": value >= limit}[op]
        out[key] = {"what": what, "target": f"{op} {limit:g}", "value": value, "met": met}
    paced = results.get("details", {}).get("load", {}).get("single", [])
    paced20 = _level(paced, "paced", 20)
    if paced20 and out["p95_ms_at_20"]["met"] is not None:
        # why: a paced level that could not keep up has a low p95 only because fewer messages were sent.
        kept_up = paced20["throughput_msg_s"] >= 0.95 * (paced20["offered_rate_msg_s"] or 0)
        out["p95_ms_at_20"]["met"] = out["p95_ms_at_20"]["met"] and kept_up
        out["p95_ms_at_20"]["achieved_msg_s"] = paced20["throughput_msg_s"]
    return out


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ------------------------------------------------------------------------------------------ the run


def run(settings: Settings) -> dict:  # noqa: C901 - one straight sequence of phases
    """Every phase in order; returns ``results`` (also written to ``settings.results``) and writes the report."""
    settings.out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now().astimezone()
    machine = procs.machine()
    sampler = procs.Sampler(messages=lambda: Counter.sent).start()
    details: dict = {}
    raw: dict = {}
    results: dict = {}
    try:
        if settings.skip_train:
            details["train"] = {"skipped": True}
        else:
            sampler.phase = "train"
            logger.info("training from scratch (BENCH_SKIP_TRAIN=1 skips this) ...")
            details["train"] = measure_training(settings.out)
        sampler.phase = "crossval"
        cv = crossval.cached()
        if cv is None and not settings.skip_crossval:
            logger.info("5-fold cross-validation (five NLU trainings; BENCH_SKIP_CROSSVAL=1 skips it) ...")
            cv = crossval.run_crossval(log=settings.out / "logs" / "crossval.log")
        details["crossval"] = cv or {"skipped": True}
        sampler.phase = "kb"
        logger.info("knowledge-base benchmark ...")
        details["kb"] = measure_script(["bench/kb_search.py"])
        sampler.phase = "baseline"
        details["baseline"] = measure_baseline()

        sampler.phase = "bot start"
        with bot_under_test(settings) as bot:
            sampler.rasa_pid, sampler.action_pid = bot.rasa_pid, bot.action_pid
            details["bot"] = {"origin": bot.origin, "url": bot.base_url, "model": Path(bot.model).name
                              if bot.model else None, "speedups": settings.speedups and bot.origin == "started"}
            sampler.phase = "warm-up"
            logger.info("warming up %s ...", bot.base_url)
            asyncio.run(warm_up(bot))
            sent_at_warm = Counter.sent
            memory = {"warm": {"rasa_mb": procs.rss_mb(bot.rasa_pid) if bot.rasa_pid else None,
                               "actions_mb": procs.rss_mb(bot.action_pid) if bot.action_pid else None}}
            sampler.phase = "nlu"
            logger.info("NLU parse latency ...")
            details["nlu"], raw["nlu"] = asyncio.run(measure_nlu(bot, eval_texts()))
            sampler.phase = "static-vs-kb"
            with stock_rasa(settings, bot) as stock:
                logger.info("static vs knowledge-base replies%s (%d rounds) ...",
                            " vs stock Rasa's static reply" if stock else "", settings.pairs)
                details["replies"], raw["replies"] = asyncio.run(measure_static_vs_kb(bot, settings.pairs, stock))
            sampler.phase = "eval"
            logger.info("evaluation set over REST ...")
            details["eval"] = measure_eval(bot)
            load: dict = {}
            load["single"], raw["load_single"] = asyncio.run(
                measure_load(bot.rest_url, settings, "single", sampler, bot.cpu_pids))
            details["load"] = load
            sampler.phase = "wechat"
            logger.info("WeChat path ...")
            details["wechat"] = measure_script(["bench/wechat_latency.py", "--url",
                                                f"{bot.base_url}/webhooks/wechat/webhook"])
            remaining = settings.messages - (Counter.sent - sent_at_warm)
            sampler.phase = "messages"
            if remaining > 0:
                logger.info("sending %d more messages (%d since warm-up) for the memory check ...", remaining,
                            settings.messages)
                asyncio.run(run_level(bot.rest_url, 20, 24 * 3600, conversation_scripts(), warmup=0,
                                      max_messages=remaining))
            memory["after"] = {"messages": Counter.sent - sent_at_warm,
                               "rasa_mb": procs.rss_mb(bot.rasa_pid) if bot.rasa_pid else None,
                               "actions_mb": procs.rss_mb(bot.action_pid) if bot.action_pid else None}
            details["memory"] = memory
            sampler.phase = "stop"
        # why: after the single bot has stopped, so the two layouts never compete for the cores.
        sampler.phase = "cluster start"
        with cluster_under_test(settings, bot.model) as (url, pids, note):
            details["multi"] = {"note": note, "processes": len(pids.get("rasa", [])) or None}
            if url and _answers(f"{url}/"):
                sampler.rasa_pid = sampler.action_pid = None
                sampler.extra_pids = tuple(pid for group in pids.values() for pid in group)
                logger.info("warming up %s ...", note)
                asyncio.run(warm_up(Bot(url, None, None, None, "started")))
                load["cluster"], raw["load_cluster"] = asyncio.run(
                    measure_load(f"{url}/webhooks/rest/webhook", settings, "cluster", sampler, pids))
            elif url:
                load["cluster"] = {"error": f"{url} does not answer"}
            else:
                logger.warning("multi-process load skipped: %s", note)
            sampler.phase = "cluster stop"
        sampler.extra_pids = ()
    finally:
        sampler.stop()

    single = details.get("load", {}).get("single", [])
    multi = details.get("load", {}).get("cluster", [])
    multi = multi if isinstance(multi, list) else []
    closed20, paced20 = _level(single, "closed", 20), _level(single, "paced", 20)
    memory = details.get("memory", {})
    replies = details.get("replies", {})
    results = {
        "nlu_p50_ms": details.get("nlu", {}).get("p50_ms"),
        "nlu_p95_ms": details.get("nlu", {}).get("p95_ms"),
        "static_p50_ms": replies.get("static", {}).get("p50_ms"),
        "static_p95_ms": replies.get("static", {}).get("p95_ms"),
        "kb_p50_ms": replies.get("kb", {}).get("p50_ms"),
        "kb_p95_ms": replies.get("kb", {}).get("p95_ms"),
        "kb_over_static_p95": replies.get("kb_over_static_p95"),
        "stock_static_p95_ms": replies.get("stock_static", {}).get("p95_ms"),
        "kb_over_stock_static_p95": replies.get("kb_over_stock_static_p95"),
        "cpu_ms_static": replies.get("static", {}).get("cpu_ms_per_message"),
        "cpu_ms_kb": replies.get("kb", {}).get("cpu_ms_per_message"),
        "cpu_ms_stock_static": replies.get("stock_static", {}).get("cpu_ms_per_message"),
        "cpu_ms_rasa_at_20": closed20.get("cpu_ms_per_message", {}).get("rasa"),
        "cpu_ms_actions_at_20": closed20.get("cpu_ms_per_message", {}).get("actions"),
        "multi_processes": details.get("multi", {}).get("processes"),
        "throughput_msg_s_multi": _level(multi, "closed", 20).get("throughput_msg_s"),
        "p95_ms_at_20_multi": _level(multi, "paced", 20).get("p95_ms"),
        "max_throughput_msg_s_multi": max((s["throughput_msg_s"] for s in multi if s["mode"] == "closed"),
                                          default=None),
        "throughput_msg_s": closed20.get("throughput_msg_s"),
        "p95_ms_at_20": paced20.get("p95_ms"),
        "p95_ms_at_20_closed": closed20.get("p95_ms"),
        "max_throughput_msg_s": max((s["throughput_msg_s"] for s in single if s["mode"] == "closed"), default=None),
        "train_s": details.get("train", {}).get("train_s"),
        "rss_mb_rasa": memory.get("after", {}).get("rasa_mb"),
        "rss_mb_actions": memory.get("after", {}).get("actions_mb"),
        "rss_mb_rasa_warm": memory.get("warm", {}).get("rasa_mb"),
        "rss_mb_actions_warm": memory.get("warm", {}).get("actions_mb"),
        "eval_pass_rate": details.get("eval", {}).get("pass_rate"),
        "baseline_pass_rate": details.get("baseline", {}).get("pass_rate"),
        "intent_macro_f1": details.get("crossval", {}).get("intent_macro_f1"),
        "kb_search_p95_ms": details.get("kb", {}).get("search_ms", {}).get("p95"),
        "kb_build_s": details.get("kb", {}).get("build_s"),
        "wechat_p95_ms": details.get("wechat", {}).get("p95_ms"),
    }
    results["targets"] = judge({**results, "details": details})
    results["machine"] = {**machine, "load_average_at_end": procs.load_average()}
    results["phases"] = sampler.phases()
    results["run"] = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "settings": {"levels": settings.levels, "load_seconds": settings.load_seconds, "pairs": settings.pairs,
                     "messages": settings.messages, "rate": settings.rate, "skip_train": settings.skip_train,
                     "speedups": settings.speedups, "stock_baseline": settings.stock_baseline,
                     "processes": settings.processes},
    }
    results["details"] = details
    settings.results.parent.mkdir(parents=True, exist_ok=True)
    settings.results.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    raw["ticks"] = [tick.__dict__ for tick in sampler.ticks]
    (settings.out / "raw.json").write_text(json.dumps(raw), encoding="utf-8")
    report = write_report(results, raw, settings.out)
    logger.info("wrote %s and %s", settings.results.relative_to(ROOT) if settings.results.is_relative_to(ROOT)
                else settings.results, report)
    return results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    settings = parse_settings(argv)
    results = run(settings)
    for key, target in results["targets"].items():
        mark = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        logger.info("%-20s %-10s %-8s %s", key, target["value"], target["target"], mark)
    return 0


if __name__ == "__main__":
    sys.exit(main())
