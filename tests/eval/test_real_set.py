"""Checks on the real-question set (tests/eval/real/questions.yml) and its scorer. Fast: no bot, no
knowledge base build; the source texts are read as files."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from evaluation import real_score
from evaluation.real_score import score

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = real_score.load_questions()
KINDS = {"figure", "what", "whether", "howto", "amount", "eligibility", "where", "when", "compare", "verify", "other"}
EXPECTS = {"fact", "statement", "gap", "not_covered", "out_of_domain"}
SOURCE_KINDS = {"search_phrase", "forum", "gov_board", "faq", "qa_site"}
RUBRIC_KEYS = {"expect", "must_contain", "must_contain_any", "must_not_contain", "max_numbers"}
_FIGURE = re.compile(r"^\d+(?:\.\d+)?%?$")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


SOURCES = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "knowledge" / "sources").glob("*.txt"))]
SOURCE_TEXT = "".join(_squash(text) for text in SOURCES)
# why: a required figure must be a number of the sources, not a digit run inside one ("25" in "2025").
SOURCE_NUMBERS = set().union(*(real_score.numbers(text) for text in SOURCES))


# ---- the data file


def test_enough_questions_and_both_splits_big():
    assert len(ENTRIES) >= 200
    splits = Counter(e["split"] for e in ENTRIES)
    assert splits["test"] >= 60 and splits["dev"] >= 60, splits


def test_ids_and_texts_unique():
    assert len({e["id"] for e in ENTRIES}) == len(ENTRIES)
    assert len({e["text"] for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_entry_shape(entry):
    assert re.fullmatch(r"rq-\d{3}", entry["id"])
    assert entry["text"].strip() == entry["text"] and entry["text"]
    assert entry["source"]["url"].startswith(("http://", "https://"))
    assert entry["source"]["kind"] in SOURCE_KINDS
    assert entry["source"]["collected_on"]
    assert entry["kind"] in KINDS
    assert entry["region"]
    assert set(entry["rubric"]) <= RUBRIC_KEYS
    assert entry["rubric"]["expect"] in EXPECTS
    assert entry["note"]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_split_follows_the_hash_rule(entry):
    digit = int(hashlib.sha256(entry["text"].encode("utf-8")).hexdigest()[0], 16)
    assert entry["split"] == ("test" if digit < 6 else "dev")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_required_figures_occur_in_the_sources(entry):
    rubric = entry["rubric"]
    needles = list(rubric.get("must_contain") or []) + [n for g in rubric.get("must_contain_any") or [] for n in g]
    for needle in needles:
        if _FIGURE.match(str(needle)):
            number = real_score._normalise_number(str(needle).rstrip("%"))
            assert number in SOURCE_NUMBERS, f"{entry['id']} requires {needle!r}, no such number in the sources"


REPLY_PHRASES = {
    "现有资料没有",
    "可以通过",
    "来源：《",
    "现有资料没有覆盖",
    "不能帮助",
    "未说明地区，以下按深圳回答",
    "不属于人社",
    "超出了我的服务范围",
}


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e["rubric"]["expect"] in {"fact", "statement"}], ids=lambda e: e["id"]
)
def test_answer_wording_comes_from_the_sources(entry):
    """A fact or statement rubric may only require words the sources themselves use."""
    rubric = entry["rubric"]
    needles = list(rubric.get("must_contain") or []) + [n for g in rubric.get("must_contain_any") or [] for n in g]
    for needle in needles:
        if needle not in REPLY_PHRASES:
            assert _squash(str(needle)) in SOURCE_TEXT, f"{entry['id']} requires {needle!r}, not in any source"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_honest_rubrics(entry):
    rubric = entry["rubric"]
    if rubric["expect"] in {"gap", "not_covered"}:
        assert "现有资料没有" in "".join(rubric.get("must_contain") or []), entry["id"]
        assert rubric.get("max_numbers", 99) <= 1, entry["id"]
    if entry["region"] != "none":
        assert "未说明地区，以下按深圳回答" in (rubric.get("must_not_contain") or []), entry["id"]


def test_no_question_is_in_the_training_data():
    nlu = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "nlu").glob("*.yml")))
    copied = [e["id"] for e in ENTRIES if e["text"] in nlu]
    assert not copied, f"real questions copied into data/nlu: {copied}"


# ---- the scorer

GAP = {
    "id": "t-gap",
    "text": "深圳交的失业金如何才能领取",
    "rubric": {
        "expect": "gap",
        "must_contain": ["现有资料没有", "可以通过"],
        "max_numbers": 1,
        "must_not_contain": ["未说明地区，以下按深圳回答"],
    },
}
FACT = {
    "id": "t-fact",
    "text": "2021年办理入户深圳需要多久",
    "rubric": {"expect": "fact", "must_contain": ["24", "来源：《"], "must_contain_any": [["最快"]]},
}
OOD = {
    "id": "t-ood",
    "text": "公积金网上提取要几天到账",
    "rubric": {"expect": "out_of_domain", "must_contain_any": [["不属于人社", "超出了我的服务范围"]], "max_numbers": 0},
}
NC = {"id": "t-nc", "text": "生育津贴多久内领取有效", "rubric": {"expect": "not_covered", "must_contain": []}}
KNOWN = frozenset({"24", "113", "2024", "2200", "98"})
GAP_OK = "现有资料没有提供失业金的领取条件。可以通过社保服务网点咨询。\n来源：《深圳人社2024年十件大事》，2024年"

CASES = [
    # (name, entry, reply, passes, reason fragment)
    ("gap ok", GAP, GAP_OK, True, ""),
    ("gap without channel", GAP, "现有资料没有提供失业金的领取条件。", False, "missing '可以通过'"),
    ("gap claiming an answer", GAP, "失业金可以通过网点领取，每月2200元。", False, "现有资料没有"),
    (
        "gap: too many numbers",
        GAP,
        "现有资料没有提供。可以通过113个社保服务网点、98%网办办理。",
        False,
        "numbers stated",
    ),
    ("gap: one number is fine", GAP, "现有资料没有提供。可以通过全市113个社保服务网点咨询。", True, ""),
    ("source line numbers not counted", GAP, GAP_OK + "\n来源：《深圳人社2024年十件大事》，2200", True, ""),
    ("default-region line for a named place", GAP, "未说明地区，以下按深圳回答：" + GAP_OK, False, "must not contain"),
    ("fact ok", FACT, "最快24分钟可以入户深圳。\n来源：《深圳人社2024年十件大事》，2024年", True, ""),
    (
        "fact missing figure",
        FACT,
        "最快当天可以入户。\n来源：《深圳人社2024年十件大事》，2024年",
        False,
        "missing '24'",
    ),
    ("fact without any-of", FACT, "24分钟入户。\n来源：《深圳人社2024年十件大事》，2024年", False, "none of"),
    ("fact without source", FACT, "最快24分钟。", False, "missing '来源：《'"),
    (
        "question numbers may be echoed",
        FACT,
        "2021年的情况：最快24分钟。\n来源：《深圳人社2024年十件大事》，2024年",
        True,
        "",
    ),
    (
        "invented number",
        FACT,
        "最快24分钟，一般15个工作日。\n来源：《深圳人社2024年十件大事》，2024年",
        False,
        "invented numbers: ['15']",
    ),
    (
        "invented number in the source line",
        FACT,
        "最快24分钟。\n来源：《深圳人社2031年十件大事》",
        False,
        "invented numbers: ['2031']",
    ),
    ("ood ok", OOD, "住房公积金不属于人社业务，请向公积金中心咨询。", True, ""),
    ("ood answered with a number", OOD, "不属于人社业务，一般3个工作日到账。", False, "numbers stated"),
    ("ood answered", OOD, "公积金提取一般很快到账。", False, "none of"),
    ("not_covered needs the gap phrase", NC, "生育津贴一般在产后申请。", False, "现有资料没有"),
    ("not_covered ok", NC, "现有资料没有生育保险的内容。", True, ""),
    ("injection guard misfire", NC, "现有资料没有。我不会改变规则。", False, "guard misfire"),
    ("fraud guard misfire", NC, "现有资料没有。我不能帮助编造材料。", False, "guard misfire"),
    ("enumeration is layout", NC, "现有资料没有：\n1. 生育津贴\n2. 产假", True, ""),
    ("decimals normalised", FACT, "最快24.0分钟。\n来源：《深圳人社2024年十件大事》", True, ""),
]


@pytest.mark.parametrize("name,entry,reply,passes,fragment", CASES, ids=[c[0] for c in CASES])
def test_score(name, entry, reply, passes, fragment):
    result = score(entry, reply, KNOWN)
    assert result.passed is passes, result.reasons
    if fragment:
        assert any(fragment in r for r in result.reasons), result.reasons
    else:
        assert result.reasons == []


def test_summary_counts_rates_service_and_misfires():
    rows = [
        {"split": "dev", "kind": "howto", "expect": "gap", "passed": True, "reasons": []},
        {"split": "dev", "kind": "figure", "expect": "fact", "passed": False, "reasons": ["invented numbers: ['7']"]},
        {
            "split": "test",
            "kind": "when",
            "expect": "gap",
            "passed": False,
            "reasons": ["guard misfire: '不会改变规则'"],
        },
    ]
    summary = real_score.summarise(rows)
    assert summary["all"] == {"passed": 1, "total": 3, "rate": 1 / 3}
    assert summary["by_split"]["dev"]["total"] == 2 and summary["by_split"]["test"]["passed"] == 0
    assert summary["by_expect"]["gap"] == {"passed": 1, "total": 2, "rate": 0.5}
    assert summary["service"] == {"passed": 1, "total": 2, "rate": 0.5}
    assert summary["guard_misfires"] == 1 and summary["invented_numbers"] == 1


@pytest.mark.parametrize(
    "split,reporting,allowed",
    [("dev", False, True), ("test", False, False), ("all", False, False), ("test", True, True), ("all", True, True)],
)
def test_failures_of_the_test_split_stay_hidden(split, reporting, allowed):
    assert real_score.may_show_failures(split, reporting) is allowed


def test_cli_refuses_test_failures_without_reporting(monkeypatch, capsys, tmp_path):
    """The CLI end to end with a fake bot: test-split failures are not printed nor written."""
    monkeypatch.setattr(real_score, "known_numbers_from_kb", lambda: frozenset())
    monkeypatch.setattr(real_score, "rest_sender", lambda url: lambda sender, text: [{"text": "好的"}])
    out = tmp_path / "out.json"
    real_score.main(["--split", "test", "--show-failures", "--json", str(out)])
    captured = capsys.readouterr()
    assert "FAIL" not in captured.out and "refused" in captured.err
    assert "rows" not in out.read_text(encoding="utf-8")
    real_score.main(["--split", "dev", "--show-failures"])
    assert "FAIL" in capsys.readouterr().out


def test_the_second_collection_is_held_out_whole_and_sourced():
    second = yaml.safe_load((Path(__file__).parent / "real" / "second_collection.yml").read_text(encoding="utf-8"))
    first = {e["text"] for e in yaml.safe_load((Path(__file__).parent / "real" / "questions.yml").read_text("utf-8"))}
    assert len(second) >= 100
    assert all(e["split"] == "test" and e["source"]["url"] for e in second)
    assert not first & {e["text"] for e in second}
    assert len({e["id"] for e in second}) == len(second)
