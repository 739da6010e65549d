"""BM25 search over passages and facts, tokenised with jieba and the project's user dictionary.

Contracts:
- One segmentation source of truth: :class:`Tokenizer` loads ``data/dict/userdict.txt`` (the file the
  NLU's JiebaTokenizer uses) into a private ``jieba.Tokenizer`` on first use, never at import time.
  Tokens come from ``cut_for_search`` (a long dictionary word also yields its sub-words), lower-cased,
  with stop-words and punctuation removed.
- :class:`SearchIndex` is built once from the database (:meth:`SearchIndex.from_engine`) and is then
  read-only and thread-safe. Scores are BM25Okapi scores (``rank_bm25``: its idf, k1, b, avgdl);
  they are computed from per-term postings so a query costs microseconds, not a pass over every doc.
- Fact documents are ``metric + region + period_label + display + quote``; passage documents are the
  passage text plus its innermost heading. Filters: region (exact, after ``normalise_region``) and topic.
  Without a region filter, a query naming exactly one covered region (上海社保卡) ranks that region's
  entries higher (REGION_MENTION_BOOST).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi
from sqlalchemy import select
from sqlalchemy.engine import Engine

from knowledge import models as m
from knowledge.db import session_scope
from knowledge.normalise import normalise_region
from knowledge.records import Hit, Source
from knowledge.vocabulary import COVERED_REGIONS as _COVERED_REGIONS
from knowledge.vocabulary import SYNONYMS

log = logging.getLogger(__name__)

# why: curated facts carry a verified figure and a precise citation, so a tie goes to the fact;
# superseded versions (drafts, minority figures) must not outrank the current one.
FACT_BOOST = 1.2
SUPERSEDED_PENALTY = 0.5
# why: "上海社保卡" names a region without the caller passing a filter; entries of that region
# should come first even when another region's text repeats the other words more often.
REGION_MENTION_BOOST = 1.5

STOPWORDS = frozenset(
    """
    的 了 是 在 和 与 及 或 等 有 没有 吗 呢 吧 啊 呀 么 嘛 哦 哈 喔 的话 什么 怎么 怎么样 怎样 如何 为什么
    多少 几 个 哪些 哪里 哪个 哪 请问 请 麻烦 帮 帮忙 我 你 您 他 她 它 我们 你们 他们 咱们 想 想要 要 能
    可以 会 是否 这 那 这个 那个 这些 那些 一下 一个 关于 对 对于 为 以 将 把 被 就 都 也 还 又 其 之 中
    而 并 并且 及其 以及 从 到 给 让 向 由 于 上 下 里 内 所 该 其中 各 各类 各项 进一步 一些 有关 相关
    现在 目前 知道 告诉 一共 总共 大概 呀 啦 吖 嗎 呢 甚麼 點 咩 係 嘅 喺 同 冇 今天 明天 昨天 今年 帮我 我要
    """.split()
)
_PUNCT_RE = re.compile(r"^[\W_]+$", re.UNICODE)


class Tokenizer:
    """jieba with the project user dictionary; created lazily, safe to share between threads."""

    def __init__(self, userdict_path: Path | None = None):
        self.userdict_path = userdict_path
        self._jieba = None
        self._lock = threading.Lock()

    def _tokenizer(self):
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba  # why: importing jieba is cheap, initialising it is not (~1 s)

                    jieba.setLogLevel(logging.WARNING)
                    tk = jieba.Tokenizer()
                    tk.initialize()
                    if self.userdict_path and self.userdict_path.is_file():
                        tk.load_userdict(str(self.userdict_path))
                    else:
                        log.warning(
                            "jieba user dictionary %s not found; using jieba's default only",
                            self.userdict_path,
                        )
                    self._jieba = tk
        return self._jieba

    def tokens(self, text: str) -> list[str]:
        """Search tokens of ``text`` (stop-words, punctuation and whitespace removed, synonyms mapped)."""
        tk = self._tokenizer()
        out = []
        for tok in tk.cut_for_search(text):
            tok = tok.strip().lower()
            if not tok or tok in STOPWORDS or _PUNCT_RE.match(tok):
                continue
            out.append(SYNONYMS.get(tok, tok))
            if len(tok) > 4:
                # why: cut_for_search only adds 2- and 3-character sub-words; a dictionary metric such as
                # 社会保障卡持卡人数 must also yield 社会保障卡 (→ 社保卡) to match how people ask.
                for n in range(4, len(tok)):
                    for i in range(len(tok) - n + 1):
                        part = tok[i : i + n]
                        if tk.FREQ.get(part):
                            out.append(SYNONYMS.get(part, part))
        return out


_tokenizers: dict[str, Tokenizer] = {}
_tokenizers_lock = threading.Lock()


def shared_tokenizer(userdict_path: Path | None) -> Tokenizer:
    """One tokenizer per dictionary file per process (jieba initialisation costs about a second)."""
    key = str(userdict_path)
    with _tokenizers_lock:
        tk = _tokenizers.get(key)
        if tk is None:
            tk = _tokenizers[key] = Tokenizer(userdict_path)
        return tk


@dataclass(frozen=True)
class Entry:
    """One searchable document of the index."""

    kind: str  # "passage" | "fact"
    text: str  # what the hit shows
    index_text: str  # what is tokenised
    region: str
    topics: tuple[str, ...]
    source: Source
    weight: float = 1.0


def fact_hit_text(metric: str, region: str, period_label: str, display: str) -> str:
    """``社保服务网点（深圳，2024年实绩）：113个``."""
    context = "，".join(p for p in (region, period_label) if p)
    return f"{metric}（{context}）：{display}" if context else f"{metric}：{display}"


def load_entries(engine: Engine) -> list[Entry]:
    """Every passage and fact of the built KB as index entries (one read-only unit of work)."""
    entries: list[Entry] = []
    with session_scope(engine) as session:
        docs = {d.id: d for d in session.execute(select(m.Document)).scalars()}
        passage_topics: dict[int, list[str]] = {}
        for pid, tid in session.execute(select(m.PassageTopic.passage_id, m.PassageTopic.topic_id)):
            passage_topics.setdefault(pid, []).append(tid)
        fact_topics: dict[str, list[str]] = {}
        for fid, tid in session.execute(
            select(m.FactTopic.fact_id, m.FactTopic.topic_id).order_by(
                m.FactTopic.fact_id, m.FactTopic.position
            )
        ):
            fact_topics.setdefault(fid, []).append(tid)
        for p in session.execute(select(m.Passage).order_by(m.Passage.id)).scalars():
            d = docs[p.doc_id]
            source = Source(p.doc_id, d.title, d.publisher, d.date_label, p.path, p.text, d.url)
            entries.append(
                Entry(
                    "passage",
                    p.text,
                    f"{p.heading}\n{p.text}",
                    d.region,
                    tuple(passage_topics.get(p.id, ())),
                    source,
                )
            )
        for f in session.execute(select(m.Fact).order_by(m.Fact.ordinal)).scalars():
            d = docs[f.doc_id]
            source = Source(f.doc_id, d.title, d.publisher, d.date_label, f.section, f.quote, d.url)
            text = fact_hit_text(f.metric, f.region, f.period_label, f.display)
            weight = FACT_BOOST * (SUPERSEDED_PENALTY if f.status == "superseded" else 1.0)
            entries.append(
                Entry(
                    "fact",
                    text,
                    f"{f.metric} {f.region} {f.period_label} {f.display} {f.quote}",
                    f.region,
                    tuple(fact_topics.get(f.id, ())),
                    source,
                    weight,
                )
            )
    return entries


class SearchIndex:
    """Immutable BM25 index over :class:`Entry` objects."""

    def __init__(self, entries: list[Entry], tokenizer: Tokenizer):
        self.entries = entries
        self.tokenizer = tokenizer
        corpus = [tokenizer.tokens(e.index_text) or ["\0"] for e in entries]
        self.bm25 = BM25Okapi(corpus)
        k1, b = self.bm25.k1, self.bm25.b
        lengths = np.asarray(self.bm25.doc_len, dtype=float)
        self._norm = k1 * (1 - b + b * lengths / self.bm25.avgdl)
        self._k1 = k1
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for i, freqs in enumerate(self.bm25.doc_freqs):
            for term, tf in freqs.items():
                idx, tfs = postings.setdefault(term, ([], []))
                idx.append(i)
                tfs.append(tf)
        self._postings = {
            t: (np.asarray(i, dtype=np.int64), np.asarray(f, dtype=float)) for t, (i, f) in postings.items()
        }
        self._weights = np.asarray([e.weight for e in entries], dtype=float)
        regions: dict[str, list[int]] = {}
        topics: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            regions.setdefault(e.region, []).append(i)
            for t in e.topics:
                topics.setdefault(t, []).append(i)
        self._region_idx = {k: np.asarray(v, dtype=np.int64) for k, v in regions.items()}
        self._topic_idx = {k: np.asarray(v, dtype=np.int64) for k, v in topics.items()}

    def region_rows(self, region: str) -> np.ndarray:
        """Indexes of the entries of ``region`` (canonical name)."""
        return self._region_idx.get(region, np.empty(0, dtype=np.int64))

    def topic_rows(self, topic: str) -> np.ndarray:
        """Indexes of the entries tagged with ``topic``."""
        return self._topic_idx.get(topic, np.empty(0, dtype=np.int64))

    @classmethod
    def from_engine(cls, engine: Engine, tokenizer: Tokenizer) -> SearchIndex:
        entries = load_entries(engine)
        index = cls(entries, tokenizer)
        log.info("search index ready: %d entries", len(entries))
        return index

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25Okapi scores of every entry for ``tokens`` (equal to ``bm25.get_scores``)."""
        scores = np.zeros(len(self.entries))
        for tok in tokens:
            posting = self._postings.get(tok)
            if posting is None:
                continue
            idx, tf = posting
            idf = self.bm25.idf.get(tok) or 0.0
            scores[idx] += idf * (tf * (self._k1 + 1) / (tf + self._norm[idx]))
        return scores

    def search(
        self, query: str, region: str | None = None, topic: str | None = None, limit: int = 5
    ) -> list[Hit]:
        """Best ``limit`` hits for ``query``; hits with a score of 0 are never returned."""
        tokens = self.tokenizer.tokens(query)
        if not tokens or limit <= 0 or not self.entries:
            return []
        scores = self.scores(tokens) * self._weights
        mask = scores > 0
        mentioned = {r for r in (normalise_region(t) for t in tokens) if r in _COVERED_REGIONS}
        if not region and len(mentioned) == 1:
            boost = self._region_idx.get(mentioned.pop())
            if boost is not None:
                scores[boost] *= REGION_MENTION_BOOST
        if region:
            wanted = normalise_region(region) or region
            keep = np.zeros(len(self.entries), dtype=bool)
            keep[self._region_idx.get(wanted, np.empty(0, dtype=np.int64))] = True
            mask &= keep
        if topic:
            keep = np.zeros(len(self.entries), dtype=bool)
            keep[self._topic_idx.get(topic, np.empty(0, dtype=np.int64))] = True
            mask &= keep
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return []
        if candidates.size > limit:
            top = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        else:
            top = candidates
        order = top[np.lexsort((top, -scores[top]))]  # score desc, then index for stable ties
        hits = []
        for i in order:
            e = self.entries[int(i)]
            hits.append(Hit(e.kind, e.text, round(float(scores[i]), 4), e.source, e.topics, e.region))
        return hits
