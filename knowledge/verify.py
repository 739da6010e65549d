"""Cross-checks between the curated content and the cleaned source texts.

Contract: every function returns a list of human-readable problems (``"<file> <kind> <id>: what"``);
an empty list means the content may be built. Nothing here raises on bad content.

Rules (see issue 3):
- every fact quote, topic summary quote and channel quote is a substring of its document's cleaned
  text once ALL whitespace is removed on both sides (and ``**`` markers, see ``textutil.squash``);
- every number in a fact ``value`` appears in its quote (a value without digits must itself be in
  the quote); every number in ``display`` and in a summary ``text`` appears in the quote;
- topic fact / channel / related ids, fact topic ids and document ids exist; ids are unique;
  every intent belongs to one topic;
- every ``conflict_group`` has exactly one ``current`` member, and that member has a ``note``;
- a curated fact that shares its id with a parsed table row (``SZD-T1-NN``…) agrees with the row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from knowledge.content import Content, FactSpec
from knowledge.ingest import ParsedDocument
from knowledge.textutil import normalise_number, number_forms, number_tokens, render_display, squash


def _numbers_missing(text: str, quote: str) -> list[str]:
    forms = number_forms(quote)
    return [tok for tok in number_tokens(text) if tok not in forms and normalise_number(tok) not in forms]


def _ngrams(text: str, n: int = 4) -> set[str]:
    return {text[i : i + n] for i in range(max(0, len(text) - n + 1))}


def _same_number(a: str, b: str) -> bool:
    ta, tb = number_tokens(a), number_tokens(b)
    return bool(ta) and [normalise_number(x) for x in ta] == [normalise_number(x) for x in tb]


def merge_table_facts(curated: list[FactSpec], table: list[FactSpec]) -> tuple[list[FactSpec], list[str]]:
    """Curated facts followed by the table facts they do not already cover.

    - A curated fact with a table fact's id replaces it (and must agree with the row's values).
    - A table fact whose number and period equal a curated fact of the same catalogue row is dropped.
    - A kept table fact adopts the ``metric_key`` of the curated facts of its row (or of a curated fact
      of the same document with the same number and a similar metric), the topics of curated facts
      with that key and region, and the status / conflict group / note of a curated fact with the
      same number, period and similar metric (so a draft figure stays superseded).
    """
    problems: list[str] = []
    curated_by_id = {f.id: f for f in curated}
    curated_by_cat: dict[str, list[FactSpec]] = defaultdict(list)
    for f in curated:
        for cat in f.catalogue:
            curated_by_cat[cat].append(f)
    rows: dict[str, list[FactSpec]] = defaultdict(list)
    for t in table:
        rows[t.catalogue[0]].append(t)

    kept: list[FactSpec] = []
    for t in table:
        row_id = t.catalogue[0]
        twin = curated_by_id.get(t.id)
        if twin is not None:
            row_numbers = {normalise_number(n) for r in rows[row_id] for n in number_tokens(r.value)}
            twin_numbers = {normalise_number(n) for n in number_tokens(twin.value)}
            if not twin_numbers or not twin_numbers <= row_numbers:
                values = " / ".join(r.value for r in rows[row_id])
                problems.append(
                    f"{twin.source_file} fact {twin.id}: value {twin.value!r} disagrees with the parsed "
                    f"table row {row_id} (values {values}: {t.quote.replace(chr(9), ' ')!r})"
                )
            if twin.doc != t.doc or twin.region != t.region:
                problems.append(
                    f"{twin.source_file} fact {twin.id}: doc/region {twin.doc}/{twin.region} disagree with "
                    f"table row {row_id} ({t.doc}/{t.region})"
                )
            continue
        row_curated = curated_by_cat.get(row_id, [])
        if any(_same_number(c.value, t.value) and c.period == t.period for c in row_curated):
            continue
        grams = _ngrams(t.metric)
        similar = [
            c
            for c in curated
            if c.doc == t.doc
            and c.region == t.region
            and _same_number(c.value, t.value)
            and grams & _ngrams(c.metric)
        ]
        key_source = row_curated or similar
        metric_key = key_source[0].metric_key if key_source else t.metric_key
        topics: list[str] = []
        for c in curated:
            if c.metric_key == metric_key and c.region == t.region:
                topics += [x for x in c.topics if x not in topics]
        status_source = next((c for c in similar if c.period == t.period and c.conflict_group), None)
        if status_source is None:
            status_source = next(
                (c for c in similar if c.period == t.period and c.status == "superseded"), None
            )
        if status_source is not None:
            t = replace(
                t,
                status=status_source.status,
                conflict_group=status_source.conflict_group,
                note=status_source.note or t.note,
            )
        kept.append(replace(t, metric_key=metric_key, topics=tuple(topics)))
    return list(curated) + kept, problems


def _doc_text(docs: dict[str, ParsedDocument], doc_id: str) -> str | None:
    doc = docs.get(doc_id)
    return squash(doc.clean_text) if doc is not None else None


def _check_quote(
    where: str, doc_id: str, quote: str, texts: dict[str, str | None], problems: list[str]
) -> bool:
    text = texts.get(doc_id)
    if text is None:
        problems.append(f"{where}: document {doc_id!r} is not in the manifest (or its file is missing)")
        return False
    needle = squash(quote)
    if not needle:
        problems.append(f"{where}: empty quote")
        return False
    if needle not in text:
        problems.append(f"{where}: quote not found in document {doc_id} (whitespace ignored): {quote[:60]!r}")
        return False
    return True


def _duplicates(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for i in ids:
        if i in seen and i not in dups:
            dups.append(i)
        seen.add(i)
    return dups


def verify(content: Content, docs: dict[str, ParsedDocument], facts: list[FactSpec]) -> list[str]:
    """All problems of ``facts`` (curated + table), topics and channels against ``docs``."""
    problems: list[str] = []
    texts: dict[str, str | None] = {doc_id: _doc_text(docs, doc_id) for doc_id in docs}
    topic_ids = {t.id for t in content.topics}
    channel_ids = {c.id for c in content.channels}
    fact_ids = {f.id for f in facts}

    for dup in _duplicates(f.id for f in facts):
        files = sorted({f.source_file for f in facts if f.id == dup})
        problems.append(f"fact {dup}: duplicate id (in {', '.join(files)})")
    for dup in _duplicates(t.id for t in content.topics):
        problems.append(f"topic {dup}: duplicate id")
    for dup in _duplicates(c.id for c in content.channels):
        problems.append(f"channels.yml channel {dup}: duplicate id")

    for f in facts:
        where = f"{f.source_file} fact {f.id}"
        if not f.metric_key and f.origin == "curated":
            problems.append(f"{where}: empty metric_key")
        quote_ok = _check_quote(where, f.doc, f.quote, texts, problems)
        if quote_ok:
            if number_tokens(f.value):
                missing = _numbers_missing(f.value, f.quote)
                if missing:
                    problems.append(
                        f"{where}: value {f.value!r} has {', '.join(missing)} which is not in its quote"
                    )
            elif f.value and squash(f.value) not in squash(f.quote):
                problems.append(f"{where}: value {f.value!r} (no digits) is not in its quote")
            display = f.display or render_display(f.value, f.unit, f.qualifier)
            missing = _numbers_missing(display, f.quote)
            if missing:
                problems.append(
                    f"{where}: display {display!r} has {', '.join(missing)} which is not in its quote"
                )
        for topic in f.topics:
            if topic not in topic_ids:
                problems.append(f"{where}: unknown topic {topic!r}")

    intent_owner: dict[str, str] = {}
    for t in content.topics:
        where = f"{t.source_file} topic {t.id}"
        if not t.name:
            problems.append(f"{where}: empty name")
        for intent in t.intents:
            if intent in intent_owner and intent_owner[intent] != t.id:
                problems.append(f"{where}: intent {intent!r} also belongs to topic {intent_owner[intent]}")
            intent_owner.setdefault(intent, t.id)
        for fid in t.facts:
            if fid not in fact_ids:
                problems.append(f"{where}: unknown fact {fid!r}")
        for cid in t.channels:
            if cid not in channel_ids:
                problems.append(f"{where}: unknown channel {cid!r}")
        for rid in t.related:
            if rid not in topic_ids:
                problems.append(f"{where}: unknown related topic {rid!r}")
            elif rid == t.id:
                problems.append(f"{where}: lists itself as related")
        for i, s in enumerate(t.summary):
            sw = f"{where} summary[{i}]"
            if _check_quote(sw, s.doc, s.quote, texts, problems):
                missing = _numbers_missing(s.text, s.quote)
                if missing:
                    problems.append(
                        f"{sw}: text has {', '.join(missing)} which is not in its quote: {s.text[:50]!r}"
                    )

    for c in content.channels:
        _check_quote(f"channels.yml channel {c.id}", c.doc, c.quote, texts, problems)

    groups: dict[str, list[FactSpec]] = defaultdict(list)
    for f in facts:
        if f.conflict_group:
            groups[f.conflict_group].append(f)
    for group, members in sorted(groups.items()):
        current = [m for m in members if m.status == "current"]
        ids = ", ".join(m.id for m in members)
        if len(current) != 1:
            problems.append(
                f"conflict_group {group}: needs exactly one current fact, has {len(current)} ({ids})"
            )
        elif not current[0].note:
            problems.append(
                f"conflict_group {group}: the current fact {current[0].id} has no note saying why it wins"
            )
    return problems
