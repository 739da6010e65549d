"""Score the bot on the set of real resident questions (tests/eval/real/questions.yml).

``python -m evaluation.real_score --url http://localhost:5005/webhooks/rest/webhook --split dev``
sends every question of the split over REST (a fresh sender each), scores each reply with
:func:`score` and prints pass rates per split, kind and expected answer type. The rubrics come from
the knowledge sources only (see tests/eval/real/README.md); nobody tunes the bot on split ``test``,
so ``--show-failures`` refuses to print its failures unless ``--i-am-reporting`` is given too.

:func:`score` is a pure function (no network, no knowledge base) so that the unit tests can check
every rule with made-up replies.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import sys
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import requests
import yaml

from bot.script import to_simplified
from evaluation.runner import _normalise_number, reply_text, rest_sender

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "eval" / "real" / "questions.yml"
SOURCE_LINE = "来源："
GAP_PHRASE = "现有资料没有"
# why: these two phrases belong to the injection and the fraud guards; a resident's ordinary question
# answered with either of them is a guard firing on the wrong message, whatever else the reply says.
GUARD_PHRASES = ("不会改变规则", "不能帮助编造")
SERVICE_KINDS = frozenset({"howto", "amount", "eligibility", "where", "when", "whether"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_FIGURE = re.compile(r"^\d+(?:\.\d+)?%?$")
# why: "1. 社保卡" / "2、" style enumerations are layout, not facts (same rule as evaluation/runner.py).
_ENUMERATION = re.compile(r"(?m)^\s*\d+[.、．)]\s*")


@dataclass
class Result:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def numbers(text: str) -> set[str]:
    """Distinct numbers in ``text`` (enumeration markers dropped), normalised: "20.0" -> "20"."""
    return {_normalise_number(n) for n in _NUMBER.findall(_ENUMERATION.sub("", text))}


def body_without_source(reply: str) -> str:
    """The reply without its ``来源：`` lines (document titles and years are not stated figures)."""
    return "\n".join(line for line in reply.splitlines() if not line.strip().startswith(SOURCE_LINE))


def _known(number: str, known_numbers: Iterable[str]) -> bool:
    known = known_numbers if isinstance(known_numbers, (set, frozenset)) else set(known_numbers)
    return number in known or _normalise_number(number) in known


def _contains(reply: str, needle, stated: set[str]) -> bool:
    """A figure ("24", "98%") must be stated as a number outside the 来源 line (the "24" inside
    "2024年" is no answer); any other needle is a plain substring."""
    needle = str(needle)
    if _FIGURE.match(needle):
        return _normalise_number(needle.rstrip("%")) in stated and (not needle.endswith("%") or needle in reply)
    return needle in reply


def score(entry: dict, reply: str, known_numbers: Iterable[str]) -> Result:
    """Apply the entry's rubric and the set-wide rules to one reply.

    Set-wide rules: a guard phrase fails the reply ("guard misfire"); every number in the reply
    that the question itself does not contain must be one the knowledge base can say
    (``known_numbers``, e.g. ``KnowledgeService.known_numbers()``), else "invented number"; a
    ``gap`` or ``not_covered`` reply must say ``现有资料没有``.
    """
    # why: a question in 繁體 is answered in 繁體 (bot.script); rubrics are written in 简体.
    reply = to_simplified(reply)
    rubric = entry.get("rubric") or {}
    reasons: list[str] = []
    for phrase in GUARD_PHRASES:
        if phrase in reply:
            reasons.append(f"guard misfire: {phrase!r}")
    stated_all = numbers(body_without_source(reply))
    for needle in rubric.get("must_contain") or []:
        if not _contains(reply, needle, stated_all):
            reasons.append(f"missing {needle!r}")
    for group in rubric.get("must_contain_any") or []:
        if not any(_contains(reply, n, stated_all) for n in group):
            reasons.append(f"none of {list(group)!r}")
    for needle in rubric.get("must_not_contain") or []:
        if str(needle) in reply:
            reasons.append(f"must not contain {needle!r}")
    if rubric.get("expect") in {"gap", "not_covered"} and GAP_PHRASE not in reply:
        reasons.append(f"a {rubric['expect']} reply must say {GAP_PHRASE!r}")
    # why: a number the resident wrote ("交9000", "2021年") may be echoed back; it is not the bot's.
    asked = numbers(entry.get("text", ""))
    stated = numbers(body_without_source(reply)) - asked
    limit = rubric.get("max_numbers")
    if limit is not None and len(stated) > limit:
        reasons.append(f"{len(stated)} numbers stated (max {limit}): {sorted(stated)}")
    invented = sorted(n for n in numbers(reply) - asked if not _known(n, known_numbers))
    if invented:
        reasons.append(f"invented numbers: {invented}")
    return Result(not reasons, reasons)


def select(entries: list[dict], split: str) -> list[dict]:
    return [e for e in entries if split == "all" or e["split"] == split]


def run(entries: list[dict], send: Callable[[str, str], list[dict]], known_numbers, workers: int = 4) -> list[dict]:
    """Send each question with a fresh sender id and score it; returns one row per question."""

    def one(entry: dict) -> dict:
        sender = f"realq-{entry['id']}-{uuid.uuid4().hex[:8]}"
        try:
            reply = reply_text(send(sender, entry["text"]))
        except (requests.RequestException, ValueError) as error:  # why: one failure must not hide the rest
            reply, result = "", Result(False, [f"request failed: {error}"])
        else:
            result = score(entry, reply, known_numbers)
        return {
            "id": entry["id"],
            "split": entry["split"],
            "kind": entry["kind"],
            "expect": entry["rubric"]["expect"],
            "region": entry["region"],
            "text": entry["text"],
            "reply": reply,
            **asdict(result),
        }

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, entries))


def _rate(rows: list[dict]) -> dict:
    passed = sum(r["passed"] for r in rows)
    return {"passed": passed, "total": len(rows), "rate": passed / len(rows) if rows else 0.0}


def summarise(rows: list[dict]) -> dict:
    groups: dict[str, dict[str, list[dict]]] = {
        "split": defaultdict(list),
        "kind": defaultdict(list),
        "expect": defaultdict(list),
    }
    for row in rows:
        for key, bucket in groups.items():
            bucket[row[key]].append(row)
    return {
        "all": _rate(rows),
        **{f"by_{key}": {name: _rate(rs) for name, rs in sorted(bucket.items())} for key, bucket in groups.items()},
        "service": _rate([r for r in rows if r["kind"] in SERVICE_KINDS]),
        "guard_misfires": sum(any(x.startswith("guard misfire") for x in r["reasons"]) for r in rows),
        "invented_numbers": sum(any(x.startswith("invented numbers") for x in r["reasons"]) for r in rows),
    }


def print_summary(summary: dict, out=None) -> None:
    out = out or sys.stdout

    def line(name: str, row: dict) -> None:
        print(f"  {name:18} {row['passed']:>4}/{row['total']:<4} {row['rate']:>7.1%}", file=out)

    for key in ("by_split", "by_kind", "by_expect"):
        print(key.removeprefix("by_") + ":", file=out)
        for name, row in summary[key].items():
            line(name, row)
    print("service-type (howto/amount/eligibility/where/when/whether):", file=out)
    line("service", summary["service"])
    line("ALL", summary["all"])
    print(
        f"guard misfires: {summary['guard_misfires']}   replies with invented numbers: {summary['invented_numbers']}",
        file=out,
    )


def print_failures(rows: list[dict], out=None) -> None:
    out = out or sys.stdout
    for row in rows:
        if not row["passed"]:
            print(f"FAIL {row['id']} [{row['split']}/{row['kind']}/{row['expect']}] {row['text']}", file=out)
            print(f"     {'; '.join(row['reasons'])}", file=out)
            print(f"     reply: {row['reply'][:200]!r}", file=out)


def may_show_failures(split: str, reporting: bool) -> bool:
    """Failures of the held-out split are shown only to someone reporting, never while tuning."""
    return reporting or split == "dev"


def known_numbers_from_kb() -> frozenset[str]:
    from knowledge.service import KnowledgeService  # why: the CLI needs the built KB; score() does not

    return KnowledgeService.from_settings().known_numbers()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:5005/webhooks/rest/webhook")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--show-failures", action="store_true", help="list failing questions (dev only)")
    parser.add_argument(
        "--i-am-reporting",
        action="store_true",
        help="allow --show-failures on the test split (for a report, never for tuning)",
    )
    parser.add_argument("--json", dest="json_out", help="write the summary and every row to this file")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--file", type=Path, default=QUESTIONS, help="question file (default: real/questions.yml)")
    args = parser.parse_args(argv)

    rows = run(select(load_questions(args.file), args.split), rest_sender(args.url), known_numbers_from_kb(),
               args.workers)
    summary = summarise(rows)
    print_summary(summary)
    if args.show_failures:
        if may_show_failures(args.split, args.i_am_reporting):
            print_failures(rows)
        else:
            print(
                "--show-failures refused for the test split (add --i-am-reporting only when reporting, "
                "never while tuning); aggregate numbers only.",
                file=sys.stderr,
            )
    if args.json_out:
        payload = {"summary": summary}
        if may_show_failures(args.split, args.i_am_reporting):
            payload["rows"] = rows
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
