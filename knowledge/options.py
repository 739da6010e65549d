"""The one reader of a resident's choice among numbered options (design.md, "Conversation state").

Contract: :data:`OPTION` matches a message that is nothing but a choice (``2``, ``②``, ``第二个``, ``选3``,
``最后一个``, ``the second one``): ``bot.nlu.components.IntentGuard`` makes it ``select_option`` before the
model guesses. :func:`parse_option` says which option (1-based) a text picks, given how many were
offered; ``actions.answer`` reads the choice with it. Both live here so that the forms they accept
stay the same. Pure functions, no I/O.
"""

from __future__ import annotations

import re

# why: a bare option number (2, ②, 第二个, 选3, 最后一个, the second one) is always the choice of a numbered
# option; a model should not guess it. parse_option reads the same forms.
OPTION = re.compile(
    r"^\s*(?:(?:我|就|那|那就)?(?:选|選|揀|拣|要|係|是|点|點)?\s*(?:上面|上边|上邊|上面说的|上面說的)?\s*"
    r"(?:选项|選項|option|number|no\.?)?\s*"
    r"(?:[1-9一二两兩三四五]\s*(?:号|號|个|個)?|[①②③④⑤]|(?:倒数|倒數)?第\s*(?:十|[1-9一二两兩三四五六七八九])\s*(?:个|個|項|项|条|條|号|號|种|種|件)?|"
    r"(?:最后|最後|最尾|中间|中間)(?:一|嗰|那)?(?:个|個|项|項|条|條|种|種|件)?|"
    r"(?:option|number|no\.?)\s*[1-9]|(?:the\s+)?(?:first|second|third|fourth|fifth|last|1st|2nd|3rd|4th|5th)"
    r"(?:\s+(?:one|option))?)"
    r"\s*(?:选项|選項|option)?\s*(?:吧|啦|喇|呀|啊|嘅|的|呢|那个|那個|嗰個|个|個|就得|就好|就行|就可以)?\s*[.。．!！?？]?)\s*$",
    re.I,
)

_OPTION_WORDS = {"一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
                 "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_CIRCLED = {"①": 1, "②": 2, "③": 3, "④": 4, "⑤": 5}
_ENGLISH_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
                     "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5}


def parse_option(text: str, count: int | None = None) -> int | None:
    """A resident's choice of a numbered option, 1-based, or None.

    Reads "2", "②", "第二个", "第三件", "第十条",
    "选3", "2号", "选项2", "上面第一个", "the second one", and, when ``count`` (how many
    options were offered) is known, "最后一个", "倒数第二个" and "中间那个" (only for an odd count).
    :data:`OPTION` (what ``bot.nlu.components.IntentGuard`` routes to ``select_option``) accepts the same forms.
    """
    text = (text or "").strip().lower()
    for char, number in _CIRCLED.items():
        if char in text:
            return number
    if re.fullmatch(r"[^0-9]*[0-9]{2,}.*", text) or len(text) > 16:
        return None
    # why: "第三件" / "第十件" pick from the 2024 list of ten events as "第二个" picks from three buttons.
    match = re.search(r"(倒数|倒數)?第\s*(十|[1-9一二两兩三四五六七八九])(?![0-9十])", text)
    if match:
        number = _ordinal(match.group(2))
        if match.group(1):
            return count - number + 1 if count and number <= count else None
        return number
    # why: one digit among a few option words ("要2號", "option 2"); "3金1银" holds two numbers and is no choice.
    match = re.fullmatch(r"\D{0,8}?([1-9])\D{0,6}", text)
    if match:
        return int(match.group(1))
    match = re.search(r"\b(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th)\b", text)
    if match:
        return _ENGLISH_ORDINALS[match.group(1)]
    if re.search(r"最后|最後|最尾|\blast\b", text):
        return count or None
    if re.search(r"中间|中間|middle", text):
        return (count + 1) // 2 if count and count % 2 == 1 else None
    match = re.fullmatch(r"\D{0,6}?([一二两兩三四五])\s*(?:号|號|个|個|项|項)?\D{0,4}", text)
    if match:
        return _ordinal(match.group(1))
    return None


def _ordinal(token: str) -> int:
    return int(token) if token.isdigit() else _OPTION_WORDS[token]
