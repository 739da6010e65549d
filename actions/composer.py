"""Builds knowledge answers from the knowledge service and the domain's response pieces.

Pure functions, no rasa_sdk: the actions feed in what they read from the tracker and send
what comes out. All wording lives in ``domain.yml`` (``utter_part_*``); all facts come from
``knowledge.service``. Nothing here may produce a number that the knowledge base does not hold.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from knowledge.service import Fact, KnowledgeService, Plan, Source, TopicCard
from knowledge.vocabulary import COVERED_CITIES, PERIOD_CODES, PERIOD_WORDS, RESULT_PERIODS, TARGET_PERIODS
from knowledge.vocabulary import COVERED_REGIONS as SUPPORTED_REGIONS

DEFAULT_REGION = "深圳"
MAX_FACT_LINES = 4
GAP_KINDS = {"howto", "amount", "eligibility", "address", "hotline", "time"}

# why: follow-ups like "目标是多少" or "实际完成了多少" carry the period in plain words, not entities.
_TARGET_CUE = re.compile(r"目标|规划要|计划|要达到|到2025|十四五|十四五期末")
_RESULT_CUE = re.compile(r"实际|完成|实绩|实现了|做到了|已经|现在|目前|現在|而家|幾多個")
# why: "之前呢 / 以前呢" after a 2024 or target figure asks for the 十三五 result and the 2020 base.
_BEFORE_CUE = re.compile(r"之前|以前|过去|過去|原来|原來|此前|上一个五年|十三五")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# why: these words are in almost every question and metric name; they say nothing about which figure.
_NOISE = re.compile(
    r"[\s\d，。？！、：；“”（）()?!,.的呢吗啊吧]|深圳|上海|全国|多少|目标|是多|人数|数量|规划|十四五|十三五|期末|年"
)
class Templates:
    """The ``utter_part_*`` pieces of the domain, filled with ``str.format``."""

    def __init__(self, responses: Mapping[str, Any], channel: str | None = None) -> None:
        self._responses = responses
        self._channel = channel

    @classmethod
    def from_domain(cls, domain: Mapping[str, Any], channel: str | None = None) -> Templates:
        return cls(domain.get("responses", {}), channel)

    def text(self, name: str, **values: Any) -> str:
        variants = self._responses.get(name) or []
        chosen = None
        for variant in variants:
            if variant.get("channel") == self._channel and self._channel:
                chosen = variant
                break
            if chosen is None and not variant.get("channel"):
                chosen = variant
        if chosen is None:
            raise KeyError(f"domain has no response {name}")
        return str(chosen["text"]).format(**values)


@dataclass(frozen=True)
class Question:
    """What the action knows about the resident's question."""

    text: str = ""
    region: str | None = None  # region named in this message (entity), canonical or other city
    carried_region: str | None = None  # region slot from earlier turns
    period: str | None = None  # period entity of this message (or carried, for follow-ups)
    more_periods: tuple[str, ...] = ()  # further period entities of the same message ("2024年…十四五…")
    has_pii: bool = False
    today: _dt.date = field(default_factory=_dt.date.today)
    period_carried: bool = False  # ``period`` comes from an earlier turn, not this message
    prior_metrics: tuple[str, ...] = ()  # metric keys of the figures answered last (follow-ups)


@dataclass(frozen=True)
class Answer:
    text: str
    topic_id: str | None = None
    facts: tuple[Fact, ...] = ()
    options: tuple[dict, ...] = ()
    sources: tuple[Source, ...] = ()  # what the 来源 line cites, in order
    statement_ids: tuple[int, ...] = ()  # statements quoted (knowledge.service Statement.id)

    def citations(self) -> list[dict]:
        """Machine-readable citations for the widget's source pages (one per distinct quote)."""
        seen, out = set(), []
        for s in self.sources:
            key = (s.doc_id, s.quote)
            if key not in seen:
                seen.add(key)
                out.append({"doc_id": s.doc_id, "title": s.title, "section": s.section, "quote": s.quote})
        return out


def wanted_periods(question: Question) -> tuple[tuple[str, ...] | None, str | None]:
    """Return (fact periods to show, label of a period the sources cannot have)."""
    period = question.period
    if question.period_carried:
        # why: a period word in this message ("目标定的多少", "之前呢") beats the period of the last turn.
        if _BEFORE_CUE.search(question.text):
            return ("result_13th", "base_2020"), None
        if _TARGET_CUE.search(question.text):
            # why: "目标是多少" right after a 十三五 result may ask that plan's own target; both, labelled.
            if period in ("13th", "2020"):
                return ("target_13th", *TARGET_PERIODS), None
            return TARGET_PERIODS, None
        if _RESULT_CUE.search(question.text):
            return RESULT_PERIODS, None
    if period == "last_year":
        year = str(question.today.year - 1)
        # why: 去年 asks what happened; only 2024 has results in the sources (2025 is a target year).
        if year == "2024":
            period = year
        else:
            return None, f"{year}年"
    if period in PERIOD_CODES:
        codes = PERIOD_CODES[period]
        for more in question.more_periods:
            codes = codes + tuple(c for c in PERIOD_CODES.get(more, ()) if c not in codes)
        if codes != TARGET_PERIODS and _TARGET_CUE.search(question.text):
            # why: "2024年实际多少，目标又是多少" asks for both.
            codes = codes + TARGET_PERIODS
        return codes, None
    if period and period.isdigit():
        return None, f"{period}年"
    if question.prior_metrics and _BEFORE_CUE.search(question.text):
        return ("result_13th", "base_2020"), None
    if _TARGET_CUE.search(question.text):
        return TARGET_PERIODS, None
    if _RESULT_CUE.search(question.text):
        return RESULT_PERIODS, None
    return None, None


def _citation(sources: Iterable[Source]) -> str:
    seen: list[str] = []
    for source in sources:
        label = f"《{source.title}》，{source.date_label}" if source.date_label else f"《{source.title}》"
        if label not in seen:
            seen.append(label)
    return "；".join(seen)


def _join(items: Sequence[str]) -> str:
    return "、".join(items)


# why: the plans say 社会保障卡 where residents say 社保卡; compare like with like.
_SAME = (("社会保障卡", "社保卡"), ("社会保险卡", "社保卡"), ("社會保障卡", "社保卡"), ("社會保險卡", "社保卡"),
         # why: "信寄到哪里" asks the 寄送地址; "电话多少" the 联系电话; "规划管到哪一年" its 期限.
         ("什么时候", "日期"), ("哪一天", "日期"), ("哪天", "日期"),
         ("管到哪一年", "期限"), ("管到哪年", "期限"), ("到哪一年", "期限"),
         ("寄到", "寄送"), ("寄去", "寄送"), ("寄往", "寄送"), ("寄哪", "寄送地址"), ("哪里", "地址"))


def _bigrams(text: str) -> set[str]:
    for long, short in _SAME:
        text = text.replace(long, short)
    text = _NOISE.sub("", text)
    return {text[i : i + 2] for i in range(len(text) - 1)}


def relevance(fact: Fact, question_bigrams: set[str]) -> int:
    """How many of the question's character bigrams the fact's metric and figure share."""
    return len(question_bigrams & _bigrams(fact.metric + fact.display))


_WHEN_WORDS = re.compile(r"时间|日期|什么时候|哪天|哪一天|何时|几时|哪年|上线|出台|发布|截止")


def _select_facts(
    facts: Sequence[Fact], periods: tuple[str, ...] | None, text: str = "", own: set[str] | None = None
) -> list[Fact]:
    """Current facts for the wanted periods, most relevant to the question first, then card order.

    Document facts (``info``: dates, document numbers, rankings) are shown only when the question
    is about them.
    """
    question_bigrams = _bigrams(text)
    scores = {fact.id: relevance(fact, question_bigrams) for fact in facts}
    best = max(scores.values(), default=0)
    # why: a fragment ("电子的呢") has one or two bigrams; one shared bigram is then a named figure.
    need = 2 if len(question_bigrams) > 2 else 1
    if own is not None and best < need:
        facts = [f for f in facts if f.id in own]
    if best >= need:
        # why: a question that names its figure ("网办率", "四新领域") gets that figure first.
        facts = sorted(facts, key=lambda f: -scores[f.id])
    chosen: list[Fact] = []
    seen: set[tuple[str, str]] = set()
    for fact in facts:
        if fact.status != "current":
            continue
        if fact.period == "info" and (best < need or scores[fact.id] < best):
            continue
        if fact.period == "info" and periods is not None and not _WHEN_WORDS.search(text):
            # why: "十三五期间一共引进了多少人才" asks a figure of a period, not the date a service started.
            continue
        if best >= need and scores[fact.id] < max(need, best // 2) and len(chosen) >= 1:
            continue
        if periods is not None and fact.period != "info" and fact.period not in periods:
            continue
        if fact.display in fact.metric:
            # why: a fact that only names something ("15分钟社保服务圈") adds no figure to a list.
            continue
        # why: the plan states some figures twice (body text and table, or as the 十三五 result and
        # the 2020 base) under different names; one line per figure.
        keys = {(fact.metric, fact.period), (fact.value + fact.unit, "")}
        if keys & seen:
            continue
        seen |= keys
        chosen.append(fact)
    if periods is not None and best < need:
        # why: when a period is asked for, show it in the order asked (e.g. 2024 before 十三五).
        chosen.sort(key=lambda f: periods.index(f.period) if f.period in periods else len(periods))
    return chosen[:MAX_FACT_LINES]


def _premise_correction(
    svc: KnowledgeService, card: TopicCard, question: Question, shown: Sequence[Fact], templates: Templates
) -> str | None:
    """Correct a figure in the question that belongs to another region or period."""
    asked = [n for n in _NUMBER.findall(question.text) if len(n) >= 2 or "." in n]
    if not asked:
        return None
    shown_values = {f.value for f in shown}
    for number in asked:
        if number in shown_values:
            continue
        for fact in svc.facts_for_topic(card.id):
            if fact.value != number or fact.status != "current":
                continue
            same_metric = [f for f in shown if f.metric == fact.metric or _metric_key(f) == _metric_key(fact)]
            if not same_metric:
                continue
            right = same_metric[0]
            correction = (
                f"{fact.display}是{fact.region}的{fact.metric}（{fact.period_label}），"
                f"{right.region}是{right.display}（{right.period_label}）。"
            )
            return templates.text("utter_part_premise", correction=correction)
    return None


def _metric_key(fact: Fact) -> str:
    return fact.metric_key or fact.metric


def compose_topic_answer(
    svc: KnowledgeService, templates: Templates, topic_id: str, question: Question
) -> Answer:
    """The answer to a question about one topic card (see docs/design.md, reply conventions)."""
    card = svc.topic(topic_id)
    if card is None:
        return Answer(templates.text("utter_part_search_intro"), None)
    lines: list[str] = []
    sources: list[Source] = []
    if question.has_pii:
        lines.append(templates.text("utter_part_pii"))

    region = resolve_region(svc, card, question)
    if region and region not in SUPPORTED_REGIONS:
        lines.append(templates.text("utter_part_region_not_covered", city=region))
        others = regions_with_facts(svc, card)
        if others:
            lines.append(
                templates.text("utter_part_others_available", regions=_join(others), example=others[0])
            )
        return Answer("\n".join(lines), card.id)

    region_note = None
    if region is None and question.carried_region in SUPPORTED_REGIONS:
        region = question.carried_region
        region_note = templates.text("utter_part_carried_region", region=region)
    elif region is None:
        with_facts = regions_with_facts(svc, card)
        # why: a card about one region only (the national plan, Shanghai's plan) defaults to that region.
        region = with_facts[0] if len(with_facts) == 1 else DEFAULT_REGION
        others = [r for r in with_facts if r != region]
        hint = (
            templates.text("utter_part_others_available", regions=_join(others), example=others[0])
            if others
            else ""
        )
        region_note = templates.text("utter_part_default_region", region=region, others=hint)

    periods, missing_period = wanted_periods(question)
    region_facts = list(svc.facts_for_topic(card.id, region=region))
    own = {f.id for f in region_facts}
    for related in card.related:
        # why: "养老、工伤、失业参保人数分别多少" spans cards; related facts compete on relevance only.
        region_facts += [f for f in svc.facts_for_topic(related, region=region) if f.id not in own]
    continued = False
    if question.prior_metrics:
        # why: a fragment ("之前呢", "目标定的多少", "那上海呢") asks the figure answered last, in the new period or
        # region -- unless it names another figure ("电子的呢") or the topic changed (its own facts lack it).
        bigrams = _bigrams(question.text)
        same = [f for f in region_facts if f.metric_key in question.prior_metrics and f.id in own]
        others = [f for f in region_facts if f not in same]
        best_same = max((relevance(f, bigrams) for f in same), default=0)
        best_other = max((relevance(f, bigrams) for f in others), default=0)
        if same and best_other <= best_same:
            fallback = TARGET_PERIODS if missing_period else periods
            if _select_facts(same, fallback, question.text, {f.id for f in same}):
                region_facts, own, continued = same, {f.id for f in same}, True
                if missing_period:
                    periods = fallback
    shown = _select_facts(region_facts, periods, question.text, own)
    if periods is not None and question.period_carried and not missing_period:
        # why: a period carried from an earlier turn ("十四五规划…" then "信寄到哪里") was not asked for now:
        # no "现有资料没有十四五的数字" about a question that named no period, and a figure the question names
        # (the 寄送地址) beats the carried period's figures of a related card.
        free = _select_facts(region_facts, None, question.text, own)
        bigrams = _bigrams(question.text)
        if free and (not shown or relevance(free[0], bigrams) > relevance(shown[0], bigrams)):
            periods, shown = None, free
    if periods is not None and not shown:
        missing_period = missing_period or PERIOD_WORDS.get(question.period or "", "这一时期")
    if missing_period:
        shown = _select_facts(region_facts, periods if continued else None, question.text, own)

    kind = svc.question_kind(question.text)
    lines.append(card.name + (region_note or ""))
    if missing_period:
        lines.append(templates.text("utter_part_period_missing", period=missing_period))

    correction = _premise_correction(svc, card, question, shown, templates)
    if correction:
        lines.append(correction)

    summary = _summaries_for(card, region, svc)
    if kind in GAP_KINDS:
        # why: a "how do I / how much / where" question gets the gap first, the channels, and one
        # sentence of context; a list of plan figures would not answer it -- unless a figure is
        # exactly what was asked (人均基本养老金 for "每个月能拿多少养老金").
        bigrams = _bigrams(question.text)
        asked = [
            f for f in shown if relevance(f, bigrams) >= 3 or (kind in _WHEN_KINDS and _is_date_answer(f, bigrams))
        ]
        for fact in asked[:2]:
            lines.append(_fact_line(templates, fact))
            sources.append(fact.source)
        if not (kind in _WHEN_KINDS and any(_is_date_answer(f, bigrams) for f in asked)):
            # why: "什么时候印发的" answered with its 印发日期 needs no list of what else the sources lack.
            lines.extend(_gap_lines(svc, templates, card, region, sources))
        if summary:
            lines.append(summary[0][0])
            sources.append(summary[0][1])
    else:
        for fact in shown:
            lines.append(_fact_line(templates, fact))
            sources.append(fact.source)
            for other in svc.conflicts_for(fact.id):
                # why: only a different figure is worth a note; same-value copies are bookkeeping.
                if other.status != "current" and other.note and other.value != fact.value:
                    lines.append(templates.text("utter_part_fact_note", note=other.note))
                    sources.append(other.source)
                    break
        if not shown:
            if summary:
                lines.extend(text for text, _ in summary[:2])
                sources.extend(src for _, src in summary[:2])
            else:
                lines.append(templates.text("utter_part_no_region_facts", region=region, topic=card.name))
            if card.gaps:
                lines.extend(_gap_lines(svc, templates, card, region, sources))
        elif summary and not continued:
            # why: after a fragment the one figure asked is the answer; the card's summary would add others.
            lines.append(summary[0][0])
            sources.append(summary[0][1])

    if sources:
        lines.append(templates.text("utter_part_source", citation=_citation(sources)))
    return Answer("\n".join(lines), card.id, tuple(shown), sources=tuple(sources))


_WHEN_KINDS = ("when", "time")
_DATE = re.compile(r"\d{4}\s*年\s*\d+\s*月|\d+\s*月\s*\d+\s*日|\d+\s*日")


def _is_date_answer(fact: Fact, bigrams: set[str]) -> bool:
    """A dated fact ("印发日期：2021年8月23日") that names what a when-question asks."""
    return bool(_DATE.search(fact.display)) and relevance(fact, bigrams) >= 2


def _fact_line(templates: Templates, fact: Fact) -> str:
    if not fact.period_label:
        return templates.text("utter_part_fact_info", metric=fact.metric, display=fact.display)
    # why: a metric named with its period ("社会保障卡持卡人数（2020年基数）") is not labelled twice.
    metric = fact.metric.replace(f"（{fact.period_label}）", "")
    return templates.text("utter_part_fact", metric=metric, display=fact.display, period_label=fact.period_label)


def _gap_lines(
    svc: KnowledgeService, templates: Templates, card: TopicCard, region: str, sources: list[Source]
) -> list[str]:
    """What the sources do not say, and the official channels they name for this region."""
    lines = []
    if card.gaps:
        lines.append(templates.text("utter_part_gap", gaps=_join(card.gaps[:4])))
    # why: a channel named in a Shenzhen document is no channel for a Shanghai resident.
    channels = [c for c in card.channels if svc.document_region(c.source.doc_id) == region][:3]
    if channels:
        lines.append(templates.text("utter_part_channels", channels=_join([c.name for c in channels])))
        sources.extend(c.source for c in channels)
    else:
        lines.append(templates.text("utter_part_no_channels"))
    return lines


# why: on these cards 香港/澳门 are who the topic is about (港澳居民 in Shenzhen), not the region asked.
SUBJECT_REGIONS = {"hk_macau": {"香港", "澳门"}}


def resolve_region(svc: KnowledgeService, card: TopicCard, question: Question) -> str | None:
    """The region the question names: scanned from the text, else the NLU entity."""
    named = [r for r in svc.regions_in(question.text) if r not in SUBJECT_REGIONS.get(card.id, set())]
    if named:
        return named[0]
    entity = question.region
    if entity:
        entity = svc.normalise_region(entity) or entity
        if entity in SUBJECT_REGIONS.get(card.id, set()):
            return None
    return entity


def regions_with_facts(svc: KnowledgeService, card: TopicCard) -> list[str]:
    """The covered regions a card has current figures for, in SUPPORTED_REGIONS order."""
    regions = {f.region for f in svc.facts_for_topic(card.id) if f.status == "current" and f.period != "info"}
    return [r for r in SUPPORTED_REGIONS if r in regions]


def _summaries_for(card: TopicCard, region: str, svc: KnowledgeService) -> list[tuple[str, Source]]:
    """Summary sentences whose source document is about the region (national ones for 全国)."""
    matching = []
    for text, source in card.summary:
        doc_region = svc.document_region(source.doc_id)
        if doc_region == region:
            matching.append((text, source))
    return matching


def compose_region_not_covered(templates: Templates, city: str) -> Answer:
    """For a region the sources do not cover, with no topic to go on."""
    return Answer(
        templates.text("utter_part_region_not_covered", city=city)
        + "\n"
        + templates.text("utter_part_others_available", regions=_join(SUPPORTED_REGIONS[:2]), example="深圳")
    )


def compose_search_answer(svc: KnowledgeService, templates: Templates, text: str, min_score: float) -> Answer | None:
    """Answer from the best-matching passage or fact, or None when nothing is good enough."""
    hits = svc.search(text, limit=5)
    if not hits or hits[0].score < min_score:
        return None
    best = hits[0]
    # why: "养老、工伤、失业参保人数分别多少" matches several facts about equally well; list them.
    chosen = [best] + [h for h in hits[1:] if h.kind == "fact" and best.kind == "fact" and h.score >= 0.8 * best.score]
    lines = [templates.text("utter_part_search_intro"), *(h.text for h in chosen[:3])]
    lines.append(templates.text("utter_part_source", citation=_citation([h.source for h in chosen[:3]])))
    return Answer(
        "\n".join(lines), best.topics[0] if best.topics else None, sources=tuple(h.source for h in chosen[:3])
    )


# ---------------------------------------------------------------- numbered lists of a document

# why: a card whose document is a list of numbered items ("十件大事") answers "都有啥" with the items, and a
# number ("第四件") then picks one (slot last_options, kind "section").
NUMBERED_LISTS = {"annual_review_2024": "003"}
# why: "都有啥", "是哪十件", "盘点一下": the items, not the card's figures ("网点有多少个" still asks a figure).
LIST_QUESTION = re.compile(r"都有啥|都有什么|都有哪些|有哪些|有什么|有啥|是什么|是啥|是哪|哪十件|哪几件|哪些|"
                           r"列出|列一下|盘点|清单|"
                           r"包括|包含|分别是|都係|有乜|係乜|有咩|哪幾件|有哪幾")
_FIGURE_QUESTION = re.compile(r"多少|几个|幾個|几多|幾多|比例|百分之")
_ORDINAL_PREFIX = re.compile(r"^[一二三四五六七八九十]{1,3}、")
# why: "内容编辑:深圳人社" closes the article; it is not part of the tenth item.
_BYLINE = re.compile(r"(?:内容|责任|文字|图片)?编辑[:：]|来源[:：]|摄影[:：]")


def is_list_question(card_id: str | None, text: str) -> bool:
    """Whether ``text`` asks for the items of a card that is a numbered list (see NUMBERED_LISTS)."""
    return card_id in NUMBERED_LISTS and bool(LIST_QUESTION.search(text)) and not _FIGURE_QUESTION.search(text)


def _section_title(section: str) -> str:
    return _ORDINAL_PREFIX.sub("", section).replace(":", "：")


def compose_section_list(svc: KnowledgeService, templates: Templates, card_id: str) -> Answer:
    """The numbered items of a list card, as options ({"kind": "section", "value": doc|section, "title"})."""
    card = svc.topic(card_id)
    doc_id = NUMBERED_LISTS[card_id]
    sections = svc.sections(doc_id)
    if card is None or not sections:
        return Answer(templates.text("utter_part_search_intro"), None)
    options = tuple({"kind": "section", "value": f"{doc_id}|{section}", "title": _section_title(section)}
                    for section, _ in sections)
    lines = [templates.text("utter_part_list_head", topic=card.name)]
    lines += [templates.text("utter_part_part", number=i, question=o["title"]) for i, o in enumerate(options, 1)]
    lines.append(templates.text("utter_part_list_hint"))
    first = sections[0][1][0].source
    lines.append(templates.text("utter_part_source", citation=_citation([first])))
    return Answer("\n".join(lines), card.id, options=options, sources=(first,))


def compose_section(svc: KnowledgeService, templates: Templates, value: str, card_id: str | None = None) -> Answer:
    """One item of a numbered list (an option value "doc|section"): its heading and its first statements."""
    doc_id, _, section = value.partition("|")
    statements = dict(svc.sections(doc_id)).get(section) or []
    if not statements:
        return Answer(templates.text("utter_part_search_intro"), card_id)
    chosen: list = []
    length = 0
    for statement in statements:
        if _BYLINE.match(statement.text):
            continue
        # why: the heading plus the opening sentences; a long section is a click away on the source page.
        if chosen and (len(chosen) >= 3 or length + len(statement.text) > 260):
            break
        chosen.append(statement)
        length += len(statement.text)
    lines = [_section_title(section), *(templates.text("utter_part_statement", statement=st.text) for st in chosen)]
    lines.append(templates.text("utter_part_source", citation=_citation([chosen[0].source])))
    return Answer("\n".join(lines), card_id, sources=tuple(st.source for st in chosen),
                  statement_ids=tuple(st.id for st in chosen))


def card_relevance(svc: KnowledgeService, card: TopicCard, text: str) -> int:
    """How well a card's own facts and aliases match the question (best character-bigram overlap)."""
    bigrams = _bigrams(text)
    scores = [relevance(f, bigrams) for f in svc.facts_for_topic(card.id)]
    scores += [len(bigrams & _bigrams(alias)) for alias in card.aliases]
    return max(scores, default=0)


# ---------------------------------------------------------------- plans (knowledge.planner)

def compose_plan(svc: KnowledgeService, templates: Templates, plan: Plan, question: Question) -> Answer:
    """Words a :class:`knowledge.planner.Plan`: the planner chose the shape and the content, this only says it."""
    lines: list[str] = []
    if question.has_pii:
        lines.append(templates.text("utter_part_pii"))
    body, sources, shown = _plan_body(svc, templates, plan, question)
    if body is None:
        # why: the figure shape is the topic answer of compose_topic_answer (it carries its own source line).
        answer = compose_topic_answer(svc, templates, plan.topic_id or "", question)
        if plan.district and plan.region in (None, *COVERED_CITIES):
            city = plan.region or "深圳"
            note = templates.text("utter_part_district", city=city, district=plan.district)
            text = answer.text.replace("\n", "\n" + note + "\n", 1)
            return Answer(text, answer.topic_id, answer.facts, answer.options, answer.sources)
        return answer
    lines.extend(body)
    if sources:
        lines.append(templates.text("utter_part_source", citation=_citation(sources)))
    return Answer(
        "\n".join(lines), plan.topic_id, tuple(shown), sources=tuple(sources),
        statement_ids=tuple(st.id for st in _plan_statements(plan)),
    )


def _plan_statements(plan: Plan) -> list:
    found = list(plan.statements)
    for _, sub in plan.parts:
        found.extend(_plan_statements(sub))
    return found


def _plan_body(
    svc: KnowledgeService, templates: Templates, plan: Plan, question: Question
) -> tuple[list[str] | None, list[Source], list[Fact]]:
    lines: list[str] = []
    sources: list[Source] = []
    shown: list[Fact] = []
    district = (
        [templates.text("utter_part_district", city=plan.region or "深圳", district=plan.district)]
        if plan.district
        else []
    )
    if plan.shape == "other_domain":
        return [templates.text("utter_part_other_domain", subject=plan.subject)], sources, shown
    if plan.shape == "place":
        others = list(SUPPORTED_REGIONS)
        return (
            [
                templates.text("utter_part_region_not_covered", city=plan.place),
                templates.text("utter_part_others_available", regions=_join(others), example=others[0]),
            ],
            sources,
            shown,
        )
    if plan.shape in ("gap", "not_covered"):
        if plan.shape == "gap":
            lines.append(templates.text("utter_part_gap_lead", missing=plan.missing))
        else:
            lines.append(templates.text("utter_part_not_covered", subject=plan.subject))
        lines.extend(district)
        for statement in plan.statements[:1]:
            lines.append(templates.text("utter_part_related", statement=statement.text))
            sources.append(statement.source)
        if plan.channels:
            lines.append(templates.text("utter_part_channels", channels=_join([c.name for c in plan.channels])))
            sources.extend(c.source for c in plan.channels)
        else:
            lines.append(templates.text("utter_part_no_channels"))
        return lines, sources, shown
    if plan.shape == "statement":
        card = svc.topic(plan.topic_id or "")
        name = card.name if card else ""
        region_note = f"（{plan.region}）" if plan.region else ""
        lines.append(templates.text("utter_part_statement_head", topic=name, region_note=region_note))
        lines.extend(district)
        for statement in plan.statements:
            lines.append(templates.text("utter_part_statement", statement=statement.text))
            sources.append(statement.source)
        return lines, sources, shown
    if plan.shape == "compare" and plan.topic_id:
        card = svc.topic(plan.topic_id)
        if card is None:
            return None, sources, shown
        lines.append(card.name)
        periods, _ = wanted_periods(question)
        for region in plan.analysis.covered_regions:
            facts = _select_facts(svc.facts_for_topic(card.id, region=region), periods, question.text)[:2]
            lines.append(templates.text("utter_part_compare_region", region=region))
            if not facts:
                lines.append(templates.text("utter_part_no_region_facts", region=region, topic=card.name))
            for fact in facts:
                lines.append(_fact_line(templates, fact))
                sources.append(fact.source)
                shown.append(fact)
        return lines, sources, shown
    if plan.shape == "parts":
        for number, (part, sub) in enumerate(plan.parts, 1):
            lines.append(templates.text("utter_part_part", number=number, question=part))
            sub_question = Question(text=part, region=question.region, carried_region=question.carried_region,
                                    period=question.period, today=question.today)
            body, sub_sources, sub_shown = _plan_body(svc, templates, sub, sub_question)
            if body is None:
                if not sub.topic_id:
                    lines.append(templates.text("utter_part_search_intro"))
                    continue
                answer = compose_topic_answer(svc, templates, sub.topic_id, sub_question)
                # why: one source line for the whole message, at its end.
                body = [line for line in answer.text.split("\n") if not line.startswith("来源：")]
                sub_sources = list(answer.sources)
                sub_shown = list(answer.facts)
            lines.extend(body)
            sources.extend(sub_sources)
            shown.extend(sub_shown)
        return lines, sources, shown
    return None, sources, shown
