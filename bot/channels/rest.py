"""REST channel (``/webhooks/rest/webhook``) with input hygiene and robust parsing."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

from bot.channels.guard import guarded


def _json_body(request: Request) -> Dict[str, Any]:
    # why: a body that is not a JSON object must give a polite empty answer, not a 500.
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - sanic raises several types for bad JSON
        return {}
    return body if isinstance(body, dict) else {}


class RestChannel(RestInput):
    """Rasa's REST channel; same URL and reply format, safer input handling."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        sender = _json_body(req).get("sender")
        if sender is None:
            return None
        return str(sender)[:128]

    def _extract_message(self, req: Request) -> str | None:
        message = _json_body(req).get("message")
        return message if isinstance(message, str) else ("" if message is None else str(message))

    def _extract_input_channel(self, req: Request) -> str:
        # why: a client must not pretend to be another channel (e.g. wechat).
        return self.name()

    def get_metadata(self, request: Request) -> Dict[str, Any] | None:
        metadata = _json_body(request).get("metadata")
        return metadata if isinstance(metadata, dict) else None

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        return super().blueprint(guarded(on_new_message))
