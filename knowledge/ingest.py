"""Turn the seed documents into clean text, heading paths, passages and indicator-table rows.

Contracts:
- HTML sources (manifest ``format: html``; 000, 002, 004) go through :func:`clean_html`: the YAML
  front matter, comments, ``<script>``/``<style>``, images and the portal's boiler-plate blocks are
  dropped, entities unescaped, one block per paragraph kept. Bold paragraphs become headings,
  a bold lead-in (``<font strong-Bold>——坚持…。</font>正文``) becomes a sub-heading.
- Plain-text sources (``format: text``; 001, 003) NEVER go through an HTML parser: ``<3.5`` and
  ``> 60`` in 001 are data, not tags. :func:`clean_text` only normalises newlines and removes
  markdown ``**`` markers, then re-joins paragraphs that a PDF page break cut in two.
- ``ParsedDocument.clean_text`` is what quotes are verified against (after removing whitespace).
- Headings: ``第X章`` > ``第X节`` > ``专栏N`` / ``（一）``; the numbered items ``一、…`` of the
  2024 review (003) are top-level; HTML documents use their bold or short stand-alone paragraphs.
- :func:`parse_indicator_tables` reads 专栏1 ("十三五" results) and 专栏2 ("十四五" targets) of
  001 into :class:`TableRow` s; :func:`table_facts` turns them into facts with catalogue ids
  ``SZD-T1-NN`` / ``SZD-T2-NN``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

from knowledge.content import FactSpec, ManifestEntry
from knowledge.textutil import render_display, squash

log = logging.getLogger(__name__)

PATH_SEPARATOR = " > "
MAX_PASSAGE_CHARS = 200

# ---------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Block:
    """One unit of a cleaned document, in reading order."""

    kind: str  # "para" | "heading" | "table_row" | "toc"
    text: str
    level: int = 0  # headings only
    heading_kind: str = ""  # chapter | section | box | item | heading | lead | toc
    lead: str = ""  # HTML bold lead-in of a paragraph (becomes a level-4 heading)


@dataclass(frozen=True)
class ParsedSection:
    ordinal: int
    parent: int | None  # ordinal of the parent section
    level: int
    kind: str
    heading: str
    path: str


@dataclass(frozen=True)
class ParsedPassage:
    ordinal: int
    section: int | None  # ordinal of its section
    text: str
    heading: str
    path: str


@dataclass(frozen=True)
class TableRow:
    """One data row of an indicator table (专栏1 / 专栏2 of 001)."""

    table: int  # 1 or 2
    seq: int
    category: str  # "一、就业"
    metric: str
    unit: str
    col_a: str  # 专栏1: 2020年完成值; 专栏2: 2020年基数 (raw cell)
    col_b: str  # 专栏1: 2020年目标;   专栏2: 2025年目标 (raw cell)
    nature: str
    line: str  # the raw row, used as the fact quote
    path: str


@dataclass
class ParsedDocument:
    meta: ManifestEntry
    sha256: str
    clean_text: str
    blocks: list[Block]
    sections: list[ParsedSection] = field(default_factory=list)
    passages: list[ParsedPassage] = field(default_factory=list)
    tables: dict[int, list[TableRow]] = field(default_factory=dict)
    # squashed text of every section (by path), to locate quotes for citations
    section_texts: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- HTML

_FRONT_MATTER_RE = re.compile(r"\A\s*---\s*\n.*?\n---\s*\n", re.S)
_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "article",
    "blockquote",
    "hr",
    "header",
    "footer",
}
_SKIP_TAGS = {"script", "style", "noscript", "iframe", "head", "title", "svg", "template"}
_VOID_TAGS = {"img", "br", "hr", "meta", "link", "input", "source", "wbr", "area", "base", "col", "embed"}
# why: the Sina pages end with an app advert and the editor's name; neither is source content.
_DROP_CLASSES = {"appendQr_wrap", "appendQr_normal", "appendQr_normal_txt", "article-editor", "img_descr"}
_HEAD_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _is_bold(tag: str, attrs: dict[str, str]) -> bool:
    if tag in ("b", "strong") or tag in _HEAD_TAGS:
        return True
    style = (attrs.get("cms-style") or "") + " " + (attrs.get("style") or "")
    return "strong-Bold" in style or "font-weight: bold" in style or "font-weight:bold" in style


class _BlockParser(HTMLParser):
    """Collects (text, bold) segments per block element, skipping non-content elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, skip, bold)
        self.segments: list[tuple[str, bool]] = []
        self.paragraphs: list[list[tuple[str, bool]]] = []

    def _skipping(self) -> bool:
        return any(skip for _, skip, _ in self.stack)

    def _bold(self) -> bool:
        return any(bold for _, _, bold in self.stack)

    def _flush(self) -> None:
        if any(t.strip() for t, _ in self.segments):
            self.paragraphs.append(self.segments)
        self.segments = []

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: (v or "") for k, v in attrs_list}
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _VOID_TAGS:
            return
        classes = set((attrs.get("class") or "").split())
        skip = tag in _SKIP_TAGS or bool(classes & _DROP_CLASSES)
        self.stack.append((tag, skip, _is_bold(tag, attrs)))

    def handle_startendtag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            if tag in _BLOCK_TAGS:
                self._flush()
            return
        # why: tolerate unclosed inline tags; pop up to the matching open tag if there is one.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.segments.append((data, self._bold()))

    def close(self) -> None:
        super().close()
        self._flush()


_CN_NUM = "一二三四五六七八九十百零〇"
_HTML_CHAPTER_RE = re.compile(rf"^[{_CN_NUM}]+、")
_HTML_SUB_RE = re.compile(rf"^[（(][{_CN_NUM}]+[）)]")
_SENTENCE_PUNCT_RE = re.compile(r"[。，；：！？,;:!?]")


def _norm_space(text: str) -> str:
    # why: the portals indent with U+3000 and wrap lines inside <p>; a paragraph is one line.
    return re.sub(r"\s+", " ", text).strip()


def clean_html(raw: str) -> list[Block]:
    """Blocks of an HTML source (front matter, scripts, images and boiler-plate removed)."""
    body = _FRONT_MATTER_RE.sub("", raw, count=1)
    parser = _BlockParser()
    parser.feed(body)
    parser.close()

    paragraphs: list[tuple[str, str, bool]] = []  # (text, bold lead, all bold)
    for segments in parser.paragraphs:
        # why: convert_charrefs=True already unescaped entities once; a second pass would
        # turn a literal "&amp;lt;" into "<".
        text = _norm_space("".join(t for t, _ in segments))
        if not text:
            continue
        lead_parts: list[str] = []
        rest_seen = False
        for seg, bold in segments:
            if not seg.strip():
                continue
            if bold and not rest_seen:
                lead_parts.append(seg)
            else:
                rest_seen = True
        lead = _norm_space("".join(lead_parts))
        paragraphs.append((text, lead, bool(lead) and not rest_seen))

    has_bold_headings = any(all_bold for _, _, all_bold in paragraphs)
    blocks: list[Block] = []
    for text, lead, all_bold in paragraphs:
        if all_bold:
            if _HTML_CHAPTER_RE.match(text):
                blocks.append(Block("heading", text, level=2, heading_kind="chapter"))
            elif _HTML_SUB_RE.match(text):
                blocks.append(Block("heading", text, level=3, heading_kind="section"))
            else:
                blocks.append(Block("heading", text, level=1, heading_kind="heading"))
        elif lead:
            blocks.append(Block("para", text, lead=lead))
        elif not has_bold_headings and len(text) <= 30 and not _SENTENCE_PUNCT_RE.search(text):
            # why: news pages (000) mark sub-headings only as short stand-alone lines.
            blocks.append(Block("heading", text, level=2, heading_kind="heading"))
        else:
            blocks.append(Block("para", text))
    return blocks


# ---------------------------------------------------------------- plain text

_CHAPTER_RE = re.compile(rf"^第[{_CN_NUM}]+章\s*\S")
_SECTION_RE = re.compile(rf"^第[{_CN_NUM}]+节\s*\S")
_BOX_RE = re.compile(r"^专栏\s*(\d+)")
_SUB_RE = re.compile(rf"^[（(][{_CN_NUM}]+[）)]\s*\S")
_ITEM_RE = re.compile(rf"^[{_CN_NUM}]+、\S")
_LIST_RE = re.compile(r"^(\d+[.．、]|[（(]\d+[）)]|[（(][一二三四五六七八九十]+[）)])")
_TOC_RE = re.compile(r"(\t\s*\d+\s*$)|(\.{3,}\s*\d*\s*$)")
_CONTENT_RE = re.compile(r"[\u4e00-\u9fff\d]")
_TERMINAL = tuple("。！？；：…”」’）)]>】!?;:")


def _text_heading(line: str) -> Block | None:
    if line == "目录":
        return Block("heading", line, level=1, heading_kind="toc")
    if _CHAPTER_RE.match(line) and len(line) <= 60 and "。" not in line:
        return Block("heading", line, level=1, heading_kind="chapter")
    if _SECTION_RE.match(line) and len(line) <= 60 and "。" not in line:
        return Block("heading", line, level=2, heading_kind="section")
    if _BOX_RE.match(line) and len(line) <= 60 and "。" not in line:
        return Block("heading", line, level=3, heading_kind="box")
    if _SUB_RE.match(line) and len(line) <= 25 and not re.search(r"[。，；：]", line):
        return Block("heading", line, level=3, heading_kind="section")
    if _ITEM_RE.match(line) and len(line) <= 40 and not line.endswith("。"):
        return Block("heading", line, level=1, heading_kind="item")
    return None


def _classify_line(raw: str) -> Block:
    line = raw.strip()
    if "\t" in raw:
        head = _text_heading(line)
        if head is not None and head.heading_kind == "box":
            return head  # "专栏2 “十四五”时期主要指标\t\t\t" carries stray tabs
        if _TOC_RE.search(raw.rstrip(" ")):
            return Block("toc", line)
        return Block("table_row", raw.strip("\n").rstrip())
    if _TOC_RE.search(line):
        return Block("toc", line)
    head = _text_heading(line)
    return head if head is not None else Block("para", line)


def clean_text(raw: str) -> list[Block]:
    """Blocks of a plain-text source. No HTML parsing: ``<`` and ``>`` are kept as written."""
    text = raw.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n").replace("**", "")
    units = [_classify_line(line) for line in text.split("\n") if line.strip()]

    blocks: list[Block] = []
    for unit in units:
        prev = blocks[-1] if blocks else None
        if (
            prev is not None
            and prev.kind == "para"
            and unit.kind == "para"
            and not prev.text.endswith(_TERMINAL)
            and not _LIST_RE.match(unit.text)
            # why: a PDF page break cuts body text mid-sentence: the tail is body text (has 。，；)
            # and the head is body text too, or at least longer than a title line.
            and re.search(r"[。，；]", unit.text)
            and (re.search(r"[。，；]", prev.text) or len(prev.text.replace(" ", "")) >= 25)
        ):
            blocks[-1] = replace(prev, text=prev.text + unit.text)
        else:
            blocks.append(unit)
    return blocks


# ---------------------------------------------------------------- structure


def _split_sentences(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    if len(text) <= limit:
        return [text]
    sentences = [s for s in re.split(r"(?<=[。！？；!?;])", text) if s.strip()]
    chunks: list[str] = []
    current = ""
    for sentence in sentences:
        if current and len(current) + len(sentence) > limit:
            chunks.append(current)
            current = sentence
        else:
            current += sentence
    if current:
        chunks.append(current)
    return chunks


def _strip_heading(text: str) -> str:
    return text.rstrip("。").strip()


def structure(doc: ParsedDocument, skip_rows: set[str] | None = None) -> None:
    """Fill ``doc.sections``, ``doc.passages`` and ``doc.section_texts`` from ``doc.blocks``.

    Table rows listed in ``skip_rows`` (the parsed indicator tables) are not made passages:
    their content is stored as facts.
    """
    skip_rows = skip_rows or set()
    stack: list[ParsedSection] = []
    sections: list[ParsedSection] = []
    passages: list[ParsedPassage] = []
    texts: dict[str, list[str]] = {}

    def open_section(level: int, kind: str, heading: str) -> ParsedSection:
        while stack and stack[-1].level >= level:
            stack.pop()
        path = PATH_SEPARATOR.join([s.heading for s in stack] + [heading])
        section = ParsedSection(
            ordinal=len(sections),
            parent=stack[-1].ordinal if stack else None,
            level=level,
            kind=kind,
            heading=heading,
            path=path,
        )
        sections.append(section)
        stack.append(section)
        return section

    for block in doc.blocks:
        if block.kind == "heading":
            open_section(block.level, block.heading_kind, _strip_heading(block.text))
            texts.setdefault(stack[-1].path, []).append(block.text)
            continue
        if block.kind == "para" and stack and stack[-1].kind == "toc":
            stack.pop()  # the table of contents ended
        if block.kind == "para" and block.lead:
            # why: 004's bold lead-ins ("促进制造业高质量就业。") are the finest citation unit.
            while stack and stack[-1].kind == "lead":
                stack.pop()
            open_section(4, "lead", _strip_heading(block.lead))
        current = stack[-1] if stack else None
        path = current.path if current else ""
        texts.setdefault(path, []).append(block.text)
        if block.kind == "toc" or (block.kind == "table_row" and block.text in skip_rows):
            continue
        text = block.text.replace("\t", " ") if block.kind == "table_row" else block.text
        if not _CONTENT_RE.search(text):
            continue  # "-End-" and similar page furniture
        for chunk in _split_sentences(text):
            passages.append(
                ParsedPassage(
                    ordinal=len(passages),
                    section=current.ordinal if current else None,
                    text=chunk.strip(),
                    heading=current.heading if current else "",
                    path=path,
                )
            )
    doc.sections = sections
    doc.passages = passages
    doc.section_texts = [(path, squash("".join(parts))) for path, parts in texts.items()]


def locate(doc: ParsedDocument, quote: str) -> str:
    """Heading path of the section whose text contains ``quote`` ('' when it spans sections)."""
    needle = squash(quote)
    if not needle:
        return ""
    for path, text in doc.section_texts:
        if needle in text:
            return path
    head = needle[:12]
    for path, text in doc.section_texts:
        if head in text:
            return path
    return ""


# ---------------------------------------------------------------- tables

_CELL_RE = re.compile(r"^(\[)?\s*([<>≤≥＜＞])?\s*(\d+(?:\.\d+)?)\s*(\])?$")
_OP_QUALIFIER = {">": "以上", "＞": "以上", "≥": "以上", "<": "以内", "＜": "以内", "≤": "以内"}
# why: catalogue ids of the indicator tables are "<doc prefix>-T<n>-<row>"; only 001 has them.
TABLE_ID_PREFIX = {"001": "SZD"}
TABLE_BOXES = (1, 2)


@dataclass(frozen=True)
class Cell:
    value: str
    qualifier: str
    cumulative: bool


def parse_cell(raw: str) -> Cell | None:
    """``"[64.4]"`` → 64.4 cumulative; ``">90"`` → 90 以上; ``"—"`` → None."""
    raw = raw.strip()
    m = _CELL_RE.match(raw)
    if not m:
        return None
    return Cell(
        value=m.group(3), qualifier=_OP_QUALIFIER.get(m.group(2) or "", ""), cumulative=bool(m.group(1))
    )


def parse_indicator_tables(
    blocks: list[Block], path_of: dict[int, str] | None = None, consumed: set[str] | None = None
) -> dict[int, list[TableRow]]:
    """Rows of 专栏1 and 专栏2: ``{1: [...12 rows], 2: [...19 rows]}`` for 001.

    Every table line read (header, category and data rows) is added to ``consumed``.
    """
    tables: dict[int, list[TableRow]] = {}
    consumed = consumed if consumed is not None else set()
    box: int | None = None
    box_heading = ""
    category = ""
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            m = _BOX_RE.match(block.text)
            box = int(m.group(1)) if m and int(m.group(1)) in TABLE_BOXES else None
            box_heading = _strip_heading(block.text)
            category = ""
            continue
        if box is None:
            continue
        if block.kind != "table_row":
            if block.text.startswith("注"):
                box = None
            continue
        consumed.add(block.text)
        cells = [c.strip() for c in block.text.split("\t")]
        first = cells[0] if cells else ""
        if first == "序号":
            continue
        if _ITEM_RE.match(first) and not any(cells[1:]):
            category = first
            continue
        if not first.isdigit() or len(cells) < 6:
            log.warning("专栏%s: unexpected row %r", box, block.text)
            continue
        tables.setdefault(box, []).append(
            TableRow(
                table=box,
                seq=int(first),
                category=category,
                metric=re.sub(r"^其中[:：]", "", cells[1]).strip(),
                unit=cells[2],
                col_a=cells[3],
                col_b=cells[4],
                nature=cells[5],
                line=block.text,
                path=(path_of or {}).get(index, box_heading),
            )
        )
    return tables


# metric keys for the table rows (curated facts sharing a catalogue id override them)
TABLE_METRIC_KEYS = {
    "城镇新增就业人数": "urban_new_jobs",
    "调查失业率": "surveyed_unemployment_rate",
    "城镇调查失业率": "surveyed_unemployment_rate",
    "城镇登记失业率": "registered_unemployment_rate",
    "扶持大学生创业": "supported_graduate_startups",
    "基本养老保险参保率": "pension_insurance_coverage_rate",
    "基本医疗保险参保率": "medical_insurance_coverage_rate",
    "社会保障卡持卡覆盖率": "social_security_card_coverage_rate",
    "专业技术人才总量": "professional_talent_total",
    "技能人才总量": "skilled_talent_total",
    "高技能人才占技能人才比": "high_skilled_talent_share",
    "引进海外高层次人才": "overseas_high_level_talent",
    "企业劳动合同签订率": "labor_contract_signing_rate",
    "劳动人事争议仲裁结案率": "labor_arbitration_closure_rate",
    "基本养老保险参保人数": "pension_insurance_enrollment",
    "工伤保险参保人数": "work_injury_insurance_enrollment",
    "失业保险参保人数": "unemployment_insurance_enrollment",
    "新增取得专业技术人员职业资格证书人数": "new_professional_qualifications",
    "博士后研究人员年招数": "postdoc_annual_recruitment",
    "在站博士后人数": "postdocs_in_station",
    "新增取得职业资格证书或职业技能等级证书人数": "new_skill_certificates",
    "新增取得高级工以上职业资格证书或职业技能登记证书人数": "new_advanced_skill_certificates",
    "开展补贴性职业技能培训人次": "subsidised_training",
    "“粤菜师傅”培训人次": "cantonese_chef_training",
    "“南粤家政”培训人次": "nanyue_housekeeping_training",
    "劳动人事争议调解成功率": "labor_mediation_success_rate",
    "劳动保障监察举报投诉案件结案率": "labor_inspection_closure_rate",
    "社会保障卡持卡人数": "social_security_cardholders",
    "申领电子社保卡人口覆盖率": "electronic_ss_card_coverage_rate",
}


def _metric_key(metric: str) -> str:
    key = TABLE_METRIC_KEYS.get(metric)
    if key:
        return key
    return "table_" + hashlib.sha1(metric.encode("utf-8")).hexdigest()[:8]


def table_facts(doc: ParsedDocument) -> list[FactSpec]:
    """Facts of the indicator tables of ``doc`` (origin ``table``).

    Per row ``NN`` of 专栏1: ``<P>-T1-NN`` is the 2020 achieved value (period ``result_13th``) or,
    when that cell is "—", the "十三五" plan's 2020 target (``target_13th``); ``<P>-T1-NN-target``
    is the target when both exist. Per row of 专栏2: ``<P>-T2-NN`` is the 2025 target (``target_2025``, or
    ``total_2021_2025`` for "[x]" five-year totals) and ``<P>-T2-NN-base`` the 2020 base
    (``base_2020``). All carry ``catalogue: [<P>-T<n>-NN]``.
    """
    prefix = TABLE_ID_PREFIX.get(doc.meta.doc_id)
    if not prefix:
        return []
    facts: list[FactSpec] = []
    for box, rows in sorted(doc.tables.items()):
        for row in rows:
            base_id = f"{prefix}-T{box}-{row.seq:02d}"
            a, b = parse_cell(row.col_a), parse_cell(row.col_b)
            if box == 1:
                specs = [
                    (a, "result_13th", "“十三五”五年累计实绩", "“十三五”实绩（2020年）"),
                    (b, "target_13th", "“十三五”五年累计目标", "“十三五”规划目标（2020年）"),
                ]
                suffixes = ["", "-target"]
            else:
                specs = [
                    (b, "target_2025", "“十四五”五年累计目标", "2025年目标"),
                    (a, "base_2020", "2020年基数（“十三五”五年累计）", "2020年基数"),
                ]
                suffixes = ["", "-base"]
            first = True
            for (cell, period, total_label, label), suffix in zip(specs, suffixes, strict=True):
                if cell is None:
                    continue
                if box == 2 and period == "target_2025" and cell.cumulative:
                    period = "total_2021_2025"
                fact_id = base_id if first else base_id + suffix
                first = False
                facts.append(
                    FactSpec(
                        id=fact_id,
                        catalogue=(base_id,),
                        metric=row.metric,
                        metric_key=_metric_key(row.metric),
                        region=doc.meta.region,
                        period=period,
                        value=cell.value,
                        unit=row.unit,
                        qualifier=cell.qualifier,
                        nature=row.nature if row.nature in ("预期性", "约束性") else "",
                        topics=(),
                        doc=doc.meta.doc_id,
                        section=row.path,
                        quote=row.line,
                        display=render_display(cell.value, row.unit, cell.qualifier),
                        status="current",
                        conflict_group="",
                        note=f"{label if not cell.cumulative else total_label}，摘自{row.path}",
                        origin="table",
                        cumulative=cell.cumulative,
                        source_file=f"sources/{doc.meta.file}",
                    )
                )
    return facts


# ---------------------------------------------------------------- documents


def parse_document(meta: ManifestEntry, sources_dir: Path) -> ParsedDocument:
    """Read and parse one source file according to its manifest ``format``."""
    raw_bytes = (sources_dir / meta.file).read_bytes()
    raw = raw_bytes.decode("utf-8")
    blocks = clean_html(raw) if meta.format == "html" else clean_text(raw)
    doc = ParsedDocument(
        meta=meta,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        clean_text="\n\n".join(b.text for b in blocks),
        blocks=blocks,
    )
    consumed: set[str] = set()
    if meta.doc_id in TABLE_ID_PREFIX:
        # heading path of every block, for the citations of table rows
        path_of: dict[int, str] = {}
        heads: list[tuple[int, str]] = []
        for i, b in enumerate(blocks):
            if b.kind == "heading":
                while heads and heads[-1][0] >= b.level:
                    heads.pop()
                heads.append((b.level, _strip_heading(b.text)))
            path_of[i] = PATH_SEPARATOR.join(h for _, h in heads)
        doc.tables = parse_indicator_tables(blocks, path_of, consumed)
    structure(doc, skip_rows=consumed)
    return doc


def parse_documents(manifest: list[ManifestEntry], sources_dir: Path) -> dict[str, ParsedDocument]:
    """Parse every document of the manifest whose file exists; keyed by doc_id."""
    docs: dict[str, ParsedDocument] = {}
    for meta in manifest:
        if not meta.doc_id or not (sources_dir / meta.file).is_file():
            continue
        docs[meta.doc_id] = parse_document(meta, sources_dir)
    return docs


# ---------------------------------------------------------------- statements

# why: a statement is what a resident can be told in one breath; Chinese sentences end at 。！？, and the
# plans' long sentences list measures separated by ；, each of which stands alone.
_SENTENCE_END_RE = re.compile(r"(?<=[。！？!?；;])")
_STATEMENT_MIN_CHARS = 8
_STATEMENT_MAX_CHARS = 160
_PERIOD_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("result_2024", re.compile(r"2024年")),
    ("target_2025", re.compile(r"到2025年|2025年[^，。]{0,6}(?:达到|实现|形成|建成)|十四五.{0,3}(?:期末|时期|期间)|“十四五”(?:期末|时期|期间)")),  # noqa: E501
    ("result_13th", re.compile(r"“十三五”(?:期间|时期|以来)|十三五(?:期间|时期|以来)|五年来")),
)


def split_statements(text: str) -> list[str]:
    """Sentences (or ；-clauses) of a passage, verbatim and in order; fragments under 8 characters are
    joined to their neighbour so that every statement can be read on its own."""
    parts = [p for p in _SENTENCE_END_RE.split(text) if p.strip()]
    out: list[str] = []
    for part in parts:
        if out and (len(squash(part)) < _STATEMENT_MIN_CHARS or len(squash(out[-1])) < _STATEMENT_MIN_CHARS):
            out[-1] += part
        else:
            out.append(part)
    # why: a run-on list without ；/。 (tables, headlines) is still one statement, capped for display.
    # why: a news page's own questions ("…如何进一步做好保障工作？") and its "原标题：" line say nothing.
    return [
        s.strip()
        for s in out
        if len(squash(s)) >= _STATEMENT_MIN_CHARS
        and len(s) <= 4 * _STATEMENT_MAX_CHARS
        and not s.strip().endswith(("？", "?"))
        and not s.strip().startswith("原标题")
    ]


def statement_period(text: str) -> str:
    """The period a sentence states itself (``result_2024``, ``target_2025``, ``result_13th``) or ``""``."""
    for period, cue in _PERIOD_CUES:
        if cue.search(text):
            return period
    return ""
