"""A spaCy pipeline for region / period / insurance_type entities: jieba tokens + an EntityRuler.

``python -m bot.spacy_zh build var/spacy_zh`` writes the pipeline to disk (a generated artefact;
``var/`` is gitignored). :func:`load` reads it back; :func:`entities` returns the matches with canonical
values. ``bench/entities.py`` compares it with the Rasa pipeline's RegexEntityExtractor.

Contracts:

- The pipeline is ``spacy.blank("zh")`` with the jieba segmenter and one ``entity_ruler``. Its
  patterns are phrase patterns (``phrase_matcher_attr: LOWER``) built from the knowledge-base aliases:
  region spellings from :mod:`knowledge.normalise`, period and insurance forms from the synonyms and
  lookups in ``data/nlu/entities.yml``. Each pattern's ``id`` is the canonical value (``深圳``, ``13th``,
  ``养老``), so ``ent.ent_id_`` gives the value and ``ent.text`` the words as written.
- Tokens come from a private ``jieba.Tokenizer`` with ``data/dict/userdict.txt`` loaded, the
  dictionary Rasa's JiebaTokenizer uses, so spaCy and the NLU cut text the same way and building or
  loading this pipeline never changes the process-wide jieba that Rasa shares.
- Patterns only match whole tokens, which is what keeps 沪 out of 沪深 and 国家 out of 国家级. The
  phrase pattern of an alias is cut by the same tokenizer as the messages, so it matches wherever
  jieba cuts the alias out as it does in isolation; a one-token-per-character variant also matches
  where jieba splits an unknown (traditional / Cantonese) alias into characters (廣 / 州 / 嘅).
  An alias glued to a neighbour inside one token (全國補 / 貼性, or 工伤保险参保人数 in the user
  dictionary) cannot match; ``bench/entities.py`` counts such cases.
- Loaded through Rasa's ``SpacyNLP`` (a plain ``spacy.load``) instead of :func:`load`, the pipeline
  uses the process-wide jieba: with the user dictionary only if something else (JiebaTokenizer)
  loaded it. ``SpacyEntityExtractor`` returns ``ent.text`` and drops ``ent_id_``, so values then rely
  on ``EntitySynonymMapper``'s synonyms instead of the pattern ids.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import yaml

from knowledge.normalise import normalise_region, region_aliases

if TYPE_CHECKING:  # why: importing spaCy pulls in thinc (and TensorFlow): only where it is used
    from spacy.language import Language

ROOT = Path(__file__).resolve().parent.parent
USERDICT = ROOT / "data" / "dict" / "userdict.txt"
ENTITIES_FILE = ROOT / "data" / "nlu" / "entities.yml"
DEFAULT_OUT = ROOT / "var" / "spacy_zh"
RULER = "entity_ruler"
LABELS = ("region", "period", "insurance_type")

logger = logging.getLogger("bot.spacy_zh")

# why: the same reasons as the lookup comment in data/nlu/entities.yml and knowledge.normalise:
# one-character aliases (深, 京, 莞) and 中国 (中国深圳创新创业大赛) are too ambiguous in running text;
# 沪 / 滬 stay, jieba cuts 沪深 as one word so the token match does not fire inside it.
# 香港 / 澳门 name where a person comes from (港澳居民在深圳参保), not the region asked about.
SHORT_REGION_ALIASES = {"沪", "滬"}
EXCLUDED_REGION_ALIASES = {"中国", "中國", "china"}
EXCLUDED_REGIONS = {"香港", "澳门"}
# why: 工作了20年, 缴费满25年 are durations (the lookup leaves 24年 / 25年 out for the same reason).
EXCLUDED_PERIOD_FORMS = {"24年", "25年", "20年"}
# the canonical values themselves, and the bare years (深圳 失业保险 参保 人数 2020)
EXTRA_FORMS = {
    "period": {"十三五": "13th", "十四五": "14th", "2020": "2020", "2024": "2024", "2025": "2025", "去年": "last_year"},
    "insurance_type": {"养老": "养老", "失业": "失业", "工伤": "工伤", "医疗": "医疗"},
}
_QUOTES = "“”\"'‘’"


def _synonyms(entities_file: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``({form: canonical}, {lookup name: [forms]})`` from a Rasa NLU file."""
    doc = yaml.safe_load(entities_file.read_text(encoding="utf-8"))
    synonyms: dict[str, str] = {}
    lookups: dict[str, list[str]] = {}
    for item in doc.get("nlu") or []:
        lines = [line.strip()[2:].strip() for line in str(item.get("examples", "")).splitlines() if line.strip()]
        if "synonym" in item:
            for form in lines:
                synonyms[form] = str(item["synonym"])
        elif "lookup" in item:
            lookups[str(item["lookup"])] = lines
    return synonyms, lookups


def _clean(form: str) -> str:
    return form.strip().strip(_QUOTES).strip()


def alias_forms(entities_file: Path = ENTITIES_FILE) -> list[dict[str, str]]:
    """``{"label", "pattern", "id"}`` for every alias (lower-cased text), sorted and without duplicates."""
    synonyms, lookups = _synonyms(entities_file)
    values = {"period": set(EXTRA_FORMS["period"].values()), "insurance_type": set(EXTRA_FORMS["insurance_type"])}
    found: dict[tuple[str, str], str] = {}

    def add(label: str, form: str, canonical: str | None) -> None:
        form = _clean(form)
        if form and canonical:
            found.setdefault((label, form.lower()), canonical)

    for alias in region_aliases():
        canonical = normalise_region(alias)
        if canonical in EXCLUDED_REGIONS or alias in EXCLUDED_REGION_ALIASES:
            continue
        if len(alias) < 2 and alias not in SHORT_REGION_ALIASES:
            continue
        add("region", alias, canonical)
    for form, canonical in synonyms.items():
        if canonical in values["period"]:
            if _clean(form) not in EXCLUDED_PERIOD_FORMS:
                add("period", form, canonical)
        elif canonical in values["insurance_type"]:
            add("insurance_type", form, canonical)
        elif len(_clean(form)) >= 2 or _clean(form) in SHORT_REGION_ALIASES:
            region = normalise_region(canonical)
            if region and region not in EXCLUDED_REGIONS:
                add("region", form, region)
    for form in lookups.get("period", []):
        add("period", form, synonyms.get(form) or EXTRA_FORMS["period"].get(form))
    for label, forms in EXTRA_FORMS.items():
        for form, canonical in forms.items():
            add(label, form, canonical)
    return [{"label": label, "pattern": form, "id": canonical} for (label, form), canonical in sorted(found.items())]


def patterns(entities_file: Path = ENTITIES_FILE, char_variants: bool = True) -> list[dict[str, Any]]:
    """EntityRuler patterns: a phrase pattern per alias and (``char_variants``) a one-token-per-character
    pattern per Chinese alias of two or more characters.

    why the character variant: jieba cuts characters it does not know (traditional, Cantonese) by
    context, so 廣州 alone is one token but 廣州嘅 is 廣 / 州 / 嘅, and the phrase pattern (cut in
    isolation) no longer matches. The variant only matches runs of one-character tokens, so it still
    never fires inside a word jieba keeps whole (深化, 沪深, 国家级).
    """
    found: list[dict[str, Any]] = []
    for item in alias_forms(entities_file):
        found.append(item)
        form = item["pattern"]
        if char_variants and len(form) >= 2 and all(_is_cjk(ch) for ch in form):
            found.append({**item, "pattern": [{"LOWER": ch} for ch in form]})
    return found


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def jieba_tokenizer(userdict: Path | None = USERDICT) -> Any:
    """A private ``jieba.Tokenizer`` (the process-wide one stays untouched), with ``userdict`` loaded."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    if userdict is not None:
        tokenizer.load_userdict(str(userdict))
    tokenizer.initialize()
    return tokenizer


def use_tokenizer(nlp: Language, segmenter: Any) -> Language:
    """Make ``nlp`` cut text with ``segmenter`` and re-cut its phrase patterns the same way."""
    nlp.tokenizer.jieba_seg = segmenter
    if RULER in nlp.pipe_names:
        ruler = nlp.get_pipe(RULER)
        kept = ruler.patterns
        ruler.clear()
        ruler.add_patterns(kept)
    return nlp


def build(
    entities_file: Path = ENTITIES_FILE, userdict: Path | None = USERDICT, char_variants: bool = True
) -> Language:
    """The blank Chinese pipeline with the jieba segmenter and the alias EntityRuler (see :func:`patterns`)."""
    import jieba
    import spacy

    jieba.setLogLevel(logging.WARNING)  # why: spaCy warms up the process-wide jieba in spacy.blank
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.tokenizer.jieba_seg = jieba_tokenizer(userdict)
    ruler = nlp.add_pipe(RULER, config={"phrase_matcher_attr": "LOWER", "validate": True})
    ruler.add_patterns(patterns(entities_file, char_variants=char_variants))
    logger.info("built spaCy zh pipeline with %d patterns", len(ruler.patterns))
    return nlp


def save(nlp: Language, out_dir: Path) -> Path:
    """Write ``nlp`` to ``out_dir`` (created); returns the directory."""
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    logger.info("wrote %s", out_dir)
    return out_dir


def load(path: Path = DEFAULT_OUT, userdict: Path | None = USERDICT) -> Language:
    """Load a pipeline written by :func:`save`, cutting text with a private jieba + ``userdict``."""
    import jieba
    import spacy

    jieba.setLogLevel(logging.WARNING)
    return use_tokenizer(spacy.load(path), jieba_tokenizer(userdict))


def entities(nlp: Language, text: str) -> list[dict[str, Any]]:
    """Rasa-style entity dicts for ``text``: ``value`` is the canonical value from the pattern id."""
    return [
        {
            "entity": ent.label_,
            "value": ent.ent_id_ or ent.text,
            "text": ent.text,
            "start": ent.start_char,
            "end": ent.end_char,
        }
        for ent in nlp(text).ents
    ]


def main(argv: Iterable[str] | None = None) -> int:
    """``build OUT_DIR`` writes the pipeline; ``parse TEXT...`` prints the entities found."""
    parser = argparse.ArgumentParser(prog="python -m bot.spacy_zh", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build the pipeline and write it to OUT_DIR")
    build_cmd.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT)
    parse_cmd = sub.add_parser("parse", help="print the entities the built pipeline finds")
    parse_cmd.add_argument("texts", nargs="+")
    parse_cmd.add_argument("--model", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "build":
        save(build(), args.out_dir)
        return 0
    nlp = load(args.model)
    for text in args.texts:
        print(text, entities(nlp, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
