"""knowledge.excerpt and KnowledgeService.source_context: where a quote sits in its document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from knowledge import models
from knowledge.db import get_engine, session_scope
from knowledge.excerpt import Paragraph, excerpt, locate, section_of
from knowledge.service import KnowledgeService

TEXT = "目录\n一、就业\n\n二、社保\n\n一、就业\n城镇新增就业 64.4 万人。\n**重点**群体就业稳定。\n\n二、社保\n参保率达到98%。"


@pytest.mark.parametrize(
    "quote, found",
    [
        ("城镇新增就业 64.4 万人。", "城镇新增就业 64.4 万人。"),
        ("城镇新增就业64.4万人", "城镇新增就业 64.4 万人"),  # whitespace ignored, as the build verifies
        ("重点群体就业", "重点**群体就业"),  # ** markers ignored
        ("万人。\n重点", "万人。\n**重点"),  # across two lines
        ("不在文件里的话", None),
        ("", None),
    ],
)
def test_locate(quote, found):
    where = locate(TEXT, quote)
    assert (TEXT[where[0] : where[1]] if where else None) == found


def test_excerpt_highlights_the_quote_with_a_paragraph_either_side():
    paragraphs = excerpt(TEXT, "64.4万人")
    assert [p.text for p in paragraphs] == ["一、就业", "城镇新增就业 64.4 万人。", "**重点**群体就业稳定。"]
    hit = paragraphs[1]
    assert hit.text[hit.spans[0][0] : hit.spans[0][1]] == "64.4 万人"
    assert paragraphs[0].spans == paragraphs[2].spans == ()


def test_excerpt_of_a_missing_quote_is_empty():
    assert excerpt(TEXT, "编造的数字 99 万") == ()


@pytest.mark.parametrize(
    "quote, path",
    [
        ("64.4", "一、就业"),  # the body heading, not the table of contents above it
        ("98%", "二、社保"),
        ("目录", ""),
    ],
)
def test_section_of(quote, path):
    assert section_of(TEXT, quote, [("一、就业", "一、就业"), ("二、社保", "二、社保")]) == path


def test_a_heading_word_inside_a_sentence_is_no_heading():
    text = "一、就业\n今年二、社保工作很好。\n参保率达到98%。"
    assert section_of(text, "98%", [("一、就业", "一、就业"), ("二、社保", "二、社保")]) == "一、就业"


@pytest.fixture(scope="module")
def svc(shared_kb):
    return KnowledgeService(shared_kb.database_url, shared_kb.userdict_path)


def test_every_quote_of_the_knowledge_base_is_found_in_its_document(svc, shared_kb):
    with session_scope(get_engine(shared_kb.database_url)) as session:
        quotes = [(f.doc_id, f.quote) for f in session.execute(select(models.Fact)).scalars()]
        quotes += [(c.doc_id, c.quote) for c in session.execute(select(models.Channel)).scalars()]
    assert quotes
    missing = []
    for doc_id, quote in quotes:
        context = svc.source_context(doc_id, quote)
        if not (context and context.found and any(p.spans for p in context.paragraphs)):
            missing.append((doc_id, quote))
    assert missing == []


def test_source_context_of_the_reference_fact(svc):
    fact = svc.fact("SZ24-16")
    context = svc.source_context(fact.source.doc_id, fact.source.quote)
    assert context.document.title == fact.source.title
    assert context.document.publisher == fact.source.publisher
    [hit] = [p for p in context.paragraphs if p.spans]
    start, end = hit.spans[0]
    assert "113" in hit.text[start:end]
    assert isinstance(hit, Paragraph)


def test_unknown_documents_and_quotes(svc):
    doc_id = svc.documents()[0].doc_id
    assert svc.source_context("no-such-doc", "113") is None
    missing = svc.source_context(doc_id, "小助手编造的一句话")
    assert missing.found is False and missing.paragraphs == ()
    assert svc.source_context(doc_id).found is False


def test_documents_list_titles_without_text(svc):
    docs = svc.documents()
    assert [d.doc_id for d in docs] == sorted(d.doc_id for d in docs)
    assert all(d.title and not hasattr(d, "clean_text") for d in docs)
