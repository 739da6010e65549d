"""knowledge.thresholds: the one home of the thresholds, and the order they must keep."""

from __future__ import annotations

from knowledge import thresholds


def test_rasa_thresholds_are_read_from_config_yml():
    found = thresholds.rasa_thresholds()
    assert set(found) == {"fallback", "ambiguity", "core_fallback"}
    assert all(0 < value < 1 for value in found.values())


def test_the_thresholds_keep_their_order():
    rasa = thresholds.rasa_thresholds()
    # an option is offered only for a plausible runner-up, well below what Rasa trusts on its own
    assert thresholds.MIN_OPTION_CONFIDENCE < rasa["fallback"] < thresholds.INBOX_LOW_CONFIDENCE < 1
    # what Rasa calls ambiguous, the fallback action treats as ambiguous too
    assert rasa["ambiguity"] <= thresholds.AMBIGUITY_GAP


def test_console_and_actions_use_these_values():
    from actions import fallback
    from console.settings import ConsoleSettings

    assert fallback.AMBIGUITY_GAP is thresholds.AMBIGUITY_GAP
    assert fallback.MIN_OPTION_CONFIDENCE is thresholds.MIN_OPTION_CONFIDENCE
    assert fallback.MIN_SEARCH_SCORE is thresholds.MIN_SEARCH_SCORE
    assert ConsoleSettings.low_confidence == thresholds.INBOX_LOW_CONFIDENCE
