"""The trainer console web app (aiohttp, server-rendered Jinja2 pages in Chinese, plain CSS).

Contract:
- ``GET /healthz`` and the sign-in page (``GET``/``POST /login``) are the only routes open without a
  session (:data:`PUBLIC`); every other route — including unknown paths — answers a request without a
  valid session with a redirect to ``/login`` (GET/HEAD) or ``401`` (anything else), before any
  handler runs. Each route declares the permission it needs (:func:`console.auth.can`); a signed-in
  user without it gets ``403``.
- Every POST must carry the session's CSRF token (form field ``csrf_token`` or ``X-CSRF-Token``)
  and, when the browser sends ``Origin``, come from this site; else ``403``.
- Every change (examples, inbox decisions, training, activation, rollback, accounts, sign-in/out) is
  written to the audit log with who, when and what.
- Example changes run :func:`console.checks.check_example`, are written with
  :class:`console.nlu_files.NluRepository` and then validated with ``rasa data validate``; a
  failing validation restores the files byte for byte. Changes are serialised by one lock.
- Personal data: texts from residents and from the bot are masked where they are read (inbox, try,
  logs); as a last line of defence every HTML/JSON response is scanned and any line that still holds
  an ID-card, phone or bank-card number is masked (and a warning logged).
- Responses carry a strict Content-Security-Policy (per-request nonce for the inline CSS/JS; nothing
  from other origins), ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from bot.ratelimit import client_address, trusted_proxies
from bot.sanitize import clean_user_text, contains_pii, mask_pii, masked
from console import checks, handoff, new_intent
from console.auth import COOKIE_NAME, LOGIN_COOKIE_NAME, Authenticator, AuthError, can, load_secret
from console.inbox import SOURCE_LABELS, InboxFilter, item_key, load_inbox
from console.nlu_files import (
    Add,
    ConflictError,
    Delete,
    ExampleFormatError,
    FileFormatError,
    NluData,
    NluRepository,
    Replace,
    domain_entities,
    normalise_raw,
)
from console.rasa_client import RasaClient
from console.settings import ConsoleSettings, get_settings
from console.store import ROLES, ConsoleSession, Store, StoreError, User
from console.training import TrainingError, TrainingManager
from widget.http_limits import HANDLER_ARGS, refuse_encoded_bodies

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
MIN_EXAMPLES = 20
PUBLIC = frozenset({("GET", "/healthz"), ("GET", "/login"), ("POST", "/login")})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ROUTES: list[tuple[str, str, Handler, str | None]] = []


def route(method: str, path: str, permission: str | None) -> Callable[[Handler], Handler]:
    """Register a handler; ``permission`` None means public (must then be listed in :data:`PUBLIC`)."""

    def register(handler: Handler) -> Handler:
        if permission is None and (method, path) not in PUBLIC:
            raise AssertionError(f"{method} {path} is public but not in PUBLIC")
        handler.console_permission = permission  # type: ignore[attr-defined]
        _ROUTES.append((method, path, handler, permission))
        return handler

    return register


@dataclass
class Console:
    """Everything the handlers share (one per application)."""

    settings: ConsoleSettings
    store: Store
    auth: Authenticator
    repo: NluRepository
    rasa: RasaClient
    training: TrainingManager
    jinja: jinja2.Environment
    edit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flashes: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    status_cache: tuple[float, Any] = (0.0, None)
    app_store_factory: Callable[[], object] | None = None
    queue: handoff.HandoffQueue | None = None
    _facts: object | None = None
    _labels: dict[str, str] | None = None

    def labels(self) -> dict[str, str]:
        if self._labels is None:
            from console.labels import intent_labels

            self._labels = intent_labels(self.settings.kb_database_url or None)
        return self._labels

    def facts(self):
        """Staff service facts in the knowledge database (created on first use)."""
        if self._facts is None:
            from knowledge.db import get_engine
            from knowledge.service_facts import ServiceFactStore
            from knowledge.settings import get_settings as kb_settings

            url = self.settings.kb_database_url or kb_settings().database_url
            self._facts = ServiceFactStore(lambda: get_engine(url), self.settings.service_fact_hosts)
        return self._facts
    _app_store: object | None = None

    def app_store(self) -> object:
        """The widget's app database (feedback, messages, staff replies); tests inject a factory."""
        if self.app_store_factory is not None:
            return self.app_store_factory()
        if self._app_store is None:
            from widget.store import AppStore

            self._app_store = AppStore()
        return self._app_store


CONSOLE = web.AppKey("console", Console)
STARTUP_TASK = web.AppKey("startup_task", asyncio.Task)


async def _thread(function: Callable, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


# --- middleware ---------------------------------------------------------------------------------


def _permission(request: web.Request) -> tuple[bool, str | None]:
    """(is public, permission) of the matched route; unknown paths are protected ("view")."""
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else ""
    method = "GET" if request.method == "HEAD" else request.method
    if (method, path) in PUBLIC:
        return True, None
    return False, getattr(request.match_info.handler, "console_permission", "view")


def _refuse_anonymous(request: web.Request) -> web.Response:
    if request.method in ("GET", "HEAD"):
        target = request.rel_url.path_qs
        raise web.HTTPSeeOther("/login" + (f"?next={quote(target)}" if target not in ("/", "/login") else ""))
    return web.json_response({"error": "请先登录"}, status=401)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        # why: a missing Origin is an old browser or a script; the CSRF token still guards it.
        return origin is None
    return urlsplit(origin).netloc == request.host


def _security_headers(headers: Any, nonce: str) -> None:
    headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cache-Control"] = "no-store"


def mask_response_text(body: str) -> str:
    """Mask every line of ``body`` that still holds personal data; other lines stay as they are.

    # why: line by line, because mask_pii NFKC-normalises the text it changes, which would turn
    # the page's full-width punctuation into ASCII.
    """
    return "\n".join(mask_pii(line)[0] if contains_pii(line) else line for line in body.split("\n"))


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    nonce = request["nonce"] = secrets.token_urlsafe(16)
    try:
        response = await handler(request)
    except web.HTTPException as error:
        _security_headers(error.headers, nonce)
        raise
    _security_headers(response.headers, nonce)
    if (
        isinstance(response, web.Response)
        and isinstance(response.body, bytes)
        and (response.content_type or "").startswith(("text/", "application/json"))
    ):
        body = response.body.decode("utf-8", errors="replace")
        if contains_pii(body):
            logger.warning("masked personal data that reached a response to %s", request.path)
            response.body = mask_response_text(body).encode("utf-8")
    return response


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    cookie = request.cookies.get(COOKIE_NAME)
    session: ConsoleSession | None = await _thread(console.auth.load_session, cookie) if cookie else None
    request["session"] = session
    request["user"] = session.user if session else None
    public, permission = _permission(request)
    if not public:
        if request["user"] is None:
            return _refuse_anonymous(request)
        if permission and not can(request["user"], permission):
            await _thread(console.store.audit, request["user"].username, "refused", request.path,
                          reason=f"needs {permission}", method=request.method, address=client_of(request))
            return await render(request, "error.html", status=403, title="没有权限", message="这个操作需要管理员权限。")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sent = (await _form(request)).get("csrf_token")
        sent = sent if isinstance(sent, str) else None
        if session is None and request.path == "/login":
            token_ok = console.auth.login_csrf_ok(request.cookies.get(LOGIN_COOKIE_NAME), sent)
        else:
            token_ok = console.auth.csrf_ok(session, sent)
        if not _same_origin(request) or not token_ok:
            logger.warning("refused %s %s: CSRF check failed", request.method, request.path)
            who = request["user"].username if request["user"] else "-"
            await _thread(console.store.audit, who, "refused", request.path, reason="csrf",
                          method=request.method, address=client_of(request))
            return web.Response(status=403, text="CSRF 校验失败：请刷新页面后重试。", content_type="text/plain")
    return await handler(request)


# --- rendering -------------------------------------------------------------------------------------


def flash(request: web.Request, kind: str, text: str) -> None:
    session = request.get("session")
    if session is not None:
        request.app[CONSOLE].flashes[session.id].append((kind, text))


async def live_status(console: Console) -> dict:
    """The running bot's model, cached for ten seconds (every page shows it)."""
    at, value = console.status_cache
    if value is not None and time.monotonic() - at < 10:
        return value
    reply = await console.rasa.status()
    value = {
        "ok": reply.ok,
        "model": Path((reply.data or {}).get("model_file") or "").name if reply.ok else None,
        "error": reply.error,
    }
    console.status_cache = (time.monotonic(), value)
    return value


async def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    console = request.app[CONSOLE]
    session: ConsoleSession | None = request.get("session")
    user: User | None = request.get("user")
    messages = console.flashes.pop(session.id, []) if session else []
    labels = console.labels() if user else {}
    html = console.jinja.get_template(template).render(
        label=lambda intent: f"{labels[intent]}（{intent}）" if intent in labels else intent,
        user=user,
        csrf_token=session.csrf_token if session else "",
        nonce=request.get("nonce", ""),
        messages=messages,
        path=request.path,
        can=lambda p: can(user, p),
        bot=await live_status(console) if user else None,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _mask_filter(value: object) -> str:
    return masked(value, collapse=False)


def make_jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["masked"] = _mask_filter
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * float(v):.1f}%"
    env.filters["f3"] = lambda v: "—" if v is None else f"{float(v):.3f}"
    env.filters["dt"] = lambda v: "" if v is None else v.strftime("%Y-%m-%d %H:%M")
    env.globals["css"] = (TEMPLATES / "console.css").read_text(encoding="utf-8")
    return env


# --- helpers ---------------------------------------------------------------------------------------


_DATA_CACHE: dict[int, tuple[tuple, NluData]] = {}


def _load_cached(console: Console) -> NluData:
    """The NLU data, parsed again only when a file under the NLU directory changed (name, size, mtime)."""
    # why: one save used to parse every NLU file (8,000+ examples, round-trip YAML) three times.
    key = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in console.repo.paths())
    cached = _DATA_CACHE.get(id(console))
    if cached is not None and cached[0] == key:
        return cached[1]
    data = console.repo.load()
    _DATA_CACHE[id(console)] = (key, data)
    return data


async def _data(console: Console) -> NluData:
    return await _thread(_load_cached, console)


def _known_entities(console: Console) -> set[str]:
    return domain_entities(console.settings.domain_path)


def _confusions(console: Console, runs: int = 5) -> dict[str, dict[str, Any]]:
    """Examples misclassified on the held-out fold in the last ``runs`` finished runs, by normalised text."""
    found: dict[str, dict[str, Any]] = {}
    done = [r for r in console.store.runs(limit=50) if r.status == "done"][:runs]
    for run in done:
        candidate = (run.report.get("heldout") or {}).get("candidate") or {}
        for error in candidate.get("errors", []):
            key = checks.normalise(error.get("text", ""))
            entry = found.setdefault(key, {"count": 0, "predicted": Counter(), "intent": error.get("intent")})
            entry["count"] += 1
            entry["predicted"][error.get("predicted")] += 1
    for entry in found.values():
        entry["runs"] = len(done)
        entry["predicted"] = ", ".join(str(k) for k, _ in entry["predicted"].most_common(2))
    return found


async def _form(request: web.Request) -> dict[str, str]:
    """The form fields (text only); empty for a body that is not a form (JSON, nothing, garbage)."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


@dataclass
class ChangeOutcome:
    ok: bool
    pending: dict | None = None
    errors: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    validated: bool = False


async def apply_change(
    request: web.Request,
    changes: list,
    checked: list[tuple[str, str, tuple[str, int] | None]],
    confirmed: bool,
    audit_action: str,
    audit_target: str,
    detail: dict,
) -> ChangeOutcome:
    """Check, write, validate (reverting on failure) and audit one change of the NLU files.

    ``checked`` lists (raw, intent, ignore) for every example the change adds or rewrites.
    Near-duplicates without ``confirmed`` give back a ``pending`` description instead of writing.
    """
    console = request.app[CONSOLE]
    user: User = request["user"]
    async with console.edit_lock:
        data = await _data(console)
        entities = await _thread(_known_entities, console)
        errors: list[str] = []
        near: list = []
        for raw, intent, ignore in checked:
            result = checks.check_example(raw, intent, data, entities, ignore=ignore)
            errors += result.errors
            near += result.near_duplicates
        if errors:
            return ChangeOutcome(False, errors=tuple(errors))
        if near and not confirmed:
            return ChangeOutcome(False, pending={"near": near})
        try:
            await console.training.ensure_live_snapshot()
        except Exception:  # noqa: BLE001 - a missing baseline must not block editing
            logger.exception("could not keep a snapshot of the live model's data")
        try:
            hint = [data.intents[c.intent].file for c in changes if c.intent in data.intents]
            applied = await _thread(console.repo.apply, changes, hint)
        except (ConflictError, FileFormatError, ExampleFormatError) as error:
            return ChangeOutcome(False, errors=(str(error),))
        except KeyError as error:
            return ChangeOutcome(False, errors=(f"没有意图 {error.args[0]}",))
        # why: the changed files only (about 0.1 s instead of 30 s); the full `rasa data validate`
        # runs before every retrain (console.training).
        validation = await checks.validate_files(console.settings, list(applied.files))
        if not validation.ok:
            await _thread(console.repo.restore, applied)
            await _thread(
                console.store.audit,
                user.username,
                audit_action + "_rejected",
                audit_target,
                validation=list(validation.messages),
                **detail,
            )
            return ChangeOutcome(False, errors=("数据校验没有通过，修改已撤销：", *validation.messages))
        await _thread(
            console.store.audit,
            user.username,
            audit_action,
            audit_target,
            files=applied.files,
            near_duplicates=[(d.intent, d.text, d.similarity) for d in near],
            validate_seconds=round(validation.seconds, 1),
            **detail,
        )
        return ChangeOutcome(True, files=tuple(applied.files), validated=not validation.skipped)


# --- public routes ---------------------------------------------------------------------------------


@route("GET", "/healthz", None)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _safe_next(value: str | None) -> str:
    """A local path to go to after sign-in; anything else is ``/``."""
    # why: browsers drop tabs and newlines from URLs, so "/\t/evil.example" became "//evil.example".
    if not value or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def client_of(request: web.Request) -> str:
    """The client address (``X-Forwarded-For`` only from ``TRUSTED_PROXIES``), for audit and lockout."""
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), trusted_proxies())


@route("GET", "/login", None)
async def login_page(request: web.Request) -> web.StreamResponse:
    if request["user"] is not None:
        raise web.HTTPSeeOther("/")
    console = request.app[CONSOLE]
    session = request["session"]
    response_cookie = None
    if session is None:
        # why: nothing stored for an anonymous visitor (see console.auth): a signed nonce instead.
        nonce = request.cookies.get(LOGIN_COOKIE_NAME) or ""
        if not (0 < len(nonce) <= 128):
            nonce = response_cookie = secrets.token_urlsafe(32)
        csrf = console.auth.login_csrf(nonce)
    else:
        csrf = session.csrf_token
    html = console.jinja.get_template("login.html").render(
        user=None,
        csrf_token=csrf,
        nonce=request["nonce"],
        messages=[],
        path="/login",
        error=None,
        next=_safe_next(request.query.get("next")),
        can=lambda p: False,
        bot=None,
    )
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    if response_cookie:
        _set_cookie(console, response, response_cookie, LOGIN_COOKIE_NAME)
    return response


def _set_cookie(console: Console, response: web.StreamResponse, value: str, name: str = COOKIE_NAME) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="Strict", secure=console.settings.cookie_secure, path="/"
    )


@route("POST", "/login", None)
async def login_submit(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    user = await _thread(
        console.auth.authenticate, form.get("username", ""), form.get("password", ""), client_of(request)
    )
    if user is None:
        session = request["session"]
        html = console.jinja.get_template("login.html").render(
            user=None,
            csrf_token=session.csrf_token if session else console.auth.login_csrf(
                request.cookies.get(LOGIN_COOKIE_NAME) or ""),
            nonce=request["nonce"],
            messages=[],
            path="/login",
            error="用户名或密码错误（同一地址连续失败 5 次会暂时锁定，等待时间逐次加倍，最长 15 分钟）",
            next=_safe_next(form.get("next")),
            can=lambda p: False,
            bot=None,
        )
        return web.Response(text=html, status=401, content_type="text/html", charset="utf-8")
    # why: a new session id at sign-in, so a session planted before it is worthless (fixation).
    await _thread(console.auth.end_session, request.cookies.get(COOKIE_NAME))
    new = await _thread(console.auth.start_session, user)
    response = web.HTTPSeeOther(_safe_next(form.get("next")))
    _set_cookie(console, response, new.cookie)
    response.del_cookie(LOGIN_COOKIE_NAME, path="/")
    return response


# --- signed-in routes --------------------------------------------------------------------------------


@route("POST", "/logout", "view")
async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    await _thread(console.auth.end_session, request.cookies.get(COOKIE_NAME))
    await _thread(console.store.audit, request["user"].username, "logout", request["user"].username)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE_NAME, path="/")
    return response


@route("GET", "/", "view")
async def intents_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    data = await _data(console)
    confusions = await _thread(_confusions, console)
    rows = []
    for name, intent in sorted(data.intents.items(), key=lambda kv: (kv[1].file, kv[0])):
        warnings = []
        if len(intent.examples) < MIN_EXAMPLES:
            warnings.append(f"例句少于 {MIN_EXAMPLES} 条")
        confused = sum(1 for ex in intent.examples if checks.normalise(ex.text) in confusions)
        if confused:
            warnings.append(f"{confused} 条例句在评估中被误判")
        if not intent.editable:
            warnings.append(f"只读：{intent.reason}")
        if intent.bad_examples:
            warnings.append(f"{len(intent.bad_examples)} 条例句标注有误")
        rows.append(
            {
                "name": name,
                "file": intent.file,
                "count": len(intent.examples),
                "entities": sum(1 for ex in intent.examples if ex.entities),
                "warnings": warnings,
            }
        )
    runs = await _thread(console.store.runs, 1)
    return await render(
        request,
        "intents.html",
        rows=rows,
        problems=data.problems,
        total=sum(r["count"] for r in rows),
        last_run=runs[0] if runs else None,
    )


# --- a new topic intent ---------------------------------------------------------------------------------

def _knowledge_dir(console: Console) -> Path:
    """The topic cards the console edits: the project's knowledge/ when it has one, else the package's."""
    own = console.settings.project_root / "knowledge"
    if (own / "topics").is_dir():
        return own
    import knowledge

    return Path(knowledge.__file__).resolve().parent


def _topic_cards(console: Console) -> list[tuple[str, str]]:
    """(card id, card name) of every topic card file, in file-name order."""
    cards = []
    for path in sorted((_knowledge_dir(console) / "topics").glob("*.yml")):
        match = re.search(r'^name:\s*"?(.*?)"?\s*$', path.read_text(encoding="utf-8"), re.MULTILINE)
        cards.append((path.stem, match.group(1) if match else path.stem))
    return cards


async def _new_intent_view(request: web.Request, status: int = 200, errors: tuple[str, ...] = (),
                           form: dict | None = None) -> web.Response:
    console = request.app[CONSOLE]
    return await render(
        request, "new_intent.html", status=status, errors=errors, form=form or {},
        cards=await _thread(_topic_cards, console), min_examples=new_intent.MIN_NEW_EXAMPLES,
    )


@route("GET", "/intents/new", "edit_data")
async def new_intent_page(request: web.Request) -> web.Response:
    return await _new_intent_view(request)


@route("POST", "/intents/new", "edit_data")
async def new_intent_create(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    name, topic = form.get("name", "").strip(), form.get("topic", "").strip()
    lines = form.get("examples", "").splitlines()
    masked = [mask_pii(line)[0] for line in lines]
    kept = {"name": name, "topic": topic, "examples": "\n".join(masked)}
    who = request["user"].username
    if masked != lines:
        refusal = "例句中不能含身份证号、手机号或银行卡号（已替换为占位符，请改写）"
        return await _new_intent_view(request, 422, (refusal,), kept)
    async with console.edit_lock:
        try:
            created = await _thread(
                new_intent.create_intent, console.settings.project_root, console.settings.nlu_dir,
                _knowledge_dir(console), name, topic, lines,
            )
        except new_intent.NewIntentError as error:
            await _thread(console.store.audit, who, "refused", "intent_create", reason=str(error)[:200])
            return await _new_intent_view(request, 422, (str(error),), kept)
        try:
            await _thread(new_intent.rebuild_knowledge, _knowledge_dir(console), console.settings.kb_database_url)
            rebuilt = "知识库已重建，主题卡片已关联"
        except Exception:  # noqa: BLE001 - the files are written; the next make kb links the card
            logger.exception("knowledge base rebuild after a new intent failed")
            rebuilt = "知识库重建失败（请运行 make kb），主题卡片关联在重建后生效"
    console._labels = None  # why: the new intent takes its card's Chinese name
    console.status_cache = (0.0, None)
    await _thread(console.store.audit, who, "intent_create", name,
                  topic=topic, examples=len(lines), files=list(created.files))
    flash(request, "ok", f"已创建意图 {name}，关联主题卡片 {topic}；已写入 {'、'.join(created.files)}；{rebuilt}。"
                         "重新训练并启用模型后，机器人才会识别这个意图。")
    raise web.HTTPSeeOther(f"/intents/{name}")


def _intent_or_404(data: NluData, name: str):
    intent = data.intents.get(name)
    if intent is None:
        raise web.HTTPNotFound(text=f"没有意图 {name}")
    return intent


async def _intent_view(
    request: web.Request,
    name: str,
    pending: dict | None = None,
    status: int = 200,
    errors: tuple[str, ...] = (),
    draft: str = "",
) -> web.Response:
    console = request.app[CONSOLE]
    data = await _data(console)
    intent = _intent_or_404(data, name)
    confusions = await _thread(_confusions, console)
    examples = []
    for index, ex in enumerate(intent.examples):
        confusion = confusions.get(checks.normalise(ex.text))
        examples.append({"index": index, "ex": ex, "confusion": confusion})
    return await render(
        request,
        "intent.html",
        status=status,
        intent=intent,
        examples=examples,
        pending=pending,
        errors=errors,
        intents=sorted(data.intents),
        entities=sorted(await _thread(_known_entities, console)),
        min_examples=MIN_EXAMPLES,
        max_chars=checks.MAX_CHARS,
        draft=draft,
    )


@route("GET", "/intents/{name}", "view")
async def intent_page(request: web.Request) -> web.Response:
    return await _intent_view(request, request.match_info["name"])


async def _example_change(request: web.Request, kind: str) -> web.StreamResponse:
    name = request.match_info["name"]
    form = await _form(request)
    confirmed = form.get("confirm") == "1"
    raw = normalise_raw(form.get("raw", ""))
    data = await _data(request.app[CONSOLE])
    _intent_or_404(data, name)
    index = int(request.match_info.get("index", "-1"))
    expected = form.get("expected", "")
    target = form.get("target", "")
    if kind == "add":
        changes, checked = [Add(name, raw)], [(raw, name, None)]
        detail = {"intent": name, "after": raw}
        action, done = "example_add", f"已添加例句到 {name}"
    elif kind == "edit":
        changes, checked = [Replace(name, index, expected, raw)], [(raw, name, (name, index))]
        detail = {"intent": name, "before": expected, "after": raw}
        action, done = "example_edit", "已修改例句"
    elif kind == "move":
        if target not in data.intents or target == name:
            flash(request, "error", "请选择另一个意图")
            raise web.HTTPSeeOther(f"/intents/{name}")
        changes, checked = (
            [Delete(name, index, expected), Add(target, expected)],
            [(expected, target, (name, index))],
        )
        detail = {"intent": name, "target": target, "example": expected}
        action, done = "example_move", f"已把例句移到 {target}"
    else:
        changes, checked = [Delete(name, index, expected)], []
        detail = {"intent": name, "before": expected}
        action, done = "example_delete", "已删除例句"
    outcome = await apply_change(request, changes, checked, confirmed, action, name, detail)
    if outcome.pending is not None:
        pending = {
            "kind": kind,
            "raw": raw,
            "expected": expected,
            "target": target,
            "index": index,
            "near": outcome.pending["near"],
        }
        return await _intent_view(request, name, pending=pending, status=409)
    if not outcome.ok:
        # why: a refused sentence stays in the field (masked), so the trainer fixes it instead of retyping.
        draft = mask_pii(raw)[0] if kind == "add" else ""
        return await _intent_view(request, name, errors=outcome.errors, status=422, draft=draft)
    checked_by = "并通过校验（训练前会再运行完整的 rasa data validate）" if outcome.validated else "（未校验）"
    flash(request, "ok", f"{done}，已写入 {'、'.join('data/nlu/' + f for f in outcome.files)} {checked_by}")
    raise web.HTTPSeeOther(f"/intents/{name}")


@route("POST", "/intents/{name}/add", "edit_data")
async def example_add(request: web.Request) -> web.StreamResponse:
    return await _example_change(request, "add")


@route("POST", r"/intents/{name}/examples/{index:\d+}/edit", "edit_data")
async def example_edit(request: web.Request) -> web.StreamResponse:
    return await _example_change(request, "edit")


@route("POST", r"/intents/{name}/examples/{index:\d+}/move", "edit_data")
async def example_move(request: web.Request) -> web.StreamResponse:
    return await _example_change(request, "move")


@route("POST", r"/intents/{name}/examples/{index:\d+}/delete", "edit_data")
async def example_delete(request: web.Request) -> web.StreamResponse:
    return await _example_change(request, "delete")


# --- import / export of examples -----------------------------------------------------------------------


@route("GET", "/examples/export.csv", "view")
async def export_csv(request: web.Request) -> web.Response:
    from console.exchange import export_csv as to_csv

    body = to_csv(await _data(request.app[CONSOLE]))
    return web.Response(text=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="nlu-examples.csv"'})


@route("GET", "/examples/export.yml", "view")
async def export_yml(request: web.Request) -> web.Response:
    from console.exchange import export_yaml

    body = export_yaml(await _data(request.app[CONSOLE]))
    return web.Response(text=body, content_type="text/plain", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="nlu-examples.yml"'})


@route("POST", "/examples/import", "edit_data")
async def import_examples(request: web.Request) -> web.StreamResponse:
    """Add the clean rows of an uploaded CSV/YAML; refused and near-duplicate rows are listed, not added."""
    from console.exchange import ImportFormatError, parse_upload

    console = request.app[CONSOLE]
    upload = (await request.post()).get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        flash(request, "error", "请选择要导入的 CSV 或 YAML 文件")
        raise web.HTTPSeeOther("/")
    try:
        rows = parse_upload(upload.filename, upload.file.read(2_000_000))
    except ImportFormatError as error:
        flash(request, "error", f"无法导入：{error}")
        raise web.HTTPSeeOther("/") from error
    data = await _data(console)
    entities = await _thread(_known_entities, console)
    clean, problems, seen = [], [], set()
    for number, (intent, raw) in enumerate(rows, start=1):
        raw = normalise_raw(raw)
        result = checks.check_example(raw, intent, data, entities)
        key = checks.normalise(result.example.text) if result.example else raw
        if result.errors or key in seen:
            problems.append(f"第 {number} 条（{mask_pii(raw)[0]}）：{'；'.join(result.errors) or '文件中重复'}")
        elif result.near_duplicates:
            other = result.near_duplicates[0].intent
            problems.append(f"第 {number} 条（{raw}）：与 {other} 的例句很相似，请单独添加并确认")
        else:
            clean.append((intent, raw))
        seen.add(key)
    if clean:
        outcome = await apply_change(
            request, [Add(intent, raw) for intent, raw in clean], [(raw, intent, None) for intent, raw in clean],
            True, "examples_import", upload.filename[:100], {"added": len(clean), "refused": len(problems)},
        )
        if not outcome.ok:
            problems = list(outcome.errors) + problems
            clean = []
    flash(request, "ok" if clean else "error", f"导入 {len(clean)} 条，未导入 {len(problems)} 条")
    for line in problems[:20]:
        flash(request, "error", line)
    raise web.HTTPSeeOther("/")


# --- inbox -------------------------------------------------------------------------------------------


async def _inbox_items(console: Console) -> list:
    data = await _data(console)
    known = {checks.normalise(ex.text) for _, ex in data.all_examples()}
    decided = await _thread(console.store.decided_keys)
    return await _thread(
        load_inbox,
        console.settings.tracker_db_url,
        console.settings.low_confidence,
        decided,
        known,
        console.app_store_factory,
    )


def _inbox_filter(query) -> tuple[InboxFilter, dict[str, str]]:
    from datetime import datetime, timezone

    values = {k: (query.get(k) or "").strip()[:100] for k in ("q", "intent", "source", "channel", "max_conf", "since")}
    try:
        max_conf = float(values["max_conf"]) if values["max_conf"] else None
    except ValueError:
        max_conf, values["max_conf"] = None, ""
    try:
        since = datetime.fromisoformat(values["since"]).replace(tzinfo=timezone.utc) if values["since"] else None
    except ValueError:
        since, values["since"] = None, ""
    return InboxFilter(values["q"], values["intent"], values["source"], values["channel"], max_conf, since), values


async def _inbox_view(
    request: web.Request, pending: dict | None = None, status: int = 200, errors: tuple[str, ...] = ()
) -> web.Response:
    console = request.app[CONSOLE]
    everything = await _inbox_items(console)
    filters, values = _inbox_filter(request.query)
    items = [i for i in everything if filters.accepts(i)]
    data = await _data(console)
    return await render(
        request,
        "inbox.html",
        status=status,
        items=items,
        total=len(everything),
        filters=values,
        channels=sorted({c for i in everything for c in i.channels}),
        guessed=sorted({i.predicted for i in everything if i.predicted}),
        source_labels=SOURCE_LABELS,
        entities=sorted(await _thread(_known_entities, console)),
        intents=sorted(data.intents),
        pending=pending,
        errors=errors,
    )


@route("GET", "/inbox", "work_inbox")
async def inbox_page(request: web.Request) -> web.Response:
    return await _inbox_view(request)


@route("POST", r"/inbox/{key:[0-9a-f]{32}}/assign", "work_inbox")
async def inbox_assign(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    key = request.match_info["key"]
    form = await _form(request)
    intent = form.get("intent", "")
    text = mask_pii(form.get("text", ""))[0]
    raw = normalise_raw(form.get("raw") or text)
    outcome = await apply_change(
        request,
        [Add(intent, raw)],
        [(raw, intent, None)],
        form.get("confirm") == "1",
        "inbox_assign",
        intent,
        {"intent": intent, "after": raw, "item": key},
    )
    if outcome.pending is not None:
        return await _inbox_view(
            request,
            {"key": key, "intent": intent, "raw": raw, "text": text, "near": outcome.pending["near"]},
            status=409,
        )
    if not outcome.ok:
        return await _inbox_view(request, errors=outcome.errors, status=422)
    await _thread(console.store.decide, key, "assigned", intent, text, request["user"].username)
    flash(request, "ok", f"已把“{raw}”加入意图 {intent}（data/nlu/{outcome.files[0]}）")
    raise web.HTTPSeeOther("/inbox")


@route("POST", r"/inbox/{key:[0-9a-f]{32}}/dismiss", "work_inbox")
async def inbox_dismiss(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    key = request.match_info["key"]
    text = mask_pii((await _form(request)).get("text", ""))[0][:500]
    if text and item_key(text) != key:
        text = ""
    await _thread(console.store.decide, key, "dismissed", None, text, request["user"].username)
    await _thread(console.store.audit, request["user"].username, "inbox_dismiss", key, text=text)
    flash(request, "ok", "已忽略这条消息")
    raise web.HTTPSeeOther("/inbox")


# --- hand-off queue ----------------------------------------------------------------------------------


async def _sync_queue(console: Console) -> None:
    def collect() -> list:
        return handoff.tracker_triggers(console.settings.tracker_db_url) + handoff.message_triggers(console.app_store)

    triggers = await _thread(collect)
    await _thread(console.queue.sync, triggers)


def _case_id(request: web.Request) -> int:
    return int(request.match_info["case_id"])


async def _case_or_404(console: Console, case_id: int) -> handoff.Case:
    case = await _thread(console.queue.case, case_id)
    if case is None:
        raise web.HTTPNotFound(text="没有这个转人工请求")
    return case


@route("GET", "/handoff", "work_inbox")
async def handoff_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await _sync_queue(console)
    cases = await _thread(console.queue.cases)
    return await render(request, "handoff.html", cases=cases)


@route("GET", "/handoff.json", "work_inbox")
async def handoff_json(request: web.Request) -> web.Response:
    """The open cases, for a page that refreshes itself (ids, priority, status only: no texts)."""
    console = request.app[CONSOLE]
    await _sync_queue(console)
    cases = await _thread(console.queue.cases)
    return web.json_response(
        {"cases": [{"id": c.id, "priority": c.priority, "status": c.status, "channel": c.channel} for c in cases]}
    )


async def _case_view(request: web.Request, case: handoff.Case, draft: str = "", status: int = 200) -> web.Response:
    console = request.app[CONSOLE]
    turns = await _thread(handoff.conversation, console.settings.tracker_db_url, case.sender_id)
    replies = await _thread(console.queue.replies, case.id)
    return await render(
        request, "handoff_case.html", status=status, case=case, turns=turns, replies=replies, draft=draft,
        max_reply=handoff.MAX_REPLY,
    )


@route("GET", r"/handoff/{case_id:\d+}", "work_inbox")
async def handoff_case(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    return await _case_view(request, await _case_or_404(console, _case_id(request)))


@route("POST", r"/handoff/{case_id:\d+}/claim", "work_inbox")
async def handoff_claim(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    case_id, username = _case_id(request), request["user"].username
    await _case_or_404(console, case_id)
    try:
        case = await _thread(console.queue.claim, case_id, username)
    except handoff.QueueError as error:
        flash(request, "error", str(error))
        raise web.HTTPSeeOther(f"/handoff/{case_id}") from error
    await _thread(console.store.audit, username, "handoff_claim", case.key, case=case.id, channel=case.channel)
    flash(request, "ok", "已认领，可以回复居民了")
    raise web.HTTPSeeOther(f"/handoff/{case_id}")


@route("POST", r"/handoff/{case_id:\d+}/reply", "work_inbox")
async def handoff_reply(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    user: User = request["user"]
    case = await _case_or_404(console, _case_id(request))
    raw = " ".join((await _form(request)).get("text", "").split())
    if case.claimed_by != user.username or case.status == "closed":
        flash(request, "error", "请先认领这个请求")
        raise web.HTTPSeeOther(f"/handoff/{case.id}")
    if not raw or len(raw) > handoff.MAX_REPLY:
        flash(request, "error", f"回复不能为空，最多 {handoff.MAX_REPLY} 字")
        return await _case_view(request, case, draft=raw[: handoff.MAX_REPLY], status=422)
    if contains_pii(raw):
        # why: a reply is kept in two databases and a chat log; staff must not send personal numbers.
        flash(request, "error", "回复里有身份证号、手机号或银行卡号，未发送；请删去后再发")
        return await _case_view(request, case, draft=mask_pii(raw)[0], status=422)
    result = await handoff.deliver(
        case, raw, user.username, console.settings.rasa_url, console.settings.staff_reply_token,
        console.settings.tracker_db_url, console.app_store,
    )
    if not result.ok:
        await _thread(console.store.audit, user.username, "handoff_reply_failed", case.key, case=case.id,
                      channel=case.channel, reason=result.message)
        flash(request, "error", result.message)
        return await _case_view(request, case, draft=raw, status=502)
    reply = await _thread(console.queue.add_reply, case.id, raw, user.username, result.delivery)
    await _thread(console.store.audit, user.username, "handoff_reply", case.key, case=case.id,
                  channel=case.channel, delivery=result.delivery, reply=reply.id, text=raw)
    flash(request, "ok", result.message)
    raise web.HTTPSeeOther(f"/handoff/{case.id}")


@route("POST", r"/handoff/{case_id:\d+}/close", "work_inbox")
async def handoff_close(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    case = await _case_or_404(console, _case_id(request))
    if case.claimed_by not in (None, request["user"].username) and not request["user"].is_admin:
        flash(request, "error", f"{case.claimed_by} 正在处理这个请求")
        raise web.HTTPSeeOther(f"/handoff/{case.id}")
    await _thread(console.queue.close, case.id, request["user"].username)
    await _thread(console.store.audit, request["user"].username, "handoff_close", case.key, case=case.id)
    flash(request, "ok", "已关闭")
    raise web.HTTPSeeOther("/handoff")


# --- knowledge editor: service facts -------------------------------------------------------------------

FACT_FIELDS = ("kind", "region", "topic", "statement", "source_url", "source_title", "publisher", "source_date",
               "quote", "expires_on")
MAX_PAGE_BYTES = 5_000_000


def _fact_form(form: dict[str, str], base=None) -> dict[str, str]:
    values = {name: (form.get(name) or "").strip() for name in FACT_FIELDS}
    if base is not None and not any(values.values()):
        values = {name: str(getattr(base, name) or "") for name in FACT_FIELDS}
    return values


async def _facts_view(request: web.Request, values: dict | None = None, problems: tuple[str, ...] = (),
                      status: int = 200) -> web.Response:
    from knowledge.service_facts import KINDS, REGIONS

    console = request.app[CONSOLE]
    facts = await _thread(console.facts().latest)
    data = await _data(console)
    return await render(
        request, "facts.html", status=status, facts=facts, kinds=KINDS, regions=REGIONS,
        topics=sorted({i.split("ask_", 1)[-1] for i in data.intents if i.startswith("ask_")}),
        values=values or {name: "" for name in FACT_FIELDS}, problems=problems,
    )


@route("GET", "/facts", "view")
async def facts_page(request: web.Request) -> web.Response:
    return await _facts_view(request)


@route("POST", "/facts", "edit_data")
async def facts_propose(request: web.Request) -> web.StreamResponse:
    """A new fact (or a new version of ``fact_id``): the page is uploaded or fetched, the quote verified."""
    from datetime import date

    from knowledge.service_facts import Proposal, ServiceFactError, fetch_page

    console = request.app[CONSOLE]
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    values = _fact_form(form)
    fact_id = form.get("fact_id") or None
    upload = posted.get("page")
    try:
        expires = date.fromisoformat(values["expires_on"]) if values["expires_on"] else None
    except ValueError:
        return await _facts_view(request, values, ("有效期格式应为 YYYY-MM-DD",), status=422)
    proposal = Proposal(**{**{k: values[k] for k in FACT_FIELDS if k != "expires_on"}, "expires_on": expires})
    try:
        if isinstance(upload, web.FileField) and upload.filename:
            page, origin = upload.file.read(MAX_PAGE_BYTES + 1), "uploaded"
            if len(page) > MAX_PAGE_BYTES:
                raise ServiceFactError(["上传的网页太大"])
        else:
            if not values["source_url"]:
                raise ServiceFactError(["请填写来源网址"])
            page, origin = await _thread(fetch_page, values["source_url"]), "fetched"
        fact = await _thread(console.facts().propose, proposal, page, origin, request["user"].username, fact_id)
    except ServiceFactError as error:
        # why: a refused entry keeps what the editor typed, so nothing has to be typed again.
        return await _facts_view(request, values, tuple(error.problems), status=422)
    await _thread(console.store.audit, request["user"].username, "fact_propose", fact.fact_id,
                  version=fact.version, origin=origin, statement=fact.statement, url=fact.source_url,
                  quote=fact.quote, expires_on=values["expires_on"] or None)
    flash(request, "ok", f"{fact.fact_id} 第 {fact.version} 版已核实（摘录在来源网页中找到），等待另一位管理员审核")
    raise web.HTTPSeeOther(f"/facts/{fact.fact_id}")


@route("GET", r"/facts/{fact_id:SF-\d{4}}", "view")
async def fact_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    versions = await _thread(console.facts().versions, request.match_info["fact_id"])
    if not versions:
        raise web.HTTPNotFound(text="没有这个事实")
    from datetime import date

    return await render(request, "fact.html", fact_id=versions[0].fact_id, versions=versions, today=date.today())


@route("POST", r"/facts/rows/{row_id:\d+}/review", "review_facts")
async def fact_review(request: web.Request) -> web.StreamResponse:
    from knowledge.service_facts import ServiceFactError

    console = request.app[CONSOLE]
    form = await _form(request)
    approve = form.get("decision") == "approve"
    try:
        fact = await _thread(console.facts().review, int(request.match_info["row_id"]), request["user"].username,
                             approve, form.get("note", ""))
    except ServiceFactError as error:
        flash(request, "error", "；".join(error.problems))
        raise web.HTTPSeeOther(form.get("back") if (form.get("back") or "").startswith("/facts/") else "/facts") \
            from error
    await _thread(console.store.audit, request["user"].username, "fact_approve" if approve else "fact_reject",
                  fact.fact_id, version=fact.version, author=fact.author, note=form.get("note", ""))
    flash(request, "ok", f"{fact.fact_id} 第 {fact.version} 版已{'批准上线' if approve else '退回'}")
    raise web.HTTPSeeOther(f"/facts/{fact.fact_id}")


@route("POST", r"/facts/{fact_id:SF-\d{4}}/rollback", "edit_data")
async def fact_rollback(request: web.Request) -> web.StreamResponse:
    from knowledge.service_facts import ServiceFactError

    console = request.app[CONSOLE]
    fact_id = request.match_info["fact_id"]
    form = await _form(request)
    try:
        fact = await _thread(console.facts().rollback, fact_id, int(form.get("version") or 0),
                             request["user"].username)
    except (ServiceFactError, ValueError) as error:
        flash(request, "error", "无法回滚到这个版本")
        raise web.HTTPSeeOther(f"/facts/{fact_id}") from error
    await _thread(console.store.audit, request["user"].username, "fact_rollback", fact_id,
                  version=fact.version, from_version=form.get("version"))
    flash(request, "ok", f"已按第 {form.get('version')} 版提交第 {fact.version} 版，等待审核")
    raise web.HTTPSeeOther(f"/facts/{fact_id}")


@route("POST", "/inbox/bulk", "work_inbox")
async def inbox_bulk(request: web.Request) -> web.StreamResponse:
    """Assign the selected messages to one intent, or ignore them, each with the usual checks."""
    console = request.app[CONSOLE]
    posted = await request.post()
    keys = [k for k in posted.getall("key", []) if isinstance(k, str) and len(k) == 32][:100]
    action, intent = posted.get("bulk"), posted.get("intent") or ""
    by_key = {i.key: i for i in await _inbox_items(console)}
    chosen = [by_key[k] for k in keys if k in by_key]
    if not chosen:
        flash(request, "error", "请先勾选消息")
        raise web.HTTPSeeOther("/inbox")
    done, refused = 0, []
    for item in chosen:
        if action == "dismiss":
            await _thread(console.store.decide, item.key, "dismissed", None, item.text, request["user"].username)
            await _thread(console.store.audit, request["user"].username, "inbox_dismiss", item.key, text=item.text,
                          bulk=True)
            done += 1
            continue
        raw = normalise_raw(item.text)
        # why: near-duplicates are confirmed one by one; in bulk they are left for the single form.
        outcome = await apply_change(request, [Add(intent, raw)], [(raw, intent, None)], False, "inbox_assign",
                                     intent, {"intent": intent, "after": raw, "item": item.key, "bulk": True})
        if outcome.ok:
            await _thread(console.store.decide, item.key, "assigned", intent, item.text, request["user"].username)
            done += 1
        else:
            reason = "与其他意图的例句很相似，请单独确认" if outcome.pending else "；".join(outcome.errors)
            refused.append(f"“{item.text}”：{reason}")
    verb = "忽略" if action == "dismiss" else f"归入 {intent}"
    flash(request, "ok", f"已{verb} {done} 条")
    for line in refused[:10]:
        flash(request, "error", line)
    raise web.HTTPSeeOther("/inbox")


# --- try a sentence ----------------------------------------------------------------------------------


@route("GET", "/try", "try_sentence")
async def try_page(request: web.Request) -> web.Response:
    return await render(request, "try.html", text="", result=None)


@route("POST", "/try", "try_sentence")
async def try_submit(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    form = await _form(request)
    # why: the same hygiene as a resident's message, so the answer is the one a resident would get.
    cleaned = clean_user_text(form.get("text", ""))
    # why: try.html reads every key (strict undefined): an empty sentence used to give a 500.
    result: dict[str, Any] = {"errors": [], "intent": None, "ranking": [], "entities": [], "replies": []}
    if not cleaned.text:
        result["errors"].append("请输入一句话")
        return await render(request, "try.html", text="", result=result)
    parse, reply = await asyncio.gather(
        console.rasa.parse(cleaned.text),
        console.rasa.say(f"console-try-{uuid.uuid4().hex[:12]}", cleaned.text),
    )
    if parse.ok:
        data = parse.data or {}
        result["intent"] = data.get("intent") or {}
        result["ranking"] = (data.get("intent_ranking") or [])[:10]
        result["entities"] = [
            {
                "entity": e.get("entity"),
                "value": _mask_filter(e.get("value")),
                "text": _mask_filter(cleaned.text[e.get("start", 0) : e.get("end", 0)]),
                "extractor": e.get("extractor"),
                "confidence": e.get("confidence_entity"),
            }
            for e in data.get("entities") or []
        ]
    else:
        result["errors"].append(f"意图识别：{parse.error}")
    if reply.ok:
        result["replies"] = [
            {
                "text": _mask_filter(m.get("text")),
                "buttons": [_mask_filter(b.get("title")) for b in m.get("buttons") or []],
            }
            for m in reply.data or []
            if isinstance(m, dict)
        ]
    else:
        result["errors"].append(f"机器人回答：{reply.error}")
    if cleaned.pii_kinds:
        result["errors"].append("输入中的个人号码已按居民消息的规则遮盖")
    return await render(request, "try.html", text=cleaned.text, result=result)


# --- training and models -----------------------------------------------------------------------------


@route("GET", "/training", "view")
async def training_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    runs = await _thread(console.store.runs, 30)
    activations = await _thread(console.store.activations, 20)
    models = await _thread(console.training.models)
    return await render(
        request,
        "training.html",
        runs=runs,
        activations=activations,
        models=models,
        busy=console.training.busy,
    )


@route("POST", "/training/start", "start_training")
async def training_start(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    try:
        # why: start() must run on the event loop (it creates the background task); its one insert is quick.
        run = console.training.start(request["user"].username)
    except TrainingError as error:
        flash(request, "error", str(error))
        raise web.HTTPSeeOther("/training") from error
    raise web.HTTPSeeOther(f"/training/{run.id}")


def _run_json(run) -> dict:
    return {
        "id": run.id,
        "status": run.status,
        "phase": run.phase,
        "progress": run.progress,
        "error": run.error,
        "timings": run.timings,
        "finished": run.finished,
    }


@route("GET", r"/training/{run_id:\d+}", "view")
async def run_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    run = await _thread(console.store.run, int(request.match_info["run_id"]))
    if run is None:
        raise web.HTTPNotFound(text="没有这次训练")
    bot = await live_status(console)
    return await render(
        request,
        "run.html",
        run=run,
        log=console.training.log_tail(run),
        is_live=bool(run.model_name and bot.get("model") == run.model_name),
    )


@route("GET", r"/training/{run_id:\d+}/status.json", "view")
async def run_status(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    run = await _thread(console.store.run, int(request.match_info["run_id"]))
    if run is None:
        raise web.HTTPNotFound(text="没有这次训练")
    return web.json_response(_run_json(run))


@route("POST", r"/training/{run_id:\d+}/activate", "activate_model")
async def run_activate(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    run_id = int(request.match_info["run_id"])
    try:
        seconds, previous = await console.training.activate(run_id, request["user"].username)
    except TrainingError as error:
        flash(request, "error", str(error))
        raise web.HTTPSeeOther(f"/training/{run_id}") from error
    console.status_cache = (0.0, None)
    flash(
        request,
        "ok",
        f"已启用新模型（加载用时 {seconds:.1f} 秒，未重启机器人）；上一个模型 {previous or '未知'} 可随时回滚",
    )
    raise web.HTTPSeeOther(f"/training/{run_id}")


@route("POST", "/models/rollback", "rollback_model")
async def model_rollback(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    name = (await _form(request)).get("model", "")
    try:
        seconds, previous = await console.training.rollback(name, request["user"].username)
    except TrainingError as error:
        flash(request, "error", str(error))
        raise web.HTTPSeeOther("/training") from error
    console.status_cache = (0.0, None)
    flash(request, "ok", f"已回滚到 {name}（用时 {seconds:.1f} 秒；之前是 {previous or '未知'}）")
    raise web.HTTPSeeOther("/training")


# --- accounts and audit ------------------------------------------------------------------------------


@route("GET", "/users", "manage_users")
async def users_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    return await render(request, "users.html", users=await _thread(console.store.users), roles=ROLES)


@route("POST", "/users", "manage_users")
async def users_create(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    try:
        await _thread(
            console.auth.create_user,
            form.get("username", ""),
            form.get("password", ""),
            form.get("role", "trainer"),
            request["user"].username,
        )
        flash(request, "ok", f"已创建用户 {form.get('username')}")
    except (AuthError, StoreError) as error:
        flash(request, "error", str(error))
    raise web.HTTPSeeOther("/users")


@route("POST", r"/users/{user_id:\d+}/active", "manage_users")
async def users_active(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    user_id = int(request.match_info["user_id"])
    active = (await _form(request)).get("active") == "1"
    target = await _thread(console.store.user, user_id)
    if target is None:
        raise web.HTTPNotFound(text="没有这个用户")
    if target.id == request["user"].id and not active:
        flash(request, "error", "不能停用自己的账号")
        raise web.HTTPSeeOther("/users")
    await _thread(console.store.set_user_active, user_id, active)
    await _thread(
        console.store.audit,
        request["user"].username,
        "user_enable" if active else "user_disable",
        target.username,
    )
    flash(request, "ok", f"已{'启用' if active else '停用'} {target.username}")
    raise web.HTTPSeeOther("/users")


AUTH_ACTIONS = ("login", "login_failed", "login_locked", "logout")
FAILED_AUTH_ACTIONS = ("login_failed", "login_locked")


@route("GET", "/audit", "view")
async def audit_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    # why: a flood of failed sign-ins must not push every real entry off the page: the last 300
    # other entries, plus the 30 newest sign-in failures, newest first.
    entries = await _thread(console.store.audit_entries, 300, exclude=FAILED_AUTH_ACTIONS)
    failures = await _thread(console.store.audit_entries, 30, only=FAILED_AUTH_ACTIONS)
    entries = sorted(entries + failures, key=lambda e: e.id, reverse=True)
    if not request["user"].is_admin:
        # why: sign-in failures may hold a password typed into the name field; only admins see them.
        entries = [e for e in entries if e.action not in AUTH_ACTIONS]
    return await render(request, "audit.html", entries=[(e, json.dumps(e.detail, ensure_ascii=False)) for e in entries])


# --- application -------------------------------------------------------------------------------------


def routes() -> list[tuple[str, str, str | None]]:
    """(method, path, permission) of every registered route (tests enumerate these)."""
    return [(method, path, permission) for method, path, _, permission in _ROUTES]


async def _on_startup(app: web.Application) -> None:
    console = app[CONSOLE]
    await _thread(console.store.purge_sessions, timedelta(seconds=console.settings.session_idle_seconds))
    failed = await _thread(console.store.fail_unfinished_runs, "控制台重启，训练中断")
    if failed:
        logger.warning("marked %s unfinished training run(s) as failed", failed)

    async def snapshot_later() -> None:
        try:
            await console.training.ensure_live_snapshot()
        except Exception:  # noqa: BLE001 - best effort at start-up
            logger.exception("could not keep a snapshot of the live model's data")

        try:
            # why: the first save would otherwise pay for importing Rasa's YAML reader (about 2 s).
            await _thread(checks.warm_up)
        except Exception:  # noqa: BLE001 - an optimisation only
            logger.exception("could not warm up the NLU file check")

    app[STARTUP_TASK] = asyncio.get_running_loop().create_task(snapshot_later())


async def _on_cleanup(app: web.Application) -> None:
    console = app[CONSOLE]
    task = app.get(STARTUP_TASK)
    if task is not None and not task.done():
        task.cancel()
    await console.training.shutdown()
    await console.rasa.close()


def create_app(
    settings: ConsoleSettings | None = None,
    store: Store | None = None,
    rasa: RasaClient | None = None,
    app_store_factory: Callable[[], object] | None = None,
) -> web.Application:
    """Build the application (no network or training starts before the app runs)."""
    settings = settings or get_settings()
    store = store or Store(settings.database_url)
    rasa = rasa or RasaClient(settings.rasa_url, settings.rasa_api_token)
    console = Console(
        settings=settings,
        store=store,
        auth=Authenticator(store, settings, load_secret(settings)),
        repo=NluRepository(settings.nlu_dir),
        rasa=rasa,
        training=TrainingManager(settings, store, rasa),
        jinja=make_jinja(),
        app_store_factory=app_store_factory,
    )
    console.queue = handoff.HandoffQueue(lambda: store.engine)
    app = web.Application(
        middlewares=[refuse_encoded_bodies, security_middleware, session_middleware],
        client_max_size=256 * 1024,
        handler_args=HANDLER_ARGS,
    )
    app[CONSOLE] = console
    for method, path, handler, _ in _ROUTES:
        app.router.add_route(method, path, handler)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app
