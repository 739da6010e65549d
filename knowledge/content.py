"""Load the hand-written content (manifest, facts, topics, channels) into plain dataclasses.

Contract: ``load_content(content_dir)`` never raises on bad content; it returns a
:class:`Content` whose ``problems`` list says, per file and id, what is malformed. Schema checks
live here; cross-checks against the source texts live in :mod:`knowledge.verify`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.vocabulary import CANONICAL_PERIODS
from knowledge.vocabulary import COVERED_REGIONS as REGIONS

KINDS = ("draft_for_comment", "final_news", "annual_review", "national_plan", "news")
FORMATS = ("html", "text")
QUALIFIERS = ("以上", "以内", "左右", "超", "不低于", "约", "")
NATURES = ("预期性", "约束性", "")
STATUSES = ("current", "superseded")
# why: design.md allows other years as result_<year>; target_<year> is the same idea for targets.
_PERIOD_RE = re.compile(r"^(result|target)_(19|20)\d\d$")


def is_valid_period(period: str) -> bool:
    return period in CANONICAL_PERIODS or bool(_PERIOD_RE.match(period))


@dataclass(frozen=True)
class ManifestEntry:
    doc_id: str
    file: str
    title: str
    publisher: str
    kind: str
    region: str
    published: dt.date | None
    date_label: str
    url: str
    format: str
    fetch_url: str = ""


@dataclass(frozen=True)
class FactSpec:
    id: str
    catalogue: tuple[str, ...]
    metric: str
    metric_key: str
    region: str
    period: str
    value: str
    unit: str
    qualifier: str
    nature: str
    topics: tuple[str, ...]
    doc: str
    section: str
    quote: str
    display: str  # "" = render from value/unit/qualifier
    status: str
    conflict_group: str
    note: str
    origin: str = "curated"  # or "table"
    cumulative: bool = False
    source_file: str = ""


@dataclass(frozen=True)
class SummarySpec:
    text: str
    doc: str
    quote: str


@dataclass(frozen=True)
class TopicSpec:
    id: str
    name: str
    intents: tuple[str, ...]
    aliases: tuple[str, ...]
    summary: tuple[SummarySpec, ...]
    facts: tuple[str, ...]
    gaps: tuple[str, ...]
    channels: tuple[str, ...]
    related: tuple[str, ...]
    source_file: str = ""


@dataclass(frozen=True)
class ChannelSpec:
    id: str
    name: str
    doc: str
    quote: str


@dataclass
class Content:
    """Everything read from a content directory, plus the schema problems found."""

    content_dir: Path
    manifest: list[ManifestEntry] = field(default_factory=list)
    facts: list[FactSpec] = field(default_factory=list)
    topics: list[TopicSpec] = field(default_factory=list)
    channels: list[ChannelSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def sources_dir(self) -> Path:
        return self.content_dir / "sources"

    def content_files(self) -> list[Path]:
        """Every file whose bytes define the KB content (for the build hash)."""
        files: list[Path] = []
        if self.sources_dir.is_dir():
            files += sorted(
                p for p in self.sources_dir.iterdir() if p.is_file() and not p.name.endswith(".fetch.json")
            )
        for sub in ("facts", "topics"):
            d = self.content_dir / sub
            if d.is_dir():
                files += sorted(d.glob("*.yml"))
        channels = self.content_dir / "channels.yml"
        if channels.is_file():
            files.append(channels)
        return files


# ---------------------------------------------------------------- helpers


# why: libyaml's loader is ~10x faster than the pure-Python one; same safe semantics.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path.name}: cannot read YAML: {exc}")
        return None


def _str(item: dict, key: str, where: str, problems: list[str], required: bool = True) -> str:
    value = item.get(key)
    if value is None:
        if required:
            problems.append(f"{where}: missing field {key!r}")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, dt.date)):
        problems.append(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
        return ""
    # why: unquoted YAML numbers (2287.95) arrive as floats; str() keeps their digits, and a lost
    # trailing zero ("20.0" -> 20.0 is fine, "64.40" -> 64.4 is not) is caught by verify's quote check.
    return str(value).strip()


def _str_list(item: dict, key: str, where: str, problems: list[str]) -> tuple[str, ...]:
    value = item.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value.strip(),)
    if not isinstance(value, list):
        problems.append(f"{where}: field {key!r} must be a list")
        return ()
    out = []
    for v in value:
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            out.append(str(v).strip())
        else:
            problems.append(f"{where}: field {key!r} holds a non-string item {v!r}")
    return tuple(out)


def _date(value: Any, where: str, problems: list[str]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{where}: 'published' must be an ISO date (YYYY-MM-DD), got {value!r}")
        return None


# ---------------------------------------------------------------- loaders


def load_manifest(path: Path, problems: list[str]) -> list[ManifestEntry]:
    if not path.is_file():
        problems.append(f"{path}: manifest not found")
        return []
    data = _read_yaml(path, problems)
    if not isinstance(data, list):
        problems.append(f"{path.name}: must be a list of documents")
        return []
    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        where = f"sources/manifest.yml[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        doc_id = _str(item, "doc_id", where, problems)
        where = f"sources/manifest.yml doc {doc_id or i}"
        entry = ManifestEntry(
            doc_id=doc_id,
            file=_str(item, "file", where, problems),
            title=_str(item, "title", where, problems),
            publisher=_str(item, "publisher", where, problems, required=False),
            kind=_str(item, "kind", where, problems),
            region=_str(item, "region", where, problems),
            published=_date(item.get("published"), where, problems),
            date_label=_str(item, "date_label", where, problems),
            url=_str(item, "url", where, problems, required=False),
            format=_str(item, "format", where, problems),
            fetch_url=_str(item, "fetch_url", where, problems, required=False),
        )
        if doc_id in seen:
            problems.append(f"{where}: duplicate doc_id")
        seen.add(doc_id)
        if entry.kind and entry.kind not in KINDS:
            problems.append(f"{where}: kind {entry.kind!r} not in {KINDS}")
        if entry.region and entry.region not in REGIONS:
            problems.append(f"{where}: region {entry.region!r} not in {REGIONS}")
        if entry.format and entry.format not in FORMATS:
            problems.append(f"{where}: format {entry.format!r} not in {FORMATS}")
        if entry.file and not (path.parent / entry.file).is_file():
            problems.append(f"{where}: file {entry.file!r} not found in sources/")
        entries.append(entry)
    return entries


def _fact_from_dict(item: dict, where: str, problems: list[str], source_file: str) -> FactSpec:
    fact_id = _str(item, "id", where, problems)
    where = f"{source_file} fact {fact_id or where}"
    spec = FactSpec(
        id=fact_id,
        catalogue=_str_list(item, "catalogue", where, problems),
        metric=_str(item, "metric", where, problems),
        metric_key=_str(item, "metric_key", where, problems),
        region=_str(item, "region", where, problems),
        period=_str(item, "period", where, problems),
        value=_str(item, "value", where, problems),
        unit=_str(item, "unit", where, problems, required=False),
        qualifier=_str(item, "qualifier", where, problems, required=False),
        nature=_str(item, "nature", where, problems, required=False),
        topics=_str_list(item, "topics", where, problems),
        doc=_str(item, "doc", where, problems),
        section=_str(item, "section", where, problems, required=False),
        quote=_str(item, "quote", where, problems),
        display=_str(item, "display", where, problems, required=False),
        status=_str(item, "status", where, problems),
        conflict_group=_str(item, "conflict_group", where, problems, required=False),
        note=_str(item, "note", where, problems, required=False),
        source_file=source_file,
    )
    if spec.region and spec.region not in REGIONS:
        problems.append(f"{where}: region {spec.region!r} not in {REGIONS}")
    if spec.period and not is_valid_period(spec.period):
        problems.append(f"{where}: period {spec.period!r} is not canonical (see docs/design.md)")
    if spec.qualifier not in QUALIFIERS:
        problems.append(f"{where}: qualifier {spec.qualifier!r} not in {QUALIFIERS}")
    if spec.nature not in NATURES:
        problems.append(f"{where}: nature {spec.nature!r} not in {NATURES}")
    if spec.status and spec.status not in STATUSES:
        problems.append(f"{where}: status {spec.status!r} not in {STATUSES}")
    return spec


def load_facts(facts_dir: Path, problems: list[str]) -> list[FactSpec]:
    facts: list[FactSpec] = []
    if not facts_dir.is_dir():
        problems.append(f"{facts_dir}: facts directory not found")
        return facts
    for path in sorted(facts_dir.glob("*.yml")):
        data = _read_yaml(path, problems)
        rel = f"facts/{path.name}"
        if data is None:
            continue
        if not isinstance(data, list):
            problems.append(f"{rel}: must be a list of facts")
            continue
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                problems.append(f"{rel}[{i}]: must be a mapping")
                continue
            facts.append(_fact_from_dict(item, f"[{i}]", problems, rel))
    return facts


def load_topics(topics_dir: Path, problems: list[str]) -> list[TopicSpec]:
    topics: list[TopicSpec] = []
    if not topics_dir.is_dir():
        problems.append(f"{topics_dir}: topics directory not found")
        return topics
    for path in sorted(topics_dir.glob("*.yml")):
        rel = f"topics/{path.name}"
        data = _read_yaml(path, problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f"{rel}: must be one mapping (one topic per file)")
            continue
        topic_id = _str(data, "id", rel, problems)
        where = f"{rel} topic {topic_id}"
        summary: list[SummarySpec] = []
        raw_summary = data.get("summary") or []
        if not isinstance(raw_summary, list):
            problems.append(f"{where}: summary must be a list")
            raw_summary = []
        for j, item in enumerate(raw_summary):
            if not isinstance(item, dict):
                problems.append(f"{where}: summary[{j}] must be a mapping with text/doc/quote")
                continue
            sw = f"{where} summary[{j}]"
            summary.append(
                SummarySpec(
                    text=_str(item, "text", sw, problems),
                    doc=_str(item, "doc", sw, problems),
                    quote=_str(item, "quote", sw, problems),
                )
            )
        topics.append(
            TopicSpec(
                id=topic_id,
                name=_str(data, "name", where, problems),
                intents=_str_list(data, "intents", where, problems),
                aliases=_str_list(data, "aliases", where, problems),
                summary=tuple(summary),
                facts=_str_list(data, "facts", where, problems),
                gaps=_str_list(data, "gaps", where, problems),
                channels=_str_list(data, "channels", where, problems),
                related=_str_list(data, "related", where, problems),
                source_file=rel,
            )
        )
    return topics


def load_channels(path: Path, problems: list[str]) -> list[ChannelSpec]:
    if not path.is_file():
        problems.append(f"{path}: channels.yml not found")
        return []
    data = _read_yaml(path, problems)
    if data is None:
        return []
    if not isinstance(data, list):
        problems.append("channels.yml: must be a list of channels")
        return []
    out: list[ChannelSpec] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            problems.append(f"channels.yml[{i}]: must be a mapping")
            continue
        cid = _str(item, "id", f"channels.yml[{i}]", problems)
        where = f"channels.yml channel {cid or i}"
        out.append(
            ChannelSpec(
                id=cid,
                name=_str(item, "name", where, problems),
                doc=_str(item, "doc", where, problems),
                quote=_str(item, "quote", where, problems),
            )
        )
    return out


def load_content(content_dir: Path) -> Content:
    """Read every content file under ``content_dir``; schema problems go to ``Content.problems``."""
    content = Content(content_dir=content_dir)
    p = content.problems
    content.manifest = load_manifest(content_dir / "sources" / "manifest.yml", p)
    content.facts = load_facts(content_dir / "facts", p)
    content.topics = load_topics(content_dir / "topics", p)
    content.channels = load_channels(content_dir / "channels.yml", p)
    return content
