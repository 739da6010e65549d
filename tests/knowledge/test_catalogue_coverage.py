"""Every fact row of the verified catalogue (section (a)) is covered by the knowledge base.

The catalogue is a copy of shared/knowledge_catalogue.md under tests/data/ (the project must not
need ../shared). For each row id (SZF-01, SZD-R03, SZD-T1-01, SZ24-33, CN-G5 …) some KB fact lists
the id in ``catalogue``, and every number of the row's 数值 column appears in those facts' values,
displays or quotes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from knowledge.build import compile_kb
from knowledge.settings import PACKAGE_DIR
from knowledge.textutil import normalise_number, number_forms, number_tokens

from .helpers import DATA

CATALOGUE = DATA / "knowledge_catalogue.md"
ID_RE = re.compile(r"^[A-Z]{2,3}\d{0,2}-[A-Z0-9]+(?:-\d+)?$")


def catalogue_rows() -> list[tuple[str, str]]:
    """``(id, 数值)`` for every fact row of section (a)."""
    text = CATALOGUE.read_text(encoding="utf-8")
    section = text[text.index("## (a)") : text.index("## (b)")]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and ID_RE.match(cells[0]):
            rows.append((cells[0], cells[5]))
    return rows


ROWS = catalogue_rows()


@lru_cache(maxsize=1)
def kb_facts_by_catalogue() -> dict[str, list]:
    kb = compile_kb(PACKAGE_DIR)
    out: dict[str, list] = {}
    for fact in kb.facts:
        for cat in fact.catalogue:
            out.setdefault(cat, []).append(fact)
    return out


def test_catalogue_parsed():
    ids = [r[0] for r in ROWS]
    assert len(ids) == 175 and len(set(ids)) == 175
    assert {"SZF-01", "SZD-R03", "SZD-T1-01", "SZD-T2-19", "SZD-B05", "SH-07", "SZ24-33", "CN-G5"} <= set(ids)


@pytest.mark.parametrize("cat_id, value", ROWS, ids=[r[0] for r in ROWS])
def test_catalogue_row_is_covered(cat_id, value):
    facts = kb_facts_by_catalogue().get(cat_id)
    assert facts, f"no knowledge-base fact lists {cat_id} in its catalogue"
    forms: set[str] = set()
    for f in facts:
        for text in (f.value, f.display, f.quote):
            forms |= number_forms(text)
    missing = [n for n in number_tokens(value) if n not in forms and normalise_number(n) not in forms]
    assert not missing, (
        f"{cat_id}: catalogue value {value!r} has {missing} not in facts {[f.id for f in facts]}"
    )
