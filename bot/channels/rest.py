"""REST channel (``/webhooks/rest/webhook``) with input hygiene and robust parsing.

Same URL, request and reply format as Rasa's ``RestInput``. Differences: every message goes through
:func:`bot.channels.guard.guarded` (PII masked, rate limit, never silent), and the handler is ours
because Rasa's logs the resident's *raw* text when a turn fails or times out
(``rest.message.received.failure``) — an unmasked ID-card number would reach the logs.

Conversation ids live in their own namespace (:func:`bot.sessions.rest_sender`): ``sender`` must be
8–64 letters, digits, ``_`` or ``-`` and is stored as ``rest-<sender>``, so a REST client can never
write into (or spend the rate limit of) a widget or WeChat conversation; a request without a sender
gets a fresh conversation of its own (its id in the ``X-Sender`` header), never a shared "default";
an unacceptable sender gets the polite ``bad_sender`` reply (HTTP 400) and Rasa is not called.
"""
# rasa-patch: rest-channel (docs/rasa-patches.md)

from __future__ import annotations

from functools import partial
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guard import guarded, replies
from bot.ratelimit import client_address, trusted_proxies
from bot.sessions import REST_PREFIX, check_keys, fresh_rest_sender, rest_sender


def _json_body(request: Request) -> Dict[str, Any]:
    # why: a body that is not a JSON object must give a polite empty answer, not a 500.
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - sanic raises several types for bad JSON
        return {}
    return body if isinstance(body, dict) else {}


def request_address(request: Request, proxies: frozenset[str]) -> str:
    """The client address of ``request`` (``X-Forwarded-For`` only from a trusted proxy)."""
    return client_address(getattr(request, "ip", None), request.headers.get("x-forwarded-for"), proxies)


class RestChannel(RestInput):
    """Rasa's REST channel; same URL and reply format, safer input handling."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        """``rest-<sender>``, a fresh id when the body names none, None when the sender is unacceptable."""
        sender = _json_body(req).get("sender")
        if sender is None:
            return fresh_rest_sender()
        return rest_sender(sender)

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
        check_keys()
        guard = guarded(on_new_message)
        proxies = trusted_proxies()
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            sender_id = await self._extract_sender(request)
            if sender_id is None:
                return response.json([{"recipient_id": None, "text": replies()["bad_sender"]}], status=400)
            headers = {"X-Sender": sender_id[len(REST_PREFIX):]}
            handle = partial(guard, client_address=request_address(request, proxies))
            text = self._extract_message(request)
            input_channel = self._extract_input_channel(request)
            metadata = self.get_metadata(request)
            if bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(handle, text, sender_id, input_channel, metadata),
                    content_type="text/event-stream",
                    headers=headers,
                )
            collector = CollectingOutputChannel()
            # why: ``handle`` answers every failure politely itself; nothing here logs the text.
            await handle(UserMessage(text, collector, sender_id, input_channel=input_channel, metadata=metadata))
            return response.json(collector.messages, headers=headers)

        return webhook
