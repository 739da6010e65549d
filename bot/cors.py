"""Which web origins may call the Rasa server from a browser (Rasa's ``--cors``).

Contract: :func:`rasa_cors_origins` returns the origins for ``rasa run --cors``:

* ``RASA_CORS`` (comma- or space-separated origins, e.g. ``https://renshe.example.gov.cn``) when set;
* else the site's own origins: the website demo (``widget.app``) on ``http://localhost:<WEB_PORT>`` and
  ``http://127.0.0.1:<WEB_PORT>`` (port 8000 by default), plus ``WEB_ALLOWED_ORIGINS`` (the other
  sites that embed the widget, the same list the widget's API allows).

:func:`origin_allowed` tells whether a page's ``Origin`` is one of them, matched as sanic-cors matches
``--cors`` (an entry holding regex characters is a regular expression, any other is compared without
case). The socket.io channel checks it on connect (``bot.channels.socketio``): engine.io's own check is
off in Rasa 3.6 (``cors_allowed_origins=[]``), and browsers apply no CORS to a WebSocket.

``*`` is never passed on. why: Rasa 3.6's ``configure_cors`` turns on ``CORS_SUPPORTS_CREDENTIALS``,
and sanic-cors then answers ``*`` by reflecting whatever ``Origin`` a request carries, with
``Access-Control-Allow-Credentials: true`` — every web page on the internet could read the bot's
replies through a resident's browser. A ``*`` in ``RASA_CORS`` is dropped with an error in the log.
"""

from __future__ import annotations

import logging
import re
from typing import List, Mapping, Sequence

from bot.settings import environ

logger = logging.getLogger(__name__)

DEFAULT_WEB_PORT = "8000"


def _split(value: str | None) -> List[str]:
    return [part.rstrip("/") for part in re.split(r"[\s,]+", value or "") if part]


def site_origins(env: Mapping[str, str] | None = None) -> List[str]:
    """The website demo's own origins and ``WEB_ALLOWED_ORIGINS``."""
    env = environ(env)
    port = (env.get("WEB_PORT") or DEFAULT_WEB_PORT).strip()
    own = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    return list(dict.fromkeys(own + _split(env.get("WEB_ALLOWED_ORIGINS"))))


def rasa_cors_origins(env: Mapping[str, str] | None = None) -> List[str]:
    """The origins for ``rasa run --cors`` (module docstring); never empty, never ``*``."""
    env = environ(env)
    origins = _split(env.get("RASA_CORS"))
    if "*" in origins:
        logger.error("RASA_CORS: '*' is refused (with credentials it would let every site read the bot's "
                     "replies); list the sites' origins instead")
        origins = [origin for origin in origins if origin != "*"]
    return origins or site_origins(env)


def origin_allowed(origin: str, origins: Sequence[str]) -> bool:
    """Whether a browser page of ``origin`` may use the server: sanic-cors's matching of ``--cors``."""
    # why: the very function Rasa's CORS (sanic-cors) applies, so the socket and the HTTP routes agree.
    from sanic_cors.core import try_match_any

    return bool(origins) and bool(try_match_any(origin, list(origins)))
