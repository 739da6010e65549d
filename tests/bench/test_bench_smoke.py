"""Smoke test of the benchmark tooling against the real bot: it runs and writes its report.

No timing assertions: figures on a shared CI machine mean nothing; `make bench` is where they count.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

import pytest

from bench import procs
from bench.baseline import run_baseline
from bench.load import conversation_scripts, percentile, run_level
from bench.report import write_report
from evaluation.runner import load_questions

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1.0], 95, 1.0), ([3.0, 1.0, 2.0], 50, 2.0), (list(map(float, range(1, 101))), 95, 95.0),
     (list(map(float, range(1, 101))), 99, 99.0)],
)
def test_percentile_is_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_load_client_and_report(running_bot, tmp_path):
    scripts = conversation_scripts()
    closed = asyncio.run(run_level(running_bot.rest_url, 2, 3.0, scripts, warmup=0.5))
    paced = asyncio.run(run_level(running_bot.rest_url, 2, 3.0, scripts, warmup=0.5, rate=2.0))
    for level in (closed, paced):
        assert level.messages > 0
        assert level.errors == 0, level.error_kinds
        assert level.p95_ms is not None and level.p95_ms >= level.p50_ms
    assert paced.mode == "paced" and paced.offered_rate_msg_s == 2.0

    rasa_pid = procs.pid_listening(urlparse(running_bot.rasa_url).port)
    assert rasa_pid is not None and (procs.rss_mb(rasa_pid) or 0) > 0

    baseline = run_baseline(load_questions()[:5])
    assert baseline["total"] == 5 and 0.0 <= baseline["pass_rate"] <= 1.0

    results = {
        "nlu_p95_ms": 1.0, "static_p95_ms": 2.0, "kb_p95_ms": 2.2, "kb_over_static_p95": 1.1,
        "throughput_msg_s": closed.throughput_msg_s, "p95_ms_at_20": paced.p95_ms,
        "targets": {"nlu_p95_ms": {"what": "NLU parse p95 ms", "target": "< 40", "value": 1.0, "met": True}},
        "machine": procs.machine(),
        "details": {"load": {"single": [closed.summary(), paced.summary()]},
                    "baseline": baseline, "eval": baseline},
    }
    raw = {"load_single": {"closed-2": closed.latencies_ms}, "ticks": []}
    report = write_report(json.loads(json.dumps(results)), raw, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "## Load" in text and "## Machine" in text
    assert (tmp_path / "load.png").stat().st_size > 0
    assert (tmp_path / "accuracy.png").stat().st_size > 0
