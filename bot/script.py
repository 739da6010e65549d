"""Simplified / Traditional Chinese: detect what the resident writes and answer in the same script.

The knowledge base and every response are written in simplified characters. A resident who writes
繁體 (Hong Kong, Macao, Taiwan, older readers) gets the same answer as for the simplified question
(the guard hands Rasa the text converted with :func:`to_simplified`), written in traditional
characters (:func:`convert_output`).
Conversion uses OpenCC (the maintained dictionary-based converter, ``opencc`` on PyPI), never a
hand-made character table: phrases such as 头发/頭髮 and 发展/發展 need its phrase dictionaries.

Contract:

* :func:`is_traditional` is True when the text has characters that change under OpenCC ``t2s`` and
  none that change under ``s2t`` (a text in both scripts, or in neither, counts as simplified);
* :func:`wanted_script` decides per message: the widget's switch (``metadata.web.script`` =
  ``"hant"`` / ``"hans"``) wins, otherwise the resident's own text decides;
* :func:`convert_output` makes an output channel convert every text and button title it sends
  (custom JSON is left alone: citations carry verbatim quotes of the simplified source).

No I/O at import: the OpenCC converters load their dictionaries on first use.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, Awaitable, Callable

logger = logging.getLogger(__name__)

HANS = "hans"
HANT = "hant"
_TEXT_METHODS = ("send_text_message", "send_text_with_buttons", "send_quick_replies")


@cache
def _converter(config: str) -> Any:
    import opencc

    return opencc.OpenCC(config)


def to_traditional(text: str) -> str:
    """``text`` in traditional characters (OpenCC ``s2t``); already-traditional text is unchanged."""
    return _converter("s2t").convert(text) if text else text


def to_simplified(text: str) -> str:
    """``text`` in simplified characters (OpenCC ``t2s``)."""
    return _converter("t2s").convert(text) if text else text


def is_traditional(text: str | None) -> bool:
    """True when ``text`` is written in traditional characters (see the module contract)."""
    if not text:
        return False
    return to_simplified(text) != text and to_traditional(text) == text


def wanted_script(text: str | None, metadata: Any = None) -> str:
    """``"hant"`` or ``"hans"`` for the answer to ``text``, given the message's metadata."""
    web = metadata.get("web") if isinstance(metadata, dict) else None
    choice = web.get("script") if isinstance(web, dict) else None
    if choice in (HANS, HANT):
        return choice
    return HANT if is_traditional(text) else HANS


def _convert_buttons(buttons: Any) -> Any:
    if not isinstance(buttons, list):
        return buttons
    out = []
    for button in buttons:
        if isinstance(button, dict) and isinstance(button.get("title"), str):
            # why: the payload goes back to Rasa as it is; only what the resident reads changes.
            button = {**button, "title": to_traditional(button["title"])}
        out.append(button)
    return out


def convert_output(output: Any) -> Any:
    """Make ``output`` (a Rasa ``OutputChannel``) send traditional text; returns it.

    The instance's text-sending methods are wrapped in place, so the object keeps its class (Rasa
    and our channels check ``isinstance(..., CollectingOutputChannel)`` and call ``name()`` to pick
    ``channel:`` response variations). A method that calls another one converts only once.
    """
    if output is None or getattr(output, "_script_converted", False):
        return output
    depth = [0]

    def wrap(original: Callable[..., Awaitable[Any]], name: str) -> Callable[..., Awaitable[Any]]:
        async def method(recipient_id: str, text: Any = None, *args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return await original(recipient_id, text, *args, **kwargs)
            depth[0] += 1
            try:
                if isinstance(text, str):
                    text = to_traditional(text)
                if args:
                    args = (_convert_buttons(args[0]), *args[1:])
                for key in ("buttons", "quick_replies"):
                    if key in kwargs:
                        kwargs[key] = _convert_buttons(kwargs[key])
                return await original(recipient_id, text, *args, **kwargs)
            finally:
                depth[0] -= 1

        method.__name__ = name
        return method

    for name in _TEXT_METHODS:
        original = getattr(output, name, None)
        if original is not None:
            setattr(output, name, wrap(original, name))
    output._script_converted = True
    return output
