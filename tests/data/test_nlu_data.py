"""Checks on the NLU training data in data/nlu/ against the contract in docs/design.md."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
from nlu_tools import (
    ANNOTATION_EXEMPT,
    CITIES_OUTSIDE_LOOKUP,
    CONVERSATION_FILES,
    CORE_REGIONS,
    ENTITY_RE,
    INSURANCE_TYPES,
    MUST_ANNOTATE,
    PERIODS,
    ROOT,
    char_ngrams,
    design_intents,
    jaccard,
    load_nlu,
    normalise,
)

TOPIC_MIN = 25
CONVERSATION_MIN = 20
# Examples of two different intents this similar (character 4-gram Jaccard) confuse DIET.
CROSS_INTENT_MAX_SIMILARITY = 0.75

DATA = load_nlu()
EXAMPLES = DATA["examples"]
BY_INTENT: dict[str, list] = defaultdict(list)
for _ex in EXAMPLES:
    BY_INTENT[_ex.intent].append(_ex)
INTENTS = design_intents()
TOPIC_INTENTS = [i for i in INTENTS if i not in CONVERSATION_FILES]


def canonical_regions() -> set[str]:
    """深圳 / 上海 / 全国 plus every other city in the region lookup that is not itself a synonym."""
    others = {c for c in DATA["lookups"].get("region", []) if c.lower() not in DATA["synonyms"]}
    return CORE_REGIONS | CITIES_OUTSIDE_LOOKUP | others


def resolve(surface: str, value: str | None) -> str:
    if value is not None:
        return value
    return DATA["synonyms"].get(surface.lower(), surface)


def test_design_lists_the_intents():
    assert len(INTENTS) == len(set(INTENTS))
    assert len(TOPIC_INTENTS) >= 31
    assert set(CONVERSATION_FILES) <= set(INTENTS)


@pytest.mark.parametrize("intent", INTENTS)
def test_every_design_intent_has_examples(intent):
    minimum = TOPIC_MIN if intent in TOPIC_INTENTS else CONVERSATION_MIN
    n = len(BY_INTENT.get(intent, []))
    assert n >= minimum, f"{intent}: {n} examples, need {minimum}"


def test_no_intent_outside_the_design():
    extra = set(BY_INTENT) - set(INTENTS)
    assert not extra, f"intents not in docs/design.md: {sorted(extra)}"


@pytest.mark.parametrize("intent", INTENTS)
def test_intent_lives_in_exactly_one_expected_file(intent):
    files = DATA["intent_files"].get(intent, set())
    expected = CONVERSATION_FILES.get(intent) or f"{intent.removeprefix('ask_')}.yml"
    assert files == {expected}, f"{intent} is in {sorted(files)}, expected only {expected}"


def test_examples_unique_within_intent():
    dups = []
    for intent, exs in BY_INTENT.items():
        counts = Counter(normalise(e.text) for e in exs)
        dups += [(intent, k) for k, n in counts.items() if n > 1]
    assert not dups, f"duplicate examples within an intent: {dups}"


def test_no_example_under_two_intents():
    owner: dict[str, str] = {}
    clashes = []
    for ex in EXAMPLES:
        key = normalise(ex.text)
        assert key, f"{ex.intent}: example is empty after normalisation: {ex.raw!r}"
        if key in owner and owner[key] != ex.intent:
            clashes.append((key, owner[key], ex.intent))
        owner.setdefault(key, ex.intent)
    assert not clashes, f"examples under two intents: {clashes}"


@pytest.mark.slow  # every pair of examples (~30 s)
def test_no_near_duplicates_across_intents():
    grams = [(ex.intent, ex.text, char_ngrams(ex.text)) for ex in EXAMPLES if len(normalise(ex.text)) > 4]
    close = []
    for i, (ia, ta, ga) in enumerate(grams):
        for ib, tb, gb in grams[i + 1 :]:
            if ia != ib and jaccard(ga, gb) >= CROSS_INTENT_MAX_SIMILARITY:
                close.append((ia, ta, ib, tb))
    assert not close, f"near-duplicate examples across intents: {close[:20]}"


def test_entity_names_are_known():
    bad = [
        (e.intent, e.raw)
        for e in EXAMPLES
        for (name, _, _) in e.entities
        if name not in {"region", "period", "insurance_type"}
    ]
    assert not bad, bad


def test_entity_values_are_canonical():
    regions = canonical_regions()
    allowed = {"region": regions, "period": PERIODS, "insurance_type": INSURANCE_TYPES}
    bad = []
    for ex in EXAMPLES:
        for name, surface, value in ex.entities:
            v = resolve(surface, value)
            if v not in allowed.get(name, set()):
                bad.append((ex.intent, ex.raw, name, v))
    assert not bad, f"entity values that are not canonical after synonyms: {bad}"


def test_synonyms_map_to_canonical_values():
    regions = canonical_regions()
    canon = regions | PERIODS | INSURANCE_TYPES
    bad = {s: v for s, v in DATA["synonyms"].items() if v not in canon}
    assert not bad, bad


def test_synonyms_cover_every_annotated_surface_form():
    """Every surface form annotated in the examples maps to a canonical value by itself or a synonym."""
    regions = canonical_regions()
    canon = regions | PERIODS | INSURANCE_TYPES
    missing = sorted(
        {s for ex in EXAMPLES for (_, s, _) in ex.entities if s not in canon and s.lower() not in DATA["synonyms"]}
    )
    assert not missing, missing


def test_lookup_tables_exist_and_are_safe():
    lookups = DATA["lookups"]
    assert {"region", "period"} <= set(lookups)
    for name, items in lookups.items():
        assert len(items) == len(set(items)), f"duplicate lookup entries in {name}"
        # RegexEntityExtractor runs without word boundaries, so one-character entries (深, 沪)
        # would fire inside ordinary words (深化, 沪深).
        short = [i for i in items if len(i) < 2]
        assert not short, f"{name}: entries too short for a lookup: {short}"
    for city in ("深圳", "上海", "全国", "广州", "北京"):
        assert city in lookups["region"]


def test_region_and_period_words_are_always_annotated():
    misses = []
    for ex in EXAMPLES:
        plain = ex.raw
        plain = re.sub(r"\[[^\]]+\](\([^)]*\)|\{[^}]*\})", "▒", plain)
        for name in ANNOTATION_EXEMPT:
            plain = plain.replace(name, "▒")
        for word in MUST_ANNOTATE:
            if word in plain:
                misses.append((ex.intent, ex.raw, word))
    assert not misses, f"unannotated region/period words: {misses}"


def test_a_good_share_of_topic_examples_carry_entities():
    topic = [e for e in EXAMPLES if e.intent in TOPIC_INTENTS]
    share = sum(1 for e in topic if e.entities) / len(topic)
    assert 0.25 <= share <= 0.6, f"share of annotated topic examples is {share:.2f}"


def test_followups_mostly_carry_entities():
    ex = BY_INTENT["followup"]
    assert sum(1 for e in ex if e.entities) >= len(ex) // 2


def test_entity_annotations_align_with_jieba_tokens():
    """DIET can only tag whole tokens: Rasa drops an annotation that starts or ends inside a jieba token
    ("Misaligned entity annotation"). The jieba user dictionary in data/dict must therefore not glue a
    region or period word to other text (上海规划, 全国十四五); see docs/design.md, data/dict."""
    jieba = pytest.importorskip("jieba")
    tokenizer = jieba.Tokenizer()
    for path in sorted((ROOT / "data" / "dict").glob("*")):
        tokenizer.load_userdict(str(path))
    misaligned = []
    for ex in EXAMPLES:
        if not ex.entities:
            continue
        spans, text, pos = [], "", 0
        for m in ENTITY_RE.finditer(ex.raw):
            text += ex.raw[pos : m.start()]
            spans.append((len(text), len(text) + len(m.group("text")), m.group("text")))
            text += m.group("text")
            pos = m.end()
        text += ex.raw[pos:]
        bounds = set()
        for _, start, end in tokenizer.tokenize(text):  # HMM on, as in Rasa's JiebaTokenizer
            bounds |= {start, end}
        for start, end, surface in spans:
            if start not in bounds or end not in bounds:
                token = next(w for w, s, e in tokenizer.tokenize(text) if s <= start < e or s < end <= e)
                misaligned.append(f"{ex.intent}: {surface!r} inside token {token!r} in {text!r}")
    assert not misaligned, "entity annotations cut jieba tokens:\n" + "\n".join(misaligned)
