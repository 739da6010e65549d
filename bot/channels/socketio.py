"""Socket.IO channel for the website widget, with input hygiene.

Differences from Rasa's ``SocketIOInput`` (the events and their payloads are unchanged):

* every user message is cleaned (``bot.channels.guard``) before Rasa sees it;
* custom JSON messages (``{"handoff": true}``) reach the browser as the event's data. Rasa 3.6 passes
  them to ``AsyncServer.emit`` as keyword arguments, which raises ``TypeError`` for any key that is not
  an ``emit`` parameter, so the widget never saw them;
* ``session_request`` awaits ``enter_room`` (a coroutine in python-socketio 5.x), so replies sent to
  the session room reach the browser;
* only the ``web`` key of client metadata is passed on (never ``wechat``);
* malformed ``session_request`` / ``user_uttered`` payloads (not an object, odd session ids) are
  ignored or replaced instead of raising inside the socket.io server;
* session ids are issued by the server (:func:`bot.sessions.issue_widget_session`: unguessable and
  signed); a requested id is kept only when this server signed it, and each socket is bound to the
  session it was confirmed: ``user_uttered`` speaks for that session whatever ``session_id`` the
  payload names, and a socket without a confirmed session is ignored;
* a browser page may connect only from an origin the server allows (:func:`bot.cors.rasa_cors_origins`,
  the origins of Rasa's ``--cors``: ``RASA_CORS``, else the site's own plus ``WEB_ALLOWED_ORIGINS``);
  any other ``Origin`` is refused on connect. A client that sends no ``Origin`` (not a browser) is
  accepted: the check stops other web pages riding a resident's browser, not scripts. Rasa 3.6 turns
  engine.io's origin check off (``cors_allowed_origins=[]``) and browsers apply no CORS to a WebSocket,
  so without this any page could open the widget's socket and talk to the bot;
* every reply carries ``reply_to``, the widget's id of the question it answers (``metadata.web.item``),
  so that of several tabs in one session room only the tab that asked records the answer.
"""
# rasa-patch: socketio-channel (docs/rasa-patches.md)

from __future__ import annotations

import json
import logging
import re
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.channels import staff
from bot.channels.guard import guarded
from bot.channels.rest import request_address
from bot.cors import origin_allowed, rasa_cors_origins
from bot.ratelimit import trusted_proxies
from bot.sessions import check_keys, issue_widget_session, valid_widget_session

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_session_id(value: Any) -> str | None:
    """``value`` when it is a widget session id this server issued (signed), else None."""
    return valid_widget_session(value)


class WidgetOutput(SocketIOOutput):
    """``SocketIOOutput`` whose custom JSON is sent as the data of ``bot_uttered``.

    ``sent_count`` counts the messages of this turn, so the guard can tell silence from an answer.
    ``room`` is the browser's session room: replies go there even when the guard stored the
    conversation under a pseudonym (a session id that looks like a phone number).
    Between :meth:`hold` and :meth:`release` (or :meth:`discard`) messages are kept, not emitted: the
    guard holds a turn's answers until Rasa has stored the turn (bot.channels.guard, contract 4).
    """

    def __init__(
        self, sio: Any, bot_message_evt: str, room: str | None = None, reply_to: str | None = None
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.sent_count = 0
        self.room = room
        self.reply_to = reply_to
        self._held: list[tuple[str, Any]] | None = None

    def hold(self) -> None:
        self._held = []

    async def release(self) -> None:
        held, self._held = self._held or [], None
        for room, payload in held:
            await self.sio.emit(self.bot_message_evt, payload, room=room)

    def discard(self) -> int:
        held, self._held = self._held or [], None
        return len(held)

    async def _emit(self, room: str, payload: Any) -> None:
        if self._held is not None:
            self._held.append((room, payload))
        else:
            await self.sio.emit(self.bot_message_evt, payload, room=room)

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent_count += 1
        if self.reply_to and isinstance(response, dict):
            response = {**response, "reply_to": self.reply_to}
        # why: what Rasa's SocketIOOutput._send_message does (emit bot_message_evt to the room), through _emit.
        await self._emit(self.room or socket_id, response)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        self.sent_count += 1
        payload = {k: v for k, v in json_message.items() if k not in ("room", "reply_to")}
        if self.reply_to:
            payload["reply_to"] = self.reply_to
        await self._emit(self.room or recipient_id, payload)


class SocketIOChannel(SocketIOInput):
    """Rasa's socket.io channel; every user message is cleaned before Rasa sees it."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return super().get_output_channel()
        return WidgetOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        check_keys()
        handle = guarded(on_new_message)
        proxies = trusted_proxies()
        blueprint = super().blueprint(handle)
        sio = self.sio
        assert sio is not None  # set by super().blueprint
        # why: engine.io accepts 1 MB per message by default; a resident's message is at most 500
        # characters once cleaned, so anything near this limit is abuse (frames over it are dropped).
        sio.eio.max_http_buffer_size = MAX_MESSAGE_BYTES
        # why: the console's staff replies reach the resident's room through this server.
        staff.register_socketio(sio, self.bot_message_evt, self.namespace)

        # why: registering again for the same event replaces Rasa's handlers (python-socketio keeps
        # one handler per event and namespace); the behaviour is Rasa's apart from the fixes above.
        # why: socket id -> the session it was confirmed; the payload's session_id is never trusted.
        bound: dict[str, str] = {}
        self.bound_sessions = bound
        origins = rasa_cors_origins()
        rasa_connect = sio.handlers[self.namespace or "/"]["connect"]  # Rasa's: the optional JWT check

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if origin is not None and not origin_allowed(origin, origins):
                logger.warning("socket.io connection refused: origin %.80r is not allowed (RASA_CORS)", origin)
                return False
            return bool(await rasa_connect(sid, environ, auth))

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            requested = valid_session_id(data.get("session_id")) if isinstance(data, dict) else None
            session_id = requested or issue_widget_session()
            previous = bound.get(sid)
            if previous and previous != session_id:
                await sio.leave_room(sid, previous, namespace=self.namespace)
            bound[sid] = session_id
            if self.session_persistence:
                # why: enter_room is a coroutine in python-socketio 5.x; Rasa 3.6 calls it without
                # await, so the browser never joined its session room and got no replies.
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                logger.warning("ignored a %s event whose data is not an object", self.user_message_evt)
                return
            sender_id = bound.get(sid)
            if not sender_id:
                logger.warning("ignored a message from a socket without a confirmed session")
                return
            claimed = data.get("session_id")
            if claimed is not None and claimed != sender_id:
                # why: a socket may only speak in the conversation it was confirmed for.
                logger.warning("ignored a message naming another session than the socket's own")
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            # why: a browser must not pass itself off as another channel (e.g. ``wechat`` metadata).
            metadata = {"web": metadata["web"]} if isinstance(metadata.get("web"), dict) else {}
            item = metadata.get("web", {}).get("item")
            reply_to = item if isinstance(item, str) and ITEM_ID.match(item) else None
            message = data.get("message", "")
            environ = sio.get_environ(sid, namespace=self.namespace) or {}
            request = environ.get("sanic.request")
            address = request_address(request, proxies) if request is not None else None
            await handle(
                UserMessage(
                    message if isinstance(message, str) else "",
                    WidgetOutput(sio, self.bot_message_evt, room=sender_id, reply_to=reply_to),
                    sender_id,
                    input_channel=self.name(),
                    metadata=metadata,
                ),
                client_address=address,
            )

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str, *args: Any) -> None:
            bound.pop(sid, None)

        return blueprint
