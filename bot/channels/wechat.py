"""WeChat Official Account channel (``/webhooks/wechat/webhook``) that keeps WeChat's rules.

Registered in ``credentials.yml`` as ``bot.channels.wechat.WeChatInput`` with no keys: settings
come from the environment (:mod:`bot.channels.wechat_settings`). Contract with WeChat:

* GET ``/webhook``: server verification; a valid signature over (token, timestamp, nonce) echoes
  ``echostr``. POST: signature compared in constant time, timestamps outside the window and bodies
  over the size limit refused, malformed XML answered 400; plaintext and safe (AES) mode, replies
  encrypted in safe mode. Parsing, replies and crypto are wechatpy's.
* The openid (``FromUserName``) is the Rasa conversation id; every resident text (text, voice
  recognition) passes :func:`bot.channels.guard.guard_message`. Only events generated from trusted
  WeChat fields (subscribe, menu CLICK, location) send ``/intent`` messages to Rasa directly.
* Replay: in plaintext mode the signature covers the query string only, so each (timestamp, nonce) is
  bound in the shared store to the digest of the first body it came with; the same query with another
  body inside the timestamp window is refused (403). A retry (same query, same body) passes.
* De-duplication: a message is keyed by ``FromUserName`` + ``MsgId`` (``MsgId`` alone let one
  account's id silence another's message; events by ``FromUserName`` + ``CreateTime``) in the
  shared store. The first delivery runs the Rasa turn as a task; retries in the same process await
  it, retries in another process poll the store. All get the same reply; the turn runs once.
* 5-second rule: if the turn is not finished ``reply_deadline`` (4.5 s) after the first delivery
  arrived, the channel answers ``success`` and, when the turn ends, sends the answer through the
  customer-service API (in a worker thread); the store records this so late retries answer
  ``success`` too.
* Replies: texts are joined, buttons become numbered lines ``1. 标题`` (the digit→payload map of the
  last options is kept in the store, so a digit reply selects it), ``{"handoff": true}`` becomes a
  ``transfer_customer_service`` reply. Passive texts are cut at 2048 bytes by sentence; the rest
  goes through the customer-service API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Sequence, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply, TransferCustomerServiceReply
from wechatpy.utils import WeChatSigner

from bot.channels import staff
from bot.channels.guard import guard_message, guarded
from bot.channels.guard import replies as guard_replies
from bot.channels.wechat_client import WeChatClient, mask_openid
from bot.channels.wechat_settings import WeChatSettings
from bot.sanitize import clean_user_text
from bot.stores.wechat_store import WeChatStore, store_from_url
from knowledge.vocabulary import COVERED_CITIES as _KNOWN_CITIES

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

MAX_PASSIVE_BYTES = 2048  # WeChat's limit for a passive text reply
PENDING_TTL = 60.0  # a claimed message whose turn never finished (process died) is forgotten after this
RESULT_TTL = 300.0  # WeChat retries within ~15 s; events are keyed by CreateTime, so keep 5 minutes
OPTIONS_TTL = 3600.0  # like the Rasa session: a digit an hour later no longer selects an old option
POLL_INTERVAL = 0.1
SUCCESS = "success"
DRAIN_BYTES = 1024 * 1024
WARM_UP_TEXT = "深圳有多少个社保服务网点"
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIGIT = re.compile(r"^[1-9][0-9]?$")
# why: sentence ends for splitting long answers; a closing quote stays with its sentence.
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])(?![”’」』）)])|(?<=[。！？!?；;][”’」』）)])")
_PROVINCE = re.compile(r"^.*?(?:省|自治区)")
_CITY = re.compile(r"^([\u4e00-\u9fff]{2,4}?)(?<!城)市")


# --- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeChatMenu:
    """``wechat_menu.yml``: CLICK keys, the subscribe menu, the location answer, canned replies."""

    click: Dict[str, str] = field(default_factory=dict)
    subscribe_message: str = "/greet"
    menu_intro: str = ""
    menu: Tuple[Tuple[str, str], ...] = ()  # (title, message)
    location_intent: str = "ask_service_points"
    location_note: str = "{label}"
    replies: Dict[str, str] = field(default_factory=dict)

    REQUIRED_REPLIES = ("voice_unrecognised", "unsupported", "unknown_click", "error", "continued")

    @classmethod
    def load(cls, path: Path) -> WeChatMenu:
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8")) or {}
        click = {str(k): str(v) for k, v in (data.get("click") or {}).items()}
        subscribe = data.get("subscribe") or {}
        menu = tuple((str(item["title"]), str(item["message"])) for item in subscribe.get("menu") or [])
        location = data.get("location") or {}
        replies = {str(k): str(v) for k, v in (data.get("replies") or {}).items()}
        missing = [name for name in cls.REQUIRED_REPLIES if not replies.get(name)]
        if missing:
            raise ValueError(f"{path}: replies missing {missing}")
        for message in [*click.values(), *(m for _, m in menu), str(subscribe.get("message", "/greet"))]:
            if not message.strip():
                raise ValueError(f"{path}: empty message")
        return cls(
            click=click,
            subscribe_message=str(subscribe.get("message", "/greet")),
            menu_intro=str(subscribe.get("menu_intro", "")),
            menu=menu,
            location_intent=str(location.get("intent", "ask_service_points")),
            location_note=str(location.get("note", "{label}")),
            replies=replies,
        )


# --- rendering (pure functions) --------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    """Rasa's bot messages as WeChat can show them."""

    text: str
    options: Tuple[Tuple[str, str, str], ...] = ()  # (digit, title, payload) of the last buttons
    handoff: bool = False


def render_messages(messages: Sequence[Dict[str, Any]]) -> Rendered:
    """Join texts; buttons → ``"1. 标题"`` lines; ``custom.handoff`` → hand-off flag.

    A button whose payload is a digit keeps that digit (the Rasa side maps digits through
    ``select_option`` and ``last_options``); other buttons are numbered by position.
    """
    blocks: List[str] = []
    options: Tuple[Tuple[str, str, str], ...] = ()
    handoff = False
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("handoff"):
            handoff = True
        lines = [str(message["text"])] if message.get("text") else []
        buttons = message.get("buttons") or []
        if buttons:
            numbered = []
            for index, button in enumerate(buttons, 1):
                payload = str(button.get("payload") or "").strip()
                title = str(button.get("title") or payload)
                digit = payload if _DIGIT.match(payload) else str(index)
                numbered.append((digit, title, payload or digit))
                lines.append(f"{digit}. {title}")
            options = tuple(numbered)
        for key in ("image", "attachment"):
            if isinstance(message.get(key), str):
                lines.append(message[key])
        if lines:
            blocks.append("\n".join(lines))
    return Rendered("\n\n".join(blocks).strip(), options, handoff)


def _cut_bytes(text: str, limit: int) -> Tuple[str, str]:
    head = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    return head, text[len(head):]


def split_text(text: str, limit: int = MAX_PASSIVE_BYTES, continued: str = "") -> List[str]:
    """Cut ``text`` into parts of at most ``limit`` UTF-8 bytes, at sentence ends where possible.

    When there is more than one part, ``continued`` is appended to the first (within the limit).
    """
    text = text.strip()
    if not text:
        return []
    if len(text.encode("utf-8")) <= limit:
        return [text]
    room = limit - len(("\n" + continued).encode("utf-8")) if continued else limit
    chunks: List[str] = []
    current = ""
    for piece in _SENTENCE_END.split(text):
        if not piece:
            continue
        budget = room if not chunks else limit
        if len((current + piece).encode("utf-8")) <= budget:
            current += piece
            continue
        if current.strip():
            chunks.append(current)
        current = piece
        budget = room if not chunks else limit
        while len(current.encode("utf-8")) > budget:
            head, current = _cut_bytes(current, budget)
            chunks.append(head)
            budget = limit
    if current.strip():
        chunks.append(current)
    parts = [chunk.strip() for chunk in chunks if chunk.strip()]
    if continued and len(parts) > 1:
        parts[0] = f"{parts[0]}\n{continued}"
    return parts


def location_region(label: str) -> str | None:
    """The city a WeChat location label names (``广东省深圳市福田区…`` → ``深圳``), else None."""
    for city in _KNOWN_CITIES:
        if city in label:
            return city
    match = _CITY.match(_PROVINCE.sub("", label.strip()))
    return match.group(1) if match else None


def option_digit(text: str) -> str | None:
    """``"1"``, ``" ２ "`` → the digit string; anything else → None."""
    candidate = unicodedata.normalize("NFKC", text or "").strip().rstrip(".。")
    return candidate if _DIGIT.match(candidate) else None


def _raw(message, name: str) -> str:
    """A field of the parsed XML as text ('' when absent or not text)."""
    value = (getattr(message, "_data", None) or {}).get(name)
    return value.strip() if isinstance(value, str) else ""


def _loggable(key: str) -> str:
    """A de-duplication key with the openid of event keys masked."""
    kind, _, rest = key.partition(":")
    if kind not in ("evt", "msg"):
        return key
    openid, _, tail = rest.partition(":")
    return f"{kind}:{mask_openid(openid)}:{tail}"


def _raw_type(message) -> Tuple[str, str]:
    """``(MsgType, Event)`` lower-cased from the XML itself (wechatpy maps unknown types to 'unknown')."""
    return _raw(message, "MsgType").lower(), _raw(message, "Event").lower()


# --- turn outcome -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one WeChat message is answered with.

    ``parts[0]`` is the passive text reply (unless ``transfer``), the other parts go through the
    customer-service API; ``transfer`` answers with ``transfer_customer_service`` and sends every
    part through the API. No parts and no transfer → ``success``.
    """

    parts: Tuple[str, ...] = ()
    transfer: bool = False

    @property
    def passive(self) -> str | None:
        return None if self.transfer or not self.parts else self.parts[0]

    @property
    def followups(self) -> Tuple[str, ...]:
        return self.parts if self.transfer else self.parts[1:]

    def to_json(self) -> Dict[str, Any]:
        return {"parts": list(self.parts), "transfer": self.transfer}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> Outcome:
        return cls(tuple(str(p) for p in data.get("parts") or ()), bool(data.get("transfer")))


@dataclass
class _Turn:
    """One WeChat message being answered in this process (its first delivery and local retries)."""

    key: str
    decided: asyncio.Future  # Outcome to reply passively, or None → answer "success"
    owner: bool = False
    gave_up: bool = False  # the first delivery answered "success": deliver through the API


class WeChatOutput(CollectingOutputChannel):
    """Collects the bot's messages for one turn; named ``wechat`` for ``channel: wechat`` responses."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        # why: the collector splits at blank lines; WeChat shows one message, keep the text whole.
        await self._persist_message(self._message(recipient_id, text=text))


# --- the channel ------------------------------------------------------------------------------------
class WeChatInput(InputChannel):
    """WeChat Official Account input channel; see the module docstring for the contract."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> WeChatInput:
        # why: credentials.yml holds no WeChat secrets; everything comes from the environment.
        if credentials:
            logger.warning("wechat: credentials.yml keys are ignored; use WECHAT_* environment variables")
        return cls(WeChatSettings.from_env())

    def __init__(
        self,
        settings: WeChatSettings | None = None,
        store: WeChatStore | None = None,
        client: WeChatClient | None = None,
        menu: WeChatMenu | None = None,
    ) -> None:
        self.settings = settings or WeChatSettings()
        self.store = store or store_from_url(self.settings.redis_url, self.settings.store_prefix)
        self.client = client or WeChatClient.from_settings(self.settings, self.store)
        self.menu = menu or WeChatMenu.load(self.settings.menu_path)
        self._crypto = (
            WeChatCrypto(self.settings.token, self.settings.aes_key, self.settings.appid)
            if self.settings.safe_mode
            else None
        )
        self._inflight: Dict[str, _Turn] = {}
        self._background: set = set()
        self._on_new_message: OnNewMessage | None = None
        logger.info("wechat channel: %r", self.settings)

    # --- HTTP -----------------------------------------------------------------------------------
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        # why: rate limit and "never silent" for every turn; texts are cleaned in _ask (events are trusted).
        self._on_new_message = guarded(on_new_message, clean=False)
        webhook = Blueprint("wechat_webhook", __name__)
        # why: staff replies from the console use this channel's client (and its local outbox).
        staff.register_wechat(self.client)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.listener("after_server_start")
        async def warm_up(app, _loop) -> None:
            # why: the first NLU parse of a fresh Rasa process loads jieba and traces the model
            # (~3 s); done here, the first resident does not pay it against WeChat's 5 seconds.
            agent = getattr(app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return
            started = time.perf_counter()
            try:
                await agent.parse_message(WARM_UP_TEXT)
            except Exception:  # noqa: BLE001 - warming up is an optimisation only
                logger.warning("wechat: warm-up parse failed", exc_info=True)
                return
            logger.info("wechat: model warmed up in %.1fs", time.perf_counter() - started)

        # why: one streaming route for GET and POST, so the body limit is enforced while reading
        # instead of after Sanic buffered up to its global 100 MB.
        @webhook.route("/webhook", methods=["GET", "POST"], stream=True)
        async def webhook_handler(request: Request) -> HTTPResponse:
            if request.method == "GET":
                return self._verify_server(request)
            return await self._receive(request)

        if self.client.local and not self.settings.production:

            @webhook.route("/outbox", methods=["GET"])
            async def outbox(request: Request) -> HTTPResponse:
                return await self._outbox(request)

        return webhook

    def _signature_ok(self, signature: str, *parts: str) -> bool:
        if not signature or len(signature) > 128 or any(len(p) > 4096 for p in parts):
            return False
        signer = WeChatSigner()
        signer.add_data(self.settings.token, *parts)
        # why: constant-time comparison, so the signature cannot be guessed byte by byte.
        return hmac.compare_digest(signer.signature.encode("ascii"), signature.encode("utf-8", "replace"))

    def _fresh(self, timestamp: str) -> bool:
        try:
            sent = int(timestamp)
        except (TypeError, ValueError):
            return False
        return abs(time.time() - sent) <= self.settings.timestamp_window

    def _verify_server(self, request: Request) -> HTTPResponse:
        args = request.args
        signature, timestamp = args.get("signature", ""), args.get("timestamp", "")
        nonce = args.get("nonce", "")
        echostr = args.get("echostr", "")
        if not echostr or len(echostr) > 256 or not self._signature_ok(signature, timestamp, nonce):
            logger.warning("wechat: server verification refused (bad signature or echostr)")
            return response.text("invalid signature", status=403)
        return response.text(echostr)

    async def _read_body(self, request: Request) -> bytes | None:
        limit = self.settings.max_body_bytes
        try:
            if int(request.headers.get("content-length") or 0) > limit:
                return None
        except ValueError:
            return None
        if request.stream is None:  # pragma: no cover - non-streaming mount
            return request.body if len(request.body or b"") <= limit else None
        chunks, size = [], 0
        try:
            while True:
                chunk = await request.stream.read()
                if chunk is None:
                    break
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        except PayloadTooLarge:
            return None
        return b"".join(chunks)

    async def _receive(self, request: Request) -> HTTPResponse:
        arrived = asyncio.get_running_loop().time()
        if request.stream is not None:
            # why: after a refusal Sanic drains the unread body up to this size (its global default
            # is 100 MB); a little over our limit lets clients read the 413, more closes the socket.
            request.stream.request_max_size = max(self.settings.max_body_bytes, DRAIN_BYTES)
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not self._signature_ok(args.get("signature", ""), timestamp, nonce):
            logger.warning("wechat: message refused: bad signature")
            return response.text("invalid signature", status=403)
        if not self._fresh(timestamp):
            logger.warning("wechat: message refused: timestamp outside the %ss window",
                           self.settings.timestamp_window)
            return response.text("stale timestamp", status=403)
        body = await self._read_body(request)
        if body is None:
            logger.warning("wechat: message refused: body over %d bytes", self.settings.max_body_bytes)
            return response.text("payload too large", status=413)
        if not await self._first_use(timestamp, nonce, body):
            logger.warning("wechat: message refused: signed query replayed with another body")
            return response.text("replayed request", status=403)
        encrypted = args.get("encrypt_type", "raw").lower() == "aes"
        if self._crypto is not None and not encrypted:
            # why: in safe mode a plaintext message is a downgrade; WeChat always encrypts.
            logger.warning("wechat: plaintext message refused in safe mode")
            return response.text("encryption required", status=400)
        if encrypted and self._crypto is None:
            logger.warning("wechat: encrypted message but WECHAT_AES_KEY is not set")
            return response.text("safe mode not configured", status=400)
        if encrypted:
            xml, status = self._decrypt(body, args.get("msg_signature", ""), timestamp, nonce)
            if xml is None:
                return response.text("invalid message", status=status)
        else:
            xml = body.decode("utf-8", errors="replace")
        message = self._parse(xml)
        if message is None:
            return response.text("malformed message", status=400)
        outcome = await self._answer(message, arrived)
        return self._reply(outcome, message, nonce)

    async def _first_use(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """True unless (timestamp, nonce) was already used with a different body (see the docstring)."""
        digest = hashlib.sha256(body).hexdigest()
        name = f"nonce:{timestamp[:20]}:{nonce[:64]}"
        ttl = 2 * self.settings.timestamp_window + 60
        if await self._store_safe(self.store.add, name, digest, ttl, default=True):
            return True
        stored = await self._store_safe(self.store.get, name)
        # why: a store outage must not stop WeChat (fail open, like the de-duplication).
        return stored is None or hmac.compare_digest(stored, digest)

    @staticmethod
    def _has_dtd(xml: str) -> bool:
        # why: WeChat never sends a DTD; refusing one shuts out entity-expansion tricks early.
        return "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper()

    def _decrypt(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> Tuple[str | None, int]:
        import xmltodict

        text = body.decode("utf-8", errors="replace")
        if self._has_dtd(text):
            return None, 400
        try:
            envelope = xmltodict.parse(text)["xml"]
            encrypt = envelope["Encrypt"]
            if not isinstance(encrypt, str):
                raise TypeError("Encrypt is not text")
        except Exception:  # noqa: BLE001 - any parse failure is a malformed envelope
            logger.warning("wechat: malformed encrypted envelope")
            return None, 400
        if not self._signature_ok(msg_signature, timestamp, nonce, encrypt):
            logger.warning("wechat: message refused: bad msg_signature")
            return None, 403
        try:
            return self._crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, timestamp, nonce), 200
        except Exception:  # noqa: BLE001 - bad padding, wrong AppID, bad base64 ...
            logger.warning("wechat: message refused: cannot decrypt")
            return None, 400

    def _parse(self, xml: str):
        if not xml or self._has_dtd(xml):
            logger.warning("wechat: empty message or DTD refused")
            return None
        try:
            message = parse_message(xml)
            source, target, msg_type = message.source, message.target, message.type
        except Exception:  # noqa: BLE001 - xmltodict / wechatpy raise many types on bad XML
            logger.warning("wechat: malformed XML refused")
            return None
        if not isinstance(source, str) or not _OPENID.match(source) or not isinstance(target, str):
            logger.warning("wechat: message without a valid FromUserName refused")
            return None
        if not isinstance(msg_type, str):
            return None
        return message

    def _reply(self, outcome: Outcome | None, message, nonce: str) -> HTTPResponse:
        if outcome is None or (outcome.passive is None and not outcome.transfer):
            return response.text(SUCCESS)
        if outcome.transfer:
            reply = TransferCustomerServiceReply(message=message)
        else:
            reply = TextReply(message=message, content=outcome.passive)
        xml = reply.render()
        if self._crypto is not None:
            xml = self._crypto.encrypt_message(xml, nonce, str(int(time.time())))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    async def _outbox(self, request: Request) -> HTTPResponse:
        """Local mode only: customer-service texts for ``openid`` (signed like a WeChat request)."""
        args = request.args
        timestamp, nonce, openid = args.get("timestamp", ""), args.get("nonce", ""), args.get("openid", "")
        if not (self._signature_ok(args.get("signature", ""), timestamp, nonce) and self._fresh(timestamp)):
            return response.text("invalid signature", status=403)
        if not _OPENID.match(openid):
            return response.text("bad openid", status=400)
        messages = await self._store_call(self.client.drain_outbox, openid)
        return response.json({"messages": messages or []})

    # --- de-duplication and the 5-second rule -------------------------------------------------
    async def _store_call(self, func: Callable, *args: Any) -> Any:
        if self.store.blocking:
            return await asyncio.to_thread(func, *args)
        return func(*args)

    async def _store_safe(self, func: Callable, *args: Any, default: Any = None) -> Any:
        try:
            return await self._store_call(func, *args)
        except Exception:  # noqa: BLE001 - a store outage must not take the channel down
            logger.exception("wechat: store unavailable (%s)", getattr(func, "__name__", func))
            return default

    @staticmethod
    def dedupe_key(message) -> str:
        """``msg:<FromUserName>:<MsgId>`` for messages, ``evt:<FromUserName>:<CreateTime>:<Event>`` for events."""
        msg_type, event = _raw_type(message)
        msg_id = _raw(message, "MsgId")[:64]
        if msg_id and msg_type != "event":
            return f"msg:{message.source}:{msg_id}"
        return f"evt:{message.source}:{_raw(message, 'CreateTime')[:20]}:{event[:40]}"

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        # why: keep a reference so the task is not garbage-collected while it runs.
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _answer(self, message, arrived: float) -> Outcome | None:
        """The outcome to reply with within the deadline, or None for ``success``."""
        key = self.dedupe_key(message)
        turn = self._inflight.get(key)
        if turn is not None:
            logger.info("wechat: retry of %s joins the running turn", _loggable(key))
            return await self._wait(turn, arrived)
        loop = asyncio.get_running_loop()
        # why: registered before the first await, so a retry arriving meanwhile joins this turn.
        turn = _Turn(key, loop.create_future())
        self._inflight[key] = turn
        claimed = await self._store_safe(self.store.add, f"seen:{key}", json.dumps({"state": "pending"}),
                                         PENDING_TTL, default=True)
        if claimed:
            turn.owner = True
            self._spawn(self._run_turn(turn, message))
        else:
            logger.info("wechat: %s is handled elsewhere; waiting for its outcome", _loggable(key))
            self._spawn(self._follow(turn, arrived))
        return await self._wait(turn, arrived)

    async def _wait(self, turn: _Turn, arrived: float) -> Outcome | None:
        loop = asyncio.get_running_loop()
        remaining = arrived + self.settings.reply_deadline - loop.time()
        try:
            if remaining > 0:
                return await asyncio.wait_for(asyncio.shield(turn.decided), remaining)
        except asyncio.TimeoutError:
            pass
        except asyncio.CancelledError:
            # why: WeChat hung up; the passive reply can no longer be delivered.
            if turn.owner and not turn.decided.done():
                turn.gave_up = True
            raise
        # why: no await between this check and setting gave_up, so the turn sees one or the other.
        if turn.decided.done():
            return turn.decided.result()
        if turn.owner:
            turn.gave_up = True
            logger.info("wechat: %s not ready after %.1fs; answered success, will send via API",
                        _loggable(turn.key), self.settings.reply_deadline)
        return None

    async def _run_turn(self, turn: _Turn, message) -> None:
        openid = message.source
        try:
            outcome = await self._process(message)
        except Exception:  # noqa: BLE001 - the resident must get an answer whatever broke
            logger.exception("wechat: turn failed for %s", mask_openid(openid))
            outcome = Outcome(tuple(split_text(self.menu.replies["error"])))
        # why: decide in one step (no await) against _wait's gave_up flag: passive XOR pushed.
        if turn.gave_up:
            turn.decided.set_result(None)
            record = {"state": "pushed"}
            to_push = outcome.parts
            delay = 0.0
        else:
            turn.decided.set_result(outcome)
            record = {"state": "done", "outcome": outcome.to_json()}
            to_push = outcome.followups
            delay = self.settings.followup_delay
        await self._store_safe(self.store.set, f"seen:{turn.key}", json.dumps(record, ensure_ascii=False),
                               RESULT_TTL)
        self._inflight.pop(turn.key, None)
        if outcome.transfer and turn.gave_up:
            logger.warning("wechat: hand-off for %s came too late for a transfer reply; texts sent via API",
                           mask_openid(openid))
        if to_push:
            if delay:
                await asyncio.sleep(delay)
            await self._push(openid, list(to_push))

    async def _follow(self, turn: _Turn, arrived: float) -> None:
        """Another process owns the turn: poll the store for its outcome until our deadline."""
        loop = asyncio.get_running_loop()
        deadline = arrived + self.settings.reply_deadline
        result: Outcome | None = None
        try:
            while loop.time() < deadline:
                raw = await self._store_safe(self.store.get, f"seen:{turn.key}")
                try:
                    record = json.loads(raw) if raw else {"state": "gone"}
                except ValueError:
                    record = {"state": "corrupt"}
                state = record.get("state")
                if state == "done":
                    result = Outcome.from_json(record.get("outcome") or {})
                    break
                if state != "pending":
                    break
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            if not turn.decided.done():
                turn.decided.set_result(result)
            self._inflight.pop(turn.key, None)

    async def _push(self, openid: str, parts: List[str]) -> None:
        # why: requests is blocking; the customer-service API runs in a worker thread.
        results = await asyncio.to_thread(self.client.send_texts, openid, parts)
        sent = sum(1 for r in results if r.ok)
        if sent == len(parts):
            logger.info("wechat: %d customer-service message(s) delivered to %s", sent, mask_openid(openid))
        else:
            logger.error("wechat: only %d of %d customer-service message(s) reached %s",
                         sent, len(parts), mask_openid(openid))

    # --- one message → one answer ---------------------------------------------------------------
    async def _process(self, message) -> Outcome:
        openid = message.source
        msg_type, event = _raw_type(message)
        meta = {"wechat": {"msg_type": msg_type, "msg_id": _raw(message, "MsgId")[:64]}}
        replies = self.menu.replies
        if msg_type == "text":
            # why: ``<Content><a/></Content>`` parses to a dict, not text; it must not reach Rasa.
            content = message.content if isinstance(message.content, str) else ""
            if not content.strip():
                return self._canned(guard_replies()["empty"])
            return await self._resident_text(openid, content, meta)
        if msg_type == "voice":
            recognition = message.recognition if isinstance(message.recognition, str) else ""
            recognition = recognition.strip()
            if recognition:
                return await self._resident_text(openid, recognition, meta)
            return self._canned(replies["voice_unrecognised"])
        if msg_type == "location":
            return await self._location(openid, message, meta)
        if msg_type == "event":
            return await self._event(openid, event, message, meta)
        return self._canned(replies["unsupported"])

    def _canned(self, text: str) -> Outcome:
        return Outcome(tuple(split_text(text, continued=self.menu.replies["continued"])))

    async def _event(self, openid: str, event: str, message, meta: Dict[str, Any]) -> Outcome:
        if event in ("subscribe", "subscribe_scan"):
            intro = "\n".join(
                [self.menu.menu_intro, *(f"{i}. {title}" for i, (title, _) in enumerate(self.menu.menu, 1))]
            ).strip()
            options = tuple((str(i), title, msg) for i, (title, msg) in enumerate(self.menu.menu, 1))
            return await self._ask(openid, self.menu.subscribe_message, meta, trusted=True, suffix=intro,
                                   fallback_options=options)
        if event == "click":
            key = _raw(message, "EventKey")
            target = self.menu.click.get(key)
            if target is None:
                logger.info("wechat: unmapped menu key %r", key[:40])
                return self._canned(self.menu.replies["unknown_click"])
            return await self._ask(openid, target, meta, trusted=target.startswith("/"))
        # unsubscribe, view, location reports, scans ...: nothing to say
        return Outcome()

    async def _location(self, openid: str, message, meta: Dict[str, Any]) -> Outcome:
        label = clean_user_text(message.label or "", max_chars=60).text
        shown = label or f"{message.location_x},{message.location_y}"
        city = location_region(label)
        intent = "/" + self.menu.location_intent
        if city:
            intent += json.dumps({"region": city}, ensure_ascii=False)
        note = self.menu.location_note.format(label=shown)
        return await self._ask(openid, intent, meta, trusted=True, prefix=note)

    async def _resident_text(self, openid: str, text: str, meta: Dict[str, Any]) -> Outcome:
        digit = option_digit(text)
        if digit:
            raw = await self._store_safe(self.store.get, f"options:{openid}")
            mapping = json.loads(raw) if raw else {}
            payload = mapping.get(digit)
            if payload and payload.startswith("/"):
                # why: the payload was offered by the bot itself, not typed: safe to send as intent.
                return await self._ask(openid, payload, meta, trusted=True)
            if payload:
                text = payload
        return await self._ask(openid, text, meta, trusted=False)

    async def _ask(
        self,
        openid: str,
        text: str,
        meta: Dict[str, Any],
        trusted: bool,
        prefix: str = "",
        suffix: str = "",
        fallback_options: Tuple[Tuple[str, str, str], ...] = (),
    ) -> Outcome:
        """One Rasa turn; returns the rendered outcome and remembers the numbered options offered."""
        if self._on_new_message is None:
            raise RuntimeError("wechat channel used before blueprint() was called")
        output = WeChatOutput()
        user_message = UserMessage(
            text, output, openid, input_channel=self.name(), metadata=dict(meta)
        )
        if not trusted:
            guard_message(user_message, trusted_metadata=True)
        await self._on_new_message(user_message)
        rendered = render_messages(output.messages)
        options = rendered.options or fallback_options
        if options:
            mapping = {digit: payload for digit, _, payload in options}
            await self._store_safe(self.store.set, f"options:{openid}",
                                   json.dumps(mapping, ensure_ascii=False), OPTIONS_TTL)
        else:
            await self._store_safe(self.store.delete, f"options:{openid}")
        text_out = "\n\n".join(part for part in (prefix, rendered.text, suffix) if part)
        parts = tuple(split_text(text_out, continued=self.menu.replies["continued"]))
        return Outcome(parts, transfer=rendered.handoff)
