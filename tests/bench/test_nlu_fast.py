"""bench.nlu_fast on a slice of the real NLU data: every example is predicted once, by a model that did not see it."""

from __future__ import annotations

import numpy as np

from bench.nlu_fast import ROOT, crossval, load


def test_held_out_predictions_cover_every_example_once():
    texts, intents, joined, topics = load(ROOT / "data" / "nlu")
    keep = np.isin(intents, ["ask_pension", "ask_minimum_wage", "greet", "thanks", "select_option"])
    subset = [np.asarray(texts, dtype=object)[keep].tolist(), intents[keep], np.asarray(joined, dtype=object)[keep].tolist(),
              topics[keep]]
    rows = crossval(*subset, seed=0, c=0.1, chars=(1, 4), rules=True)
    assert sorted(r[2] for r in rows) == sorted(subset[0])
    accuracy = sum(t == g for t, g, _ in rows) / len(rows)
    # why: five well-separated intents; a broken feature or fold split drops far below this.
    assert accuracy > 0.9
    assert {g for _, g, _ in rows} <= set(subset[1])
