"""The website demo page, the chat widget's files and its small HTTP API.

``python -m widget --port 8000`` (``make run`` starts it through the launcher, ``make web`` alone).

Routes:

* ``GET /`` the demo page (``web/index.html``); ``GET /widget.js``, ``/widget.css``, ``/site.css``,
  ``/vendor/socket.io.min.js`` (from ``node_modules``, installed by ``npm ci``: nothing from a CDN);
  ``GET /config.js`` sets ``window.RensheWidgetConfig`` for the demo page from ``--socket-url``.
* ``GET /healthz`` ``{"status": "ok"}``.
* ``POST /api/feedback`` a 👍/👎 on an answer; ``POST /api/handoff`` a leave-a-message request
  (stored by :mod:`widget.store`, masked, contact encrypted, consent required).
* ``GET /api/sources`` the source documents (doc id, title in 简 and 繁, publisher, date) so the widget
  can link a ``来源：《title》`` line that carries no machine-readable citations.
* ``GET /source/<doc_id>?q=<quote>`` a page with the document's title, publisher and date, the section
  and the quote highlighted inside its paragraph, from the built knowledge base
  (:meth:`knowledge.service.KnowledgeService.source_context`). A ``q`` that is not in the document is
  never shown: the page says so instead (the page must not lend the document's name to other text).
  (stored by :mod:`widget.store`, masked, contact encrypted, consent required); ``POST /api/replies``
  the staff replies from the console's hand-off queue that the conversation has not shown yet.

The API takes only ``application/json`` objects of at most ``MAX_BODY`` bytes, answers errors as
``{"ok": false, "error": ..., "field": ...}``, is rate-limited per client address, and allows
cross-origin calls only from origins listed in ``WEB_ALLOWED_ORIGINS`` (the page's own origin always).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import sys
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from bot.script import to_traditional
from bot.sessions import valid_widget_session
from knowledge.service import KnowledgeBaseNotBuilt, KnowledgeService
from widget.http_limits import HANDLER_ARGS, refuse_encoded_bodies
from widget.settings import WebSettings, listen_host, listen_port
from widget.store import AppStore, StoreError, load_fernet

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = ROOT / "web"
SOCKET_IO_CLIENT = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
MAX_BODY = 16 * 1024
DEFAULT_RASA_PORT = 5005

# why: an explicit list instead of a static directory: nothing else under web/ or node_modules/
# can ever be served, and no path from the URL reaches the file system.
ASSETS: dict[str, tuple[Path, str]] = {
    "/widget.js": (WEB_DIR / "widget.js", "application/javascript"),
    "/widget.css": (WEB_DIR / "widget.css", "text/css"),
    "/site.css": (WEB_DIR / "site.css", "text/css"),
    "/favicon.svg": (WEB_DIR / "favicon.svg", "image/svg+xml"),
    "/vendor/socket.io.min.js": (SOCKET_IO_CLIENT, "application/javascript"),
    "/vendor/socket.io.min.js.map": (SOCKET_IO_CLIENT.with_suffix(".js.map"), "application/json"),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RateLimiter:
    """Sliding one-minute window per key; enough to stop a script from filling the database."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        hits = self._hits[key]
        while hits and now - hits[0] > 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:
            # why: bound memory when many addresses pass by; forgetting old ones is harmless.
            for stale in [k for k, v in self._hits.items() if not v or now - v[-1] > 60]:
                del self._hits[stale]
        return True


SETTINGS = web.AppKey("settings", WebSettings)
STORE = web.AppKey("store", AppStore)
LIMITER = web.AppKey("limiter", RateLimiter)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeService)
MAX_QUOTE = 1000


class ApiError(Exception):
    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.field = status, error, field


def _api_error(status: int, error: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error": error}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def _host_name(request: web.Request) -> str:
    """The page's host name without the port (``[::1]`` stays bracketed)."""
    host = request.host or "localhost"
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.split(":", 1)[0]


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _socket_origins(request: web.Request, settings: WebSettings) -> str:
    """The origins the page's Content-Security-Policy lets the widget connect to."""
    if settings.socket_url:
        parts = urlsplit(settings.socket_url)
        http_origin = f"{parts.scheme}://{parts.netloc}"
    else:
        http_origin = f"{request.scheme}://{_host_name(request)}:{DEFAULT_RASA_PORT}"
    ws_origin = http_origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{http_origin} {ws_origin}"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        settings: WebSettings = request.app[SETTINGS]
        # why: defence in depth behind the widget's textContent-only rendering: no inline script,
        # no foreign script, connections only to this server and the Rasa socket.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {_socket_origins(request, settings)}; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
        )
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS (own origin + WEB_ALLOWED_ORIGINS), rate limit and JSON errors for /api/."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    settings: WebSettings = request.app[SETTINGS]
    origin = request.headers.get("Origin")
    cors: dict[str, str] = {}
    if origin:
        origin = origin.rstrip("/")
        if origin != _own_origin(request) and origin not in settings.allowed_origins:
            return _api_error(403, "origin not allowed")
        if origin != _own_origin(request):
            cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if request.method == "OPTIONS":
        return web.Response(
            status=204,
            headers={
                **cors,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            },
        )
    limiter: RateLimiter = request.app[LIMITER]
    if not limiter.allow(request.remote or "?"):
        return _api_error(429, "too many requests, try again in a minute")
    try:
        response = await handler(request)
    except ApiError as error:
        response = _api_error(error.status, error.error, error.field)
    except web.HTTPRequestEntityTooLarge:
        response = _api_error(413, f"request body larger than {MAX_BODY} bytes")
    except web.HTTPException as error:
        response = _api_error(error.status, error.reason)
    response.headers.update(cors)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        # why: also stops cross-site HTML forms, which cannot send application/json.
        raise ApiError(415, "Content-Type must be application/json")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, required: bool = False, max_len: int = 0) -> Any:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{name} is required", name)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, f"{name} must be a {kind.__name__}", name)
    if max_len and isinstance(value, str) and len(value) > max_len:
        raise ApiError(400, f"{name} is longer than {max_len} characters", name)
    return value


def _session_id(data: dict[str, Any]) -> str:
    """The widget's ``session_id``, only when this server issued it (signed, :mod:`bot.sessions`).

    why: feedback, hand-off messages and staff replies are filed under the conversation; an id the
    client made up ("1", or another resident's id guessed from its shape) must not read another
    resident's staff replies or write into their conversation.
    """
    value = _field(data, "session_id", str, required=True, max_len=64)
    if valid_widget_session(value) is None:
        raise ApiError(403, "session_id was not issued by this server; reload the page to start a new conversation",
                       "session_id")
    return value


async def _call_store(func: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        # why: SQLAlchemy is synchronous; keep the event loop free for other residents.
        return await asyncio.to_thread(func, **kwargs)
    except StoreError as error:
        raise ApiError(400, str(error), error.field) from None


async def post_feedback(request: web.Request) -> web.Response:
    data = await _json_object(request)
    store: AppStore = request.app[STORE]
    record = await _call_store(
        store.record_feedback,
        session_id=_session_id(data),
        rating=_field(data, "rating", str, required=True, max_len=8),
        message_id=_field(data, "message_id", str, max_len=64) or "",
        reason=_field(data, "reason", str, max_len=32),
        comment=_field(data, "comment", str, max_len=500),
        bot_text=_field(data, "bot_text", str, required=True, max_len=4000),
        user_text=_field(data, "user_text", str, max_len=500),
    )
    return web.json_response({"ok": True, "id": record.id}, status=201)


async def post_handoff(request: web.Request) -> web.Response:
    data = await _json_object(request)
    if data.get("consent") is not True:
        raise ApiError(400, "explicit consent is required to store contact details", "consent")
    store: AppStore = request.app[STORE]
    record = await _call_store(
        store.record_handoff,
        session_id=_session_id(data),
        message=_field(data, "message", str, required=True, max_len=500),
        consent=True,
        phone=_field(data, "phone", str, max_len=32),
        email=_field(data, "email", str, max_len=254),
        name=_field(data, "name", str, max_len=50),
    )
    return web.json_response({"ok": True, "id": record.id, "contact": record.contact_masked}, status=201)


async def get_sources(request: web.Request) -> web.Response:
    svc: KnowledgeService = request.app[KNOWLEDGE]
    try:
        documents = await asyncio.to_thread(svc.documents)
    except KnowledgeBaseNotBuilt:
        raise ApiError(503, "the knowledge base is not built") from None
    sources = [
        {
            "doc_id": d.doc_id,
            "title": d.title,
            # why: a 繁體 answer cites 《title》 converted too; the widget matches either spelling.
            "title_hant": to_traditional(d.title),
            "publisher": d.publisher,
            "date_label": d.date_label,
            "region": d.region,
        }
        for d in documents
    ]
    return web.json_response({"ok": True, "sources": sources})


# why: what each kind of document is, so a resident sees a draft or a news report for what it is.
DOCUMENT_KINDS = {
    "draft_for_comment": "征求意见稿",
    "final_news": "新闻报道",
    "news": "新闻报道",
    "annual_review": "年度工作回顾",
    "national_plan": "国家规划",
}


def _page(title: str, body: str) -> str:
    e = html.escape
    return (
        '<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{e(title)} — 资料原文（演示站点）</title>\n"
        '<link rel="icon" href="/favicon.svg" type="image/svg+xml">\n'
        '<link rel="stylesheet" href="/site.css">\n</head>\n<body>\n'
        '<a class="skip-link" href="#main">跳到正文</a>\n'
        '<div class="demo-banner" role="note"><strong>演示站点：</strong>'
        "本页摘录“人社小助手”引用的资料原文，不是政府官方网站。</div>\n"
        '<header class="site-header"><div class="container header-inner"><div class="brand">'
        '<span class="brand-mark" aria-hidden="true">人社</span><span class="brand-text">'
        '<span class="brand-name">人力资源和社会保障服务</span>'
        '<span class="brand-sub">演示站点 · 小助手的资料来源</span></span></div></div></header>\n'
        f'<main id="main" class="container section source-page">\n{body}\n'
        '<p class="source-back"><a href="/">返回演示站点首页</a></p>\n</main>\n'
        '<footer class="site-footer"><div class="container"><p>演示站点 · 摘录仅供核对小助手的答案，'
        "以主管部门最新公布为准。</p></div></footer>\n</body>\n</html>\n"
    )


def _highlighted(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    out, last = [], 0
    for start, end in spans:
        out.append(html.escape(text[last:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)


async def source_page(request: web.Request) -> web.Response:
    """The source document of a citation, with the quoted passage highlighted (all text escaped)."""
    e = html.escape
    svc: KnowledgeService = request.app[KNOWLEDGE]
    quote = request.query.get("q", "")[:MAX_QUOTE].strip() or None
    try:
        context = await asyncio.to_thread(svc.source_context, request.match_info["doc_id"], quote)
    except KnowledgeBaseNotBuilt:
        body = '<h1>资料暂时无法显示</h1>\n<p>知识库尚未建立，请稍后再试。</p>'
        return web.Response(text=_page("资料暂时无法显示", body), status=503, content_type="text/html")
    if context is None:
        body = "<h1>未找到这份资料</h1>\n<p>链接中的资料编号不存在。小助手引用的资料列在首页“资料来源”一栏。</p>"
        return web.Response(text=_page("未找到这份资料", body), status=404, content_type="text/html")
    doc = context.document
    meta = [("发布单位", doc.publisher), ("发布时间", doc.date_label), ("地区", doc.region),
            ("资料类型", DOCUMENT_KINDS.get(doc.kind, ""))]
    rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in meta if v)
    if urlsplit(doc.url).scheme in ("http", "https"):
        rows += f'<dt>原文链接</dt><dd><a href="{e(doc.url)}" rel="noopener noreferrer">{e(doc.url)}</a></dd>'
    parts = [
        '<p class="source-kicker">资料原文</p>',
        f"<h1>《{e(doc.title)}》</h1>",
        f'<dl class="source-meta">{rows}</dl>',
    ]
    if context.found:
        hit = ' class="source-hit"'
        paragraphs = "\n".join(
            f"<p{hit if p.spans else ''}>{_highlighted(p.text, p.spans)}</p>" for p in context.paragraphs
        )
        section = f'<p class="source-section">章节：{e(context.section)}</p>' if context.section else ""
        parts.append(
            '<section class="source-excerpt" aria-labelledby="excerpt-title">'
            '<h2 id="excerpt-title" class="section-title">引文所在段落</h2>'
            f"{section}<blockquote>{paragraphs}</blockquote>"
            '<p class="source-note">标黄的文字是小助手引用的原文，前后各附一段以便核对。</p></section>'
        )
    elif quote:
        parts.append('<p class="source-missing" role="note">链接中的引文不在这份资料里，无法标出。</p>')
    else:
        parts.append('<p class="source-missing" role="note">这条链接没有指明引文；以上是小助手引用的资料。</p>')
    return web.Response(text=_page(doc.title, "\n".join(parts)), content_type="text/html")


async def post_replies(request: web.Request) -> web.Response:
    """Staff replies from the hand-off queue that this conversation has not shown yet (then marked shown)."""
    data = await _json_object(request)
    store: AppStore = request.app[STORE]
    replies = await _call_store(
        store.take_staff_replies, session_id=_session_id(data)
    )
    return web.json_response(
        {"ok": True, "replies": [{"id": r.id, "text": r.text, "at": r.created_at.isoformat()} for r in replies]}
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def index(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def config_js(request: web.Request) -> web.Response:
    settings: WebSettings = request.app[SETTINGS]
    config = {"socketUrl": settings.socket_url} if settings.socket_url else {}
    # why: json.dumps output is a valid JS literal; the page's own object (if any) wins.
    body = (
        "window.RensheWidgetConfig = Object.assign("
        f"{json.dumps(config, ensure_ascii=False)}, window.RensheWidgetConfig || {{}});\n"
    )
    return web.Response(
        text=body, content_type="application/javascript", headers={"Cache-Control": "no-cache"}
    )


def _asset(path: Path, content_type: str) -> Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        if not path.is_file():
            raise web.HTTPNotFound()
        # why: no-cache = revalidate each time (cheap with Last-Modified), so a deploy is seen at once.
        return web.FileResponse(
            path, headers={"Content-Type": f"{content_type}; charset=utf-8", "Cache-Control": "no-cache"}
        )

    return handler


def create_app(
    settings: WebSettings | None = None, store: AppStore | None = None, knowledge: KnowledgeService | None = None
) -> web.Application:
    """The aiohttp application; tests pass a store on a temporary database (and a knowledge service)."""
    app = web.Application(
        middlewares=[refuse_encoded_bodies, security_headers, api_guard],
        client_max_size=MAX_BODY,
        handler_args=HANDLER_ARGS,
    )
    app[SETTINGS] = settings or WebSettings.from_env()
    app[STORE] = store or AppStore()
    app[LIMITER] = RateLimiter(app[SETTINGS].rate_limit)
    app[KNOWLEDGE] = knowledge or KnowledgeService.from_settings()  # why: no I/O until a page asks
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/config.js", config_js)
    app.router.add_get("/api/sources", get_sources)
    app.router.add_get(r"/source/{doc_id:[0-9A-Za-z_-]{1,16}}", source_page)
    for url, (path, content_type) in ASSETS.items():
        app.router.add_get(url, _asset(path, content_type))
    for url, handler in (
        ("/api/feedback", post_feedback),
        ("/api/handoff", post_handoff),
        ("/api/replies", post_replies),
    ):
        app.router.add_post(url, handler)
        app.router.add_route("OPTIONS", url, handler)  # answered by api_guard
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="人社小助手 website demo and widget API")
    parser.add_argument("--host", default=listen_host())
    parser.add_argument("--port", type=int, default=listen_port())
    parser.add_argument("--socket-url", help="Rasa socket.io URL for the demo page (default: host:5005)")
    parser.add_argument("--database-url", help="app database (default: APP_DATABASE_URL or var/app.db)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not SOCKET_IO_CLIENT.is_file():
        # why: fail fast with the fix, rather than serve a widget that cannot connect.
        logger.error("%s is missing: run `make web-deps` (npm ci)", SOCKET_IO_CLIENT.relative_to(ROOT))
        return 2
    try:
        # why: outside development a missing HANDOFF_KEY stops the start, not a resident's message later.
        fernet = load_fernet()
    except RuntimeError as error:
        logger.error("%s", error)
        return 2
    app = create_app(WebSettings.from_env(args.socket_url), AppStore(args.database_url, fernet))
    logger.info("website demo on http://%s:%s/", args.host, args.port)
    # why: a short shutdown: open keep-alive connections must not hold up Ctrl-C or the launcher's stop.
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=logger, shutdown_timeout=3.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
