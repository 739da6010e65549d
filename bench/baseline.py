"""Plain-search baseline: BM25 over the documents' passages answers the evaluation set; prints JSON.

``python -m bench.baseline`` answers every turn of ``tests/eval/questions.yml`` with the single best
passage of the five source documents and its citation (``来源：《title》，date，section``), and
scores the answers with the evaluation runner's own checks (:func:`evaluation.runner.run_case`), so
the pass rate is directly comparable with the bot's. It uses the project's search index (same jieba
dictionary, tokens, synonyms and BM25 parameters) restricted to ``passage`` entries: no curated
facts, topic cards, NLU, dialogue or reply conventions. The difference between the two pass rates is
what the bot adds over search.

Each turn is searched on its own text, as a search box would; a turn with no hit gets an empty answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # why: runnable as a plain script as well as with -m

from evaluation.runner import load_questions, run_case, summarise  # noqa: E402
from knowledge.db import get_engine  # noqa: E402
from knowledge.search import SearchIndex, load_entries, shared_tokenizer  # noqa: E402
from knowledge.settings import get_settings  # noqa: E402


def passage_index() -> SearchIndex:
    """BM25 over passages only, from the built knowledge base of the current settings."""
    settings = get_settings()
    entries = [e for e in load_entries(get_engine(settings.database_url)) if e.kind == "passage"]
    return SearchIndex(entries, shared_tokenizer(settings.userdict_path))


def search_sender(index: SearchIndex) -> Callable[[str, str], list[dict]]:
    """A ``send(sender, text)`` for :func:`run_case` that answers with the best passage."""

    def send(_sender: str, text: str) -> list[dict]:
        hits = index.search(text, limit=1)
        if not hits:
            return []
        hit = hits[0]
        return [{"text": f"{hit.text}\n来源：{hit.source.citation}"}]

    return send


def run_baseline(cases: list[dict] | None = None) -> dict:
    """The evaluation summary (as :func:`evaluation.runner.summarise`) of the search baseline."""
    cases = cases if cases is not None else load_questions()
    send = search_sender(passage_index())
    return summarise([run_case(case, send) for case in cases])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", action="store_true", help="include every failure in the JSON")
    args = parser.parse_args(argv)
    summary = run_baseline()
    if not args.failures:
        summary.pop("failures")
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
