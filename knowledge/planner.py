"""Answer planning: which shape an answer takes and what goes in it. No Rasa, no wording.

:func:`plan_answer` returns a :class:`Plan`; ``actions/composer.py`` words it with the domain's
``utter_part_*`` responses. Shapes:

- ``figure``       the topic's figures (the composer's figure path picks and orders them)
- ``statement``    what/whether questions: the best statement(s) of the sources, with their citation
- ``gap``          how-to / amount / eligibility / where / when / phone: what the sources lack first, then the one
                   statement that bears on it (if any), then the channels; never unrelated figures
- ``not_covered``  a 人社 subject the sources do not cover (缴费基数, 生育保险 …): say so, the one statement that
                   names it (if any), the channels
- ``other_domain`` not a 人社 matter (公积金, 个税 …)
- ``place``        a place the sources do not cover (浏阳市, 广东省)
- ``compare``      several covered regions: the figures of each, side by side
- ``parts``        several questions in one message: one plan per part

Contract: every fact, statement and channel in a plan comes from :class:`KnowledgeService`; the planner
never makes text that a resident reads.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.question import Analysis, analyse
from knowledge.records import Channel, Fact, Statement, TopicCard
from knowledge.search import shared_tokenizer
from knowledge.vocabulary import COVERED_REGIONS as COVERED

UNCOVERED_FILE = Path(__file__).with_name("uncovered.yml")
MAX_PARTS = 4
# why: below this BM25 score a statement shares only generic words with the question (measured on the
# development split of tests/eval/real: right statements score 8-30, unrelated ones 2-6).
MIN_STATEMENT_SCORE = 6.0
# why: the sources name the Shenzhen bureau's website; it is the channel for any Shenzhen topic without its own.
DEFAULT_CHANNEL = "hrss_website"

# kind -> what is missing, when no gap of the card names it better
_MISSING = {
    "howto": "具体办理流程和所需材料",
    "amount": "具体金额或标准",
    "eligibility": "具体条件",
    "where": "具体办理地点和地址",
    "when": "具体时间或办理时限",
    "hotline": "咨询电话",
}
_KIND_GAP_WORDS = {
    "howto": ("流程", "材料", "步骤", "渠道", "办理", "申领", "手续", "操作"),
    "amount": ("标准", "金额", "费用", "额度", "待遇", "补贴"),
    "eligibility": ("条件", "资格", "对象"),
    "where": ("地址", "地点", "网点", "名单", "渠道"),
    "when": ("时限", "期限", "时间", "年龄"),
    "hotline": ("电话", "热线"),
}


# why: residents' words for what the plans call otherwise; added to the statement query.
_EXPANSIONS = {
    "失业金": "失业保险", "失业補助": "失业保险", "退休金": "养老金", "仲裁": "劳动争议", "欠薪": "拖欠工资",
    "拖欠工资": "欠薪", "工伤": "工伤保险", "社保卡": "社会保障卡", "创业贷款": "创业担保贷款", "零工": "零工市场",
    "延迟退休": "延迟法定退休年龄", "技能补贴": "技能提升补贴", "网办": "网上办理",
    "香港人": "港澳台居民", "澳门人": "港澳台居民", "工地": "工程建设", "建筑工人": "工程建设",
    "台湾人": "港澳台居民", "香港居民": "港澳台居民", "澳门居民": "港澳台居民",
}
# why: words every procedure or place question uses; a sentence sharing only these with the question (and the
# topic's own name) does not bear on what was asked.
_GENERIC = frozenset(
    """
    办理 申请 参加 需要 准备 可以 能否 时间 多长 多久 哪里 哪儿 在哪 深圳 上海 全国 什么 怎么 如何 这个 那个 问题
    是不是 有没有 要不要 吗 呢 多少 一下 请问 现在 目前 我们 自己 个人 市民 居民 人员 工作 相关 规定 政策 服务 情况
    标准 条件 流程 材料 金额 费用 多长 几个 一年 一次 每个 每月 最新 具体 有关 哪些 怎样 多大 是否
    """.split()
)


def expansion_terms(text: str) -> tuple[str, ...]:
    return tuple(v for k, v in _EXPANSIONS.items() if k in text and v not in text)


@dataclass(frozen=True)
class Uncovered:
    """A 人社 subject the sources do not cover (knowledge/uncovered.yml)."""

    id: str
    name: str
    terms: tuple[str, ...]
    statement_terms: tuple[str, ...]
    channels: tuple[str, ...]
    domain: str
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Plan:
    shape: str
    analysis: Analysis
    topic_id: str | None = None
    region: str | None = None
    missing: str | None = None  # gap / not_covered: what the sources do not say
    subject: str | None = None  # not_covered / other_domain: the subject's name
    place: str | None = None  # place: the place the sources do not cover
    district: str | None = None  # a district of the region named (宝安区): figures are city-wide
    statements: tuple[Statement, ...] = ()
    facts: tuple[Fact, ...] = ()
    channels: tuple[Channel, ...] = ()
    compare: tuple[tuple[str, tuple[Fact, ...]], ...] = ()
    parts: tuple[tuple[str, Plan], ...] = ()
    text: str = ""  # the question (or part) this plan answers
    notes: tuple[str, ...] = field(default_factory=tuple)


_uncovered: tuple[Uncovered, ...] | None = None
_uncovered_lock = threading.Lock()


def uncovered_subjects(path: Path = UNCOVERED_FILE) -> tuple[Uncovered, ...]:
    """The uncovered subjects, read once."""
    global _uncovered
    if _uncovered is None or path != UNCOVERED_FILE:
        rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        subjects = tuple(
            Uncovered(
                r["id"], r["name"], tuple(r.get("terms") or ()), tuple(r.get("statement_terms") or ()),
                tuple(r.get("channels") or ()), r.get("domain", "renshe"),
                tuple(re.compile(p) for p in r.get("patterns") or ()),
            )
            for r in rows
        )
        if path != UNCOVERED_FILE:
            return subjects
        with _uncovered_lock:
            _uncovered = subjects
    return _uncovered


def verify_uncovered(source_texts: dict[str, str], channel_ids: set[str], path: Path = UNCOVERED_FILE) -> list[str]:
    """Problems of uncovered.yml against the (squashed) source texts: a term the sources use must be one of the
    subject's statement_terms (then the bot shows that sentence); statement terms must occur; channels must exist."""
    problems = []
    joined = "".join(source_texts.values())
    for s in uncovered_subjects(path):
        for term in s.terms:
            if term in joined and term not in s.statement_terms and s.domain == "renshe":
                problems.append(f"uncovered.yml {s.id}: the sources do mention {term!r}; add it to statement_terms")
        for pattern in s.patterns:
            found = pattern.search(joined)
            if found and s.domain == "renshe":
                problems.append(
                    f"uncovered.yml {s.id}: pattern {pattern.pattern!r} matches the sources: {found.group(0)!r}"
                )
        for term in s.statement_terms:
            if term not in joined:
                problems.append(f"uncovered.yml {s.id}: statement term {term!r} is not in any source")
        for cid in s.channels:
            if cid not in channel_ids:
                problems.append(f"uncovered.yml {s.id}: unknown channel {cid!r}")
    return problems


def find_uncovered(text: str) -> Uncovered | None:
    value = text.lower()
    best: tuple[int, Uncovered] | None = None
    for s in uncovered_subjects():
        for term in s.terms:
            if term.lower() in value and (best is None or len(term) > best[0]):
                best = (len(term), s)
        for pattern in s.patterns:
            found = pattern.search(value)
            if found and (best is None or len(found.group(0)) > best[0]):
                best = (len(found.group(0)), s)
    return best[1] if best else None


# ---------------------------------------------------------------- planning


def plan_answer(
    svc,
    text: str,
    topic_id: str | None = None,
    region: str | None = None,
    split: bool = True,
) -> Plan:
    """The plan for ``text``. ``topic_id`` is the NLU's topic (its card), ``region`` the region entity or the
    one carried from earlier turns when the text names none."""
    analysis = analyse(text)
    if split and len(analysis.parts) >= 2:
        parts = []
        for part in analysis.parts[:MAX_PARTS]:
            mentioned = svc.topic_mentioned(part)
            part_topic = mentioned.id if mentioned else _best_topic(svc, part) or topic_id
            parts.append((part, plan_answer(svc, part, part_topic, region, split=False)))
        return Plan("parts", analysis, topic_id, region, parts=tuple(parts), text=text)

    subject = find_uncovered(analysis.text)
    if subject is not None and subject.domain == "other":
        return Plan("other_domain", analysis, topic_id, subject=subject.name, text=text)

    places = analysis.uncovered_places
    covered = analysis.covered_regions
    if places and not covered:
        return Plan("place", analysis, topic_id, place=places[0], text=text)
    wanted = covered[0] if covered else (svc.normalise_region(region) if region else None)
    if wanted and wanted not in COVERED:
        return Plan("place", analysis, topic_id, place=wanted, text=text)
    district = analysis.districts[0] if analysis.districts else None

    if subject is not None:
        reg = wanted or "深圳"
        statements = _subject_statements(svc, subject, reg)
        channels = _channels(svc, subject.channels, reg)
        return Plan(
            "not_covered", analysis, topic_id, reg, subject=subject.name, statements=statements,
            channels=channels, text=text, district=district,
        )

    if analysis.kind == "compare" and len(covered) >= 2:
        return Plan("compare", analysis, topic_id, text=text)

    card: TopicCard | None = svc.topic(topic_id) if topic_id else None
    if card is None:
        return Plan("figure", analysis, topic_id, wanted, text=text, district=district)

    if analysis.kind in ("when", "amount") and _asked_figure(svc, card, analysis):
        # why: "征求意见最晚截止到哪一天" and "人均养老金每月多少" are answered by a figure the sources hold.
        return Plan("figure", analysis, card.id, wanted, text=text, district=district)

    reg = wanted or _card_region(svc, card)
    if analysis.is_service and _answering_service_facts(svc, card, analysis, reg):
        # why: a staff fact (approved, cited, verified) says what the plans do not: "没有提供咨询电话" beside
        # an approved 12333 would contradict it. The figure answer leads with that fact.
        return Plan("figure", analysis, card.id, reg, text=text, district=district)
    year = next((y for y in analysis.missing_years if not _year_known(svc, card, y)), None)
    if analysis.is_service or (year and analysis.kind in ("figure", "general", "amount")):
        statements = _statements(svc, card, analysis, text, reg, 1, with_numbers=False)
        missing = _missing(card, analysis) if analysis.is_service else f"{year}年{card.name}的数字"
        if year and analysis.is_service:
            missing = f"{year}年的{missing}"
        return Plan(
            "gap", analysis, card.id, reg, missing=missing, statements=statements,
            channels=_card_channels(svc, card, reg), text=text, district=district,
        )

    if analysis.kind in ("what", "whether") and not _FIGURE_CUE.search(_YEAR.sub("", analysis.text)):
        statements = _statements(svc, card, analysis, text, reg, 2, with_numbers=False)
        term = defined_term(analysis.text) if analysis.kind == "what" else None
        if statements and term and not any(_defines(st.text, term) for st in statements):
            # why: "欠薪是指什么" asks a definition the plans never give; say so first, then the one sentence
            # that bears on it and the channel -- not a plan sentence passed off as the definition.
            return Plan(
                "gap", analysis, card.id, reg, missing=f"“{term}”的定义", statements=statements[:1],
                channels=_card_channels(svc, card, reg), text=text, district=district,
            )
        if statements and (analysis.kind == "what" or analysis.facet in _ANSWERING_FACETS):
            return Plan("statement", analysis, card.id, reg, statements=statements, text=text, district=district)
        if analysis.kind == "whether" or not _figures_asked_about(svc, card, analysis):
            # why: the sources never say yes or no to a resident's case; say so, then what they do say.
            missing = "对这个问题的明确答复" if analysis.kind == "whether" else f"{card.name}中关于这一点的说明"
            return Plan(
                "gap", analysis, card.id, reg, missing=missing, statements=statements[:1],
                channels=_card_channels(svc, card, reg), text=text, district=district,
            )

    return Plan("figure", analysis, card.id, wanted, text=text, district=district)


# why: what a resident's words ask for, by kind of staff service fact (knowledge.service_facts.KINDS).
_SERVICE_KIND_WORDS = {
    "hotline": re.compile(r"电话|热线|號碼|号码|致电|打给|咨询电话|12333"),
    "address": re.compile(r"地址|在哪|哪里|哪儿|地点|位置|网点在"),
    "amount": re.compile(r"多少钱|金额|标准|几多钱|多少元|补多少|发多少|领多少"),
    "procedure": re.compile(r"怎么办|如何办|流程|步骤|手续|怎么补|怎么申请|怎么领|怎样办"),
    "eligibility": re.compile(r"条件|资格|符合|能不能|可不可以|可以申请"),
    "time": re.compile(r"多久|时限|几天|多长时间|几个工作日"),
    "channel": re.compile(r"渠道|入口|在哪办|哪里办|网上办|去哪办"),
}


def _answering_service_facts(svc, card: TopicCard, analysis: Analysis, region: str) -> list:
    """Live staff facts of the card and region whose kind the question asks for."""
    facts = svc.service_facts(topic=card.id, region=region)
    wanted = {kind for kind, words in _SERVICE_KIND_WORDS.items() if words.search(analysis.text)}
    return [f for f in facts if f.metric_key.removeprefix("service_") in wanted]


# why: facets whose words an answering sentence really uses (免费 for 收不收费); procedure and amount words
# are in half the plan and prove nothing.
_ANSWERING_FACETS = frozenset({"use", "fee", "conditions", "time", "place", "phone"})


def _statements(
    svc, card: TopicCard, analysis: Analysis, text: str, region: str, limit: int, with_numbers: bool
) -> tuple[Statement, ...]:
    ranked = svc.rank_statements(
        " ".join((analysis.text, *expansion_terms(text))), region=region, topic=card.id,
        extra_terms=analysis.facet_terms, limit=8, min_score=MIN_STATEMENT_SCORE, with_numbers=with_numbers,
    )
    bearing = _bearing(svc, card, analysis, ranked)
    # why: a sentence naming the question's own subject phrase (企业年金 in "什么企业年金") bears on it even when
    # that phrase is one of the card's aliases, and comes before sentences that share only a facet word.
    named = svc.phrase_statement_ids(analysis.text, region, ignore=card.name)
    if named:
        bearing = [s for s in ranked if s.id in named] + [s for s in bearing if s.id not in named]
    return tuple(bearing[:limit])


def _card_channels(svc, card: TopicCard, region: str) -> tuple[Channel, ...]:
    """The card's channels of the region; for 深圳 without one, the bureau's website (named by the sources)."""
    channels = tuple(c for c in card.channels if svc.document_region(c.source.doc_id) == region)[:3]
    if not channels and region == "深圳":
        website = svc.channel(DEFAULT_CHANNEL)
        channels = (website,) if website is not None else ()
    return channels


def _year_known(svc, card: TopicCard, year: str) -> bool:
    """Whether any fact of the card speaks of ``year`` (a date, a result or a target of that year)."""
    return any(
        year in f.metric + f.display + f.period_label + f.source.quote for f in svc.facts_for_topic(card.id)
    )


def _figures_asked_about(svc, card: TopicCard, analysis: Analysis) -> bool:
    """A what-question about something the card's figures measure (shares 2+ character pairs with a metric:
    "欠薪治理有什么效果" and 欠薪线索“百日攻坚”效果)."""
    asked = _pairs(analysis.text)
    return any(len(asked & _pairs(f.metric)) >= 2 for f in svc.facts_for_topic(card.id) if f.status == "current")


# why: words that ask what a term *means*; "X是什么" alone often asks what the plans say about X.
_DEFINITION_CUE = re.compile(
    r"是指什么|是指啥|指的是什么|指的是啥|是什么意思|是啥意思|什么意思|啥意思|含义|含意|定义|定義|意思是"
)
_TERM_NOISE = re.compile(
    r"^(?:请问|請問|问一下|想问|我想问|什么是|什麼是|啥是|什么|什麼|啥|所谓|所謂)+|(?:是|的|有啥特殊|有什么特殊|有什麼特殊)+$"
)


def defined_term(text: str) -> str | None:
    """The term a definition question asks about ("欠薪是指什么" -> 欠薪), or None."""
    cue = _DEFINITION_CUE.search(text)
    if not cue:
        return None
    before = re.split(r"[，。？！、,.?!；;\s]", text[: cue.start()])
    term = _TERM_NOISE.sub("", before[0].strip()) if before else ""
    return term if 2 <= len(term) <= 16 else None


def _defines(statement: str, term: str) -> bool:
    """Whether a sentence explains ``term``: the term then a bracket or 是指/即/指的是 ("调援裁诉”(劳动争议调解…")."""
    return bool(re.search(re.escape(term) + r"[”\"]?\s*(?:[（(]|是指|即|指的是|是一种|就是)", statement))


# why: "上海知青2025年补贴文件是什么" names a year, not a figure: a year alone is no figure cue.
_YEAR = re.compile(r"(?:19|20)\d\d\s*年?")
# why: a question that names or asks a figure ("目标是64.4万，对吗") is answered with figures, not sentences.
_FIGURE_CUE = re.compile(r"\d|多少|几个|幾個|百分之|比例|目标|目標|人数|人數|几成|幾成|哪一年|哪年|哪几年|哪幾年|几年|幾年")  # noqa: E501
# why: "补贴总共多少钱" asks the city-wide total the sources do report.
_TOTAL_CUE = re.compile(r"总共|總共|一共|累计|累計|合计|合計|全市|总额|總額|总计|總計")
# why: a date or a duration (2021年11月23日, 最快24分钟, 8月23日) answers "多久 / 哪天"; a result of 2024 does not.
_DURATION = re.compile(r"\d+\s*(?:分钟|小时|个工作日|工作日|天|日|秒)|\d+\s*月\s*\d+\s*日|\d{4}\s*年\s*\d+\s*月")


_WHEN_ASKED = re.compile(r"什么时候|什麼時候|哪一天|哪天|何时|何時|几时|幾時|几号|幾號")


def _asked_figure(svc, card: TopicCard, analysis: Analysis) -> bool:
    """A current fact of the card that names what a when/amount question asks (shares 3+ character pairs with
    it and has a date or money unit)."""
    # why: "什么时候印发的" asks the 印发日期 a fact names.
    asked = _pairs(_WHEN_ASKED.sub("日期", analysis.text) if analysis.kind == "when" else analysis.text)
    for fact in svc.facts_for_topic(card.id):
        if fact.status != "current":
            continue
        unit = fact.unit + fact.display
        if analysis.kind == "amount":
            # why: a per-person amount (元/月) answers "能领多少"; a city-wide total (21.8亿元) does not.
            fits = "元/" in unit or "元每" in unit or ("元" in unit and bool(_TOTAL_CUE.search(analysis.text)))
        else:
            fits = bool(_DURATION.search(fact.display + fact.value + fact.unit))
        if fits and len(asked & _pairs(fact.metric + fact.display)) >= (2 if analysis.kind == "when" else 3):
            return True
    return False


_NOISE = re.compile(r"[\s\d，。？！、：；“”（）()?!,.]|深圳|上海|全国|多少|是多|规划|十四五|十三五")


def _pairs(text: str) -> set[str]:
    text = _NOISE.sub("", text)
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _bearing(svc, card: TopicCard, analysis: Analysis, statements: list[Statement]) -> list[Statement]:
    """The statements that share with the question something beyond the topic's own name and generic words:
    a specific word of the question (建筑, 港澳台居民 via 香港人) or a word an answer to the facet uses (免费)."""
    tokenizer = shared_tokenizer(svc.userdict_path)
    topic_words = set(tokenizer.tokens(" ".join((card.name, *card.aliases))))
    expansions = {
        v for k, v in _EXPANSIONS.items() if k in analysis.text and not set(tokenizer.tokens(v)) <= topic_words
    }
    places = analysis.districts + analysis.regions
    asked = set(tokenizer.tokens(analysis.text)) - topic_words - _GENERIC
    specific = {w for w in asked if len(w) >= 2 and not any(w in p for p in places)} | expansions
    # why: the procedure words (办理, 参加, 申请) are in half the plan; they say nothing about the question.
    facet = set(analysis.facet_terms) if analysis.facet in _ANSWERING_FACETS else set()
    words = specific | facet
    if not words:
        # why: "港澳台居民能参加社保吗" asks about the topic itself; its best sentence is the answer.
        return statements[:1]

    def strong(statement: Statement) -> bool:
        # why: one short shared word (特殊, 账户) is chance; a long one (企业年金), two, or an answer word is not.
        hits = [w for w in specific if w in statement.text]
        return any(w in statement.text for w in facet) or len(hits) >= 2 or any(len(w) >= 3 for w in hits)

    return [s for s in statements if strong(s)]


def _best_topic(svc, text: str) -> str | None:
    hits = svc.search(text, limit=1)
    return hits[0].topics[0] if hits and hits[0].topics else None


def _card_region(svc, card: TopicCard) -> str:
    """A card about one region only (the national plan, Shanghai's plan) answers for it; else 深圳."""
    regions = {f.region for f in svc.facts_for_topic(card.id) if f.status == "current"}
    regions |= {svc.document_region(src.doc_id) for _, src in card.summary}
    regions &= set(COVERED)
    return regions.pop() if len(regions) == 1 else "深圳"


_CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")


def _missing(card: TopicCard, analysis: Analysis) -> str:
    """The card's own gap that names what was asked (申领渠道和材料 for 材料), else a phrase for the kind."""
    words = _KIND_GAP_WORDS.get(analysis.kind, ())
    asked = {analysis.text[i : i + 2] for i in range(len(analysis.text) - 1)}
    best, best_score = None, 0
    for gap in card.gaps:
        score = sum(2 for w in words if w in gap) + len(asked & {gap[i : i + 2] for i in range(len(gap) - 1)})
        if score > best_score:
            best, best_score = gap, score
    if best is not None and best_score >= 2:
        return best if card.name[:2] in best else f"{card.name}的{best}"
    return f"{card.name}的{_MISSING.get(analysis.kind, '相关内容')}"


def _subject_statements(svc, subject: Uncovered, region: str) -> tuple[Statement, ...]:
    if not subject.statement_terms:
        return ()
    found = [
        s for s in svc.statements(region=region) if any(term in s.text for term in subject.statement_terms)
    ]
    return tuple(found[:1])


def _channels(svc, ids: tuple[str, ...], region: str) -> tuple[Channel, ...]:
    out = []
    for cid in ids:
        channel = svc.channel(cid)
        if channel is not None and svc.document_region(channel.source.doc_id) == region:
            out.append(channel)
    return tuple(out[:3])
