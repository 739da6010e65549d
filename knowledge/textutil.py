"""Small text helpers shared by ingestion, verification, search and the service.

Contracts:
- ``squash(text)`` removes ALL whitespace (incl. U+3000 and NBSP) and the ``**`` bold markers some
  plain-text sources carry; quotes are compared with it on both sides.
- ``number_tokens(text)`` returns the digit sequences of ``text`` (``"2287.95"``, ``"113"``), after
  NFKC so full-width digits count; ``normalise_number`` gives the canonical spelling used by
  ``known_numbers()``.
"""

from __future__ import annotations

import re
import unicodedata

from knowledge.vocabulary import PERIOD_LABELS

_WS_RE = re.compile(r"\s+")
_NUMBER_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def squash(text: str) -> str:
    """``text`` without any whitespace and without markdown ``**`` markers."""
    return _WS_RE.sub("", text).replace("**", "")


def number_tokens(text: str) -> list[str]:
    """Digit sequences in ``text`` as written (after NFKC), e.g. ``["2024", "5"]`` for ``2024年5月``."""
    return [m.group(0).replace(",", "") for m in _NUMBER_RE.finditer(unicodedata.normalize("NFKC", text))]


def normalise_number(token: str) -> str:
    """Canonical spelling of a number token: no thousands separators, no leading zeros in the
    integer part (kept for a lone ``0``), no trailing zeros after the decimal point."""
    token = unicodedata.normalize("NFKC", token).replace(",", "")
    if "." in token:
        integer, _, frac = token.partition(".")
        frac = frac.rstrip("0")
        integer = integer.lstrip("0") or "0"
        return f"{integer}.{frac}" if frac else integer
    return token.lstrip("0") or "0"


def number_forms(text: str) -> set[str]:
    """Every number in ``text`` both as written and normalised (``"20.0"`` → ``{"20.0", "20"}``)."""
    out: set[str] = set()
    for tok in number_tokens(text):
        out.add(tok)
        out.add(normalise_number(tok))
    return out


def period_label(period: str) -> str:
    """Chinese label of a canonical period (``result_2019`` → ``2019年实绩``)."""
    if period in PERIOD_LABELS:
        return PERIOD_LABELS[period]
    m = re.match(r"^(result|target)_(\d{4})$", period)
    if m:
        return f"{m.group(2)}年{'实绩' if m.group(1) == 'result' else '目标'}"
    return ""


def render_display(value: str, unit: str, qualifier: str) -> str:
    """The figure as the bot says it: ``超3500台``, ``98%以上``, ``60万人以上``, ``约130亿元``."""
    body = f"{value}{unit}"
    if qualifier in ("超", "约", "不低于"):
        return f"{qualifier}{body}"
    return f"{body}{qualifier}"
