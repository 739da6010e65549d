"""Ingestion: HTML vs plain text cleaning, heading paths, passages."""

from __future__ import annotations

import pytest

from knowledge.content import load_manifest
from knowledge.ingest import clean_html, clean_text, locate, parse_document
from knowledge.textutil import squash

from .helpers import FIXTURE_CONTENT

SOURCES = FIXTURE_CONTENT / "sources"


@pytest.fixture(scope="module")
def docs():
    problems: list[str] = []
    manifest = load_manifest(SOURCES / "manifest.yml", problems)
    assert problems == []
    return {m.doc_id: parse_document(m, SOURCES) for m in manifest}


@pytest.mark.parametrize(
    "doc_id, kept",
    [
        ("001", "城镇登记失业率\t%\t2.49\t<3.5\t预期性"),  # "<3.5" is data, not a tag
        ("001", "15\t劳动人事争议调解成功率\t%\t66\t> 60\t预期性"),
        ("001", "<http://hrss.sz.gov.cn/hdjlpt/yjzj/answer/14866>"),
        ("001", "促进更充分更高质量就业。就业优先政策"),  # ** markers removed
        ("003", "全市拥有社保服务网点113个,社银合作专窗12个"),
        ("000", "劳动保障监察举报投诉案件结案率达98%以上"),  # <a>投诉</a> keeps its text
        ("004", "国发〔2021〕14号"),
    ],
)
def test_clean_text_keeps(docs, doc_id, kept):
    assert squash(kept) in squash(docs[doc_id].clean_text)


@pytest.mark.parametrize(
    "doc_id, dropped",
    [
        ("000", "title: '新增就业"),  # YAML front matter
        ("000", "sinaimg.cn"),  # images
        ("000", "appendQr"),  # <style>
        ("000", "not content"),  # <script>
        ("000", "海量资讯"),  # portal advert
        ("000", "责任编辑"),
        ("000", "<p>"),
        ("004", "strong-Bold"),
        ("001", "**"),
    ],
)
def test_clean_text_drops(docs, doc_id, dropped):
    assert dropped not in docs[doc_id].clean_text


@pytest.mark.parametrize(
    "doc_id, quote, path",
    [
        ("001", "企业退休人员人均基本养老金已达 3996 元/月", "第一章 发展基础和机遇挑战 > 第一节 发展基础"),
        (
            "001",
            "1\t城镇新增就业人数\t万人\t[64.4]\t[40]\t预期性",
            "第一章 发展基础和机遇挑战 > 第一节 发展基础 > 专栏1 “十三五”时期主要指标",
        ),
        ("001", "劳动人事争议调解成功率达到 60%以上", "第二章 总体要求 > 第三节 主要目标"),
        ("003", "全市拥有社保服务网点113个", "四、强保障:实现“15分钟社保服务圈”"),
        ("003", "全市社保卡持卡超2287.95万人", "八、优服务:99.5%人社事项实现网上办理"),
        ("000", "城镇调查失业率控制在5%以内", "推动实现更充分更高质量就业"),
        (
            "004",
            "城镇新增就业5500万人以上",
            "“十四五”就业促进规划 > 二、总体要求 > （三）主要目标 > ——就业形势总体平稳",
        ),
        ("004", "国发〔2021〕14号", "国务院关于印发“十四五”就业促进规划的通知"),
    ],
)
def test_heading_paths(docs, doc_id, quote, path):
    assert locate(docs[doc_id], quote) == path


def test_passages_carry_their_heading_path(docs):
    passage = next(p for p in docs["003"].passages if "113个" in p.text)
    assert passage.path == "四、强保障:实现“15分钟社保服务圈”"
    assert passage.heading == passage.path


def test_page_break_is_rejoined(docs):
    texts = [p.text for p in docs["001"].passages]
    assert any("迈出重要步伐、取得新的重大成绩" in t for t in texts)
    assert any("互联互通、业务协同的信息网络服务体系全面建成，社会保障卡" in t for t in texts)


def test_toc_and_parsed_table_rows_are_not_passages(docs):
    texts = [p.text for p in docs["001"].passages]
    assert not any(t.startswith("第一节 发展基础 1") or "\t" in t for t in texts)
    assert not any("基本养老保险参保人数 万人 1269.69" in t for t in texts)


def test_passages_are_bounded(docs):
    for doc in docs.values():
        assert all(0 < len(p.text) <= 400 for p in doc.passages), doc.meta.doc_id


@pytest.mark.parametrize(
    "html, expected",
    [
        ("<p>指标a&amp;b &lt;3.5&gt;，完。</p>", [("para", "指标a&b <3.5>，完。")]),
        ("<p>字面&amp;lt;，只反转义一次。</p>", [("para", "字面&lt;，只反转义一次。")]),
        (
            "<p>　　第一段。</p><p>第二段。<br>第三段。</p>",
            [("para", "第一段。"), ("para", "第二段。"), ("para", "第三段。")],
        ),
        ("<p><b>一、总体要求</b></p><p>正文。</p>", [("heading", "一、总体要求"), ("para", "正文。")]),
        ("<p><strong>标题</strong></p>", [("heading", "标题")]),
        ("<div><img src='x.jpg'><span class='img_descr'>图</span></div><p>正文。</p>", [("para", "正文。")]),
        ("<!-- c --><p>正文，<a href='#'>链接</a>文字。</p>", [("para", "正文，链接文字。")]),
        ("<p>短标题</p><p>正文，很长。</p>", [("heading", "短标题"), ("para", "正文，很长。")]),
    ],
)
def test_clean_html_table(html, expected):
    assert [(b.kind, b.text) for b in clean_html(html)] == expected


def test_clean_html_bold_lead_in():
    blocks = clean_html(
        '<p><font cms-style="strong-Bold">完善制度</font><font cms-style="strong-Bold">。</font>正文。</p>'
    )
    assert [(b.kind, b.text, b.lead) for b in blocks] == [("para", "完善制度。正文。", "完善制度。")]


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("第一章 总则\n\n第一节 目标\n\n正文。", ["heading", "heading", "para"]),
        (
            "专栏2 指标\t\t\t\n序号\t指标\n1\t人数\t万人\t[1]\t[2]\t预期性",
            ["heading", "table_row", "table_row"],
        ),
        ("目录\n\n第一章 总则\t1\n第一节 目标\t1", ["heading", "toc", "toc"]),
        ("一、稳就业:就业登记人数1200万人以上\n就业是最大的民生。", ["heading", "para"]),
        ("指标 <3.5 和 > 60 不是标签。", ["para"]),
    ],
)
def test_clean_text_table(text, kinds):
    assert [b.kind for b in clean_text(text)] == kinds


def test_plain_text_never_parsed_as_html():
    blocks = clean_text("3\t城镇登记失业率\t%\t2.49\t<3.5\t预期性\n15\t调解成功率\t%\t66\t> 60\t预期性")
    assert "<3.5" in blocks[0].text and "> 60" in blocks[1].text
