"""Entity benchmark: Rasa lookup/regex extraction vs a spaCy EntityRuler for region / period / insurance_type.

CONCLUSION (2026-11-22, model rs-6a0b3036979b; the variant trained once, 9.5 min on the busy 2 cores):

- Held-out eval questions (234 turns, 275 gold region/period values; the fair test): the spaCy
  EntityRuler over jieba tokens (``bot.spacy_zh``: user dictionary + canonical pattern ids) is
  marginally better than the project's Rasa pipeline: overall P/R/F1 0.996/0.989/0.993 vs
  1.000/0.978/0.989 (region 0.995/0.985 vs 1.000/0.974, period 1.000/1.000 vs 1.000/0.988), i.e.
  3 misses + 1 false positive vs 6 misses -- two messages out of 234, too few to call it significant.
- Why: token matching keeps short or ambiguous aliases safe that a substring regex must leave out of
  the lookup (滬, 国家) while 深化 / 沪深 / 国家级 still do not fire, and the knowledge-base aliases cover
  SZ and bare years (2020) that the lookup lacks. The ruler's own errors: 几个国家 ("countries") read
  as 全国, and aliases jieba glues to a neighbour (全國補貼: 全國補 / 貼性). Both miss 香港 on purpose.
- Training-data annotations (not independent): 0.998/0.992/0.995 vs 1.000/0.950/0.974; insurance_type
  13/13 vs 0/13 -- the Rasa pipeline has no insurance lookup and DIET's tagger is off, so the
  insurance_type slot is never filled today.
- Cost: spaCy 0.4-0.6 ms p50 / 5-10 ms p95 per message, the regexes < 0.01 ms; both vanish next to a
  whole Rasa parse (40-60 ms p50 here, noisy: the machine was at load 5-12).
- The stock Rasa route (SpacyNLP + SpacyTokenizer + SpacyEntityExtractor, ``rasa_spacy``) is *not*
  better than today: 0.993/0.982/0.987. SpacyNLP runs the pipeline with jieba's default dictionary
  (十三五五年, 十三五實際 missed), SpacyEntityExtractor returns ``ent.text`` and drops the pattern ids
  (国务院 stays 国务院), it replaces DIET's tokenizer (retrain; intent accuracy not checked here) and
  SpacyNLP loads ``var/spacy_zh`` by name at startup, outside the model archive.
- Recommendation: keep config.yml as it is. If the small recall gain is wanted, use the ruler through a
  custom extractor that wraps ``bot.spacy_zh.load`` (user dictionary + ids) in place of
  RegexEntityExtractor and keeps JiebaTokenizer; the cheapest fix is SZ and bare years in the lookups.

``python -m bench.entities`` scores each extractor on two sets and prints a table; the details
(per-type counts, every error on the held-out set, token-alignment findings, timings) go to
``bench/out/entities.json``.

Sets:

- ``nlu``: every example in ``data/nlu`` with an inline entity annotation (gold value = the annotated
  value after the synonyms, as Rasa's EntitySynonymMapper would map it). Not independent of the
  extractors: the lookup tables and the annotations were written together, and the spaCy patterns
  come from the same synonyms. insurance_type is annotated in only 13 of the ~140 examples that name
  an insurance, so it is scored on those 13 examples only and kept out of "overall".
- ``eval``: every turn of the held-out questions (``tests/eval/questions.yml``), gold region and period
  hand-labelled in ``tests/data/entities_gold.yml``. This is the fair comparison.

Scoring is per message on the *set* of ``(type, canonical value)`` pairs, which is what the actions
use (``actions/base.py``); the ``nlu`` set is also scored on exact character spans (multiset of
``(type, value, start, end)``) to show where spans differ although values agree.

Systems:

- ``rasa``: the newest trained model ``models/rs-*.tar.gz`` (config.yml: JiebaTokenizer + lookup
  RegexEntityExtractor + EntitySynonymMapper), ``Agent.parse_message`` in a fresh process; time = the
  whole NLU parse (DIET included).
- ``rasa_regex``: the same extraction rebuilt outside the model (Rasa's ``pattern_utils`` on
  ``data/nlu`` + the synonyms): extractor-only time, and a check that the model is not stale
  (its scores must equal ``rasa``'s).
- ``spacy_ruler``: :mod:`bot.spacy_zh` as it is meant to be used (``bot.spacy_zh.load``: private jieba
  with ``data/dict/userdict.txt``; values from the pattern ids); time = ``nlp(text)``.
- ``spacy_ruler_nodict``: the same pipeline with jieba's default dictionary only, which is how Rasa's
  ``SpacyNLP`` runs it in a process without JiebaTokenizer.
- ``rasa_spacy``: a variant Rasa config (``SpacyNLP`` model ``var/spacy_zh`` + ``SpacyTokenizer``
  instead of JiebaTokenizer, ``SpacyEntityExtractor`` instead of RegexEntityExtractor, the rest of
  config.yml unchanged) trained with ``rasa train nlu`` into ``bench/out/entities/`` and parsed in a
  fresh process; ``--no-variant`` skips it.

Timings are single-message latencies on whatever machine runs this; on the shared 2-core CI box they
are noisy and only the order of magnitude means something.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent
NLU_DIR = ROOT / "data" / "nlu"
GOLD_FILE = ROOT / "tests" / "data" / "entities_gold.yml"
QUESTIONS_FILE = ROOT / "tests" / "eval" / "questions.yml"
OUT_DIR = ROOT / "bench" / "out"
WORK_DIR = OUT_DIR / "entities"
SPACY_DIR = ROOT / "var" / "spacy_zh"
VARIANT_NAME = "rs-spacy"
CORE_TYPES = ("region", "period")
ALL_TYPES = ("region", "period", "insurance_type")

logger = logging.getLogger("bench.entities")

# what each system's latency covers
TIMED = {
    "rasa": "Agent.parse_message: the whole NLU graph (DIET included)",
    "rasa_regex": "lookup regexes + synonym map only",
    "spacy_ruler": "nlp(text): jieba + EntityRuler",
    "spacy_ruler_phrase_only": "nlp(text): jieba + EntityRuler",
    "spacy_ruler_nodict": "nlp(text): jieba + EntityRuler",
    "rasa_spacy": "Agent.parse_message: the whole NLU graph (DIET included)",
}

Entity = dict  # {"entity", "value", "start", "end"} as Rasa returns it


@dataclass(frozen=True)
class Item:
    """One message with its gold entities ``(type, value, start, end)`` (offsets None when unknown)."""

    key: str
    text: str
    gold: tuple[tuple[str, str, int | None, int | None], ...]
    types: tuple[str, ...]


@dataclass
class Run:
    """What one system returned: entities and latency (ms) per distinct text."""

    name: str
    entities: dict[str, list[Entity]] = field(default_factory=dict)
    ms: dict[str, float] = field(default_factory=dict)
    load_s: float | None = None
    note: str = ""


# ----------------------------------------------------------------------------------------- gold sets


def nlu_items(nlu_dir: Path = NLU_DIR) -> list[Item]:
    """Every annotated example of ``data/nlu`` with gold values after synonyms and character offsets."""
    from tests.data.nlu_tools import ENTITY_RE, load_nlu

    data = load_nlu()
    synonyms = data["synonyms"]
    items = []
    for n, example in enumerate(data["examples"]):
        if not example.entities:
            continue
        gold, text, pos = [], "", 0
        for match in ENTITY_RE.finditer(example.raw):
            text += example.raw[pos : match.start()]
            surface = match.group("text")
            if match.group("dict"):
                spec = json.loads("{" + match.group("dict") + "}")
                entity, value = spec["entity"], spec.get("value")
            else:
                entity, value = match.group("entity"), match.group("value")
            value = value if value is not None else synonyms.get(surface.lower(), surface)
            gold.append((entity, str(value), len(text), len(text) + len(surface)))
            text += surface
            pos = match.end()
        text += example.raw[pos:]
        assert text == example.text, (text, example.text)
        types = CORE_TYPES + (("insurance_type",) if any(g[0] == "insurance_type" for g in gold) else ())
        items.append(Item(f"nlu:{example.file}:{n}", text, tuple(gold), types))
    return items


def eval_items(gold_file: Path = GOLD_FILE, questions_file: Path = QUESTIONS_FILE) -> list[Item]:
    """The hand-labelled turns of the evaluation set; fails when the gold file and the questions drift."""
    questions = yaml.safe_load(questions_file.read_text(encoding="utf-8"))
    texts = {(q["id"], i): turn["text"] for q in questions for i, turn in enumerate(q["turns"])}
    entries = yaml.safe_load(gold_file.read_text(encoding="utf-8"))
    items = []
    for entry in entries:
        key = (entry["id"], int(entry.get("turn", 0)))
        if texts.get(key) != entry["text"]:
            raise ValueError(f"{gold_file.name}: {key} does not match {questions_file.name}")
        gold = tuple((t, str(v), None, None) for t in CORE_TYPES for v in entry.get(t) or [])
        items.append(Item(f"eval:{key[0]}/{key[1]}", entry["text"], gold, CORE_TYPES))
    missing = set(texts) - {(e["id"], int(e.get("turn", 0))) for e in entries}
    if missing:
        raise ValueError(f"{gold_file.name} lacks {sorted(missing)[:5]}")
    return items


# ----------------------------------------------------------------------------------------- scoring


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Precision, recall and F1 (0 when undefined) with the counts."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def _value_set(entities: Iterable[Entity], types: Sequence[str]) -> set[tuple[str, str]]:
    return {(e["entity"], str(e["value"])) for e in entities if e.get("entity") in types}


def score(items: Sequence[Item], run: Run, spans: bool = False) -> dict[str, Any]:
    """P/R/F1 per type and overall (region + period), by value sets or (``spans``) exact spans."""
    counts = {t: Counter() for t in ALL_TYPES}
    for item in items:
        predicted = run.entities.get(item.text, [])
        for etype in item.types:
            if spans:
                gold = Counter((t, v, s, e) for t, v, s, e in item.gold if t == etype)
                pred = Counter(
                    (x["entity"], str(x["value"]), x.get("start"), x.get("end"))
                    for x in predicted
                    if x.get("entity") == etype
                )
                tp = sum((gold & pred).values())
                counts[etype].update(tp=tp, fp=sum(pred.values()) - tp, fn=sum(gold.values()) - tp)
            else:
                gold_set = {(t, v) for t, v, _, _ in item.gold if t == etype}
                pred_set = _value_set(predicted, (etype,))
                counts[etype].update(
                    tp=len(gold_set & pred_set), fp=len(pred_set - gold_set), fn=len(gold_set - pred_set)
                )
    result = {t: prf(c["tp"], c["fp"], c["fn"]) for t, c in counts.items() if any(t in i.types for i in items)}
    core = [counts[t] for t in CORE_TYPES]
    result["overall"] = prf(*(sum(c[k] for c in core) for k in ("tp", "fp", "fn")))
    return result


def errors(items: Sequence[Item], run: Run) -> list[dict[str, Any]]:
    """Per message: gold values missed and values wrongly predicted (scored types only)."""
    found = []
    for item in items:
        gold = {(t, v) for t, v, _, _ in item.gold if t in item.types}
        pred = _value_set(run.entities.get(item.text, []), item.types)
        if gold != pred:
            found.append(
                {
                    "key": item.key,
                    "text": item.text,
                    "missed": sorted(f"{t}={v}" for t, v in gold - pred),
                    "extra": sorted(f"{t}={v}" for t, v in pred - gold),
                    "predicted": [
                        {k: e.get(k) for k in ("entity", "value", "start", "end")}
                        for e in run.entities.get(item.text, [])
                    ],
                }
            )
    return found


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the same definition as bench.load)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency(run: Run) -> dict[str, float | int | None]:
    """p50 / p95 / mean single-message latency in ms."""
    values = list(run.ms.values())
    if not values:
        return {"p50_ms": None, "p95_ms": None, "mean_ms": None, "messages": 0}
    return {
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "mean_ms": round(sum(values) / len(values), 3),
        "messages": len(values),
    }


# ----------------------------------------------------------------------------------------- systems


def timed(name: str, texts: Sequence[str], parse: Callable[[str], list[Entity]]) -> Run:
    """Parse every text once (after one untimed warm-up) and record entities and latency."""
    run = Run(name)
    if texts:
        parse(texts[0])
    for text in texts:
        start = time.perf_counter()
        run.entities[text] = parse(text)
        run.ms[text] = (time.perf_counter() - start) * 1000
    return run


def spacy_run(name: str, texts: Sequence[str], make_nlp: Callable[[], Any]) -> Run:
    """Run a :mod:`bot.spacy_zh` pipeline made by ``make_nlp`` (values from the pattern ids)."""
    from bot import spacy_zh

    start = time.perf_counter()
    nlp = make_nlp()
    load_s = time.perf_counter() - start
    run = timed(name, texts, lambda text: spacy_zh.entities(nlp, text))
    run.load_s = round(load_s, 2)
    return run


def regex_run(texts: Sequence[str], nlu_dir: Path = NLU_DIR) -> Run:
    """RegexEntityExtractor + EntitySynonymMapper as config.yml configures them, rebuilt from ``data/nlu``."""
    from rasa.nlu.utils import pattern_utils
    from rasa.shared.nlu.training_data.loading import load_data

    start = time.perf_counter()
    training_data = load_data(str(nlu_dir))
    patterns = pattern_utils.extract_patterns(
        training_data, use_lookup_tables=True, use_regexes=False, use_only_entities=True, use_word_boundaries=False
    )
    compiled = [(p["name"], re.compile(p["pattern"], re.IGNORECASE)) for p in patterns]
    synonyms = {k.lower(): v for k, v in training_data.entity_synonyms.items()}
    load_s = time.perf_counter() - start

    def parse(text: str) -> list[Entity]:
        found = []
        for name, pattern in compiled:
            for match in pattern.finditer(text):
                value = match.group(0)
                value = synonyms.get(value.lower(), value)
                found.append({"entity": name, "value": value, "start": match.start(), "end": match.end()})
        return found

    run = timed("rasa_regex", texts, parse)
    run.load_s = round(load_s, 2)
    return run


def newest_model(models_dir: Path = ROOT / "models") -> Path:
    """The newest ``models/rs-*.tar.gz`` (what the bot and the tests load)."""
    models = sorted(models_dir.glob("rs-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise FileNotFoundError("no trained model in models/: run `make train`")
    return models[-1]


def rasa_worker(model: Path, texts_file: Path, out_file: Path) -> None:
    """(Subprocess) load ``model`` with Rasa's Agent and parse each text; writes entities + ms as JSON."""
    from rasa.core.agent import Agent

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    start = time.perf_counter()
    agent = Agent.load(str(model))
    load_s = time.perf_counter() - start
    loop = asyncio.new_event_loop()

    def parse(text: str) -> list[Entity]:
        result = loop.run_until_complete(agent.parse_message(text))
        return [
            {k: e.get(k) for k in ("entity", "value", "start", "end", "extractor")} for e in result.get("entities", [])
        ]

    run = timed("worker", texts, parse)
    loop.close()
    payload = {"load_s": round(load_s, 2), "entities": run.entities, "ms": run.ms}
    out_file.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")


def rasa_run(name: str, model: Path, texts: Sequence[str], work_dir: Path = WORK_DIR) -> Run:
    """Parse ``texts`` with a Rasa model in a fresh process, so no jieba state leaks between systems."""
    work_dir.mkdir(parents=True, exist_ok=True)
    texts_file, out_file = work_dir / f"{name}_texts.json", work_dir / f"{name}_out.json"
    texts_file.write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")
    out_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.entities", "--worker", str(model), str(texts_file), str(out_file)]
    logger.info("%s: parsing %d messages with %s in a subprocess", name, len(texts), model.name)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(work_dir / f"{name}.log", "w", encoding="utf-8") as log:
        subprocess.run(command, cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    payload = json.loads(out_file.read_text(encoding="utf-8"))
    return Run(name, payload["entities"], payload["ms"], payload["load_s"], note=model.name)


def variant_config(config_file: Path = ROOT / "config.yml", spacy_dir: Path = SPACY_DIR) -> dict[str, Any]:
    """config.yml's NLU pipeline with SpacyNLP + SpacyTokenizer and SpacyEntityExtractor swapped in."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    pipeline = []
    for component in config["pipeline"]:
        if component["name"] == "JiebaTokenizer":
            pipeline += [{"name": "SpacyNLP", "model": os.path.relpath(spacy_dir, ROOT)}, {"name": "SpacyTokenizer"}]
        elif component["name"] == "RegexEntityExtractor":
            pipeline.append({"name": "SpacyEntityExtractor", "dimensions": list(ALL_TYPES)})
        else:
            pipeline.append(component)
    return {
        "recipe": config["recipe"],
        "language": config["language"],
        "assistant_id": "renshe-assistant-spacy-bench",
        "pipeline": pipeline,
        "policies": [],
    }


def variant_inputs_hash(config_text: str) -> str:
    """Hash of what the variant's trained part depends on: its config, the NLU data, the custom
    components and the spaCy tokenizer settings. Not the ruler patterns: SpacyNLP loads
    ``var/spacy_zh`` by name when the model is loaded, so pattern changes need no retraining."""
    digest = hashlib.sha256(config_text.encode())
    files = [ROOT / "bot" / "components.py", SPACY_DIR / "config.cfg", *sorted(NLU_DIR.rglob("*.yml"))]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def train_variant(work_dir: Path = WORK_DIR, retrain: bool = False) -> tuple[Path, float | None]:
    """Train (or reuse, when its inputs are unchanged) the SpacyNLP variant; returns (model, seconds)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config_text = yaml.safe_dump(variant_config(), allow_unicode=True, sort_keys=False)
    config_file = work_dir / "config_spacy.yml"
    config_file.write_text(config_text, encoding="utf-8")
    model = work_dir / "models" / f"{VARIANT_NAME}.tar.gz"
    stamp = model.with_name(f"{VARIANT_NAME}.inputs")
    wanted = variant_inputs_hash(config_text)
    if model.is_file() and not retrain and stamp.is_file() and stamp.read_text().strip() == wanted:
        logger.info("reusing %s (inputs unchanged)", model)
        return model, None
    command = [
        sys.executable, "-m", "rasa", "train", "nlu", "--config", str(config_file), "--nlu", str(NLU_DIR),
        "--out", str(model.parent), "--fixed-model-name", VARIANT_NAME,
    ]  # fmt: skip
    logger.info("training the SpacyNLP variant (rasa train nlu); this takes minutes on 2 busy cores")
    start = time.perf_counter()
    with open(work_dir / "train.log", "w", encoding="utf-8") as log:
        subprocess.run(command, cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT)
    stamp.write_text(wanted + "\n")
    return model, round(time.perf_counter() - start, 1)


# ----------------------------------------------------------------------------------------- alignment


def alignment(items: Sequence[Item], userdict: Path | None) -> dict[str, Any]:
    """How the jieba tokens line up with entity text, i.e. what a token-based matcher can match.

    Every character-level occurrence of an alias form (longest first, case-insensitive) in the texts,
    and every gold span of the ``nlu`` set, is classed as:

    - ``same``: cut into the same tokens as the alias alone (the phrase pattern matches);
    - ``chars``: cut into one-character tokens (only the character variant matches);
    - ``other``: on token boundaries but cut differently (no pattern matches);
    - ``glued``: inside a longer token (no pattern matches). Often wanted (国家 in 国家级, 养老 in
      养老金, 失业 in 失业率); the examples in the JSON say which.
    """
    from bot import spacy_zh

    tokenizer = spacy_zh.build(userdict=userdict, char_variants=False).tokenizer
    forms = sorted({p["pattern"] for p in spacy_zh.alias_forms()}, key=len, reverse=True)
    label_of = {p["pattern"]: p["label"] for p in spacy_zh.alias_forms()}
    scan = re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)

    def kind(doc: Any, start: int, end: int, form: str) -> str:
        span = doc.char_span(start, end)
        if span is None:
            return "glued"
        got = [t.lower_ for t in span]
        if got == [t.lower_ for t in tokenizer(form)]:
            return "same"
        return "chars" if all(len(t) == 1 for t in got) else "other"

    counts: dict[str, Counter] = {"gold": Counter(), "form": Counter()}
    by_label: dict[str, Counter] = {}
    examples: list[dict[str, Any]] = []
    for item in items:
        doc = tokenizer(item.text)
        for etype, _value, start, end in item.gold:
            if start is not None:
                found = kind(doc, start, end, item.text[start:end])
                counts["gold"][found] += 1
                if found != "same":
                    examples.append({"what": f"gold {etype}", "kind": found, "span": item.text[start:end],
                                     "tokens": " / ".join(t.text for t in doc)})  # fmt: skip
        for match in scan.finditer(item.text):
            found = kind(doc, match.start(), match.end(), match.group(0))
            counts["form"][found] += 1
            by_label.setdefault(label_of.get(match.group(0).lower(), "?"), Counter())[found] += 1
            if found != "same":
                examples.append({"what": "form", "kind": found, "span": match.group(0),
                                 "tokens": " / ".join(t.text for t in doc)})  # fmt: skip
    return {
        "userdict": str(userdict.relative_to(ROOT)) if userdict else None,
        "gold_spans": dict(counts["gold"]),
        "form_occurrences": dict(counts["form"]),
        "form_occurrences_by_label": {k: dict(v) for k, v in sorted(by_label.items())},
        "examples": examples,
    }


# ----------------------------------------------------------------------------------------- report


def _fmt(metrics: dict[str, Any]) -> str:
    return f"{metrics['p']:.3f}/{metrics['r']:.3f}/{metrics['f1']:.3f}"


def table(results: dict[str, Any]) -> str:
    """Plain-text tables: P/R/F1 per type per set, then latency and load time per system."""
    lines = []
    header = f"{'system':<24} {'set':<10} {'region P/R/F1':>18} {'period P/R/F1':>18} {'overall P/R/F1':>18}"
    header += f" {'insurance P/R/F1':>18}"
    lines += [header, "-" * len(header)]
    for set_name in ("eval", "nlu", "nlu_spans"):
        for name, system in results["systems"].items():
            metrics = system["scores"][set_name]
            insurance = _fmt(metrics["insurance_type"]) if "insurance_type" in metrics else "-"
            lines.append(
                f"{name:<24} {set_name:<10} {_fmt(metrics['region']):>18} {_fmt(metrics['period']):>18}"
                f" {_fmt(metrics['overall']):>18} {insurance:>18}"
            )
    lines.append("")
    header = f"{'system':<24} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'messages':>9} {'load s':>7}  timed"
    lines += [header, "-" * len(header)]
    for name, system in results["systems"].items():
        timing = system["latency"]
        cells = [f"{timing[k]:.3f}" if timing[k] is not None else "-" for k in ("p50_ms", "p95_ms", "mean_ms")]
        load_s = f"{system['load_s']:.1f}" if system["load_s"] is not None else "-"
        row = f"{name:<24} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8} {timing['messages']:>9} {load_s:>7}"
        lines.append(f"{row}  {system['timed']}")
    return "\n".join(lines)


def run_all(variant: bool = True, retrain: bool = False, model: Path | None = None) -> dict[str, Any]:
    """Score every system on both sets; returns the JSON-ready results."""
    from bot import spacy_zh

    if not (SPACY_DIR / "config.cfg").is_file():
        spacy_zh.save(spacy_zh.build(), SPACY_DIR)
    items = {"nlu": nlu_items(), "eval": eval_items()}
    texts = list(dict.fromkeys(i.text for group in items.values() for i in group))
    logger.info("%d nlu examples, %d eval turns, %d distinct texts", len(items["nlu"]), len(items["eval"]), len(texts))

    runs: list[Run] = []
    model = model or newest_model()
    runs.append(rasa_run("rasa", model, texts))
    runs.append(regex_run(texts))
    runs.append(spacy_run("spacy_ruler", texts, lambda: spacy_zh.load(SPACY_DIR)))
    runs.append(spacy_run("spacy_ruler_phrase_only", texts, lambda: spacy_zh.build(char_variants=False)))
    runs.append(spacy_run("spacy_ruler_nodict", texts, lambda: spacy_zh.load(SPACY_DIR, userdict=None)))
    train_s = None
    if variant:
        variant_model, train_s = train_variant(retrain=retrain)
        runs.append(rasa_run("rasa_spacy", variant_model, texts))

    systems = {}
    for run in runs:
        systems[run.name] = {
            "note": run.note,
            "timed": TIMED.get(run.name, ""),
            "load_s": run.load_s,
            "latency": latency(run),
            "scores": {
                "eval": score(items["eval"], run),
                "nlu": score(items["nlu"], run),
                "nlu_spans": score(items["nlu"], run, spans=True),
            },
            "eval_errors": errors(items["eval"], run),
            "nlu_errors": errors(items["nlu"], run),
        }
    return {
        "model": model.name,
        "variant_train_s": train_s,
        "spacy_patterns": len(spacy_zh.patterns()),
        "spacy_alias_forms": len(spacy_zh.alias_forms()),
        "sets": {name: len(group) for name, group in items.items()},
        "systems": systems,
        "alignment": {
            "userdict": alignment(items["nlu"] + items["eval"], spacy_zh.USERDICT),
            "default_dict": alignment(items["nlu"] + items["eval"], None),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``--worker`` is the internal subprocess mode)."""
    parser = argparse.ArgumentParser(prog="python -m bench.entities", description=__doc__.splitlines()[0])
    parser.add_argument("--no-variant", action="store_true", help="skip training/running the SpacyNLP variant")
    parser.add_argument("--retrain", action="store_true", help="retrain the SpacyNLP variant even if up to date")
    parser.add_argument("--model", type=Path, help="Rasa model for the 'rasa' system (default: newest)")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "entities.json")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "TEXTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.worker:
        rasa_worker(*(Path(a) for a in args.worker))
        return 0
    results = run_all(variant=not args.no_variant, retrain=args.retrain, model=args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(results))
    for kind, report in results["alignment"].items():
        print(
            f"jieba alignment ({kind}): nlu gold spans {report['gold_spans']}, "
            f"alias occurrences {report['form_occurrences']} "
            "(same = phrase pattern matches, chars = only the character variant matches, other/glued = no match)"
        )
    print(f"details: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
