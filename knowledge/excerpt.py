"""Where a quote sits in its document: the paragraphs around it and the spans to highlight.

Pure functions over a document's cleaned text (``kb_document.clean_text``), used by
:meth:`knowledge.service.KnowledgeService.source_context` for the website's source pages. Quotes
are matched as the build verifies them (:func:`knowledge.textutil.squash`: all whitespace and
``**`` markers ignored), so every quote the knowledge base holds is found in its document.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from knowledge.textutil import squash


@dataclass(frozen=True)
class DocumentInfo:
    """A source document as a resident may see it (no text)."""

    doc_id: str
    title: str
    publisher: str
    date_label: str
    url: str
    region: str
    kind: str


@dataclass(frozen=True)
class Paragraph:
    """One line of the document; ``spans`` are ``(start, end)`` offsets of the quote in ``text``."""

    text: str
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class SourceContext:
    """A document, and where a quote is in it.

    ``found`` is False when the quote is not in the document: then ``paragraphs`` is empty, so a
    page never shows text that the document does not contain.
    """

    document: DocumentInfo
    found: bool
    section: str = ""  # the heading path above the quote ("第三章 … > 专栏1 …"), "" when none
    paragraphs: tuple[Paragraph, ...] = ()


@lru_cache(maxsize=16)  # why: a page squashes its document two or three times; five documents in all
def _squashed_positions(text: str) -> tuple[str, tuple[int, ...]]:
    """``squash(text)`` and, for each of its characters, the offset in ``text``."""
    chars = [(c, i) for i, c in enumerate(text) if not c.isspace()]
    out: list[tuple[str, int]] = []
    k = 0
    while k < len(chars):
        # why: squash() drops "**" after dropping whitespace, left to right, without overlaps.
        if chars[k][0] == "*" and k + 1 < len(chars) and chars[k + 1][0] == "*":
            k += 2
            continue
        out.append(chars[k])
        k += 1
    return "".join(c for c, _ in out), tuple(i for _, i in out)


def locate(text: str, quote: str) -> tuple[int, int] | None:
    """``(start, end)`` of ``quote`` in ``text``, whitespace and ``**`` ignored, or None."""
    needle = squash(quote or "")
    if not needle:
        return None
    squashed, positions = _squashed_positions(text)
    at = squashed.find(needle)
    if at < 0:
        return None
    return positions[at], positions[at + len(needle) - 1] + 1


def excerpt(text: str, quote: str, context: int = 1) -> tuple[Paragraph, ...]:
    """The lines of ``text`` holding ``quote`` (highlighted) and ``context`` lines either side."""
    where = locate(text, quote)
    if where is None:
        return ()
    start, end = where
    lines: list[tuple[int, str]] = []
    offset = 0
    for line in text.split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    hit = [n for n, (o, line) in enumerate(lines) if o < end and o + len(line) > start]
    first = hit[0]
    last = hit[-1]
    # why: blank lines are no context; step over them to the neighbouring paragraph.
    before = [n for n in range(first - 1, -1, -1) if lines[n][1].strip()][:context]
    after = [n for n in range(last + 1, len(lines)) if lines[n][1].strip()][:context]
    out = []
    for n in sorted(before) + list(range(first, last + 1)) + after:
        o, line = lines[n]
        if not line.strip():
            continue
        spans = ((max(start, o) - o, min(end, o + len(line)) - o),) if first <= n <= last else ()
        out.append(Paragraph(line, spans))
    return tuple(out)


def section_of(text: str, quote: str, sections: list[tuple[str, str]]) -> str:
    """The path of the last section heading before ``quote`` in ``text``.

    ``sections`` are ``(heading, path)`` in document order; a heading counts where it starts a line
    (the last such place: a heading is also in the table of contents). "" when none precedes.
    """
    where = locate(text, quote)
    if where is None:
        return ""
    before = text[: where[0]]
    squashed, positions = _squashed_positions(before)
    best, best_at = "", -1
    for heading, path in sections:
        needle = squash(heading)
        at = squashed.rfind(needle) if needle else -1
        while at >= 0 and before[before.rfind("\n", 0, positions[at]) + 1 : positions[at]].strip():
            at = squashed.rfind(needle, 0, at)  # why: inside a sentence, not a heading line
        if at >= 0 and at >= best_at:
            best, best_at = path, at
    return best
