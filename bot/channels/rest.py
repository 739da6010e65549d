"""REST channel (``/webhooks/rest/webhook``) with input hygiene and robust parsing.

Same URL, request and reply format as Rasa's ``RestInput``. Differences: every message goes through
:func:`bot.channels.guard.guarded` (PII masked, rate limit, never silent), and the handler is ours
because Rasa's logs the resident's *raw* text when a turn fails or times out
(``rest.message.received.failure``) — an unmasked ID-card number would reach the logs.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

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
        handle = guarded(on_new_message)
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            input_channel = self._extract_input_channel(request)
            metadata = self.get_metadata(request)
            if bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(handle, text, sender_id, input_channel, metadata),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            # why: ``handle`` answers every failure politely itself; nothing here logs the text.
            await handle(UserMessage(text, collector, sender_id, input_channel=input_channel, metadata=metadata))
            return response.json(collector.messages)

        return webhook
