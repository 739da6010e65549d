"""Verification: every tampering of the content makes check/build fail with a precise message."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.build import BuildError, build, compile_kb, latest_build
from knowledge.db import get_engine
from knowledge.settings import Settings

from .helpers import FIXTURE_CONTENT


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_fixture_content_is_clean():
    kb = compile_kb(FIXTURE_CONTENT)
    assert kb.problems == []
    assert {f.id for f in kb.facts if f.origin == "curated"} >= {"SZ24-16", "SZF-07", "SZD-T2-04"}


@pytest.mark.parametrize(
    "rel, old, new, expected",
    [
        # a tampered quote (one digit changed)
        (
            "facts/fixture.yml",
            "quote: 全市拥有社保服务网点113个",
            "quote: 全市拥有社保服务网点118个",
            "facts/fixture.yml fact SZ24-16: quote not found in document 003",
        ),
        # a value that is not in its quote
        (
            "facts/fixture.yml",
            'value: "3500"',
            'value: "3600"',
            "facts/fixture.yml fact SZ24-18: value '3600' has 3600 which is not in its quote",
        ),
        # a display digit that is not in the quote
        (
            "facts/fixture.yml",
            "display: 五年累计60万人以上",
            "display: 五年累计65万人以上",
            "facts/fixture.yml fact SZF-02: display '五年累计65万人以上' has 65 which is not in its quote",
        ),
        # a summary text with a number its quote does not have
        (
            "topics/service_points.yml",
            "全市有社保服务网点113个。",
            "全市有社保服务网点114个。",
            "topics/service_points.yml topic service_points summary[0]: text has 114",
        ),
        # a summary quote that is not in the document
        (
            "topics/social_security_card.yml",
            "quote: 全市社保卡持卡超2287.95万人",
            "quote: 全市社保卡持卡超2287.96万人",
            "topic social_security_card summary[0]: quote not found in document 003",
        ),
        # a channel quote that is not in the document
        (
            "channels.yml",
            "quote: 电子社保卡签发超1822.38万人",
            "quote: 电子社保卡签发1822.38万人以上",
            "channels.yml channel e_card: quote not found in document 003",
        ),
        # unknown ids referenced by a topic
        (
            "topics/service_points.yml",
            "facts: [SZ24-16, SZ24-18]",
            "facts: [SZ24-16, SZ24-99]",
            "topic service_points: unknown fact 'SZ24-99'",
        ),
        (
            "topics/service_points.yml",
            "channels: [sz_outlets]",
            "channels: [hotline_12333]",
            "topic service_points: unknown channel 'hotline_12333'",
        ),
        (
            "topics/service_points.yml",
            "related: [social_security_card]",
            "related: [no_such_topic]",
            "topic service_points: unknown related topic 'no_such_topic'",
        ),
        # a conflict group with two current versions
        (
            "facts/fixture.yml",
            "  status: superseded\n  conflict_group: sz_inspection_closure_2025",
            "  status: current\n  conflict_group: sz_inspection_closure_2025",
            "conflict_group sz_inspection_closure_2025: needs exactly one current fact",
        ),
        # a winner without a note
        (
            "facts/fixture.yml",
            "  note: 正式稿（2022年1月）为98%以上，征求意见稿为96%以上；以正式稿为准\n",
            "",
            "conflict_group sz_inspection_closure_2025: the current fact SZF-07 has no note",
        ),
        # a curated fact that shares a table id but disagrees with the parsed row
        (
            "facts/fixture.yml",
            'value: "1319"',
            'value: "1320"',
            "fact SZD-T2-04: value '1320' disagrees with the parsed table row SZD-T2-04",
        ),
        # schema problems
        (
            "facts/fixture.yml",
            'period: result_2024\n  value: "113"',
            'period: year_2024\n  value: "113"',
            "fact SZ24-16: period 'year_2024' is not canonical",
        ),
        ("facts/fixture.yml", "  region: 上海", "  region: 广州", "fact SH-13: region '广州' not in"),
        (
            "topics/employment.yml",
            "intents: [ask_employment]",
            "intents: [ask_employment, ask_service_points]",
            "intent 'ask_service_points' also belongs to topic",
        ),
        (
            "sources/manifest.yml",
            "file: 003_review.txt",
            "file: 003_missing.txt",
            "file '003_missing.txt' not found in sources/",
        ),
    ],
)
def test_tampering_is_reported(content_copy, rel, old, new, expected):
    edit(content_copy, rel, old, new)
    problems = compile_kb(content_copy).problems
    assert any(expected in p for p in problems), problems


def test_value_without_digits_must_be_in_quote(content_copy):
    edit(content_copy, "facts/fixture.yml", "value: 2021年10月13日", "value: 二〇二一年十月")
    problems = compile_kb(content_copy).problems
    assert any("fact SZD-M3: value '二〇二一年十月' (no digits) is not in its quote" in p for p in problems)


def test_whitespace_in_quotes_is_ignored(content_copy):
    edit(
        content_copy,
        "facts/fixture.yml",
        "quote: 全市拥有社保服务网点113个",
        "quote: 全市 拥有 社保服务网点 113 个",
    )
    assert compile_kb(content_copy).problems == []


def test_build_fails_listing_every_problem_and_writes_nothing(content_copy, database_url, fixture_userdict):
    edit(
        content_copy,
        "facts/fixture.yml",
        "quote: 全市拥有社保服务网点113个",
        "quote: 全市拥有社保服务网点118个",
    )
    edit(content_copy, "facts/fixture.yml", 'value: "3500"', 'value: "3600"')
    settings = Settings(database_url=database_url, content_dir=content_copy, userdict_path=fixture_userdict)
    with pytest.raises(BuildError) as info:
        build(settings)
    message = str(info.value)
    assert "3 problem(s)" in message  # the quote, the value, and the display rendered from the value
    assert "fact SZ24-16: quote not found" in message and "fact SZ24-18: value '3600'" in message
    assert latest_build(get_engine(database_url)) is None
