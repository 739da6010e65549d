"""Request-body limits shared by our aiohttp apps (website demo ``widget.app``, trainer console).

Contract: :data:`HANDLER_ARGS` turns off aiohttp's automatic inflation of request bodies and
:func:`refuse_encoded_bodies` answers 415 to any request whose ``Content-Encoding`` is not
``identity``, before a handler reads it. Why: aiohttp 3.9 (the version Rasa 3.6 pins) inflates a
``deflate``/``gzip`` body while parsing, before ``client_max_size`` is checked, so 20 KB on the wire
became 20 MB in memory. No browser or client of ours compresses request bodies.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

HANDLER_ARGS = {"auto_decompress": False}


@web.middleware
async def refuse_encoded_bodies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return web.json_response({"error": "compressed request bodies are not accepted"}, status=415)
    return await handler(request)
