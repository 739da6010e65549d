"""Staff replies from the trainer console's hand-off queue, delivered inside the Rasa server.

Registered in ``credentials.yml`` as ``bot.channels.staff.StaffReplyInput``; it adds one route,
``POST /webhooks/staff/reply``, and never creates a Rasa turn.

Contract:
- Authenticated by ``Authorization: Bearer <STAFF_REPLY_TOKEN>`` (compared in constant time). Without
  the variable the route answers 503 (off), so a bot started without it exposes nothing.
- Body ``{"channel": "socketio" | "wechat", "sender_id": ..., "text": ..., "staff": ...}`` (JSON, at most
  ``MAX_BODY`` bytes, text at most 1,000 characters). The text is masked with
  :func:`bot.sanitize.mask_pii` once more before it leaves (a staff member must not send an ID number).
- socket.io: ``bot_uttered`` ``{"text": ..., "staff": true}`` is emitted to the resident's session room;
  the answer says whether a browser was in the room (``live``), else the console keeps the reply for
  the widget to fetch when the resident returns.
- WeChat: the text goes through the customer-service API with the channel's own client (local mode
  keeps it in the outbox). WeChat allows it only within 48 hours of the resident's last message;
  the tracker's newest user event is checked here too (409 ``window_closed``).
- Every reply that reached the resident (or was kept for the widget) is also written into the
  conversation's tracker as a ``bot`` event with ``metadata.staff`` (who answered), under the
  conversation's lock, so exports, the inbox and later turns see what the resident was told.
- The other channels register themselves here when Rasa builds their blueprints
  (:func:`register_socketio`, :func:`register_wechat`); nothing happens at import.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.sanitize import mask_pii
from bot.settings import environ

logger = logging.getLogger(__name__)

MAX_BODY = 8 * 1024
MAX_TEXT = 1000
WECHAT_WINDOW_SECONDS = 48 * 3600
_SENDER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# why: module-level registry, filled when Rasa builds the channels' blueprints (one Rasa process,
# one socket.io server and one WeChat client); the staff route finds them here.
_SOCKETIO: Dict[str, Any] = {}
_WECHAT: Dict[str, Any] = {}


def register_socketio(sio: Any, bot_message_evt: str, namespace: str | None) -> None:
    _SOCKETIO.update(sio=sio, event=bot_message_evt, namespace=namespace or "/")


def register_wechat(client: Any) -> None:
    _WECHAT["client"] = client


def _room_has_browser(sio: Any, namespace: str, room: str) -> bool:
    try:
        return any(True for _ in sio.manager.get_participants(namespace, room))
    except (KeyError, AttributeError, TypeError):
        return False


async def last_user_message_at(request: Request, sender_id: str) -> float | None:
    """Timestamp of the resident's newest message in the tracker store (None if unknown)."""
    agent = getattr(request.app.ctx, "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return None
    tracker = await store.retrieve(sender_id)
    if tracker is None:
        return None
    times = [e.timestamp for e in tracker.events if getattr(e, "type_name", "") == "user"]
    return max(times) if times else None


async def record_reply(request: Request, sender_id: str, text: str, by: str, channel: str) -> bool:
    """Append the staff reply to the conversation's tracker as a bot event (False when no store or it failed)."""
    from rasa.shared.core.events import BotUttered

    agent = getattr(request.app.ctx, "agent", None)
    processor = getattr(agent, "processor", None)
    if processor is None:
        return False
    try:
        # why: the same lock as a resident's turn, so a reply and a message never overwrite each other.
        async with agent.lock_store.lock(sender_id):
            tracker = await processor.fetch_tracker_with_initial_session(sender_id)
            tracker.update(BotUttered(text, metadata={"staff": by or True, "channel": channel}))
            await processor.save_tracker(tracker)
        return True
    except Exception:  # noqa: BLE001 - delivered already; the record is best effort and logged
        logger.exception("could not record a staff reply in the tracker")
        return False


class StaffReplyInput(InputChannel):
    """The staff reply route; see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return "staff"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> StaffReplyInput:
        return cls(environ().get("STAFF_REPLY_TOKEN") or None)

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def _authorised(self, request: Request) -> bool:
        sent = request.headers.get("Authorization", "")
        expected = f"Bearer {self.token}"
        return bool(self.token) and hmac.compare_digest(sent.encode(), expected.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        staff = Blueprint("staff_reply", __name__)

        @staff.route("/reply", methods=["POST"])
        async def reply(request: Request) -> HTTPResponse:
            if not self.token:
                return response.json({"ok": False, "error": "staff replies are off"}, status=503)
            if not self._authorised(request):
                return response.json({"ok": False, "error": "unauthorised"}, status=401)
            if len(request.body or b"") > MAX_BODY:
                return response.json({"ok": False, "error": "body too large"}, status=413)
            try:
                data = json.loads(request.body or b"{}")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return response.json({"ok": False, "error": "body must be a JSON object"}, status=400)
            channel, sender, text = data.get("channel"), data.get("sender_id"), data.get("text")
            if not (isinstance(sender, str) and _SENDER.match(sender)):
                return response.json({"ok": False, "error": "bad sender_id"}, status=400)
            if not (isinstance(text, str) and text.strip()) or len(text) > MAX_TEXT:
                return response.json({"ok": False, "error": "text must be 1-1000 characters"}, status=400)
            text = mask_pii(text.strip())[0]
            by = data.get("staff") if isinstance(data.get("staff"), str) else None
            if channel == "socketio":
                answer = await self._socketio(sender, text)
            elif channel == "wechat":
                answer = await self._wechat(request, sender, text)
            else:
                return response.json({"ok": False, "error": f"cannot deliver to channel {channel!r}"}, status=400)
            if answer.status == 200:
                await record_reply(request, sender, text, (by or "")[:64], channel)
            return answer

        return staff

    async def _socketio(self, sender: str, text: str) -> HTTPResponse:
        sio = _SOCKETIO.get("sio")
        if sio is None:
            return response.json({"ok": False, "error": "socket.io channel not running"}, status=503)
        namespace = _SOCKETIO["namespace"]
        live = _room_has_browser(sio, namespace, sender)
        if live:
            await sio.emit(_SOCKETIO["event"], {"text": text, "staff": True}, room=sender, namespace=namespace)
        logger.info("staff reply for a socket.io conversation: %s", "emitted" if live else "no browser connected")
        return response.json({"ok": True, "delivery": "live" if live else "not_connected"})

    async def _wechat(self, request: Request, openid: str, text: str) -> HTTPResponse:
        client = _WECHAT.get("client")
        if client is None:
            return response.json({"ok": False, "error": "wechat channel not running"}, status=503)
        last = await last_user_message_at(request, openid)
        if last is None or time.time() - last > WECHAT_WINDOW_SECONDS:
            # why: WeChat refuses customer-service messages 48 h after the resident last wrote (45015).
            return response.json({"ok": False, "error": "window_closed", "last_user_at": last}, status=409)
        result = await asyncio.to_thread(client.send_text, openid, text)
        if not result.ok:
            return response.json(
                {"ok": False, "error": "wechat_failed", "errcode": result.errcode}, status=502
            )
        return response.json({"ok": True, "delivery": "wechat_local" if result.local else "wechat"})
