"""Import and export of training examples (issue 17): CSV (``intent,example``) and Rasa NLU YAML.

Contract:
- Export writes every example as written in the files (entity annotations kept), ordered by intent.
- :func:`parse_upload` reads an uploaded CSV (UTF-8 with or without BOM; header ``intent,example``) or
  Rasa NLU YAML (``nlu: - intent: ... examples: |``) into (intent, raw) rows; unreadable input raises
  :class:`ImportFormatError` with a message for the page. Nothing is written here: the web app checks
  every row like a single example (:func:`console.checks.check_example`) and adds only clean ones.
"""

from __future__ import annotations

import csv
import io

import yaml

from console.nlu_files import NluData

MAX_ROWS = 2000


class ImportFormatError(ValueError):
    """The uploaded file cannot be read; the message is for the trainer."""


def export_csv(data: NluData) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["intent", "example"])
    for name in sorted(data.intents):
        for ex in data.intents[name].examples:
            writer.writerow([name, ex.raw])
    return out.getvalue()


def export_yaml(data: NluData) -> str:
    lines = ['version: "3.1"', "nlu:"]
    for name in sorted(data.intents):
        lines.append(f"- intent: {name}")
        lines.append("  examples: |")
        lines.extend(f"    - {ex.raw}" for ex in data.intents[name].examples)
    return "\n".join(lines) + "\n"


def parse_upload(filename: str, body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFormatError("文件不是 UTF-8 编码") from None
    rows = _parse_yaml(text) if filename.lower().endswith((".yml", ".yaml")) else _parse_csv(text)
    if len(rows) > MAX_ROWS:
        raise ImportFormatError(f"一次最多导入 {MAX_ROWS} 条")
    return rows


def _parse_csv(text: str) -> list[tuple[str, str]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["intent", "example"]:
        raise ImportFormatError("CSV 第一行必须是 intent,example")
    rows = []
    for number, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise ImportFormatError(f"第 {number} 行缺少例句")
        rows.append((row[0].strip(), row[1].strip()))
    return rows


def _parse_yaml(text: str) -> list[tuple[str, str]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ImportFormatError("YAML 格式错误") from None
    items = doc.get("nlu") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ImportFormatError("YAML 里没有 nlu: 列表")
    rows = []
    for item in items:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        for line in str(item.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                rows.append((str(item["intent"]).strip(), line[2:].strip()))
    return rows
