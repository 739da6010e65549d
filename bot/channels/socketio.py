"""Socket.IO channel for the website widget, with input hygiene."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from bot.channels.guard import guarded


class SocketIOChannel(SocketIOInput):
    """Rasa's socket.io channel; every user message is cleaned before Rasa sees it."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        return super().blueprint(guarded(on_new_message))
