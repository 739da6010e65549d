"""The public API of the knowledge base: the only module actions and bot code may import.

Usage::

    from knowledge.service import KnowledgeService, Fact, TopicCard, Hit, Source, Channel

    svc = KnowledgeService.from_settings()          # process-wide, lazy
    svc = KnowledgeService(database_url="sqlite:///tmp/kb.db")   # tests

Contracts:
- Construction does no I/O. The first call that needs data reads all topics, facts and channels
  in one unit of work and keeps them in memory (the KB is read-only at runtime), so ``topic``,
  ``topic_for_intent``, ``fact`` and ``facts_for_topic`` are dictionary lookups afterwards.
  The search index (jieba + BM25) is built on the first ``search`` call. A rebuilt KB is seen
  after the process restarts (or :meth:`KnowledgeService.reload`).
- Every method returns frozen dataclasses or tuples/lists/frozensets of them, never ORM objects.
- Methods are thread-safe (actions run them in worker threads).
- If the KB was never built, data methods raise :class:`KnowledgeBaseNotBuilt`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import inspect, select

from knowledge import models as m
from knowledge.db import get_engine, session_scope
from knowledge.excerpt import DocumentInfo, SourceContext, excerpt, section_of
from knowledge.normalise import normalise_region as _normalise_region
from knowledge.normalise import question_kind as _question_kind
from knowledge.normalise import regions_in as _regions_in
from knowledge.planner import Plan
from knowledge.records import Channel, Fact, Hit, Source, Statement, TopicCard
from knowledge.search import Entry, SearchIndex, shared_tokenizer
from knowledge.service_facts import KINDS as SERVICE_FACT_KINDS
from knowledge.service_facts import ServiceFact, live_facts_if_any
from knowledge.settings import Settings, get_settings
from knowledge.textutil import normalise_number, number_forms
from knowledge.vocabulary import COVERED_REGIONS, PERIOD_ENTITY_VALUES

__all__ = [
    "KnowledgeService", "KnowledgeBaseNotBuilt", "Fact", "TopicCard", "Hit", "Source", "Channel", "Statement", "Plan",
]

log = logging.getLogger(__name__)
_DIGIT = re.compile(r"\d")

# why: a statement tagged with the asked topic is much more likely the answer than a namesake elsewhere.
TOPIC_STATEMENT_BOOST = 1.6
# why: the sentences that name the question's own subject phrase (个人养老金, 企业年金, 面向社会) answer it
# better than sentences sharing only its common words (账户, 开设); a phrase in more sentences is no subject.
PHRASE_BOOST = 2.0
MAX_PHRASE_STATEMENTS = 6
MAX_PHRASE_LENGTH = 12
_PHRASE_SPLIT = re.compile(
    r"[\s\d，。？！、：；“”‘’（）《》()?!,.;:\"'…]+|什么|什麼|怎么|怎麼|是否|可以|能不能|有没有|有啥"
)
# why: a statement that uses the words an answer needs (免费 for 收不收费) is the answer more often than one
# that only repeats the question's topic words.
FACET_WEIGHT = 1.0
# why: the final plan's news (000) and the 2024 review (003) are current; the draft (001) is the
# fallback when only it says something.
STATEMENT_DOC_WEIGHT = {"000": 1.15, "003": 1.1}
SERVICE_FACTS_TTL = 10.0
# why: how often a running service asks whether the knowledge base was rebuilt (one indexed query).
BUILD_CHECK_SECONDS = 5.0


# why: "一、稳就业:…", "十、保权益:…": the headings of a document that lists its items (the 2024 ten events).
_NUMBERED_HEADING = re.compile(r"[一二三四五六七八九十]{1,3}、")

class KnowledgeBaseNotBuilt(RuntimeError):
    """The database holds no knowledge base; run ``python -m knowledge build``."""


@dataclass(frozen=True)
class _Snapshot:
    """Everything the fast lookups need, loaded once."""

    topics: dict[str, TopicCard]
    topic_order: tuple[str, ...]
    by_intent: dict[str, TopicCard]
    facts: dict[str, Fact]
    fact_order: dict[str, int]
    metric_keys: dict[str, str]
    groups: dict[str, tuple[str, ...]]  # conflict_group -> fact ids
    fact_group: dict[str, str]
    topic_facts: dict[str, tuple[str, ...]]  # topic -> fact ids, card order then others, superseded last
    doc_regions: dict[str, str]
    channels: dict[str, Channel]
    statements: tuple[Statement, ...]


class KnowledgeService:
    """Read-only access to topics, facts, channels and search of the built knowledge base."""

    _default: KnowledgeService | None = None
    _default_lock = threading.Lock()

    def __init__(self, database_url: str | None = None, userdict_path: Path | str | None = None):
        settings = get_settings() if database_url is None or userdict_path is None else None
        self.database_url = database_url or settings.database_url  # type: ignore[union-attr]
        self.userdict_path = Path(userdict_path) if userdict_path else settings.userdict_path  # type: ignore[union-attr]
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._index: SearchIndex | None = None
        self._statement_index: SearchIndex | None = None
        self._statement_digits = np.zeros(0, dtype=bool)
        self._statement_ids: dict[int, Statement] | None = None
        self._statement_trigrams: dict[str, set[int]] | None = None
        self._phrase_cache: dict[tuple[str, str | None, str], list[int]] = {}
        self._numbers: frozenset[str] | None = None
        self._facts_cache: dict[tuple[str, str | None, str | None], list[Fact]] = {}
        self._service_cache: tuple[float, dt.date, list[Fact]] | None = None
        self._loaded_stamp: tuple | None = None
        self._checked_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> KnowledgeService:
        """The process-wide service for ``settings`` (default: the environment); no I/O until used."""
        if settings is not None:
            return cls(settings.database_url, settings.userdict_path)
        with cls._default_lock:
            if cls._default is None:
                s = get_settings()
                cls._default = cls(s.database_url, s.userdict_path)
            return cls._default

    def reload(self) -> None:
        """Forget cached data so the next call reads the (rebuilt) KB again."""
        with self._lock:
            self._snapshot = None
            self._index = None
            self._statement_index = None
            self._statement_ids = None
            self._statement_trigrams = None
            self._phrase_cache = {}
            self._numbers = None
            self._facts_cache = {}
            self._service_cache = None

    # ------------------------------------------------------------ loading

    def _engine(self):
        engine = get_engine(self.database_url)
        if not inspect(engine).has_table(m.BuildInfo.__tablename__):
            raise KnowledgeBaseNotBuilt("the knowledge base is not built: run `python -m knowledge build`")
        return engine

    def _data(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked_at > BUILD_CHECK_SECONDS:
            # why: a rebuild (make kb, or the console linking a new intent to its card) takes effect in a
            # running action server without a restart; one small query every few seconds tells.
            self._checked_at = time.monotonic()
            if self._build_stamp() != self._loaded_stamp:
                log.info("knowledge base rebuilt: reloading")
                self.reload()
                snapshot = None
        if snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    stamp = self._build_stamp()
                    self._snapshot = self._load()
                    self._loaded_stamp, self._checked_at = stamp, time.monotonic()
                snapshot = self._snapshot
        return snapshot

    def _build_stamp(self) -> tuple | None:
        """(content hash, built at) of the newest build, or None (no build, or the database is unreachable)."""
        try:
            engine = get_engine(self.database_url)
            with session_scope(engine) as session:
                row = session.execute(
                    select(m.BuildInfo.content_hash, m.BuildInfo.built_at).order_by(m.BuildInfo.id.desc()).limit(1)
                ).first()
        except Exception:  # noqa: BLE001 - a failed check keeps the loaded data; the next one tries again
            return self._loaded_stamp
        return tuple(row) if row else None

    def _load(self) -> _Snapshot:
        engine = self._engine()
        with session_scope(engine) as session:
            docs = {d.id: d for d in session.execute(select(m.Document)).scalars()}

            def source(doc_id: str, section: str, quote: str) -> Source:
                d = docs[doc_id]
                return Source(doc_id, d.title, d.publisher, d.date_label, section, quote, d.url)

            fact_topics: dict[str, list[str]] = defaultdict(list)
            for row in session.execute(
                select(m.FactTopic).order_by(m.FactTopic.fact_id, m.FactTopic.position)
            ).scalars():
                fact_topics[row.fact_id].append(row.topic_id)
            facts: dict[str, Fact] = {}
            fact_order: dict[str, int] = {}
            metric_keys: dict[str, str] = {}
            groups: dict[str, list[str]] = defaultdict(list)
            fact_group: dict[str, str] = {}
            for f in session.execute(select(m.Fact).order_by(m.Fact.ordinal)).scalars():
                facts[f.id] = Fact(
                    id=f.id,
                    metric=f.metric,
                    region=f.region,
                    period=f.period,
                    period_label=f.period_label,
                    value=f.value,
                    unit=f.unit,
                    qualifier=f.qualifier,
                    nature=f.nature,
                    topics=tuple(fact_topics.get(f.id, ())),
                    status=f.status,
                    note=f.note,
                    source=source(f.doc_id, f.section, f.quote),
                    display=f.display,
                    metric_key=f.metric_key,
                )
                fact_order[f.id] = f.ordinal
                metric_keys[f.id] = f.metric_key
                if f.conflict_group:
                    groups[f.conflict_group].append(f.id)
                    fact_group[f.id] = f.conflict_group

            channels = {
                c.id: Channel(c.name, source(c.doc_id, c.section, c.quote))
                for c in session.execute(select(m.Channel).order_by(m.Channel.ordinal)).scalars()
            }

            def grouped(model, column):
                out: dict[str, list] = defaultdict(list)
                for row in session.execute(select(model).order_by(model.topic_id, model.position)).scalars():
                    out[row.topic_id].append(row if column is None else getattr(row, column))
                return out

            intents = grouped(m.TopicIntent, "intent")
            aliases = grouped(m.TopicAlias, "alias")
            gaps = grouped(m.TopicGap, "text")
            summaries = grouped(m.TopicSummary, None)
            card_facts = grouped(m.TopicFact, "fact_id")
            card_channels = grouped(m.TopicChannel, "channel_id")
            related = grouped(m.TopicRelated, "related_id")

            topics: dict[str, TopicCard] = {}
            for t in session.execute(select(m.Topic).order_by(m.Topic.ordinal)).scalars():
                topics[t.id] = TopicCard(
                    id=t.id,
                    name=t.name,
                    intents=tuple(intents.get(t.id, ())),
                    aliases=tuple(aliases.get(t.id, ())),
                    summary=tuple(
                        (s.text, source(s.doc_id, s.section, s.quote)) for s in summaries.get(t.id, ())
                    ),
                    gaps=tuple(gaps.get(t.id, ())),
                    channels=tuple(channels[c] for c in card_channels.get(t.id, ()) if c in channels),
                    fact_ids=tuple(card_facts.get(t.id, ())),
                    related=tuple(related.get(t.id, ())),
                )

            statements = tuple(
                Statement(
                    id=st.id,
                    text=st.text,
                    region=st.region,
                    period=st.period,
                    topics=tuple(st.topics.split()),
                    source=source(st.doc_id, st.path, st.text),
                )
                for st in session.execute(select(m.Statement).order_by(m.Statement.id)).scalars()
            )

        topic_facts: dict[str, tuple[str, ...]] = {}
        for tid, card in topics.items():
            ordered = [fid for fid in card.fact_ids if fid in facts]
            ordered += [fid for fid, f in facts.items() if tid in f.topics and fid not in ordered]
            # why: stable sort keeps card priority within current and within superseded facts.
            ordered.sort(key=lambda fid: facts[fid].status == "superseded")
            topic_facts[tid] = tuple(ordered)

        by_intent = {intent: card for card in topics.values() for intent in card.intents}
        log.info("knowledge loaded: %d topics, %d facts, %d channels", len(topics), len(facts), len(channels))
        return _Snapshot(
            topics=topics,
            topic_order=tuple(topics),
            by_intent=by_intent,
            facts=facts,
            fact_order=fact_order,
            metric_keys=metric_keys,
            groups={k: tuple(v) for k, v in groups.items()},
            fact_group=fact_group,
            topic_facts=topic_facts,
            doc_regions={doc_id: d.region for doc_id, d in docs.items()},
            channels=channels,
            statements=statements,
        )

    # ------------------------------------------------------------ topics and facts

    def topic(self, topic_id: str) -> TopicCard | None:
        """The topic card with ``topic_id``, or None."""
        return self._data().topics.get(topic_id)

    def topic_for_intent(self, intent: str | None) -> TopicCard | None:
        """The card whose ``intents`` contain ``intent`` (each topic intent maps to one card)."""
        return self._data().by_intent.get(intent)

    def topics(self) -> list[TopicCard]:
        """All topic cards in content order."""
        data = self._data()
        return [data.topics[t] for t in data.topic_order]

    def fact(self, fact_id: str) -> Fact | None:
        """The fact with ``fact_id`` (curated id or table id such as ``SZD-T2-04``), or None."""
        return self._data().facts.get(fact_id)

    def facts_for_topic(
        self, topic_id: str, region: str | None = None, period: str | None = None
    ) -> list[Fact]:
        """Facts of a topic: the card's ``facts`` in priority order, then other facts tagged with the
        topic; superseded facts last.

        ``region`` is normalised (``SZ`` → 深圳); a region the sources do not cover (广州) yields [].
        ``period`` is a fact period (``result_2024``) or an NLU period value (``13th``, ``14th``,
        ``2020``, ``2024``, ``2025``); ``last_year`` must be resolved by the caller.
        """
        key = (topic_id, region, period)
        cached = self._facts_cache.get(key)
        if cached is not None:
            return list(cached)
        data = self._data()
        ids = data.topic_facts.get(topic_id, ())
        wanted_region = _normalise_region(region) if region else None
        if region and wanted_region not in COVERED_REGIONS:
            result: list[Fact] = []
        else:
            periods = PERIOD_ENTITY_VALUES.get(period, frozenset({period})) if period else None
            result = [
                data.facts[fid]
                for fid in ids
                if (wanted_region is None or data.facts[fid].region == wanted_region)
                and (periods is None or data.facts[fid].period in periods)
            ]
        self._facts_cache[key] = result
        # why: staff facts are appended uncached: an approval or an expiry date must count at once.
        return list(result) + self.service_facts(topic=topic_id, region=region)

    def service_facts(
        self, topic: str | None = None, region: str | None = None, today: dt.date | None = None
    ) -> list[Fact]:
        """Staff-added service facts that are approved and not expired (``knowledge.service_facts``),
        as :class:`Fact` values with ``nature="service"``, ``period="info"`` and a :class:`Source` carrying
        url, publisher, date and ``verified_on``. A region the sources do not cover yields []."""
        wanted = _normalise_region(region) if region else None
        if region and wanted not in COVERED_REGIONS:
            return []
        return [
            f
            for f in self._live_service_facts(today)
            if (topic is None or topic in f.topics) and (wanted is None or f.region == wanted)
        ]

    def _live_service_facts(self, today: dt.date | None = None) -> list[Fact]:
        # why: read at most every SERVICE_FACTS_TTL seconds (answers call this per turn); an approval
        # in the console is live within that time, an expiry date from its day on.
        day = today or dt.date.today()
        cached = self._service_cache
        fresh = cached is not None and cached[1] == day and time.monotonic() - cached[0] < SERVICE_FACTS_TTL
        if today is None and fresh:
            return cached[2]  # type: ignore[index]
        facts = [_service_fact(f) for f in live_facts_if_any(get_engine(self.database_url), day)]
        if today is None:
            self._service_cache = (time.monotonic(), day, facts)
        return facts

    def conflicts_for(self, fact_id: str) -> list[Fact]:
        """Other versions of the same figure: members of the fact's ``conflict_group`` plus facts with
        the same metric_key, region and period but a different value. Current versions first."""
        data = self._data()
        fact = data.facts.get(fact_id)
        if fact is None:
            return []
        ids: list[str] = [i for i in data.groups.get(data.fact_group.get(fact_id, ""), ()) if i != fact_id]
        key = data.metric_keys.get(fact_id)
        mine = {normalise_number(v) for v in number_forms(fact.value)} or {fact.value}
        for other_id, other in data.facts.items():
            if other_id == fact_id or other_id in ids or data.metric_keys.get(other_id) != key:
                continue
            if other.region != fact.region or other.period != fact.period:
                continue
            theirs = {normalise_number(v) for v in number_forms(other.value)} or {other.value}
            if theirs != mine:
                ids.append(other_id)
        ids.sort(key=lambda i: (data.facts[i].status != "current", data.fact_order[i]))
        return [data.facts[i] for i in ids]

    # why: not in docs/design.md; actions/composer.py uses it to pick region-matching summaries.
    def document_region(self, doc_id: str) -> str | None:
        """Region a source document is about (深圳 / 上海 / 全国), or None for an unknown doc_id."""
        return self._data().doc_regions.get(doc_id)

    def plan(self, text: str, topic_id: str | None = None, region: str | None = None) -> Plan:
        """The answer plan for a question (see knowledge.planner): its shape, and the facts, statements and
        channels that go in it. ``topic_id`` is the NLU's topic card, ``region`` the region entity or the one
        carried from earlier turns."""
        from knowledge.planner import plan_answer  # why: the planner imports this module's records

        return plan_answer(self, text, topic_id, region)

    def channel(self, channel_id: str) -> Channel | None:
        """The official channel with ``channel_id`` (knowledge/channels.yml), or None."""
        return self._data().channels.get(channel_id)

    # ------------------------------------------------------------ statements

    def statement(self, statement_id: int) -> Statement | None:
        """The statement with ``statement_id`` (ids are stable for one build of the knowledge base)."""
        by_id = self._statement_ids
        if by_id is None:
            by_id = self._statement_ids = {s.id: s for s in self._data().statements}
        return by_id.get(int(statement_id))

    def statements(self, region: str | None = None, topic: str | None = None) -> list[Statement]:
        """Every statement of the sources in reading order, optionally of one region and/or topic."""
        return [
            s
            for s in self._data().statements
            if (region is None or s.region == region) and (topic is None or topic in s.topics)
        ]

    def sections(self, doc_id: str) -> list[tuple[str, list[Statement]]]:
        """The numbered sections of document ``doc_id`` in reading order, each with its statements.

        A section is numbered when its heading starts with a Chinese ordinal ("四、强保障:…"); the text before the
        first heading (no section) is left out.
        """
        out: dict[str, list[Statement]] = {}
        for s in self._data().statements:
            if s.source.doc_id == doc_id and _NUMBERED_HEADING.match(s.source.section or ""):
                out.setdefault(s.source.section, []).append(s)
        return list(out.items())

    def _statements_index(self) -> SearchIndex:
        index = self._statement_index
        if index is None:
            data = self._data()
            with self._lock:
                if self._statement_index is None:
                    entries = [
                        Entry("statement", s.text, f"{s.source.section}\n{s.text}", s.region, s.topics, s.source,
                              STATEMENT_DOC_WEIGHT.get(s.source.doc_id, 1.0))
                        for s in data.statements
                    ]
                    self._statement_digits = np.asarray([bool(_DIGIT.search(s.text)) for s in data.statements])
                    self._statement_index = SearchIndex(entries, shared_tokenizer(self.userdict_path))
                index = self._statement_index
        return index

    def _phrase_rows(self, text: str, region: str | None, ignore: str = "") -> list[int]:
        """Rows of the few statements (at most ``MAX_PHRASE_STATEMENTS``) that hold the longest phrase of
        ``text`` (3+ characters) found in the sources of ``region``: "个人养老金账户有什么用" asks about
        个人养老金, which two sentences name, not about 账户."""
        key = (text, region, ignore)
        cached = self._phrase_cache.get(key)
        if cached is not None:
            return cached
        rows = self._find_phrase_rows(text, region, ignore)
        if len(self._phrase_cache) >= 512:
            self._phrase_cache.clear()
        self._phrase_cache[key] = rows
        return rows

    def _find_phrase_rows(self, text: str, region: str | None, ignore: str) -> list[int]:
        data = self._data()
        trigrams = self._statement_trigrams
        if trigrams is None:
            # why: the rows holding a phrase are among those holding its first three characters; scanning every
            # sentence per candidate phrase cost ~2 ms a question (issue 20).
            index: dict[str, set[int]] = {}
            for row, statement in enumerate(data.statements):
                for i in range(len(statement.text) - 2):
                    index.setdefault(statement.text[i : i + 3], set()).add(row)
            self._statement_trigrams = trigrams = index
        best_length, best_rows = 0, set()
        for chunk in _PHRASE_SPLIT.split(text):
            for length in range(min(len(chunk), MAX_PHRASE_LENGTH), max(best_length - 1, 2), -1):
                found: set[int] = set()
                for start in range(len(chunk) - length + 1):
                    phrase = chunk[start : start + length]
                    head, tail = trigrams.get(phrase[:3]), trigrams.get(phrase[-3:])
                    if not head or not tail or phrase in ignore:
                        continue
                    rows = [i for i in (head & tail if len(phrase) > 3 else head)
                            if phrase in data.statements[i].text
                            and (region is None or data.statements[i].region == region)]
                    if 0 < len(rows) <= MAX_PHRASE_STATEMENTS:
                        found.update(rows)
                if found:
                    # why: every rare phrase of the longest length counts ("面向社会" beside "开展职业").
                    if length > best_length:
                        best_length, best_rows = length, found
                    else:
                        best_rows |= found
                    break
        return sorted(best_rows)

    def phrase_statement_ids(self, text: str, region: str | None = None, ignore: str = "") -> set[int]:
        """Ids of the statements that hold the question's longest rare phrase (see ``_phrase_rows``); phrases
        inside ``ignore`` (the topic's own name) do not count."""
        statements = self._data().statements
        return {statements[i].id for i in self._phrase_rows(text, region, ignore)}

    def rank_statements(
        self,
        text: str,
        region: str | None = None,
        topic: str | None = None,
        extra_terms: tuple[str, ...] = (),
        limit: int = 3,
        min_score: float = 0.0,
        with_numbers: bool = True,
    ) -> list[Statement]:
        """Statements that best answer ``text`` (BM25 over jieba tokens, section heading included), of
        ``region`` when given; statements tagged with ``topic`` score ``TOPIC_STATEMENT_BOOST`` times higher
        and ``extra_terms`` (words an answer would use, e.g. 免费 for 收不收费) count ``FACET_WEIGHT``.
        Only scores of at least ``min_score`` are returned; ``with_numbers=False`` skips sentences with
        figures."""
        index = self._statements_index()
        tokens = index.tokenizer.tokens(text)
        if not tokens:
            return []
        scores = index.scores(tokens) * index._weights
        if extra_terms:
            extra = [t for term in extra_terms for t in index.tokenizer.tokens(term)]
            scores = scores + FACET_WEIGHT * index.scores(extra) * (scores > 0)
        if topic:
            scores[index.topic_rows(topic)] *= TOPIC_STATEMENT_BOOST
        phrase_rows = self._phrase_rows(text, region)
        if phrase_rows:
            scores[phrase_rows] *= PHRASE_BOOST
        if region:
            keep = np.zeros(len(scores), dtype=bool)
            keep[index.region_rows(region)] = True
            scores[~keep] = 0.0
        data = self._data()
        if not with_numbers:
            # why: a how-to answer must not carry figures nobody asked for (参保人数 for 失业金要什么材料).
            scores[self._statement_digits] = 0.0
        order = np.argsort(-scores, kind="stable")[:limit]
        return [data.statements[int(i)] for i in order if scores[i] > 0 and scores[i] >= min_score]
    # ------------------------------------------------------------ source documents (website source pages)

    def documents(self) -> list[DocumentInfo]:
        """Every source document (title, publisher, date, url, region; no text), in doc_id order."""
        with session_scope(self._engine()) as session:
            return [_document_info(d) for d in session.execute(select(m.Document).order_by(m.Document.id)).scalars()]

    def source_context(self, doc_id: str, quote: str | None = None) -> SourceContext | None:
        """Document ``doc_id`` and where ``quote`` is in it (None for an unknown doc_id).

        The quote is matched as the build verifies quotes (whitespace ignored); the context holds the
        paragraph with the quote highlighted, one paragraph either side and the section path. A quote
        that is not in the document gives ``found=False`` and no paragraphs.
        """
        with session_scope(self._engine()) as session:
            doc = session.get(m.Document, doc_id) if isinstance(doc_id, str) else None
            if doc is None:
                return None
            info = _document_info(doc)
            paragraphs = excerpt(doc.clean_text, quote) if quote else ()
            if not paragraphs:
                return SourceContext(info, found=False)
            sections = [
                (x.heading, x.path)
                for x in session.execute(
                    select(m.Section).where(m.Section.doc_id == doc_id).order_by(m.Section.ordinal)
                ).scalars()
            ]
            return SourceContext(info, True, section_of(doc.clean_text, quote, sections), paragraphs)

    # ------------------------------------------------------------ search and text

    def _search_index(self) -> SearchIndex:
        index = self._index
        if index is None:
            with self._lock:
                if self._index is None:
                    self._index = SearchIndex.from_engine(
                        self._engine(), shared_tokenizer(self.userdict_path)
                    )
                index = self._index
        return index

    def search(
        self, query: str, region: str | None = None, topic: str | None = None, limit: int = 5
    ) -> list[Hit]:
        """BM25 hits (passages and facts) for ``query``, best first, each with its ``Source``.

        Live service facts whose statement shares at least half of the query's character bigrams come
        first (kind ``fact``): they answer what the seed documents do not (hotlines, addresses ...)."""
        grams = {query[i : i + 2] for i in range(len(query) - 1)} if query else set()
        service: list[Hit] = []
        if grams:
            for f in self.service_facts(topic=topic, region=region):
                haystack = f.display + f.metric + " ".join(f.topics)
                score = sum(1 for g in grams if g in haystack) / len(grams)
                if score >= 0.5:
                    service.append(Hit("fact", f.display, score, f.source, f.topics, f.region))
        service.sort(key=lambda h: h.score, reverse=True)
        hits = self._search_index().search(query, region=region, topic=topic, limit=limit)
        return (service + hits)[:limit]

    def known_numbers(self) -> frozenset[str]:
        """Every number the KB can say, as written and normalised (``"20.0"`` and ``"20"``): from fact
        values, displays and quotes, topic summaries and their quotes, channels, passages, document
        texts and document dates."""
        numbers = self._numbers
        if numbers is not None:
            return self._with_service_numbers(numbers)
        data = self._data()
        out: set[str] = set()
        for f in data.facts.values():
            for text in (f.value, f.display, f.source.quote):
                out |= number_forms(text)
        for card in data.topics.values():
            for text, src in card.summary:
                out |= number_forms(text) | number_forms(src.quote)
            for channel in card.channels:
                out |= number_forms(channel.name) | number_forms(channel.source.quote)
        with session_scope(self._engine()) as session:
            for (text,) in session.execute(select(m.Passage.text)):
                out |= number_forms(text)
            for clean, label, published in session.execute(
                select(m.Document.clean_text, m.Document.date_label, m.Document.published)
            ):
                out |= number_forms(clean) | number_forms(label)
                if published is not None:
                    out |= number_forms(published.isoformat())
        numbers = frozenset(out)
        self._numbers = numbers
        return self._with_service_numbers(numbers)

    def _with_service_numbers(self, numbers: frozenset[str]) -> frozenset[str]:
        """``numbers`` itself (the cached object) when no live service fact adds any."""
        out: set[str] = set()
        for f in self._live_service_facts():
            out |= number_forms(f.display) | number_forms(f.source.quote)
        return numbers if out <= numbers else numbers | out

    @staticmethod
    def normalise_region(text: str | None) -> str | None:
        """深圳/深/鹏城/SZ → 深圳; 上海/沪/申城/SH → 上海; 全国/国家 → 全国; other cities → their own
        simplified name (not covered by the sources); anything else → None."""
        return _normalise_region(text)

    @staticmethod
    def question_kind(text: str | None) -> str:
        """``figure`` | ``howto`` | ``amount`` | ``eligibility`` | ``address`` | ``hotline`` | ``time``
        | ``general``, by keyword rules in that priority order (``general`` when none matches)."""
        return _question_kind(text)

    @staticmethod
    def regions_in(text: str | None) -> list[str]:
        """Regions named in running text: 深圳/上海 first, then 全国, then cities the sources do not cover."""
        return _regions_in(text)

    def topic_mentioned(self, text: str | None) -> TopicCard | None:
        """The topic whose longest alias (or name) appears in the text, if any."""
        if not text:
            return None
        value = unicodedata.normalize("NFKC", text).lower()
        best: TopicCard | None = None
        best_length = 1
        for card in self.topics():
            for alias in (card.name, *card.aliases):
                alias = alias.lower()
                if len(alias) > best_length and alias in value:
                    best, best_length = card, len(alias)
        return best


def _document_info(doc: m.Document) -> DocumentInfo:
    return DocumentInfo(doc.id, doc.title, doc.publisher, doc.date_label, doc.url, doc.region, doc.kind)

def _service_fact(f: ServiceFact) -> Fact:
    source = Source(
        f"service:{f.fact_id}", f.source_title, f.publisher, f.source_date, "", f.quote, f.source_url,
        f.verified_on.isoformat(),
    )
    return Fact(
        id=f.fact_id, metric=SERVICE_FACT_KINDS.get(f.kind, f.kind), region=f.region, period="info",
        period_label=f"{f.verified_on.year}年{f.verified_on.month}月{f.verified_on.day}日核实", value=f.statement,
        unit="", qualifier="", nature="service", topics=(f.topic,), status="current", note="", source=source,
        display=f.statement, metric_key=f"service_{f.kind}",
    )
