"""Run the evaluation sets through the REST channel of a running bot and score them.

``python -m evaluation.runner --url http://localhost:5005/webhooks/rest/webhook`` (what ``make eval``
runs) prints the pass rate per category of the question set (``questions.yml``) and of the multi-turn
conversations (``conversations.yml``: turns passed and whole conversations passed), and writes
``results/eval.json`` and ``results/conversations.json``. The pytest suite calls :func:`run` against the bot
it starts itself.
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

ROOT = Path(__file__).resolve().parents[1]
# why: the sets stay beside their checks in tests/eval/ (data, not code); this module only reads them.
DATA = ROOT / "tests" / "eval"
QUESTIONS = DATA / "questions.yml"
CONVERSATIONS = DATA / "conversations.yml"
# why: the universal emergency numbers (police 110, ambulance 120) are said to a person in danger; they are
# the one kind of number the bot may say that no source document needs to carry.
EMERGENCY_NUMBERS = frozenset({"110", "120"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# why: "1. 社保卡" style enumerations and bullet numbering are layout, not facts.
_ENUMERATION = re.compile(r"(?m)^\s*\d+[.、．)]\s*")


@dataclass
class Result:
    id: str
    category: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    turns_passed: int = 0
    turns_total: int = 0


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_conversations(path: Path = CONVERSATIONS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def reply_text(messages: list[dict]) -> str:
    parts = []
    for message in messages:
        if message.get("text"):
            parts.append(message["text"])
        for button in message.get("buttons") or []:
            parts.append(str(button.get("title", "")))
    return "\n".join(parts)


def numbers_in(text: str) -> set[str]:
    """Numbers a reply states (enumerations removed), normalised like the knowledge base's."""
    text = _ENUMERATION.sub("", text)
    return {_normalise_number(n) for n in _NUMBER.findall(text)}


def _normalise_number(number: str) -> str:
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number.lstrip("0") or "0"


def check_turn(turn: dict, text: str) -> list[str]:
    # why: a question in 繁體 is answered in 繁體 (bot.script); the expectations are written in 简体.
    text = to_simplified(text)
    problems = []
    for needle in turn.get("must_contain", []) or []:
        if str(needle) not in text:
            problems.append(f"missing {needle!r}")
    for needle in turn.get("must_not_contain", []) or []:
        if str(needle) in text:
            problems.append(f"must not contain {needle!r}")
    if turn.get("must_contain_any"):
        if not any(str(n) in text for n in turn["must_contain_any"]):
            problems.append(f"none of {turn['must_contain_any']!r}")
    return problems


def run_case(case: dict, send: Callable[[str, str], list[dict]]) -> Result:
    sender = f"eval-{case['id']}-{uuid.uuid4().hex[:8]}"
    result = Result(case["id"], case.get("category", "other"), True)
    turns = case["turns"]
    for index, turn in enumerate(turns):
        try:
            text = reply_text(send(sender, turn["text"]))
        except requests.RequestException as error:
            result.problems.append(f"turn {index}: {error}")
            result.passed = False
            return result
        result.replies.append(text)
        checks = turn if (index == len(turns) - 1 or "must_contain" in turn or "must_not_contain" in turn) else {}
        problems = check_turn(checks, text)
        result.turns_total += 1
        if problems:
            result.problems += [f"turn {index}: {p}" for p in problems]
            result.passed = False
        else:
            result.turns_passed += 1
    return result


def rest_sender(url: str, timeout: float = 30) -> Callable[[str, str], list[dict]]:
    session = requests.Session()

    def send(sender: str, message: str) -> list[dict]:
        response = session.post(url, json={"sender": sender, "message": message}, timeout=timeout)
        response.raise_for_status()
        return response.json()

    return send


def run(url: str, cases: Iterable[dict] | None = None, workers: int = 4) -> list[Result]:
    cases = list(cases if cases is not None else load_questions())
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        # why: each worker gets its own HTTP session; conversations are independent.
        return list(pool.map(lambda case: run_case(case, rest_sender(url)), cases))


def summarise(results: list[Result]) -> dict:
    by_category: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_category[result.category].append(result)
    categories = {
        name: {"passed": sum(r.passed for r in rs), "total": len(rs), "rate": sum(r.passed for r in rs) / len(rs)}
        for name, rs in sorted(by_category.items())
    }
    passed = sum(r.passed for r in results)
    turns_passed, turns_total = sum(r.turns_passed for r in results), sum(r.turns_total for r in results)
    return {
        "turns_passed": turns_passed,
        "turns_total": turns_total,
        "turn_rate": turns_passed / turns_total if turns_total else 0.0,
        "passed": passed,
        "total": len(results),
        "pass_rate": passed / len(results) if results else 0.0,
        "categories": categories,
        "failures": [asdict(r) for r in results if not r.passed],
    }


def print_summary(summary: dict, out=sys.stdout) -> None:
    print(f"{'category':22} {'passed':>7} {'total':>6} {'rate':>7}", file=out)
    for name, row in summary["categories"].items():
        print(f"{name:22} {row['passed']:>7} {row['total']:>6} {row['rate']:>7.1%}", file=out)
    print(f"{'ALL':22} {summary['passed']:>7} {summary['total']:>6} {summary['pass_rate']:>7.1%}", file=out)
    if summary["turns_total"] > summary["total"]:
        print(f"{'TURNS':22} {summary['turns_passed']:>7} {summary['turns_total']:>6} {summary['turn_rate']:>7.1%}",
              file=out)
    for failure in summary["failures"][:40]:
        print(f"  FAIL {failure['id']}: {'; '.join(failure['problems'])}", file=out)
        bad = int(failure["problems"][0].split(":")[0].split()[-1]) if failure["problems"][0].startswith("turn") else -1
        replies = failure["replies"]
        print(f"       reply: {replies[bad][:160]!r}" if replies and bad < len(replies) else "", file=out)


def invented_numbers(results: list[Result], known: frozenset[str]) -> dict[str, list[str]]:
    """Per case, the numbers its replies state that the knowledge base cannot say (emergency numbers allowed)."""
    unknown = {}
    for result in results:
        missing = set()
        for reply in result.replies:
            missing |= numbers_in(reply) - known - EMERGENCY_NUMBERS
        if missing:
            unknown[result.id] = sorted(missing)
    return unknown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:5005/webhooks/rest/webhook")
    parser.add_argument("--out", default=str(ROOT / "results" / "eval.json"))
    parser.add_argument("--min-rate", type=float, default=0.95)
    parser.add_argument("--min-category-rate", type=float, default=0.90)
    parser.add_argument("--min-conversation-rate", type=float, default=0.95)
    parser.add_argument("--min-turn-rate", type=float, default=0.99)
    parser.add_argument("--only", choices=("questions", "conversations"), default=None)
    args = parser.parse_args(argv)
    ok = True
    if args.only != "conversations":
        print("== questions (questions.yml)")
        summary = summarise(run(args.url))
        print_summary(summary)
        _write(Path(args.out), summary)
        worst = min((c["rate"] for c in summary["categories"].values()), default=0.0)
        ok = summary["pass_rate"] >= args.min_rate and worst >= args.min_category_rate
    if args.only != "questions":
        print("== conversations (conversations.yml): whole conversations, then turns")
        results = run(args.url, load_conversations())
        summary = summarise(results)
        print_summary(summary)
        from knowledge.service import KnowledgeService  # why: only the CLI needs the knowledge base

        summary["invented_numbers"] = invented_numbers(results, KnowledgeService.from_settings().known_numbers())
        print(f"invented numbers: {len(summary['invented_numbers'])} conversations {summary['invented_numbers']}")
        _write(Path(args.out).with_name("conversations.json"), summary)
        ok = ok and summary["pass_rate"] >= args.min_conversation_rate and summary["turn_rate"] >= args.min_turn_rate
        ok = ok and not summary["invented_numbers"]
    return 0 if ok else 1


def _write(path: Path, summary: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
