"""Call a Sanic app through ASGI in-process (no server, no port): what a browser's request would get."""

from __future__ import annotations

import asyncio
from typing import Dict, Tuple


async def _startup(app) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    done = asyncio.Event()

    async def send(message) -> None:
        if message["type"].startswith("lifespan.startup"):
            done.set()

    asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, queue.get, send))
    await asyncio.wait_for(done.wait(), 30)


async def _request(app, method: str, path: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, str], bytes]:
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"localhost:5005")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 5005),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


def requests_to(app, *calls: Tuple[str, str, Dict[str, str]]):
    """Start ``app`` (ASGI lifespan) and make ``calls`` (method, path, headers); their (status, headers, body)."""

    async def run():
        await _startup(app)
        return [await _request(app, method, path, headers) for method, path, headers in calls]

    return asyncio.run(run())
