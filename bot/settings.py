"""The one environment name of the bot's own code (channels, sessions, pseudonyms).

Contract: :func:`environment_name` reads ``APP_ENV`` (``RASA_ENV`` is still honoured, it came first);
unset means ``development``, which is what ``make run`` and the test fixtures use.
:func:`is_development` is true for ``development`` only: every other name (``prod``, ``staging``,
``test``, a typo) is production, so development defaults (published tokens and keys) are refused.
"""

from __future__ import annotations

import os
from typing import Mapping

DEVELOPMENT = "development"


def environment_name(env: Mapping[str, str] | None = None) -> str:
    """``APP_ENV`` (or ``RASA_ENV``) lower-cased; ``development`` when neither is set."""
    env = os.environ if env is None else env
    return (env.get("RASA_ENV") or env.get("APP_ENV") or DEVELOPMENT).strip().lower()


def is_development(env: Mapping[str, str] | None = None) -> bool:
    # why: a deny-list ("production", "prod") let "staging" or "Prod " run on public dev secrets.
    return environment_name(env) == DEVELOPMENT
