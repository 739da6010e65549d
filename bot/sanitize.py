"""Input hygiene shared by every channel.

Contract: ``clean_user_text`` is applied to every resident message before Rasa
(and therefore the tracker store and the logs) sees it. It

* masks mainland ID-card, mobile-phone and bank-card numbers (``[身份证号]``,
  ``[手机号]``, ``[银行卡号]``), so they are never echoed or stored unmasked;
* neutralises a leading ``/`` so that ``/intent{...}`` typed by a user is plain
  text and cannot steer the bot (Rasa treats ``/`` as an intent trigger);
* strips control characters and cuts the text to ``MAX_CHARS``;
* repairs invalid Unicode (:func:`repair_text`: a lone surrogate such as ``"\\ud800"``, which JSON
  allows but UTF-8 cannot encode, becomes U+FFFD), so a stored message can always be shown again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

MAX_CHARS = 500

ID_CARD_MASK = "[身份证号]"
PHONE_MASK = "[手机号]"
BANK_CARD_MASK = "[银行卡号]"
MASKS = (ID_CARD_MASK, PHONE_MASK, BANK_CARD_MASK)

# why: digits may be full-width or separated by spaces/dashes when typed on a phone;
# we normalise with NFKC first, then match runs that allow single separators.
_SEP = r"[ \-]?"
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}" + _SEP + r"(?:18|19|20)\d{2}" + _SEP + r"(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12]\d|3[01])" + _SEP + r"\d{3}[0-9Xx](?![0-9A-Za-z])"
)
# 15-digit first-generation ID cards.
_ID_CARD_15 = re.compile(r"(?<!\d)[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}(?!\d)")
# why: bank cards are 16-19 digits, often typed in groups of four.
_BANK_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){15,18}\d(?!\d)")
# why: "？？？？？？" or a wall of emoji adds nothing but confuses the classifier; keep one.
_REPEATS = re.compile(r"([^\w\s])\1{2,}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# why: residents also type numbers with dots, underscores, several spaces, one digit per space or a
# +86 / 0086 prefix, which the patterns above miss. A span of digits joined by up to three such
# separators is read as its digits alone and classified (:func:`_kind_of_digits`).
_SPAN_SEP = r"[\s\-._·/()]{0,3}"
_SPAN = re.compile(r"(?<!\d)(?:\+\s?)?\d(?:" + _SPAN_SEP + r"\d){6,}(?:" + _SPAN_SEP + r"[Xx])?(?![\dA-Za-z])")
_LEADING_SPAN = re.compile(r"^\s*(\d(?:" + _SPAN_SEP + r"\d)*(?:" + _SPAN_SEP + r"[Xx])?)(?![\dA-Za-z])")
_TRAILING_SPAN = re.compile(r"(?<![\dA-Za-z])(\d(?:" + _SPAN_SEP + r"\d)*)\s*$")
_DIGITS_PHONE = re.compile(r"1[3-9]\d{9}")
_DIGITS_ID = re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]")
_DIGITS_ID_15 = re.compile(r"[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")
_YEAR_LIST = re.compile(r"(?:(?:19|20)\d\d[\s\-._/]+)+(?:19|20)\d\d")
_KIND_MASK = {"id_card": ID_CARD_MASK, "phone": PHONE_MASK, "bank_card": BANK_CARD_MASK}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")


@dataclass(frozen=True)
class Cleaned:
    """Result of :func:`clean_user_text`."""

    text: str
    pii_kinds: tuple[str, ...] = ()
    truncated: bool = False
    neutralised_command: bool = False

    @property
    def has_pii(self) -> bool:
        return bool(self.pii_kinds)


def repair_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (always UTF-8 encodable)."""
    # why: one "\ud800" stored by a channel made every page that showed it fail with a 500.
    return _SURROGATE.sub("\ufffd", text)


def _digits(span: str) -> str:
    return "".join(ch for ch in span if ch.isdigit()) + ("X" if span.rstrip()[-1:] in "Xx" else "")


def _kind_of_digits(digits: str) -> str | None:
    """``id_card`` / ``phone`` / ``bank_card`` for a number written as bare digits, else None."""
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and _DIGITS_PHONE.fullmatch(digits[len(prefix):]):
            return "phone"
    if _DIGITS_PHONE.fullmatch(digits):
        return "phone"
    if _DIGITS_ID.fullmatch(digits) or _DIGITS_ID_15.fullmatch(digits):
        return "id_card"
    if digits.isdigit() and 16 <= len(digits) <= 19:
        return "bank_card"
    if len(digits) > 19:  # several numbers run together: mask the lot when one of them is personal
        for pattern, kind in ((_DIGITS_ID, "id_card"), (_DIGITS_PHONE, "phone")):
            if pattern.search(digits):
                return kind
        return "bank_card"
    return None


def _mask_spans(text: str, kinds: list[str]) -> str:
    def replace(match: re.Match) -> str:
        if _YEAR_LIST.fullmatch(match.group(0)):  # why: "2021 2022 2023 2024" is a list of years
            return match.group(0)
        kind = _kind_of_digits(_digits(match.group(0)))
        if kind is None:
            return match.group(0)
        if kind not in kinds:
            kinds.append(kind)
        return _KIND_MASK[kind]

    return _SPAN.sub(replace, text)


def mask_continuation(previous_tail: str, text: str) -> tuple[str, tuple[str, ...], str]:
    """Mask the start of ``text`` when it completes a number begun at the end of the previous message.

    ``previous_tail`` is what this function returned for the previous message of the conversation
    (digits only, at most 19). Returns the text (leading fragment masked when the joined digits are an
    ID, phone or bank-card number), the kinds found and the tail to carry to the next message.
    """
    normalised = unicodedata.normalize("NFKC", repair_text(text))
    lead = _LEADING_SPAN.match(normalised)
    kinds: tuple[str, ...] = ()
    if previous_tail and lead:
        head = _digits(lead.group(1))
        joined = _kind_of_digits(previous_tail + head)
        if joined and not _kind_of_digits(head):
            kinds = (joined,)
            text = normalised[: lead.start(1)] + _KIND_MASK[joined] + normalised[lead.end(1):]
            normalised = text
    if lead and lead.end() == len(normalised.rstrip()) and not kinds:
        tail = previous_tail + _digits(lead.group(1))  # the whole message is a fragment: keep joining
    else:
        trailing = _TRAILING_SPAN.search(normalised)
        tail = _digits(trailing.group(1)) if trailing else ""
    return text, kinds, tail[-19:]


def mask_pii(text: str) -> tuple[str, tuple[str, ...]]:
    """Replace ID-card, phone and bank-card numbers; return the text and the kinds found.

    The text is repaired first (:func:`repair_text`), so every reader that masks also survives bad rows.
    """
    text = repair_text(text)
    kinds: list[str] = []
    normalised = unicodedata.normalize("NFKC", text)
    for pattern, mask, kind in (
        (_ID_CARD, ID_CARD_MASK, "id_card"),
        (_ID_CARD_15, ID_CARD_MASK, "id_card"),
        (_PHONE, PHONE_MASK, "phone"),
        (_BANK_CARD, BANK_CARD_MASK, "bank_card"),
    ):
        normalised, count = pattern.subn(mask, normalised)
        if count and kind not in kinds:
            kinds.append(kind)
    normalised = _mask_spans(normalised, kinds)
    if not kinds:
        # why: keep the resident's own characters (full-width etc.) when nothing was masked.
        return text, ()
    return normalised, tuple(kinds)


def masked(value: object, collapse: bool = True) -> str:
    """``value`` as text to show or store: personal numbers masked (:func:`mask_pii`), runs of whitespace
    collapsed to one space unless ``collapse`` is False, ``None`` as ``""``. The one masker of the
    console's pages, inbox and hand-off queue."""
    text = "" if value is None else str(value)
    return mask_pii(" ".join(text.split()) if collapse else text)[0]


def contains_pii(text: str) -> bool:
    """True when the text still holds something that looks like an ID, phone or bank-card number."""
    return bool(mask_pii(text)[1])


def clean_user_text(text: object, max_chars: int = MAX_CHARS) -> Cleaned:
    """Make a resident's message safe to hand to Rasa (see the module docstring)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = _REPEATS.sub(r"\1", _CONTROL.sub("", repair_text(text))).strip()
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars]
    text, kinds = mask_pii(text)
    neutralised = False
    # why: Rasa parses messages starting with "/" as `/intent{entities}`; a full-width
    # slash keeps what the resident typed readable but makes it ordinary text.
    stripped = text.lstrip()
    if stripped.startswith("/"):
        text = "／" + stripped[1:]
        neutralised = True
    return Cleaned(text=text, pii_kinds=kinds, truncated=truncated, neutralised_command=neutralised)


# why: a conversation id may itself be personal data (some integrations use the phone number);
# it is stored as a keyed hash instead, so the tracker store never holds the number.
SENDER_KEY_ENV = "PII_HASH_KEY"


def safe_sender_id(sender_id: str, key: str | None = None) -> str:
    """``sender_id`` unchanged, or ``pii-<hmac>`` when it contains an ID, phone or bank-card number.

    The key comes from ``PII_HASH_KEY`` (:func:`bot.sessions.pii_hash_key`), so the same resident keeps
    the same conversation and a data-subject export can find it from the raw id.
    """
    if not contains_pii(sender_id):
        return sender_id
    from bot.sessions import pii_hash_key

    key = key if key is not None else pii_hash_key()
    digest = hmac.new(key.encode("utf-8"), sender_id.encode("utf-8"), hashlib.sha256).digest()
    # why: base32 has no 0, 1, 8 or 9, so the pseudonym itself can never look like a number we mask.
    return "pii-" + base64.b32encode(digest[:20]).decode("ascii").lower()
