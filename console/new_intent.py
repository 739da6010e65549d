"""Create a topic intent from the console: NLU examples, domain, rule and the link to its topic card.

Contract of :func:`create_intent` (the console's ``POST /intents/new``):

- ``name`` is a new snake_case id starting with ``ask_`` (3-48 characters, not in the domain yet);
  ``topic`` is an existing topic card of the knowledge base (``knowledge/topics/<topic>.yml``);
  ``examples`` are at least :data:`MIN_NEW_EXAMPLES` distinct lines, each checked like a saved example
  (plain text, no annotation, PII masked by the caller's checks).
- Writes, all or nothing (every file's previous bytes are restored if a later write fails):
  ``data/nlu/<name>.yml`` (the examples), the intent in ``domain.yml``'s ``intents:`` list, a rule
  ``intent -> action_answer_topic`` in ``data/rules/topics.yml``, and the intent in the card's ``intents:``
  list — the link :meth:`knowledge.service.KnowledgeService.topic_for_intent` reads after the knowledge
  base is rebuilt (:func:`rebuild_knowledge`; the action server picks a new build up by itself).
- The bot answers the new intent only after a retraining (the console's training page), like any
  change of examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MIN_NEW_EXAMPLES = 5
NAME = re.compile(r"^ask_[a-z][a-z0-9_]{1,43}$")
_INTENTS_LINE = re.compile(r"^intents:\s*\[(?P<items>[^\]]*)\]\s*$", re.MULTILINE)


class NewIntentError(ValueError):
    """The request cannot be carried out; the message is shown to the trainer (Chinese)."""


@dataclass(frozen=True)
class Created:
    name: str
    topic: str
    files: tuple[str, ...]  # paths relative to the project root, in the order written


def domain_intents(domain_text: str) -> list[str]:
    """The ids of the ``intents:`` list of a domain file (its "- name" lines)."""
    block = re.search(r"^intents:\n((?:[ \t]+-[^\n]*\n|[ \t]*#[^\n]*\n|\n)+)", domain_text, re.MULTILINE)
    if not block:
        return []
    return [m.group(1) for m in re.finditer(r"^[ \t]+-[ \t]*([A-Za-z0-9_]+)", block.group(1), re.MULTILINE)]


def _add_to_domain(text: str, name: str) -> str:
    block = re.search(r"^intents:\n((?:[ \t]+-[^\n]*\n|[ \t]*#[^\n]*\n)+)", text, re.MULTILINE)
    if not block:
        raise NewIntentError("domain.yml 没有 intents: 列表，无法添加意图")
    items = re.findall(r"^([ \t]+)-", block.group(1), re.MULTILINE)
    indent = items[0] if items else "  "
    end = block.end(1)
    return text[:end] + f"{indent}- {name}\n" + text[end:]


def _add_rule(text: str, name: str) -> str:
    if not text.endswith("\n"):
        text += "\n"
    return text + (
        f"  - rule: {name}\n"
        f"    steps:\n"
        f"      - intent: {name}\n"
        f"      - action: action_answer_topic\n"
    )


def _add_to_card(text: str, name: str) -> str:
    match = _INTENTS_LINE.search(text)
    if not match:
        raise NewIntentError("主题卡片没有 intents: [...] 这一行，请开发人员检查该卡片")
    items = [i.strip() for i in match.group("items").split(",") if i.strip()]
    items.append(name)
    return text[: match.start()] + f"intents: [{', '.join(items)}]" + text[match.end():]


def _nlu_file(name: str, examples: Sequence[str]) -> str:
    lines = "".join(f"    - {e}\n" for e in examples)
    return f'version: "3.1"\nnlu:\n- intent: {name}\n  examples: |\n{lines}'


def check_examples(examples: Sequence[str]) -> list[str]:
    """Distinct, stripped example lines; raises :class:`NewIntentError` when too few or malformed."""
    seen: dict[str, None] = {}
    for raw in examples:
        line = " ".join(raw.split())
        if not line:
            continue
        if len(line) > 200:
            raise NewIntentError(f"例句过长（最多 200 个字）：{line[:20]}…")
        if any(c in line for c in "[]{}()") or line.startswith(("-", "#", "/")):
            raise NewIntentError(f"新意图的例句请写成普通句子（标注实体请在创建后到意图页面进行）：{line[:30]}")
        seen.setdefault(line, None)
    if len(seen) < MIN_NEW_EXAMPLES:
        raise NewIntentError(f"请至少写 {MIN_NEW_EXAMPLES} 条不同的例句（每行一条），现在有 {len(seen)} 条")
    return list(seen)


def create_intent(
    project_root: Path, nlu_dir: Path, knowledge_dir: Path, name: str, topic: str, examples: Sequence[str]
) -> Created:
    """Write the new intent's files (see the module docstring); raises :class:`NewIntentError`."""
    name = name.strip()
    if not NAME.match(name):
        raise NewIntentError("意图名须以 ask_ 开头，只用小写英文字母、数字和下划线（例如 ask_maternity_leave）")
    domain_path = project_root / "domain.yml"
    rules_path = project_root / "data" / "rules" / "topics.yml"
    card_path = knowledge_dir / "topics" / f"{topic}.yml"
    nlu_path = nlu_dir / f"{name}.yml"
    if not re.fullmatch(r"[a-z0-9_]{1,64}", topic) or not card_path.is_file():
        raise NewIntentError("请选择一个已有的主题卡片")
    domain_text = domain_path.read_text(encoding="utf-8")
    if name in domain_intents(domain_text) or nlu_path.exists():
        raise NewIntentError(f"意图 {name} 已存在")
    lines = check_examples(examples)
    writes = [
        (nlu_path, _nlu_file(name, lines)),
        (domain_path, _add_to_domain(domain_text, name)),
        (rules_path, _add_rule(rules_path.read_text(encoding="utf-8"), name)),
        (card_path, _add_to_card(card_path.read_text(encoding="utf-8"), name)),
    ]
    previous: list[tuple[Path, bytes | None]] = []
    try:
        for path, text in writes:
            previous.append((path, path.read_bytes() if path.exists() else None))
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    except OSError as error:
        for path, old in reversed(previous):
            if old is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(old)
        raise NewIntentError(f"写入失败，已恢复原文件：{error.__class__.__name__}") from error
    root = project_root.resolve()

    def shown(path: Path) -> str:
        resolved = path.resolve()
        return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)

    return Created(name, topic, tuple(shown(p) for p, _ in writes))


def rebuild_knowledge(knowledge_dir: Path, database_url: str = "") -> str:
    """Rebuild the knowledge base from ``knowledge_dir`` (so the card's new intent counts); its summary line."""
    from knowledge.build import build
    from knowledge.settings import Settings

    base = Settings.from_env()
    settings = Settings(
        database_url=database_url or base.database_url,
        content_dir=knowledge_dir.resolve(),
        userdict_path=base.userdict_path,
        environment=base.environment,
    ).check()
    result = build(settings, force=True)
    return str(result)
