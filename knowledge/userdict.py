"""Generate the jieba user dictionary ``data/dict/userdict.txt`` from the knowledge content.

Contract: :func:`render` is deterministic for given content: one ``word freq tag`` line per word
(sorted, UTF-8, trailing newline), from topic names and aliases, fact metric names (curated and the
parsed indicator tables), region names and a few core terms. The NLU's JiebaTokenizer and
:mod:`knowledge.search` both load this file, so a change here means retraining the NLU model.
``python -m knowledge userdict --check`` fails when the committed file differs from :func:`render`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from knowledge.content import Content
from knowledge.ingest import parse_documents, table_facts
from knowledge.normalise import region_aliases

# why: long metric names ("新增取得职业资格证书或职业技能等级证书人数") as single tokens would hide
# their parts from the NLU featurizers; search still sees the parts through cut_for_search.
MAX_WORD_LEN = 12
FREQ = {"ns": 3000, "n": 2000, "nz": 1000}

CORE_TERMS = (
    "人社",
    "人社局",
    "社保",
    "社保卡",
    "社会保障卡",
    "电子社保卡",
    "养老保险",
    "基本养老保险",
    "养老金",
    "企业年金",
    "职业年金",
    "个人养老金",
    "失业保险",
    "失业保险金",
    "失业金",
    "工伤保险",
    "工伤认定",
    "医疗保险",
    "医保",
    "参保",
    "灵活就业",
    "新就业形态",
    "新业态",
    "零工市场",
    "就业驿站",
    "暖流就业服务站",
    "人才引进",
    "秒批",
    "一件事",
    "网上办理",
    "网办",
    "博士后",
    "职称",
    "职业技能培训",
    "补贴性职业技能培训",
    "职业技能等级认定",
    "专项职业能力考核",
    "世界技能大赛",
    "技工院校",
    "技师学院",
    "粤菜师傅",
    "广东技工",
    "南粤家政",
    "调援裁诉",
    "劳动仲裁",
    "劳动争议",
    "劳动人事争议",
    "欠薪",
    "拖欠工资",
    "最低工资",
    "劳动合同",
    "创业担保贷款",
    "创业补贴",
    "港澳青年",
    "高校毕业生",
    "就业困难人员",
    "零就业家庭",
    "人力资源服务业",
    "事业单位",
    "人事考试",
    "十四五",
    "十三五",
    "城镇新增就业",
    "城镇调查失业率",
    "城镇登记失业率",
    "退休",
    "延迟退休",
)
REGION_TERMS = (
    "深圳",
    "上海",
    "全国",
    "深圳市",
    "上海市",
    "鹏城",
    "申城",
    "粤港澳大湾区",
    "大湾区",
    "香港",
    "澳门",
)

_STRIP_CHARS = re.compile(r"[“”‘’\"'《》「」]")
_VALID = re.compile(r"^[\w\u4e00-\u9fff+\-·]+$")


def _clean(word: str) -> str | None:
    word = _STRIP_CHARS.sub("", word).strip()
    if len(word) < 2 or len(word) > MAX_WORD_LEN or not _VALID.match(word) or word.isdigit():
        return None
    return word


# why: a dictionary word that glues a region or period onto other text (上海规划, 2024年深圳人社)
# becomes one jieba token, so the NLU can no longer see the region or period inside it and the
# entity annotations no longer line up with tokens. Such words stay out of the dictionary.
PERIOD_FORMS = ("十三五", "十四五", "十二五", "2020年", "2024年", "2025年", "2020", "2024", "2025", "去年")
_ENTITY_FORMS = tuple(
    sorted(
        {a for a in region_aliases() if len(a) >= 2 or a in {"沪", "滬"}} | set(PERIOD_FORMS),
        key=len,
        reverse=True,
    )
)


def glues_entity(word: str) -> bool:
    """True when ``word`` contains a region or period form but is not itself one."""
    lowered = word.lower()
    return any(form in lowered and form != lowered for form in _ENTITY_FORMS)


def entries(content: Content, metric_names: Iterable[str] = ()) -> list[tuple[str, int, str]]:
    """``(word, freq, tag)`` for every dictionary word, sorted by word; regions win over terms."""
    tagged: dict[str, str] = {}

    def add(words: Iterable[str], tag: str) -> None:
        for raw in words:
            word = _clean(raw)
            if word and tag != "ns" and glues_entity(word):
                continue
            if word and (word not in tagged or FREQ[tag] > FREQ[tagged[word]]):
                tagged[word] = tag

    add(REGION_TERMS, "ns")
    add(CORE_TERMS, "n")
    for topic in content.topics:
        add([topic.name, *topic.aliases], "n")
    add([f.metric for f in content.facts], "nz")
    add(metric_names, "nz")
    return [(w, FREQ[t], t) for w, t in sorted(tagged.items())]


def render(content: Content) -> str:
    """The dictionary file's text for ``content`` (includes the indicator-table metric names)."""
    docs = parse_documents(content.manifest, content.sources_dir)
    table_metrics = [f.metric for doc in docs.values() for f in table_facts(doc)]
    return "".join(f"{w} {freq} {tag}\n" for w, freq, tag in entries(content, table_metrics))


def is_stale(path: Path, text: str) -> bool:
    """True when ``path`` is missing or differs from ``text``."""
    return not path.is_file() or path.read_text(encoding="utf-8") != text


def write(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` if it changed; return True when the file was (re)written."""
    if not is_stale(path, text):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def topic_documents(content: Content) -> dict[str, list[str]]:
    """For each topic intent, the knowledge-base texts about it (for the NLU's topic featurizer).

    Per card: name, aliases, summary texts, gap texts, and each linked fact's metric and quote.
    Intents named by several cards get the texts of all of them. Order is stable (card file order).
    """
    facts = {f.id: f for f in content.facts}
    by_topic: dict[str, list[str]] = {}
    for fact in content.facts:
        for topic in fact.topics:
            by_topic.setdefault(topic, []).append(fact.id)
    docs: dict[str, list[str]] = {}
    for card in content.topics:
        texts = [card.name, *card.aliases, *(s.text for s in card.summary), *card.gaps]
        for fact_id in dict.fromkeys([*card.facts, *by_topic.get(card.id, [])]):
            fact = facts.get(fact_id)
            if fact is not None:
                texts += [fact.metric, fact.quote]
        for intent in card.intents:
            bucket = docs.setdefault(intent, [])
            bucket += [t for t in texts if t and t not in bucket]
    return docs


def render_topic_documents(content: Content) -> str:
    """``data/topics/topics.json``: :func:`topic_documents` as sorted, indented JSON."""
    import json

    return json.dumps(topic_documents(content), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
