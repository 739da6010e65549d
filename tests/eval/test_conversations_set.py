"""Checks on the multi-turn conversations tests/eval/conversations.yml: their shape, the patterns of issue 15
they cover, and that every figure they expect is verbatim in a source document. Whether the bot passes them
is checked through the real bot (tests/e2e/test_conversations.py, make eval)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from evaluation.runner import EMERGENCY_NUMBERS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONVERSATIONS = yaml.safe_load((HERE / "conversations.yml").read_text(encoding="utf-8"))
# why: whitespace kept: table rows ("万人 1900 2300") would otherwise run their numbers together.
SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "knowledge" / "sources").glob("*.txt"))
CATEGORIES = {"fragment", "region", "period", "option", "verify", "command", "distress", "pii", "clarify", "mixed"}
# why: each pattern of the issue needs enough conversations that one lucky pass does not hide a failure.
MIN_PER_CATEGORY = 3
KEYS = ("must_contain", "must_not_contain", "must_contain_any")


def test_size_shape_and_patterns():
    assert len(CONVERSATIONS) >= 60
    ids = [c["id"] for c in CONVERSATIONS]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    counts = Counter(c["category"] for c in CONVERSATIONS)
    assert set(counts) == CATEGORIES, set(counts) ^ CATEGORIES
    assert min(counts.values()) >= MIN_PER_CATEGORY, counts
    for conversation in CONVERSATIONS:
        assert set(conversation) == {"id", "category", "turns"}, conversation["id"]
        assert 3 <= len(conversation["turns"]) <= 6, conversation["id"]
        for turn in conversation["turns"]:
            assert set(turn) <= {"text", *KEYS}, conversation["id"]
            assert isinstance(turn["text"], str) and turn["text"].strip(), conversation["id"]
            assert any(turn.get(k) for k in KEYS), f"{conversation['id']}: a turn without expectations"
            assert all(isinstance(s, str) and s for k in KEYS for s in turn.get(k, [])), conversation["id"]


def _in_sources(number: str) -> bool:
    # why: "2.49" must not be found inside "12.49" or "2.495"; tables give units in headers, so the bare
    # number is what must be in the document.
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", SOURCES) is not None


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda c: c["id"])
def test_expected_figures_are_in_a_source(conversation):
    missing = []
    for turn in conversation["turns"]:
        for needle in turn.get("must_contain", []) + turn.get("must_contain_any", []):
            for number in re.findall(r"\d+(?:\.\d+)?", needle):
                if number not in EMERGENCY_NUMBERS and not _in_sources(number):
                    missing.append((needle, number))
    assert not missing, missing


def test_the_figure_check_can_fail():
    assert _in_sources("20.7") and _in_sources("2287.95")
    assert not _in_sources("2.4") and not _in_sources("999999")


def test_the_patterns_of_the_issue_are_written_down():
    texts = [t["text"] for c in CONVERSATIONS for t in c["turns"]]
    for pattern in ("之前呢", "目标定的多少", "那2024年呢", "去年呢", "第三个", "最后一个", "第四件", "/ask_pension",
                    "不想活", "跳楼", "杀了他", "征求意见稿里不是写的96%吗"):
        assert any(pattern in t for t in texts), pattern


def test_the_runner_scores_turns_and_conversations(tmp_path, monkeypatch):
    """make eval's scoring on canned replies: one conversation passes, one fails a turn, one invents a number."""
    from evaluation import runner

    cases = [
        {"id": "ok", "category": "x", "turns": [{"text": "a", "must_contain": ["20.7万人"]}] * 3},
        {"id": "bad", "category": "x", "turns": [{"text": "a", "must_contain": ["20.7万人"]},
                                                 {"text": "b", "must_not_contain": ["再见"]}]},
    ]
    replies = {"a": "城镇新增就业20.7万人", "b": "再见！还有31415个"}
    results = [runner.run_case(case, lambda sender, text: [{"text": replies[text]}]) for case in cases]
    summary = runner.summarise(results)
    assert (summary["passed"], summary["total"], summary["turns_passed"], summary["turns_total"]) == (1, 2, 4, 5)
    assert runner.invented_numbers(results, frozenset({"20.7"})) == {"bad": ["31415"]}
