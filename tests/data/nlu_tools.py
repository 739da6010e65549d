"""Helpers shared by the NLU-data and evaluation-set checks.

Plain PyYAML + regex on purpose: the checks must run (and fail loudly) without importing Rasa.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "data" / "nlu"
DESIGN = ROOT / "docs" / "design.md"
ENTITIES_FILE = NLU_DIR / "entities.yml"

# Same grammar as rasa.shared.nlu.training_data.entities_parser.ENTITY_REGEX:
# [text](entity) | [text](entity:value) | [text]{"entity": ..., "value": ...}
ENTITY_RE = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<dict>[^}]+?)\})"
)

# Conversation intents and the file each must live in (topic intents live in <topic>.yml).
CONVERSATION_FILES = {
    "greet": "conversation.yml",
    "goodbye": "conversation.yml",
    "thanks": "conversation.yml",
    "bot_identity": "conversation.yml",
    "ask_capabilities": "conversation.yml",
    "request_human": "conversation.yml",
    "affirm": "conversation.yml",
    "deny": "conversation.yml",
    "out_of_scope": "out_of_scope.yml",
    "ask_other_domain": "out_of_scope.yml",
    "followup": "followup.yml",
    "select_option": "followup.yml",
    "request_fraud": "safety.yml",
    "prompt_injection": "safety.yml",
    "distress": "distress.yml",
    "verify_source": "verify.yml",
}

CORE_REGIONS = {"深圳", "上海", "全国"}
# Cities that are canonical region values but deliberately absent from the region lookup table
# (see the comment in data/nlu/entities.yml).
CITIES_OUTSIDE_LOOKUP = {"香港", "澳门"}
PERIODS = {"13th", "14th", "2020", "2024", "2025", "last_year"}
INSURANCE_TYPES = {"养老", "失业", "工伤", "医疗"}

# Region / period words that must never stand unannotated in an example. Single characters
# (深, 沪) and words with other readings (国家 in 国家级产业园) are left out on purpose.
# 香港 / 澳门 are left out too: in ask_hk_macau they name where a person comes from
# (港澳居民在深圳参保), not the region asked about, so they are annotated only where they
# are the region asked about (香港的最低工资).
MUST_ANNOTATE = (
    "深圳",
    "鹏城",
    "鵬城",
    "上海",
    "申城",
    "全国",
    "全國",
    "广州",
    "廣州",
    "北京",
    "杭州",
    "东莞",
    "東莞",
    "佛山",
    "成都",
    "武汉",
    "南京",
    "苏州",
    "重庆",
    "天津",
    "西安",
    "珠海",
    "惠州",
    "长沙",
    "厦门",
    "中山",
    "青岛",
    "十三五",
    "十四五",
    "2020年",
    "2024年",
    "2025年",
    "去年",
    "舊年",
)
# Proper names in which a region word does not name the region asked about:
# 全国首届职业技能大赛 and 全国高校毕业生秋季就业双选会 are Shenzhen events.
ANNOTATION_EXEMPT = ("全国首届", "全國首屆", "全国高校毕业生", "全国率先", "全国前列", "全国首位")


@dataclass(frozen=True)
class Example:
    intent: str
    file: str
    raw: str
    text: str  # annotations removed
    entities: tuple  # ((entity, surface, value_or_None), ...)


def normalise(text: str) -> str:
    """Lower-case, drop whitespace, punctuation and symbols (emoji); keep letters and digits."""
    out = []
    for ch in text.lower():
        cat = unicodedata.category(ch)
        if ch.isspace() or cat.startswith("P") or cat.startswith("S"):
            continue
        out.append(ch)
    return "".join(out)


def parse_example(raw: str) -> tuple[str, tuple]:
    entities = []

    def repl(m: re.Match) -> str:
        surface = m.group("text")
        if m.group("dict"):
            import json

            d = json.loads("{" + m.group("dict") + "}")
            entities.append((d["entity"], surface, d.get("value")))
        else:
            entities.append((m.group("entity"), surface, m.group("value")))
        return surface

    text = ENTITY_RE.sub(repl, raw)
    return text, tuple(entities)


def _examples_block(block: str) -> list[str]:
    items = []
    for line in block.splitlines():
        line = line.strip()
        if not line:
            continue
        assert line.startswith("- "), f"example line must start with '- ': {line!r}"
        items.append(line[2:].strip())
    return items


@lru_cache(maxsize=1)
def load_nlu() -> dict:
    """Returns {"examples": [Example], "synonyms": {surface_lower: value}, "lookups": {name: [..]},
    "intent_files": {intent: {file, ...}}}."""
    examples: list[Example] = []
    synonyms: dict[str, str] = {}
    lookups: dict[str, list[str]] = defaultdict(list)
    intent_files: dict[str, set] = defaultdict(set)
    for path in sorted(NLU_DIR.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert str(doc.get("version")) == "3.1", f'{path.name}: version must be "3.1"'
        for item in doc.get("nlu") or []:
            if "intent" in item:
                intent_files[item["intent"]].add(path.name)
                for raw in _examples_block(item["examples"]):
                    text, ents = parse_example(raw)
                    examples.append(Example(item["intent"], path.name, raw, text, ents))
            elif "synonym" in item:
                for s in _examples_block(item["examples"]):
                    synonyms[s.lower()] = str(item["synonym"])
            elif "lookup" in item:
                lookups[item["lookup"]].extend(_examples_block(item["examples"]))
    # Inline values ([鹏城]{"entity": "region", "value": "深圳"}) are synonyms too, as in Rasa.
    for ex in examples:
        for _, surface, value in ex.entities:
            if value is not None and surface.lower() not in synonyms:
                synonyms[surface.lower()] = value
    return {"examples": examples, "synonyms": synonyms, "lookups": dict(lookups), "intent_files": dict(intent_files)}


def design_intents() -> list[str]:
    """Intent names listed in docs/design.md, section 'Intents (NLU) and their topic cards'."""
    text = DESIGN.read_text(encoding="utf-8")
    section = text.split("## Intents (NLU)", 1)[1].split("Entities:", 1)[0]
    body = section.split("`intents`):", 1)[1]
    body = body.replace("Conversation intents:", ",")
    names = [n.strip() for n in re.split(r"[,\n]", body)]
    return [n for n in names if re.fullmatch(r"[a-z][a-z0-9_]*", n)]


def char_ngrams(text: str, n: int = 4) -> frozenset:
    t = normalise(text)
    if len(t) <= n:
        return frozenset([t])
    return frozenset(t[i : i + n] for i in range(len(t) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
