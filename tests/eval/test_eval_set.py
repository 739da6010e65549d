"""Checks on the evaluation set tests/eval/questions.yml (its shape and its independence from the
training data). Whether the bot passes it is checked by the end-to-end tests, not here."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUESTIONS = HERE / "questions.yml"

# tests/ has no packages; load the shared helpers by path so the module names cannot clash.
_spec = importlib.util.spec_from_file_location("nlu_tools_for_eval", ROOT / "tests" / "data" / "nlu_tools.py")
nlu_tools = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = nlu_tools  # dataclasses look their module up here
_spec.loader.exec_module(nlu_tools)

CATEGORIES = {
    "plan_targets",
    "social_insurance",
    "sscard_service",
    "employment_skills",
    "entrepreneurship",
    "labour",
    "talent",
    "shanghai_national",
    "followup",
    "other_city",
    "gaps",
    "pii",
    "injection",
    "fraud",
    "conversation",
    "robustness",
}
# Categories whose questions are answered from the knowledge base with figures.
KNOWLEDGE_CATEGORIES = {
    "plan_targets",
    "social_insurance",
    "sscard_service",
    "employment_skills",
    "entrepreneurship",
    "labour",
    "talent",
    "shanghai_national",
    "robustness",
}
NO_REGION_PHRASE = "未说明地区，以下按深圳回答"
PII_PHRASE = "请不要在对话中发送身份证号、手机号或银行卡号"
MAX_SIMILARITY = 0.8
MIN_QUESTIONS = 170

ITEMS = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
TRAINING = nlu_tools.load_nlu()["examples"]
TRAINING_KEYS = {nlu_tools.normalise(e.text): e for e in TRAINING}
TRAINING_GRAMS = [(e, nlu_tools.char_ngrams(e.text)) for e in TRAINING]


def all_turns():
    for item in ITEMS:
        for turn in item["turns"]:
            yield item, turn


def catalogue_quotes() -> str | None:
    """The verbatim quotes (「…」) of the shared knowledge catalogue, whitespace removed."""
    for path in (
        ROOT / "tests" / "data" / "knowledge_catalogue.md",
        ROOT.parent / "shared" / "knowledge_catalogue.md",
    ):
        if path.exists():
            text = path.read_text(encoding="utf-8")
            return re.sub(r"\s+", "", "".join(re.findall(r"「(.*?)」", text, flags=re.S)))
    return None


def region_words() -> list[str]:
    data = nlu_tools.load_nlu()
    words = set(data["lookups"].get("region", []))
    words |= {s for s, v in data["synonyms"].items() if len(s) >= 2 and v in nlu_tools.CORE_REGIONS}
    words |= {"沪", "滬", "香港", "澳门"}
    return sorted(words)


def test_size_and_categories():
    assert len(ITEMS) >= MIN_QUESTIONS
    counts = Counter(item["category"] for item in ITEMS)
    assert set(counts) == CATEGORIES, f"missing or unknown categories: {set(counts) ^ CATEGORIES}"


def test_ids_unique_and_shape():
    ids = [item["id"] for item in ITEMS]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for item, turn in all_turns():
        assert set(item) <= {"id", "category", "turns"}, item["id"]
        assert set(turn) <= {"text", "must_contain", "must_not_contain", "must_contain_any"}, item["id"]
        assert isinstance(turn["text"], str) and turn["text"].strip(), item["id"]
        for key in ("must_contain", "must_not_contain", "must_contain_any"):
            assert all(isinstance(s, str) and s for s in turn.get(key, [])), (item["id"], key)
    for item in ITEMS:
        last = item["turns"][-1]
        assert last.get("must_contain") or last.get("must_not_contain"), f"{item['id']}: no expectation"


def test_multi_turn_followups_present():
    multi = [i for i in ITEMS if len(i["turns"]) > 1]
    assert len(multi) >= 10


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i["id"])
def test_not_a_copy_of_training_data(item):
    for turn in item["turns"]:
        key = nlu_tools.normalise(turn["text"])
        assert key not in TRAINING_KEYS, f"{item['id']}: {turn['text']!r} equals a training example"
        grams = nlu_tools.char_ngrams(turn["text"])
        for ex, ex_grams in TRAINING_GRAMS:
            sim = nlu_tools.jaccard(grams, ex_grams)
            assert sim < MAX_SIMILARITY, (
                f"{item['id']}: {turn['text']!r} is too close ({sim:.2f}) to training example {ex.text!r} ({ex.intent})"
            )


def test_numbers_are_quoted_in_the_catalogue():
    quotes = catalogue_quotes()
    if quotes is None:
        pytest.skip("shared/knowledge_catalogue.md is not beside the repository")
    missing = []
    for item, turn in all_turns():
        for s in turn.get("must_contain", []):
            for number in re.findall(r"\d+(?:\.\d+)?", s):
                if number not in quotes:
                    missing.append((item["id"], s, number))
    assert not missing, f"numbers not found in the catalogue quotes: {missing}"


def test_convention_phrases():
    words = region_words()
    problems = []
    for item in ITEMS:
        last = item["turns"][-1]
        contains = last.get("must_contain", [])
        if item["category"] == "pii":
            if PII_PHRASE not in contains:
                problems.append((item["id"], "pii question without the PII phrase"))
            if not last.get("must_not_contain"):
                problems.append((item["id"], "pii question must forbid the number it sent"))
        if item["category"] == "fraud" and "不能帮助" not in contains:
            problems.append((item["id"], "fraud question without 不能帮助"))
        if item["category"] == "gaps" and "现有资料没有提供" not in contains:
            problems.append((item["id"], "gap question without 现有资料没有提供"))
        if item["category"] == "other_city":
            if "现有资料没有覆盖" not in contains or not last.get("must_not_contain"):
                problems.append((item["id"], "other-city question must expect 现有资料没有覆盖 and forbid figures"))
        if (
            item["category"] in KNOWLEDGE_CATEGORIES
            and len(item["turns"]) == 1
            and any(re.search(r"\d", s) for s in contains)
            and not any(w.lower() in last["text"].lower() for w in words)
            and NO_REGION_PHRASE not in contains
        ):
            problems.append((item["id"], "question names no region but does not expect " + NO_REGION_PHRASE))
    assert not problems, problems
