"""Indicator tables 专栏1 / 专栏2 of document 001 parsed into rows and facts."""

from __future__ import annotations

import pytest

from knowledge.content import load_manifest
from knowledge.ingest import Cell, parse_cell, parse_document, table_facts

from .helpers import FIXTURE_CONTENT

SOURCES = FIXTURE_CONTENT / "sources"


@pytest.fixture(scope="module")
def doc001():
    manifest = {m.doc_id: m for m in load_manifest(SOURCES / "manifest.yml", [])}
    return parse_document(manifest["001"], SOURCES)


def test_row_counts(doc001):
    assert len(doc001.tables[1]) == 12
    assert len(doc001.tables[2]) == 19
    assert [r.seq for r in doc001.tables[2]] == list(range(1, 20))


@pytest.mark.parametrize(
    "table, seq, metric, unit, col_a, col_b, nature, category",
    [
        (1, 1, "城镇新增就业人数", "万人", "[64.4]", "[40]", "预期性", "一、就业"),
        (1, 2, "调查失业率", "%", "—", "5.5", "预期性", "一、就业"),
        (1, 4, "基本养老保险参保率", "%", "98", ">90", "预期性", "二、社会保险"),
        (1, 12, "劳动人事争议仲裁结案率", "%", "96", ">90", "预期性", "四、劳动关系"),
        (2, 3, "城镇登记失业率", "%", "2.49", "<3.5", "预期性", "一、就业"),
        (
            2,
            10,
            "新增取得职业资格证书或职业技能等级证书人数",
            "万人次",
            "[12.15]",
            "[33]",
            "预期性",
            "三、人才队伍建设",
        ),
        (
            2,
            11,
            "新增取得高级工以上职业资格证书或职业技能登记证书人数",
            "万人次",
            "[3.27]",
            "[11]",
            "预期性",
            "三、人才队伍建设",
        ),
        (2, 15, "劳动人事争议调解成功率", "%", "66", "> 60", "预期性", "四、劳动关系"),
        (2, 19, "申领电子社保卡人口覆盖率", "%", "42", "75", "预期性", "五、公共服务"),
    ],
)
def test_rows(doc001, table, seq, metric, unit, col_a, col_b, nature, category):
    row = doc001.tables[table][seq - 1]
    assert (row.seq, row.metric, row.unit, row.col_a, row.col_b, row.nature, row.category) == (
        seq,
        metric,
        unit,
        col_a,
        col_b,
        nature,
        category,
    )


def test_five_year_totals_are_flagged(doc001):
    cumulative = [r.seq for r in doc001.tables[2] if parse_cell(r.col_b).cumulative]
    assert cumulative == [1, 7, 10, 11, 12, 13, 14]
    assert [r.seq for r in doc001.tables[1] if parse_cell(r.col_a) and parse_cell(r.col_a).cumulative] == [
        1,
        3,
    ]


@pytest.mark.parametrize(
    "raw, cell",
    [
        ("[64.64]", Cell("64.64", "", True)),
        ("[20.0]", Cell("20.0", "", True)),
        (">90", Cell("90", "以上", False)),
        ("> 60", Cell("60", "以上", False)),
        ("<3.5", Cell("3.5", "以内", False)),
        ("≤5", Cell("5", "以内", False)),
        ("1269.69", Cell("1269.69", "", False)),
        ("—", None),
        ("", None),
    ],
)
def test_parse_cell(raw, cell):
    assert parse_cell(raw) == cell


@pytest.mark.parametrize(
    "fact_id, period, value, display, cumulative",
    [
        ("SZD-T1-01", "result_13th", "64.4", "64.4万人", True),
        ("SZD-T1-01-target", "target_13th", "40", "40万人", True),
        ("SZD-T1-02", "target_13th", "5.5", "5.5%", False),  # completed value is "—"
        ("SZD-T1-04-target", "target_13th", "90", "90%以上", False),
        ("SZD-T2-01", "total_2021_2025", "60", "60万人", True),
        ("SZD-T2-01-base", "base_2020", "64.64", "64.64万人", True),
        ("SZD-T2-02", "target_2025", "5", "5%以内", False),
        ("SZD-T2-03", "target_2025", "3.5", "3.5%以内", False),
        ("SZD-T2-17", "target_2025", "96", "96%以上", False),
        ("SZD-T2-19-base", "base_2020", "42", "42%", False),
    ],
)
def test_table_facts(doc001, fact_id, period, value, display, cumulative):
    facts = {f.id: f for f in table_facts(doc001)}
    fact = facts[fact_id]
    assert (fact.period, fact.value, fact.display, fact.cumulative) == (period, value, display, cumulative)
    assert fact.origin == "table" and fact.region == "深圳" and fact.doc == "001"
    assert fact.catalogue == (fact_id.split("-target")[0].split("-base")[0],)
    assert "专栏" in fact.section


def test_table_fact_count(doc001):
    facts = table_facts(doc001)
    # 专栏1: 12 rows, 3 without a completed value; 专栏2: 19 rows, 1 without a base value
    assert len(facts) == (12 * 2 - 3) + (19 * 2 - 1)
    assert len({f.id for f in facts}) == len(facts)
