"""Pure text rules used on every chatbot message: region names and question kinds.

Contracts:
- ``normalise_region(text)`` maps an entity value or a short phrase to ``深圳`` / ``上海`` / ``全国``,
  to another city's own simplified name (which means "not covered by the sources"), or ``None``.
  It matches the whole value (after trimming 市/省/的/whitespace/punctuation), never a substring of a
  longer sentence: ``深`` alone is 深圳, but ``深化`` is not.
- ``question_kind(text)`` applies keyword rules in a fixed order (howto, amount, eligibility,
  address, hotline, time, figure) and returns ``general`` when none matches.
"""

from __future__ import annotations

import re
import unicodedata

from knowledge.gazetteer import places_in
from knowledge.vocabulary import OTHER_CITIES as _OTHER_CITIES
from knowledge.vocabulary import REGION_ALIASES as _REGION_ALIASES


def _build_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, aliases in _REGION_ALIASES.items():
        for alias in (canonical,) + aliases:
            table[alias.lower()] = canonical
    for city, aliases in _OTHER_CITIES.items():
        for alias in (city,) + aliases:
            table.setdefault(alias.lower(), city)
    return table


_REGION_TABLE = _build_table()  # pure data, no I/O
_TRIM_RE = re.compile(r"[\s\u3000，。,.!！?？、：:；;“”\"'（）()]+")
_SUFFIXES = ("特别行政区", "特別行政區", "地区", "地區", "的", "市", "省")


def normalise_region(text: str | None) -> str | None:
    """``鹏城``/``SZ``/``深`` → 深圳, ``沪``/``申城`` → 上海, ``国家`` → 全国, ``廣州`` → 广州, else None."""
    if not text:
        return None
    value = _TRIM_RE.sub("", unicodedata.normalize("NFKC", text)).lower()
    if not value:
        return None
    for _ in range(2):
        if value in _REGION_TABLE:
            return _REGION_TABLE[value]
        for suffix in _SUFFIXES:
            if value.endswith(suffix) and len(value) > len(suffix):
                value = value[: -len(suffix)]
                break
    if value in _REGION_TABLE:
        return _REGION_TABLE[value]
    spaced = value.replace(" ", "")
    return _REGION_TABLE.get(spaced)


# (kind, keywords) in priority order: the first rule with a matching keyword wins.
QUESTION_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # why: eligibility first -- "申请条件" is about who qualifies, not how to apply.
    (
        "eligibility",
        ("条件", "條件", "资格", "資格", "能不能", "可以申请吗", "可以申請嗎", "符合", "能否申请"),
    ),
    (
        "time",
        (
            "多久", "几天", "幾天", "时限", "時限", "什么时候", "什麼時候", "几时", "幾時", "期限",
            "几点", "幾點", "开门", "開門", "营业时间", "營業時間", "办公时间", "辦公時間",
        ),
    ),
    (
        "howto",
        (
            "怎么办",
            "如何",
            "流程",
            "步骤",
            "怎样",
            "點樣",
            "点样",
            "材料",
            "怎么申请",
            "怎么办理",
            "怎麼辦",
            "手续",
            "手續",
            "怎么",
            "怎麼",
            "咋",
            "点办",
            "點辦",
            "办理",
            "辦理",
            "申领",
            "申領",
            "申请",
            "申請",
            "补办",
            "補辦",
            "挂失",
            "掛失",
            "激活",
            "报名",
            "報名",
            "领取",
            "領取",
            "去哪办",
            "how to",
        ),
    ),
    (
        "amount",
        (
            "多少钱",
            "多少錢",
            "补贴多少",
            "補貼多少",
            "标准是多少",
            "標準是多少",
            "额度",
            "額度",
            "金额",
            "金額",
            "几多钱",
            "幾多錢",
            "领多少",
            "領多少",
            "領幾多",
            "领几多",
            "能拿多少",
            "拿多少",
            "补多少",
            "補多少",
            "贷多少",
            "貸多少",
            "能贷",
            "最多贷",
            "待遇标准",
            "待遇是多少",
        ),
    ),
    ("address", ("地址", "在哪", "喺邊", "喺边", "哪里", "哪裡", "哪兒", "哪儿", "位置")),
    ("hotline", ("电话", "電話", "热线", "熱線", "12333", "打几号", "打幾號", "联系方式", "聯繫方式")),
    (
        "figure",
        ("多少", "几个", "幾個", "几多", "幾多", "比例", "目标", "目標", "人数", "人數", "几成", "百分之"),
    ),
)


def question_kind(text: str | None) -> str:
    """One of ``figure howto amount eligibility address hotline time general`` (see QUESTION_RULES)."""
    if not text:
        return "general"
    value = unicodedata.normalize("NFKC", text).lower()
    # why: "怎么样" asks how things stand (a figure or a summary), not how to do something.
    value = value.replace("怎么样", "").replace("怎麼樣", "")
    for kind, keywords in QUESTION_RULES:
        if any(k in value for k in keywords):
            return kind
    return "general"


# why: aliases that are too short or too common to find inside running text ("深" in 深化,
# "国家" in 国家级, "中国" in 中国深圳创新创业大赛) are only used for entity values, not for scanning.
_SCAN_EXCLUDE = {"深", "京", "穗", "莞", "蓉", "渝", "中国", "中國", "china", "国家级", "國家級"}
_SCAN_ALIASES = sorted(
    (a for a in _REGION_TABLE if a not in _SCAN_EXCLUDE and (len(a) >= 2 or a in {"沪", "滬"})),
    key=len,
    reverse=True,
)
_ASCII_ALIAS = re.compile(r"[a-z' ]+")


def regions_in(text: str | None) -> list[str]:
    """Regions named in running text, canonical, most specific first.

    深圳 and 上海 come before 全国 (a Shenzhen question may mention 国家); cities the sources do not
    cover come last, so callers can tell "广州" (not covered) from "深圳 and 香港 youth".
    """
    if not text:
        return []
    value = unicodedata.normalize("NFKC", text).lower().replace("国家级", "").replace("國家級", "")
    found: list[tuple[int, str]] = []
    # why: 200 aliases scanned one by one were the action server's hottest line (py-spy, issue 20); only those
    # whose first two characters occur in the text can match, and the length order is kept.
    heads = {value[i : i + 2] for i in range(len(value) - 1)} | set(value)
    for alias in _SCAN_ALIASES:
        if alias[:2] not in heads:
            continue
        if _ASCII_ALIAS.fullmatch(alias):
            match = re.search(rf"(?<![a-z]){re.escape(alias)}(?![a-z])", value)
            position = match.start() if match else -1
        else:
            position = value.find(alias)
        if position >= 0:
            found.append((position, _REGION_TABLE[alias]))
            value = value.replace(alias, " " * len(alias))
    # why: counties, districts and provinces come from the national table (knowledge.gazetteer): a Shenzhen
    # district is Shenzhen, 浏阳市 or 广东省 is a place the sources do not cover.
    known_short = {r for _, r in found}
    for place in places_in(text):
        if place.covered:
            found.append((value.find(place.name[:2]) if place.name[:2] in value else len(value), place.covered))
            continue
        name = place.written if place.level == "county" else place.name
        short = name
        for suffix in ("特别行政区", "市"):
            if place.level != "county" and short.endswith(suffix) and len(short) > len(suffix) + 1:
                short = short[: -len(suffix)]
                break
        if short not in known_short and place.name not in known_short:
            position = text.find(place.written or place.name)
            found.append((position if position >= 0 else len(text), short))
            known_short.add(short)
    ordered = [region for _, region in sorted(found)]
    unique = list(dict.fromkeys(ordered))
    rank = {"深圳": 0, "上海": 0, "全国": 1}
    return sorted(unique, key=lambda r: rank.get(r, 2))


def region_aliases() -> list[str]:
    """Every spelling of every region and city the normaliser knows (lower-cased)."""
    return list(_REGION_TABLE)

