"""A tiny Rasa-free socket.io server speaking the widget's protocol, for offline/reconnect tests.

``python -m tests.widget.fake_rasa --port N`` answers ``session_request`` with ``session_confirm`` (joining
the session room, as Rasa does with session persistence) and every ``user_uttered`` with one
``bot_uttered`` message ``{"text": "收到：<message>"}``, except:

* ``选项``: a question with two quick replies (payloads ``1`` and ``2``), as Rasa's socket.io output sends;
* ``转人工``: a text and then the custom message ``{"handoff": true}``;
* a message starting with ``慢``: the reply comes after 1.5 s (to see the typing indicator); ``很慢…``: 4 s;
* a message starting with ``不回``: no reply the first time in a session, the usual one when sent again
  (a bot that is up but does not answer: progress, error, 重试);
* ``长``: a 40-line answer (on a phone it is taller than the screen);
* ``简繁``: the reply says which script the widget asked for (``metadata.web.script``);
* ``引用:{json}``: sends ``json["text"]`` and then, as Rasa does with a message's custom JSON, a separate
  ``{"citations": json["citations"]}`` (when given).

Every reply carries ``reply_to`` (the widget's ``metadata.web.item``), as bot.channels.socketio does.

``GET /`` answers ``ok`` for readiness checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

import socketio
from aiohttp import web

from bot.sessions import issue_widget_session, valid_widget_session

logger = logging.getLogger(__name__)


def create_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)
    ignored: set[tuple[str, str]] = set()

    @sio.on("session_request")
    async def session_request(sid, data):
        # why: like the real channel (bot.channels.socketio): a signed id it issued, else a new one.
        session_id = valid_widget_session((data or {}).get("session_id")) or issue_widget_session()
        await sio.enter_room(sid, session_id)
        await sio.emit("session_confirm", session_id, room=sid)

    @sio.on("user_uttered")
    async def user_uttered(sid, data):
        message = str(data.get("message", ""))
        room = data["session_id"]
        item = ((data.get("metadata") or {}).get("web") or {}).get("item")

        async def emit(event, payload, room):
            # why: as bot.channels.socketio: every reply names the question it answers.
            if item:
                payload = {**payload, "reply_to": item}
            await sio.emit(event, payload, room=room)
        if message == "选项":
            options = (("社保卡", "1"), ("就业", "2"))
            quick = [{"content_type": "text", "title": t, "payload": p} for t, p in options]
            await emit("bot_uttered", {"text": "您想了解的是哪一个？", "quick_replies": quick}, room=room)
            return
        if message == "转人工":
            await emit("bot_uttered", {"text": "好的，正在为您转人工服务。"}, room=room)
            await emit("bot_uttered", {"handoff": True}, room=room)
            return
        if message.startswith("不回") and (room, message) not in ignored:
            ignored.add((room, message))
            return
        if message == "长":
            lines = ["第一行：这是一个很长的回答"] + [f"• 第{i}条内容" for i in range(2, 40)] + ["最后一行"]
            await emit("bot_uttered", {"text": "\n".join(lines)}, room=room)
            return
        if message == "简繁":
            script = ((data.get("metadata") or {}).get("web") or {}).get("script")
            await emit("bot_uttered", {"text": f"script={script}"}, room=room)
            return
        if message.startswith("引用:"):
            spec = json.loads(message[len("引用:") :])
            await emit("bot_uttered", {"text": spec["text"]}, room=room)
            if spec.get("citations"):
                await emit("bot_uttered", {"citations": spec["citations"]}, room=room)
            return
        if message.startswith("慢"):
            await asyncio.sleep(1.5)
        if message.startswith("很慢"):
            await asyncio.sleep(4)
        await emit("bot_uttered", {"text": "收到：" + message}, room=room)

    async def health(_request):
        return web.Response(text="ok")

    app.router.add_get("/", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, shutdown_timeout=0.5)


if __name__ == "__main__":
    main()
