"""Building the database: counts, idempotence, the CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from knowledge import __main__ as cli
from knowledge import models as m
from knowledge.build import build, counts, latest_build
from knowledge.db import get_engine, session_scope
from knowledge.settings import Settings

from .test_verify import edit

EXPECTED_COUNTS = {"documents": 5, "topics": 3, "channels": 2}


def test_build_counts(kb_settings):
    result = build(kb_settings)
    assert not result.skipped
    for name, value in EXPECTED_COUNTS.items():
        assert result.counts[name] == value
    assert result.counts["passages"] > 50 and result.counts["sections"] > 20
    # 10 curated facts + the table facts they do not cover
    assert result.counts["facts"] > 10
    assert counts(get_engine(kb_settings.database_url)) == result.counts


def test_second_build_is_up_to_date(kb_settings):
    first = build(kb_settings)
    second = build(kb_settings)
    assert not first.skipped and second.skipped
    assert second.content_hash == first.content_hash
    assert second.counts == first.counts
    forced = build(kb_settings, force=True)
    assert not forced.skipped and forced.counts == first.counts


def test_changed_content_rebuilds(content_copy, database_url, fixture_userdict):
    settings = Settings(database_url=database_url, content_dir=content_copy, userdict_path=fixture_userdict)
    first = build(settings)
    edit(
        content_copy,
        "topics/service_points.yml",
        "gaps: [网点地址, 营业时间]",
        "gaps: [网点地址, 营业时间, 预约方式]",
    )
    second = build(settings)
    assert not second.skipped and second.content_hash != first.content_hash
    with session_scope(get_engine(database_url)) as session:
        gaps = (
            session.execute(select(m.TopicGap.text).where(m.TopicGap.topic_id == "service_points"))
            .scalars()
            .all()
        )
    assert "预约方式" in gaps


def test_build_info_records_hash_and_counts(kb_settings):
    result = build(kb_settings)
    info = latest_build(get_engine(kb_settings.database_url))
    assert info.content_hash == result.content_hash
    assert json.loads(info.counts) == result.counts


@pytest.mark.parametrize(
    "fact_id, kept",
    [
        ("SZD-T2-04", "curated"),  # curated twin wins over the table row
        ("SZD-T2-04-base", "table"),  # the row's other value is still stored
        ("SZD-T2-17", "table"),
    ],
)
def test_table_and_curated_facts_merge(built_kb, fact_id, kept):
    with session_scope(get_engine(built_kb.database_url)) as session:
        fact = session.get(m.Fact, fact_id)
        assert fact is not None and fact.origin == kept


def test_draft_table_figure_joins_the_conflict_group(built_kb):
    with session_scope(get_engine(built_kb.database_url)) as session:
        fact = session.get(m.Fact, "SZD-T2-17")
        assert (fact.status, fact.conflict_group) == ("superseded", "sz_inspection_closure_2025")


def test_cli_build_and_stats(kb_settings, monkeypatch, capsys):
    monkeypatch.setattr(cli, "get_settings", lambda: kb_settings)
    assert cli.main(["build"]) == 0
    out = capsys.readouterr().out
    assert "knowledge base built" in out and "documents=5" in out and "topics=3" in out and "time=" in out
    assert cli.main(["build"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli.main(["stats"]) == 0
    assert "facts by period" in capsys.readouterr().out


def test_cli_check(monkeypatch, capsys, content_copy, fixture_userdict):
    settings = Settings(database_url="sqlite://", content_dir=content_copy, userdict_path=fixture_userdict)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["check"]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    edit(content_copy, "facts/fixture.yml", 'value: "3500"', 'value: "3600"')
    assert cli.main(["check"]) == 1
    assert "fact SZ24-18" in capsys.readouterr().err
