"""What a training example must pass before the console keeps it.

Contract of :func:`check_example` (pure, no I/O): given the annotated example, its target intent and
the current data, it returns *errors* (the change is refused) and *near-duplicates* (the trainer
must confirm). Errors:

* unreadable entity annotation; entity not declared in ``domain.yml``;
* empty text, or more than :data:`MAX_CHARS` characters of plain text;
* an ID-card, phone or bank-card number (training data must not hold personal data);
* the same sentence (after :func:`normalise`) already under another intent, or already under this one.

Near-duplicates are examples of *other* intents whose character 3-gram Jaccard similarity is at least
:data:`NEAR_DUPLICATE` — they confuse the classifier.

:func:`validate_files` is the check after each save (issue 17: a save took 30–36 s when each one ran
``rasa data validate``): only the files the change rewrote are read back with Rasa's own NLU YAML reader
(schema and example syntax) and their intents checked against ``domain.yml``; the whole-project checks of
:func:`check_example` (duplicates across files, entities) ran before writing. :func:`rasa_validate` runs
``rasa data validate`` in a subprocess on the whole project; the console runs it before every retrain
(and the web app reverts a save when either fails).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.sanitize import contains_pii, mask_pii
from console.nlu_files import Example, ExampleFormatError, NluData, normalise_raw, parse_example
from console.settings import ConsoleSettings

logger = logging.getLogger(__name__)

MIN_CHARS = 1
MAX_CHARS = 200
NGRAM = 3
# why: at 0.5 two sentences share half their character trigrams — usually one template with another
# topic word, which is exactly what confuses DIET; lower flags too many harmless pairs.
NEAR_DUPLICATE = 0.5
VALIDATE_TIMEOUT = 600


def normalise(text: str) -> str:
    """Lower-case NFKC text without whitespace, punctuation or symbols (the duplicate key)."""
    out = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        category = unicodedata.category(ch)
        if ch.isspace() or category.startswith("P") or category.startswith("S"):
            continue
        out.append(ch)
    return "".join(out)


def char_ngrams(text: str, n: int = NGRAM) -> frozenset[str]:
    key = normalise(text)
    if len(key) <= n:
        return frozenset([key]) if key else frozenset()
    return frozenset(key[i : i + n] for i in range(len(key) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class NearDuplicate:
    intent: str
    raw: str
    text: str
    similarity: float


@dataclass(frozen=True)
class CheckResult:
    example: Example | None
    errors: tuple[str, ...] = ()
    near_duplicates: tuple[NearDuplicate, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def check_example(
    raw: str,
    intent: str,
    data: NluData,
    known_entities: set[str] | None = None,
    ignore: tuple[str, int] | None = None,
    max_near: int = 5,
) -> CheckResult:
    """Check one example for ``intent`` against ``data`` (see the module docstring).

    ``ignore`` = (intent, index) skips the example being edited or moved.
    """
    raw = normalise_raw(raw)
    errors: list[str] = []
    if intent not in data.intents:
        errors.append(f"没有意图 {intent}")
    try:
        example = parse_example(raw)
    except ExampleFormatError as error:
        return CheckResult(None, (str(error),))
    text = example.text.strip()
    if len(text) < MIN_CHARS or not normalise(text):
        errors.append("例句不能为空")
    elif len(text) > MAX_CHARS:
        errors.append(f"例句不能超过 {MAX_CHARS} 个字（现在 {len(text)} 个）")
    if contains_pii(text):
        kinds = "、".join(
            {"id_card": "身份证号", "phone": "手机号", "bank_card": "银行卡号"}[k] for k in mask_pii(text)[1]
        )
        errors.append(f"例句含有个人信息（{kinds}），不能作为训练数据")
    if known_entities is not None:
        unknown = sorted({e.entity for e in example.entities} - known_entities)
        if unknown:
            errors.append(f"domain.yml 中没有实体 {', '.join(unknown)}")
    key = normalise(text)
    grams = char_ngrams(text)
    near: list[NearDuplicate] = []
    for other_intent, info in data.intents.items():
        for index, other in enumerate(info.examples):
            if ignore is not None and (other_intent, index) == ignore:
                continue
            if key and normalise(other.text) == key:
                if other_intent == intent:
                    errors.append(f"意图 {intent} 下已有相同例句：{other.text}")
                else:
                    errors.append(f"相同例句已属于意图 {other_intent}（{info.file}）：{other.text}")
                continue
            if other_intent != intent:
                score = jaccard(grams, char_ngrams(other.text))
                if score >= NEAR_DUPLICATE:
                    near.append(NearDuplicate(other_intent, other.raw, other.text, round(score, 2)))
    near.sort(key=lambda d: -d.similarity)
    return CheckResult(example, tuple(dict.fromkeys(errors)), tuple(near[:max_near]))


# --- rasa data validate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    seconds: float
    messages: tuple[str, ...] = field(default_factory=tuple)
    skipped: bool = False


def data_paths(settings: ConsoleSettings) -> list[str]:
    """The ``--data`` arguments that cover rules, stories and the (possibly relocated) NLU directory."""
    data_dir = settings.data_dir
    try:
        settings.nlu_dir.relative_to(data_dir)
        return [str(data_dir)]
    except ValueError:
        paths = [str(p) for p in sorted(data_dir.iterdir()) if p.is_dir() and p.name != "nlu"]
        return paths + [str(settings.nlu_dir)]


def rasa_env() -> dict[str, str]:
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
    }


def _error_lines(output: str) -> tuple[str, ...]:
    lines = []
    for line in output.splitlines():
        if "ERROR" in line or "Error" in line or "error:" in line.lower():
            lines.append(mask_pii(line.strip())[0][:500])
    return tuple(lines[-10:]) or tuple(mask_pii(line)[0][:500] for line in output.strip().splitlines()[-5:])


async def rasa_validate(settings: ConsoleSettings) -> ValidationResult:
    """Run ``rasa data validate`` on the project; ``ok`` is its exit status (warnings do not fail)."""
    if not settings.validate_with_rasa:
        return ValidationResult(True, 0.0, ("未运行 rasa data validate（CONSOLE_VALIDATE=off）",), skipped=True)
    started = time.monotonic()
    argv = [
        str(settings.rasa_bin),
        "data",
        "validate",
        "--config",
        str(settings.config_path),
        "--domain",
        str(settings.domain_path),
        "--data",
        *data_paths(settings),
    ]
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=settings.project_root,
        env=rasa_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), VALIDATE_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return ValidationResult(False, time.monotonic() - started, ("rasa data validate 超时",))
    seconds = time.monotonic() - started
    output = out.decode("utf-8", errors="replace")
    ok = process.returncode == 0
    if not ok:
        logger.warning("rasa data validate failed (exit %s) in %.1fs", process.returncode, seconds)
    return ValidationResult(ok, seconds, () if ok else _error_lines(output))


_DOMAIN_INTENTS: dict[Path, tuple[float, frozenset[str]]] = {}


def domain_intents(domain_path: Path) -> frozenset[str]:
    """Intents declared in ``domain.yml`` (cached while the file's mtime stays the same)."""
    import yaml

    mtime = domain_path.stat().st_mtime
    cached = _DOMAIN_INTENTS.get(domain_path)
    if cached and cached[0] == mtime:
        return cached[1]
    data = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    names = frozenset(
        next(iter(i)) if isinstance(i, dict) else str(i) for i in data.get("intents") or []
    )
    _DOMAIN_INTENTS[domain_path] = (mtime, names)
    return names


def _validate_files_sync(settings: ConsoleSettings, files: list[str]) -> tuple[str, ...]:
    # why: imported here, not at module import: rasa.shared takes a second to import and only saves need it.
    from rasa.shared.exceptions import YamlException
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    problems: list[str] = []
    intents = domain_intents(settings.domain_path)
    for name in files:
        path = settings.nlu_dir / name
        try:
            data = RasaYAMLReader().reads(path.read_text(encoding="utf-8"))
        except (YamlException, ValueError, KeyError) as error:
            problems.append(f"data/nlu/{name}：{str(error).splitlines()[0][:200]}")
            continue
        missing = sorted(data.intents - intents)
        if missing:
            problems.append(f"data/nlu/{name}：domain.yml 中没有意图 {', '.join(missing)}")
    return tuple(problems)


def warm_up() -> None:
    """Import Rasa's NLU YAML reader ahead of the first save (the web app calls it at start-up)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader  # noqa: F401


async def validate_files(settings: ConsoleSettings, files: list[str]) -> ValidationResult:
    """The incremental check of the rewritten ``files`` (names under ``nlu_dir``); see the module docstring."""
    if not settings.validate_with_rasa:
        return ValidationResult(True, 0.0, ("未校验（CONSOLE_VALIDATE=off）",), skipped=True)
    started = time.monotonic()
    problems = await asyncio.to_thread(_validate_files_sync, settings, files)
    return ValidationResult(not problems, time.monotonic() - started, problems)


def read_tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file, masked (for showing training logs)."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - chars))
        text = handle.read().decode("utf-8", errors="replace")
    return mask_pii(text)[0]
