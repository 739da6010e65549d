"""Frozen value objects returned by :mod:`knowledge.service` (never ORM objects).

Import them from ``knowledge.service``; this module only exists so that ``search`` and ``service``
can share them without an import cycle. Field lists follow docs/design.md exactly.
"""

# why: no ``slots=True``: on Python 3.10 a frozen+slots dataclass raises TypeError instead of
# FrozenInstanceError when assigned to.

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a statement comes from; ``quote`` is verbatim from the document."""

    doc_id: str
    title: str
    publisher: str
    date_label: str
    section: str
    quote: str
    url: str
    # why: staff-added service facts say when someone last checked the page; seed documents leave it empty.
    verified_on: str = ""

    @property
    def citation(self) -> str:
        """``《title》，date_label，section`` (empty parts left out)."""
        parts = [f"《{self.title}》"] + [p for p in (self.date_label, self.section) if p]
        return "，".join(parts)


@dataclass(frozen=True)
class Channel:
    """An official channel named by the sources themselves."""

    name: str
    source: Source


@dataclass(frozen=True)
class Fact:
    """A verified figure. ``display`` is how the bot says it; every digit in it is in ``source.quote``."""

    id: str
    metric: str
    region: str
    period: str
    period_label: str
    value: str
    unit: str
    qualifier: str
    nature: str
    topics: tuple[str, ...]
    status: str
    note: str
    source: Source
    display: str
    # same key for the same indicator across regions and periods (e.g. ``sscard_holders``)
    metric_key: str = ""


@dataclass(frozen=True)
class TopicCard:
    """A topic: what the sources say (summary), what they do not (gaps) and where to go (channels)."""

    id: str
    name: str
    intents: tuple[str, ...]
    aliases: tuple[str, ...]
    summary: tuple[tuple[str, Source], ...]
    gaps: tuple[str, ...]
    channels: tuple[Channel, ...]
    fact_ids: tuple[str, ...]
    related: tuple[str, ...]


@dataclass(frozen=True)
class Hit:
    """A search result; ``kind`` is ``"passage"`` or ``"fact"``."""

    kind: str
    text: str
    score: float
    source: Source
    topics: tuple[str, ...]
    region: str


@dataclass(frozen=True)
class Statement:
    """A sentence of a source, verbatim (``text == source.quote``): what the plans say, beside the figures."""

    id: int
    text: str
    region: str
    period: str  # result_2024 | target_2025 | result_13th | plan
    topics: tuple[str, ...]
    source: Source
