"""The benchmark's arithmetic and its side-by-side table (no bot needed)."""

from __future__ import annotations

import pytest

from bench.report import side_by_side
from bench.run import cpu_ms_per_message


@pytest.mark.parametrize(("before", "after", "messages", "expected"), [
    ({"rasa": 1.0, "actions": 0.5}, {"rasa": 3.5, "actions": 0.6}, 100, {"rasa": 25.0, "actions": 1.0}),
    ({"rasa": 1.0}, {"rasa": 1.0}, 10, {"rasa": 0.0}),
    ({"rasa": 1.0}, {"rasa": 2.0}, 0, {}),  # no message: no figure, not a division by zero
])
def test_cpu_ms_per_message(before, after, messages, expected):
    assert cpu_ms_per_message(before, after, messages) == expected


def _level(mode, conversations, msg_s, p95, rasa):
    return {"mode": mode, "conversations": conversations, "throughput_msg_s": msg_s, "p95_ms": p95,
            "cpu_ms_per_message": {"rasa": rasa, "actions": 2.0}, "load_average": 1.5}


def test_side_by_side_pairs_each_level_of_one_process_with_several():
    load = {"single": [_level("closed", 20, 29.0, 800.0, 24.0), _level("paced", 20, 29.5, 250.0, 23.0)],
            "cluster": [_level("closed", 20, 55.0, 400.0, 26.0)]}
    text = "\n".join(side_by_side(load, {"note": "2 Rasa processes"}))
    assert "| closed 20 | 29.0 | 55.0 | 800.0 | 400.0 | 24.0 + 2.0 | 26.0 + 2.0 | 1.5 | 1.5 |" in text
    assert "| paced 20 | 29.5 | – | 250.0 | – | 23.0 + 2.0 | – | 1.5 | – |" in text  # not measured with several
    assert "Several: 2 Rasa processes" in text


def test_side_by_side_says_why_several_were_not_measured():
    load = {"single": [_level("closed", 1, 10.0, 90.0, 20.0)], "cluster": {"error": "nobody answers"}}
    assert "not measured" in "\n".join(side_by_side(load, {}))
    assert side_by_side({}, {}) == []
