"""widget.app source pages and the sources list: the document, section and quote, all escaped."""

from __future__ import annotations

import re
from urllib.parse import quote as urlquote

import pytest
from cryptography.fernet import Fernet

from knowledge.excerpt import DocumentInfo, Paragraph, SourceContext
from knowledge.service import KnowledgeService
from tests.widget.test_app import call
from widget.app import create_app
from widget.settings import WebSettings
from widget.store import AppStore

HOSTILE = '<script>alert(1)</script>" onmouseover="x'


@pytest.fixture
def store(tmp_path):
    store = AppStore(f"sqlite:///{tmp_path / 'app.db'}", Fernet(Fernet.generate_key()))
    yield store
    store.dispose()


@pytest.fixture(scope="module")
def svc():
    """The knowledge base built by `make kb` (the real documents)."""
    return KnowledgeService.from_settings()


class OddKnowledge:
    """A knowledge service whose document text is full of markup, to check the page escapes it."""

    def documents(self):
        return [DocumentInfo("x1", HOSTILE, HOSTILE, "2024年", "javascript:alert(1)", "深圳", "news")]

    def source_context(self, doc_id, quote=None):
        if doc_id != "x1":
            return None
        doc, lead = self.documents()[0], "前<b>文</b>"
        span = (len(lead), len(lead) + len(HOSTILE))
        return SourceContext(doc, True, HOSTILE, (Paragraph(lead + HOSTILE + "后", (span,)),))


def test_sources_lists_each_document_with_its_traditional_title(store, svc):
    status, _, body = call(create_app(WebSettings(), store, svc), "GET", "/api/sources")
    assert status == 200 and body["ok"] is True
    by_id = {s["doc_id"]: s for s in body["sources"]}
    assert set(by_id) == {d.doc_id for d in svc.documents()}
    ten = next(s for s in body["sources"] if s["title"] == "深圳人社2024年十件大事")
    assert ten["title_hant"] == "深圳人社2024年十件大事"  # no convertible character: the same
    plan = next(s for s in body["sources"] if s["title"].startswith("深圳市人力资源和社会保障事业发展"))
    assert plan["title_hant"].startswith("深圳市人力資源和社會保障事業發展")


def test_source_page_highlights_the_quote_in_its_paragraph(store, svc):
    fact = svc.fact("SZ24-16")
    src = fact.source
    path = f"/source/{src.doc_id}?q={urlquote(src.quote)}"
    status, headers, body = call(create_app(WebSettings(), store, svc), "GET", path, origin=None)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert f"<h1>《{src.title}》</h1>" in body and src.publisher in body and src.date_label in body
    [marked] = re.findall(r"<mark>(.*?)</mark>", body)
    assert "113" in marked and re.sub(r"\s", "", marked) in re.sub(r"\s", "", src.quote)
    assert "章节：" in body and "<script" not in body and "style=" not in body


@pytest.mark.parametrize("q", ["深圳有999个社保服务网点", HOSTILE])
def test_a_quote_not_in_the_document_is_never_shown(store, svc, q):
    doc_id = svc.documents()[0].doc_id
    app = create_app(WebSettings(), store, svc)
    status, _, body = call(app, "GET", f"/source/{doc_id}?q={urlquote(q)}", origin=None)
    assert status == 200
    assert "引文不在这份资料里" in body and "<mark>" not in body
    assert "999" not in body and "alert" not in body


def test_source_page_without_quote_shows_the_document(store, svc):
    doc = svc.documents()[0]
    status, _, body = call(create_app(WebSettings(), store, svc), "GET", f"/source/{doc.doc_id}", origin=None)
    assert status == 200 and doc.title in body and "没有指明引文" in body


@pytest.mark.parametrize("path", ["/source/nope", "/source/..%2Fetc", "/source/" + "9" * 17, "/source/"])
def test_unknown_sources_are_404(store, svc, path):
    status, _, body = call(create_app(WebSettings(), store, svc), "GET", path, origin=None)
    assert status == 404


def test_document_text_is_escaped(store):
    status, _, body = call(create_app(WebSettings(), store, OddKnowledge()), "GET", "/source/x1?q=a", origin=None)
    assert status == 200
    assert "<script>" not in body and "<b>" not in body and "javascript:" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x" in body
    assert "<mark>&lt;script&gt;" in body
