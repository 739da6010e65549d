"""Run the Rasa server with a fix for one measured Rasa 3.6 hot spot (``python -m bot.speedups run ...``).

Rasa 3.6's ``RemoteAction._validate_action_result`` checks every action-server reply with
``jsonschema.validate(result, schema)``. ``validate`` first checks the *schema itself* against the
JSON-Schema meta-schema (``check_schema``), and with jsonschema 4.17 and the draft 2020-12
meta-schema that costs tens of milliseconds of CPU per call (about 200 ms on a busy 2-core machine),
while validating the reply against an already built validator costs well under a millisecond. It
runs once per custom-action call, so it is most of the extra latency of a knowledge answer over a
static reply (``bench/profile.py``, ``make bench``).

:func:`install` replaces that method with one that validates against a validator built once from
the same schema, with the same error message; behaviour is otherwise unchanged. It is applied
explicitly, at process start, by :func:`main` (a drop-in for the ``rasa`` command), never at import.

Second hot spot: ``EndpointConfig.request`` opens a new ``aiohttp.ClientSession`` -- a new connection
pool, so a new TCP connection -- for every call to the action server. :func:`install` makes
``EndpointConfig.session`` hand out one long-lived session per endpoint settings and event loop, whose
``async with`` does not close it, so calls reuse keep-alive connections. Headers, authentication and
the timeout are the same as Rasa's.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, List

logger = logging.getLogger(__name__)
_installed = False


def install() -> None:
    """Patch ``RemoteAction._validate_action_result`` to use a cached validator (idempotent)."""
    global _installed
    if _installed:
        return
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_cls = validator_for(schema)
    # why: the schema is Rasa's own constant; checking it against the meta-schema once is enough.
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        try:
            # why: best_match is what jsonschema.validate raises, so the error is the one Rasa reports.
            error = best_match(validator.iter_errors(result))
            if error is not None:
                raise error
            return True
        except ValidationError as e:
            # same message as Rasa 3.6
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _share_endpoint_sessions()
    _installed = True
    logger.info("speedups: action-server replies validated with a cached JSON-schema validator")


class _KeptSession:
    """``async with`` that yields a shared ``aiohttp.ClientSession`` and leaves it open."""

    def __init__(self, factory) -> None:
        self._factory = factory

    async def __aenter__(self):
        return self._factory()

    async def __aexit__(self, *exc_info) -> None:
        return None


def _share_endpoint_sessions() -> None:
    import asyncio

    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

    sessions: Dict[Any, aiohttp.ClientSession] = {}

    def shared(self: EndpointConfig) -> aiohttp.ClientSession:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        loop = asyncio.get_running_loop()
        key = (id(loop), repr(sorted((self.headers or {}).items())), repr(self.basic_auth))
        session = sessions.get(key)
        if session is None or session.closed or getattr(session, "_loop", loop) is not loop:
            session = sessions[key] = aiohttp.ClientSession(
                headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT)
            )
        return session

    def session(self: EndpointConfig) -> _KeptSession:
        return _KeptSession(lambda: shared(self))

    EndpointConfig.session = session  # type: ignore[method-assign]


def enabled() -> bool:
    """False when ``RASA_SPEEDUPS`` is 0 / false / no / off."""
    return os.environ.get("RASA_SPEEDUPS", "1").strip().lower() not in ("0", "false", "no", "off")


def rasa_command() -> List[str]:
    """The argv prefix that starts Rasa in a child process: through this module unless disabled.

    ``RASA_SPEEDUPS=0`` gives the plain ``rasa`` command (for a before/after comparison, or should a
    future Rasa make the patch wrong).
    """
    if not enabled():
        return [os.path.join(os.path.dirname(sys.executable), "rasa")]
    return [sys.executable, "-m", "bot.speedups"]


def main() -> int:
    """``rasa`` with the speed-ups installed: ``python -m bot.speedups run --model ...``."""
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    return rasa_main() or 0


if __name__ == "__main__":
    sys.exit(main())
