"""Every confidence and score threshold of the bot, in one place (issue 19).

Contract: Rasa's own thresholds stay in ``config.yml`` (Rasa reads them there); :func:`rasa_thresholds`
reads them back, so Python never keeps a copy. The thresholds our code applies are the constants
below, each with why it has its value; ``actions.fallback`` and the console import them from here.
``tests/knowledge/test_thresholds.py`` checks the order they must keep: an option is offered only above
:data:`MIN_OPTION_CONFIDENCE`, which is below Rasa's fallback threshold, which is below the inbox's
:data:`INBOX_LOW_CONFIDENCE`; topics closer than Rasa's ambiguity threshold are within
:data:`AMBIGUITY_GAP`. No I/O at import: config.yml is read when asked.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[1] / "config.yml"

# why: two topic intents within this distance are a real ambiguity worth a question (actions.fallback).
AMBIGUITY_GAP = 0.12
# why: only ask when the runner-up is itself plausible (actions.fallback).
MIN_OPTION_CONFIDENCE = 0.15
# why: on our corpus good matches score 15-60 while unrelated questions (股票推荐, 失业金怎么领 matching
# only unemployment-rate figures) score up to ~9 (measured with python -m knowledge search --json).
MIN_SEARCH_SCORE = 10.0
# why: messages the bot answered with a confidence between Rasa's fallback threshold and this one are
# worth a trainer's look (console inbox, CONSOLE_LOW_CONFIDENCE overrides it).
INBOX_LOW_CONFIDENCE = 0.6


@lru_cache(maxsize=4)
def rasa_thresholds(config: Path = CONFIG) -> dict[str, float]:
    """``fallback`` and ``ambiguity`` (FallbackClassifier) and ``core_fallback`` (RulePolicy) of ``config``."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    found: dict[str, float] = {}
    for component in data.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            found["fallback"] = float(component["threshold"])
            found["ambiguity"] = float(component["ambiguity_threshold"])
    for policy in data.get("policies") or []:
        if policy.get("name") == "RulePolicy" and "core_fallback_threshold" in policy:
            found["core_fallback"] = float(policy["core_fallback_threshold"])
    return found
