"""Compile the content into the knowledge-base database.

Contracts:
- :func:`compile_kb` reads and verifies everything without touching a database; its ``problems``
  list is empty when the content may be built (``python -m knowledge check``).
- :func:`build` is idempotent: it hashes sources + YAML + the package's code and returns early when
  the newest ``kb_build_info`` row carries the same hash (unless ``force``). Otherwise it verifies,
  then replaces the whole ``kb_*`` schema in ONE transaction, so readers see the old or the new KB.
- A build with problems raises :class:`BuildError` listing every problem and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import delete, func, insert, inspect, select
from sqlalchemy.engine import Engine

from knowledge import models as m
from knowledge.content import Content, FactSpec, load_content
from knowledge.db import get_engine, session_scope
from knowledge.ingest import (
    ParsedDocument,
    locate,
    parse_documents,
    split_statements,
    statement_period,
    table_facts,
)
from knowledge.planner import verify_uncovered
from knowledge.settings import PACKAGE_DIR, Settings
from knowledge.textutil import period_label, render_display, squash
from knowledge.verify import merge_table_facts, verify

log = logging.getLogger(__name__)

COUNTED = {
    "documents": m.Document,
    "sections": m.Section,
    "passages": m.Passage,
    "statements": m.Statement,
    "facts": m.Fact,
    "topics": m.Topic,
    "channels": m.Channel,
}


class BuildError(RuntimeError):
    """The content failed verification; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"knowledge base build failed with {len(self.problems)} problem(s):\n{listing}")


@dataclass
class CompiledKB:
    """Verified, ready-to-write knowledge base (or the problems preventing it)."""

    content: Content
    docs: dict[str, ParsedDocument]
    facts: list[FactSpec]
    fact_topics: dict[str, list[str]]
    passage_topics: dict[tuple[str, int], set[str]]
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildResult:
    skipped: bool
    content_hash: str
    counts: dict[str, int]
    duration_s: float


def code_files() -> list[Path]:
    """The engine's own source files (their bytes are part of the build hash)."""
    return sorted(PACKAGE_DIR.glob("*.py")) + [PACKAGE_DIR / "uncovered.yml"]


def content_hash(content: Content) -> str:
    """sha256 over the relative names and bytes of every content file and every code file."""
    digest = hashlib.sha256()
    for base, files in ((content.content_dir, content.content_files()), (PACKAGE_DIR, code_files())):
        for path in files:
            digest.update(str(path.relative_to(base)).encode("utf-8") + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _effective_fact_topics(content: Content, facts: list[FactSpec]) -> dict[str, list[str]]:
    topics: dict[str, list[str]] = {f.id: list(f.topics) for f in facts}
    for topic in content.topics:
        for fid in topic.facts:
            if fid in topics and topic.id not in topics[fid]:
                topics[fid].append(topic.id)
    return topics


def _passage_topics(
    docs: dict[str, ParsedDocument],
    content: Content,
    facts: list[FactSpec],
    fact_topics: dict[str, list[str]],
) -> dict[tuple[str, int], set[str]]:
    """Topics of each passage: it overlaps a quote of the topic's facts or summary."""
    quotes: dict[str, list[tuple[str, str]]] = defaultdict(list)  # doc -> [(squashed quote, topic)]
    for f in facts:
        for topic in fact_topics.get(f.id, []):
            quotes[f.doc].append((squash(f.quote), topic))
    for t in content.topics:
        for s in t.summary:
            quotes[s.doc].append((squash(s.quote), t.id))
    out: dict[tuple[str, int], set[str]] = defaultdict(set)
    for doc_id, doc in docs.items():
        doc_quotes = quotes.get(doc_id, [])
        if not doc_quotes:
            continue
        for p in doc.passages:
            text = squash(p.text)
            if not text:
                continue
            for quote, topic in doc_quotes:
                if not quote:
                    continue
                # why: quotes may span two passages (long paragraphs are split), so any overlap counts.
                if text in quote or quote in text or quote[:15] in text or quote[-15:] in text:
                    out[(doc_id, p.ordinal)].add(topic)
    return out


def _verify_statements(docs: dict[str, ParsedDocument]) -> list[str]:
    """Every statement is verbatim in its document's clean text (whitespace aside)."""
    problems = []
    for doc_id, doc in docs.items():
        text = squash(doc.clean_text)
        for p in doc.passages:
            for statement in split_statements(p.text):
                if squash(statement) not in text:
                    problems.append(f"document {doc_id}: statement not in the source text: {statement[:40]}")
    return problems


def compile_kb(content_dir: Path, content: Content | None = None) -> CompiledKB:
    """Load (unless ``content`` is given), parse, merge and verify; never raises on bad content."""
    content = content if content is not None else load_content(content_dir)
    docs = parse_documents(content.manifest, content.sources_dir)
    tables = [f for doc in docs.values() for f in table_facts(doc)]
    facts, problems = merge_table_facts(content.facts, tables)
    problems = content.problems + problems + verify(content, docs, facts) + _verify_statements(docs)
    uncovered = Path(content_dir) / "uncovered.yml"
    if uncovered.is_file():
        # why: fixture content (tests/data/knowledge/content) has no uncovered subjects of its own.
        problems += verify_uncovered(
            {doc_id: squash(doc.clean_text) for doc_id, doc in docs.items()}, {c.id for c in content.channels},
            uncovered,
        )

    resolved: list[FactSpec] = []
    for f in facts:
        section = f.section
        if not section and f.doc in docs:
            section = locate(docs[f.doc], f.quote)
        resolved.append(
            replace(f, section=section, display=f.display or render_display(f.value, f.unit, f.qualifier))
        )
    fact_topics = _effective_fact_topics(content, resolved)
    return CompiledKB(
        content=content,
        docs=docs,
        facts=resolved,
        fact_topics=fact_topics,
        passage_topics=_passage_topics(docs, content, resolved, fact_topics),
        problems=problems,
    )


def latest_build(engine: Engine) -> m.BuildInfo | None:
    """The newest build row, or None when the KB was never built in this database."""
    if not inspect(engine).has_table(m.BuildInfo.__tablename__):
        return None
    with session_scope(engine) as session:
        return session.execute(select(m.BuildInfo).order_by(m.BuildInfo.id.desc()).limit(1)).scalars().first()


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of the main tables (0 when the KB is not built)."""
    if not inspect(engine).has_table(m.BuildInfo.__tablename__):
        return {name: 0 for name in COUNTED}
    with session_scope(engine) as session:
        return {
            name: session.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in COUNTED.items()
        }


# why: a statement belongs to a topic when it names the topic (an alias of 3+ characters, or the card's
# name); short aliases (社保, 工伤) are too common to tag on their own.
def _topic_aliases(content: Content) -> list[tuple[str, str]]:
    out = []
    for t in content.topics:
        for alias in dict.fromkeys((t.name, *t.aliases)):
            if len(alias) >= 3 and not alias.isascii():
                out.append((alias, t.id))
    return out


def _alias_topics(text: str, aliases: list[tuple[str, str]]) -> set[str]:
    return {topic for alias, topic in aliases if alias in text}


# why: a sentence without its own period cue takes its document's: the 2024 review states results, the
# plans' "发展基础" sections look back on the 十三五, everything else in a plan is what it sets out to do.
def _default_period(kind: str, path: str) -> str:
    if kind == "annual_review":
        return "result_2024"
    if "发展基础" in path or "十三五" in path or "发展成就" in path:
        return "result_13th"
    return "plan"


def _rows(kb: CompiledKB) -> dict[type, list[dict]]:
    """Every row to insert, per model, in foreign-key order."""
    rows: dict[type, list[dict]] = defaultdict(list)
    content = kb.content
    section_id = 0
    passage_id = 0
    statement_id = 0
    aliases = _topic_aliases(content)
    for meta in content.manifest:
        doc = kb.docs.get(meta.doc_id)
        if doc is None:
            continue
        rows[m.Document].append(
            dict(
                id=meta.doc_id,
                file=meta.file,
                title=meta.title,
                publisher=meta.publisher,
                kind=meta.kind,
                region=meta.region,
                published=meta.published,
                date_label=meta.date_label,
                url=meta.url,
                format=meta.format,
                sha256=doc.sha256,
                clean_text=doc.clean_text,
            )
        )
        ids: dict[int, int] = {}
        for s in doc.sections:
            section_id += 1
            ids[s.ordinal] = section_id
            rows[m.Section].append(
                dict(
                    id=section_id,
                    doc_id=meta.doc_id,
                    parent_id=ids.get(s.parent) if s.parent is not None else None,
                    ordinal=s.ordinal,
                    level=s.level,
                    kind=s.kind,
                    heading=s.heading,
                    path=s.path,
                )
            )
        for p in doc.passages:
            passage_id += 1
            rows[m.Passage].append(
                dict(
                    id=passage_id,
                    doc_id=meta.doc_id,
                    section_id=ids.get(p.section) if p.section is not None else None,
                    ordinal=p.ordinal,
                    text=p.text,
                    heading=p.heading,
                    path=p.path,
                )
            )
            passage_topics = sorted(kb.passage_topics.get((meta.doc_id, p.ordinal), ()))
            for topic in passage_topics:
                rows[m.PassageTopic].append(dict(passage_id=passage_id, topic_id=topic))
            for text in split_statements(p.text):
                statement_id += 1
                topics = set(passage_topics) | _alias_topics(text, aliases)
                rows[m.Statement].append(
                    dict(
                        id=statement_id,
                        doc_id=meta.doc_id,
                        passage_id=passage_id,
                        ordinal=statement_id,
                        text=text,
                        path=p.path,
                        region=meta.region,
                        period=statement_period(text) or _default_period(meta.kind, p.path),
                        topics=" ".join(sorted(topics)),
                    )
                )

    for i, t in enumerate(content.topics):
        rows[m.Topic].append(dict(id=t.id, ordinal=i, name=t.name))
    for i, c in enumerate(content.channels):
        section = locate(kb.docs[c.doc], c.quote) if c.doc in kb.docs else ""
        rows[m.Channel].append(
            dict(id=c.id, ordinal=i, name=c.name, doc_id=c.doc, quote=c.quote, section=section)
        )
    for i, f in enumerate(kb.facts):
        rows[m.Fact].append(
            dict(
                id=f.id,
                ordinal=i,
                metric=f.metric,
                metric_key=f.metric_key,
                region=f.region,
                period=f.period,
                period_label=period_label(f.period),
                value=f.value,
                unit=f.unit,
                qualifier=f.qualifier,
                nature=f.nature,
                doc_id=f.doc,
                section=f.section,
                quote=f.quote,
                display=f.display,
                status=f.status,
                conflict_group=f.conflict_group or None,
                note=f.note,
                origin=f.origin,
                cumulative=f.cumulative,
            )
        )
        for pos, topic in enumerate(kb.fact_topics.get(f.id, [])):
            rows[m.FactTopic].append(dict(fact_id=f.id, topic_id=topic, position=pos))
        for cat in dict.fromkeys(f.catalogue):
            rows[m.FactCatalogue].append(dict(fact_id=f.id, catalogue_id=cat))
    for t in content.topics:
        for pos, intent in enumerate(dict.fromkeys(t.intents)):
            rows[m.TopicIntent].append(dict(topic_id=t.id, intent=intent, position=pos))
        for pos, alias in enumerate(dict.fromkeys(t.aliases)):
            rows[m.TopicAlias].append(dict(topic_id=t.id, alias=alias, position=pos))
        for pos, gap in enumerate(t.gaps):
            rows[m.TopicGap].append(dict(topic_id=t.id, position=pos, text=gap))
        for pos, s in enumerate(t.summary):
            section = locate(kb.docs[s.doc], s.quote) if s.doc in kb.docs else ""
            rows[m.TopicSummary].append(
                dict(topic_id=t.id, position=pos, text=s.text, doc_id=s.doc, quote=s.quote, section=section)
            )
        for pos, fid in enumerate(dict.fromkeys(t.facts)):
            rows[m.TopicFact].append(dict(topic_id=t.id, fact_id=fid, position=pos))
        for pos, cid in enumerate(dict.fromkeys(t.channels)):
            rows[m.TopicChannel].append(dict(topic_id=t.id, channel_id=cid, position=pos))
        for pos, rid in enumerate(dict.fromkeys(t.related)):
            rows[m.TopicRelated].append(dict(topic_id=t.id, related_id=rid, position=pos))
    return rows


_INSERT_ORDER = (
    m.Document,
    m.Section,
    m.Passage,
    m.Statement,
    m.Topic,
    m.Channel,
    m.Fact,
    m.PassageTopic,
    m.FactTopic,
    m.FactCatalogue,
    m.TopicIntent,
    m.TopicAlias,
    m.TopicGap,
    m.TopicSummary,
    m.TopicFact,
    m.TopicChannel,
    m.TopicRelated,
)


def write(kb: CompiledKB, engine: Engine, digest: str, started: float) -> dict[str, int]:
    """Replace the ``kb_*`` schema with ``kb`` in one transaction; return the row counts."""
    rows = _rows(kb)
    with session_scope(engine) as session:
        conn = session.connection()
        # why: the KB is derived data without migrations; recreating the schema keeps it in step
        # with models.py, and doing it inside the transaction keeps readers on the old KB until commit.
        m.Base.metadata.drop_all(conn)
        m.Base.metadata.create_all(conn)
        for model in _INSERT_ORDER:
            if rows.get(model):
                session.execute(insert(model), rows[model])
        result = {name: len(rows.get(model, [])) for name, model in COUNTED.items()}
        session.execute(delete(m.BuildInfo))
        session.add(
            m.BuildInfo(
                content_hash=digest,
                built_at=dt.datetime.now(dt.timezone.utc),
                duration_s=round(time.perf_counter() - started, 3),
                counts=json.dumps(result, sort_keys=True),
            )
        )
    return result


def build(settings: Settings, force: bool = False) -> BuildResult:
    """Build the KB described by ``settings`` unless it is up to date; raise BuildError on problems."""
    started = time.perf_counter()
    engine = get_engine(settings.database_url)
    content = load_content(settings.content_dir)
    digest = content_hash(content)
    if not force:
        info = latest_build(engine)
        if info is not None and info.content_hash == digest:
            log.info("knowledge base up to date (%s)", digest[:12])
            return BuildResult(True, digest, json.loads(info.counts), time.perf_counter() - started)
    kb = compile_kb(settings.content_dir, content)
    if kb.problems:
        raise BuildError(kb.problems)
    result = write(kb, engine, digest, started)
    duration = time.perf_counter() - started
    log.info("knowledge base built in %.2fs: %s", duration, result)
    return BuildResult(False, digest, result, duration)
