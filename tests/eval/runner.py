"""Run the evaluation set through the REST channel of a running bot and score it.

``python -m tests.eval.runner --url http://localhost:5005/webhooks/rest/webhook`` (what ``make eval``
runs) prints the pass rate per category and writes ``results/eval.json``. The pytest suite calls
:func:`run` against the bot it starts itself.
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

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = Path(__file__).with_name("questions.yml")
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


def load_questions(path: Path = QUESTIONS) -> list[dict]:
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
        if problems:
            result.problems += [f"turn {index}: {p}" for p in problems]
            result.passed = False
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
    return {
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
    for failure in summary["failures"][:40]:
        print(f"  FAIL {failure['id']}: {'; '.join(failure['problems'])}", file=out)
        print(f"       reply: {failure['replies'][-1][:160]!r}" if failure["replies"] else "", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:5005/webhooks/rest/webhook")
    parser.add_argument("--out", default=str(ROOT / "results" / "eval.json"))
    parser.add_argument("--min-rate", type=float, default=0.95)
    parser.add_argument("--min-category-rate", type=float, default=0.90)
    args = parser.parse_args(argv)
    summary = summarise(run(args.url))
    print_summary(summary)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    worst = min((c["rate"] for c in summary["categories"].values()), default=0.0)
    return 0 if summary["pass_rate"] >= args.min_rate and worst >= args.min_category_rate else 1


if __name__ == "__main__":
    sys.exit(main())
