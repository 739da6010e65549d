"""Round-trip editing of the NLU training files ``data/nlu/<topic>.yml`` (Rasa 3.1 YAML).

The files stay the single source of truth, reviewed in git, so an edit must change exactly the
example line it is about and nothing else:

* files are read and written with ruamel.yaml's round-trip mode, which keeps comments, key order,
  quoting (``version: "3.1"``) and blank lines; the sequence indentation of each file is detected;
* an intent's examples are a literal block scalar (``examples: |``) of ``- `` lines. Unchanged lines
  are kept as they are (byte for byte); a new example is appended after the intent's last example;
  blank lines inside the block stay where they are;
* a file that ruamel.yaml would not reproduce byte for byte is read-only here (:class:`FileFormatError`
  on any change), so the console never rewrites a file it does not fully understand;
* writes are atomic (temporary file + rename) and :meth:`NluRepository.apply` returns the old bytes
  so a change that fails validation can be restored exactly.

Examples carry inline entity annotations in Rasa's grammar: ``[深圳](region)``,
``[鹏城]{"entity": "region", "value": "深圳"}``, ``[x](entity:value)`` (read only; written as the
dict form) and ``[x][{...}, {...}]`` (several entities on one span). :func:`parse_example` and
:func:`format_example` convert between that text and :class:`Example`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, Union

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

logger = logging.getLogger(__name__)

# Same grammar as rasa.shared.nlu.training_data.entities_parser.ENTITY_REGEX.
ENTITY_RE = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<dict>[^}]+?)\}|\[(?P<list>.*?)\])"
)
_ENTITY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_EXAMPLE_LINE = re.compile(r"^(\s*)- (.*)$")


class ExampleFormatError(ValueError):
    """An example whose entity annotations cannot be read; the message is for the trainer."""


class FileFormatError(RuntimeError):
    """A file the console cannot change safely (not round-trippable, unexpected layout ...)."""


class ConflictError(RuntimeError):
    """The file changed since the page was shown (the example at that position is different)."""


@dataclass(frozen=True)
class Entity:
    """One annotated span of an example's plain text (``start``/``end`` index the plain text)."""

    start: int
    end: int
    entity: str
    value: str | None = None
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """A training example: ``raw`` as written in the file, its plain ``text`` and ``entities``."""

    raw: str
    text: str
    entities: tuple[Entity, ...] = ()

    def spans(self) -> list[tuple[str, tuple[Entity, ...] | None]]:
        """The plain text cut into (piece, entities-on-it-or-None), for display."""
        pieces: list[tuple[str, tuple[Entity, ...] | None]] = []
        position = 0
        by_span: dict[tuple[int, int], list[Entity]] = {}
        for entity in self.entities:
            by_span.setdefault((entity.start, entity.end), []).append(entity)
        for (start, end), entities in sorted(by_span.items()):
            if start < position:
                continue
            if start > position:
                pieces.append((self.text[position:start], None))
            pieces.append((self.text[start:end], tuple(entities)))
            position = end
        if position < len(self.text):
            pieces.append((self.text[position:], None))
        return pieces


def _entity_from_dict(data: object, start: int, end: int, surface: str) -> Entity:
    if not isinstance(data, dict) or not isinstance(data.get("entity"), str):
        raise ExampleFormatError(f'实体标注缺少 "entity"：[{surface}]')
    unknown = set(data) - {"entity", "value", "role", "group"}
    if unknown:
        raise ExampleFormatError(f"实体标注含有未知字段 {sorted(unknown)}：[{surface}]")

    def text_or_none(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    return Entity(start, end, data["entity"], text_or_none("value"), text_or_none("role"), text_or_none("group"))


def parse_example(raw: str) -> Example:
    """Read one annotated example (the part after ``- ``); raise :class:`ExampleFormatError` if malformed."""
    entities: list[Entity] = []
    plain: list[str] = []
    position = 0
    for match in ENTITY_RE.finditer(raw):
        plain.append(raw[position : match.start()])
        surface = match.group("text")
        start = sum(len(p) for p in plain)
        end = start + len(surface)
        if match.group("entity") is not None:
            entities.append(Entity(start, end, match.group("entity").strip(), match.group("value")))
        elif match.group("dict") is not None:
            try:
                data = json.loads("{" + match.group("dict") + "}")
            except json.JSONDecodeError as error:
                raise ExampleFormatError(f"实体标注不是合法的 JSON：[{surface}]{{{match.group('dict')}}}") from error
            entities.append(_entity_from_dict(data, start, end, surface))
        else:
            try:
                items = json.loads("[" + match.group("list") + "]")
            except json.JSONDecodeError as error:
                raise ExampleFormatError(f"实体标注不是合法的 JSON：[{surface}][{match.group('list')}]") from error
            if not items:
                raise ExampleFormatError(f"实体标注为空：[{surface}][]")
            entities.extend(_entity_from_dict(item, start, end, surface) for item in items)
        plain.append(surface)
        position = match.end()
    plain.append(raw[position:])
    for entity in entities:
        if not _ENTITY_NAME.match(entity.entity):
            raise ExampleFormatError(f"实体名称无效：{entity.entity!r}")
    return Example(raw, "".join(plain), tuple(entities))


def _annotation(surface: str, entities: Sequence[Entity]) -> str:
    def as_dict(entity: Entity) -> dict:
        data = {"entity": entity.entity}
        for key in ("value", "role", "group"):
            if getattr(entity, key) is not None:
                data[key] = getattr(entity, key)
        return data

    if len(entities) > 1:
        return f"[{surface}]" + json.dumps([as_dict(e) for e in entities], ensure_ascii=False)
    entity = entities[0]
    if entity.value is None or entity.value == surface:
        if entity.role is None and entity.group is None:
            return f"[{surface}]({entity.entity})"
    data = as_dict(entity)
    if data.get("value") == surface:
        del data["value"]
    return f"[{surface}]" + json.dumps(data, ensure_ascii=False)


def format_example(text: str, entities: Iterable[Entity] = ()) -> str:
    """Write plain ``text`` with ``entities`` as Rasa annotations (the inverse of :func:`parse_example`)."""
    by_span: dict[tuple[int, int], list[Entity]] = {}
    for entity in entities:
        if not (0 <= entity.start < entity.end <= len(text)):
            raise ExampleFormatError(f"实体位置超出文本：{entity}")
        by_span.setdefault((entity.start, entity.end), []).append(entity)
    out: list[str] = []
    position = 0
    for (start, end), group in sorted(by_span.items()):
        if start < position:
            raise ExampleFormatError("实体标注互相重叠")
        out.append(text[position:start])
        out.append(_annotation(text[start:end], group))
        position = end
    out.append(text[position:])
    return "".join(out)


def normalise_raw(raw: str) -> str:
    """One line, trimmed: what an edited example is stored as."""
    return " ".join(raw.split())


# --- files -----------------------------------------------------------------------------------------


def _yaml_for(text: str) -> YAML:
    """A round-trip YAML instance whose sequence indentation matches ``text``."""
    offset = 0
    in_nlu = False
    for line in text.splitlines():
        if re.match(r"^nlu\s*:", line):
            in_nlu = True
            continue
        if in_nlu and line.strip() and not line.lstrip().startswith("#"):
            match = re.match(r"^( *)- ", line)
            offset = len(match.group(1)) if match else 0
            break
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    # why: never fold long lines (a re-wrapped comment or string would be a spurious diff).
    yaml.width = 1 << 16
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


@dataclass
class IntentBlock:
    """An ``- intent:`` item of one file."""

    name: str
    item: CommentedMap
    editable: bool
    reason: str = ""

    def lines(self) -> list[str]:
        """The block's lines without the final newline."""
        value = self.item.get("examples")
        if not isinstance(value, str) or not value:
            return []
        lines = value.split("\n")
        return lines[:-1] if value.endswith("\n") else lines

    def example_positions(self) -> list[int]:
        return [i for i, line in enumerate(self.lines()) if _EXAMPLE_LINE.match(line)]

    def raw_examples(self) -> list[str]:
        lines = self.lines()
        return [_EXAMPLE_LINE.match(lines[i]).group(2).strip() for i in self.example_positions()]

    def set_lines(self, lines: list[str]) -> None:
        old = self.item.get("examples")
        text = "\n".join(lines) + "\n"
        if isinstance(old, str) and not old.endswith("\n"):
            text = text[:-1]
        self.item["examples"] = LiteralScalarString(text)


@dataclass
class NluFile:
    """One parsed file; :meth:`dump` gives its text back (identical when nothing was changed)."""

    path: Path
    text: str
    doc: object
    yaml: YAML
    roundtrip_ok: bool
    intents: dict[str, IntentBlock] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> NluFile:
        text = path.read_text(encoding="utf-8")
        yaml = _yaml_for(text)
        try:
            doc = yaml.load(text)
        except YAMLError as error:
            raise FileFormatError(f"{path.name}: YAML 格式错误：{error}") from error
        nf = cls(path, text, doc, yaml, roundtrip_ok=False)
        nf.roundtrip_ok = nf.dump() == text
        if not nf.roundtrip_ok:
            logger.warning("%s does not round-trip byte for byte; the console treats it as read-only", path)
        items = doc.get("nlu") if isinstance(doc, dict) else None
        for item in items or []:
            if isinstance(item, dict) and "intent" in item:
                examples = item.get("examples")
                editable, reason = nf.roundtrip_ok, "" if nf.roundtrip_ok else "文件无法无损保存"
                if not isinstance(examples, LiteralScalarString):
                    editable, reason = False, "examples 不是 | 文本块"
                nf.intents[str(item["intent"])] = IntentBlock(str(item["intent"]), item, editable, reason)
        return nf

    def dump(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.doc, out)
        return out.getvalue()


@dataclass(frozen=True)
class IntentData:
    """What the console shows about one intent."""

    name: str
    file: str
    examples: tuple[Example, ...]
    editable: bool
    reason: str = ""
    bad_examples: tuple[tuple[str, str], ...] = ()  # (raw, why it cannot be read)


@dataclass(frozen=True)
class NluData:
    intents: dict[str, IntentData]
    files: tuple[str, ...]
    problems: tuple[str, ...] = ()

    def all_examples(self) -> list[tuple[str, Example]]:
        return [(intent.name, ex) for intent in self.intents.values() for ex in intent.examples]


# --- changes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Add:
    intent: str
    raw: str


@dataclass(frozen=True)
class Replace:
    intent: str
    index: int
    expected_raw: str
    raw: str


@dataclass(frozen=True)
class Delete:
    intent: str
    index: int
    expected_raw: str


Change = Union[Add, Replace, Delete]


@dataclass(frozen=True)
class Applied:
    """The files a change rewrote, with their previous bytes (for :meth:`NluRepository.restore`)."""

    previous: dict[Path, bytes]

    @property
    def files(self) -> list[str]:
        return sorted(p.name for p in self.previous)


def _atomic_write(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class NluRepository:
    """The NLU files of one directory. Stateless: every call reads the files afresh.

    Callers serialise changes (the web app holds one lock around change + validation).
    """

    def __init__(self, nlu_dir: Path) -> None:
        self.nlu_dir = Path(nlu_dir)

    def paths(self) -> list[Path]:
        return sorted(p for p in self.nlu_dir.glob("*.yml") if p.is_file())

    def _files(self) -> list[NluFile]:
        return [NluFile.load(path) for path in self.paths()]

    def load(self) -> NluData:
        intents: dict[str, IntentData] = {}
        problems: list[str] = []
        files = []
        for path in self.paths():
            files.append(path.name)
            try:
                nf = NluFile.load(path)
            except FileFormatError as error:
                problems.append(str(error))
                continue
            for name, block in nf.intents.items():
                if name in intents:
                    problems.append(f"意图 {name} 同时出现在 {intents[name].file} 和 {path.name}")
                    continue
                examples, bad = [], []
                for raw in block.raw_examples():
                    try:
                        examples.append(parse_example(raw))
                    except ExampleFormatError as error:
                        bad.append((raw, str(error)))
                intents[name] = IntentData(name, path.name, tuple(examples), block.editable, block.reason, tuple(bad))
        return NluData(intents, tuple(files), tuple(problems))

    def apply(self, changes: Sequence[Change], files_hint: Sequence[str] | None = None) -> Applied:
        """Apply ``changes`` in order and write the files they touch; return their previous bytes.

        Raises :class:`ConflictError` if an example is not where the page saw it, :class:`KeyError`
        for an unknown intent, :class:`FileFormatError` for a read-only file. Nothing is written
        unless every change applies. ``files_hint`` names the files that hold the changed intents
        (from a recent :meth:`load`): only those are read again (from disk, so conflicts still show).
        """
        # why: reading all 40 files back costs most of a save; an intent's file rarely changes.
        hinted = [self.nlu_dir / name for name in sorted(set(files_hint or ())) if (self.nlu_dir / name).is_file()]
        files = [NluFile.load(path) for path in hinted] if hinted else self._files()
        if hinted and any(not any(c.intent in nf.intents for nf in files) for c in changes):
            files = self._files()
        owner: dict[str, NluFile] = {}
        for nf in files:
            for name in nf.intents:
                owner.setdefault(name, nf)
        touched: dict[Path, NluFile] = {}
        for change in changes:
            nf = owner.get(change.intent)
            if nf is None:
                raise KeyError(change.intent)
            block = nf.intents[change.intent]
            if not block.editable:
                raise FileFormatError(f"{nf.path.name}：{change.intent} 不能在控制台修改（{block.reason}）")
            lines = block.lines()
            positions = block.example_positions()
            if isinstance(change, Add):
                raw = normalise_raw(change.raw)
                parse_example(raw)
                indent = _EXAMPLE_LINE.match(lines[positions[-1]]).group(1) if positions else ""
                at = positions[-1] + 1 if positions else len(lines)
                lines.insert(at, f"{indent}- {raw}")
            else:
                if not 0 <= change.index < len(positions):
                    raise ConflictError(f"{change.intent} 第 {change.index + 1} 条例句已不存在，请刷新页面")
                line_no = positions[change.index]
                match = _EXAMPLE_LINE.match(lines[line_no])
                if match.group(2).strip() != change.expected_raw:
                    raise ConflictError(f"{change.intent} 第 {change.index + 1} 条例句已被修改，请刷新页面")
                if isinstance(change, Replace):
                    raw = normalise_raw(change.raw)
                    parse_example(raw)
                    lines[line_no] = f"{match.group(1)}- {raw}"
                else:
                    del lines[line_no]
            block.set_lines(lines)
            touched[nf.path] = nf
        previous: dict[Path, bytes] = {}
        outputs: dict[Path, str] = {}
        for path, nf in touched.items():
            text = nf.dump()
            # why: refuse to write anything that does not read back as what we meant to write.
            check = raw_examples_of_text(text)
            for name, block in nf.intents.items():
                if check.get(name) != block.raw_examples():
                    raise FileFormatError(f"{path.name}：写回后内容不一致，已放弃修改")
            outputs[path] = text
            previous[path] = path.read_bytes()
        for path, text in outputs.items():
            _atomic_write(path, text.encode("utf-8"))
        return Applied(previous)

    def restore(self, applied: Applied) -> None:
        """Put back the bytes :meth:`apply` replaced."""
        for path, data in applied.previous.items():
            _atomic_write(path, data)


def raw_examples_of_text(text: str) -> dict[str, list[str]]:
    """Intent -> raw example strings of a file's text (used to check what is about to be written)."""
    yaml = _yaml_for(text)
    doc = yaml.load(text)
    result: dict[str, list[str]] = {}
    for item in (doc.get("nlu") if isinstance(doc, dict) else None) or []:
        if isinstance(item, dict) and "intent" in item:
            block = IntentBlock(str(item["intent"]), item, True)
            result[block.name] = block.raw_examples()
    return result


def domain_entities(domain_path: Path) -> set[str]:
    """Entity names declared in ``domain.yml`` (empty when the file is missing)."""
    if not domain_path.exists():
        return set()
    doc = YAML(typ="safe").load(domain_path.read_text(encoding="utf-8")) or {}
    names = set()
    for item in doc.get("entities") or []:
        names.add(next(iter(item)) if isinstance(item, dict) else str(item))
    return names
