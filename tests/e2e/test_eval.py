"""The evaluation set through the REST channel of the real bot, and the no-invented-numbers guard."""

from __future__ import annotations

import pytest

from evaluation.runner import numbers_in, print_summary, run, summarise
from knowledge.service import KnowledgeService

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def evaluation(running_bot):
    results = run(running_bot.rest_url)
    summary = summarise(results)
    print_summary(summary)
    return results, summary


def test_pass_rate(evaluation):
    _, summary = evaluation
    assert summary["pass_rate"] >= 0.95, summary["failures"]
    worst = {name: row["rate"] for name, row in summary["categories"].items() if row["rate"] < 0.90}
    assert not worst, worst


def test_every_number_in_a_reply_is_in_the_knowledge_base(evaluation):
    results, _ = evaluation
    known = KnowledgeService.from_settings().known_numbers()
    unknown = {}
    for result in results:
        for reply in result.replies:
            missing = numbers_in(reply) - known
            if missing:
                unknown[result.id] = sorted(missing)
    assert not unknown, unknown
