"""What a resident's message asks: kind, facet, places, periods and parts. Pure text rules, no Rasa.

Contracts:
- :func:`analyse` never raises and does no I/O beyond the gazetteer's first load.
- ``kind`` is one of ``KINDS``; rules are tried in a fixed order (see ``_KIND_RULES``), so
  "失业金要准备什么材料" is ``howto`` (材料) although it also holds 什么, and "能领多少钱" is ``amount``.
- ``facet`` names what about the subject is asked (``use``, ``fee``, ``conditions``, ``time``, ``place``,
  ``procedure``, ``amount``, ``phone``) with ``facet_terms``: words a statement that answers it would use.
- ``parts`` splits a message that asks several numbered or separate questions; a single question is one part.
- ``regions`` are canonical (深圳/上海/全国) or a place the sources do not cover, as written (浏阳市);
  ``districts`` are Shenzhen/Shanghai districts named (宝安区), which the sources only cover city-wide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from knowledge.gazetteer import places_in
from knowledge.normalise import regions_in
from knowledge.vocabulary import COVERED_CITIES, COVERED_REGIONS

KINDS = (
    "figure", "what", "whether", "howto", "amount", "eligibility", "where", "when", "hotline", "compare",
    "verify", "general",
)
# kinds whose answer the plans rarely hold: procedures, money, conditions, places, times, phone numbers
SERVICE_KINDS = frozenset({"howto", "amount", "eligibility", "where", "when", "hotline"})

_KIND_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("verify", re.compile(r"出处|出處|来源是|來源是|依据|依據|哪里说的|哪裡說的|哪份文件|你确定|你確定|以哪个为准|以哪個為準")),  # noqa: E501
    ("hotline", re.compile(r"电话|電話|热线|熱線|12333|打几号|打幾號|联系方式|聯繫方式|聯絡")),
    ("where", re.compile(r"在哪|去哪|什么区|什麼區|哪个区|哪個區|什么地方|什麼地方|哪个地方|哪個地方|哪里办|哪裡辦|哪儿|哪兒|地址|地点|地點|位置|喺邊|喺边|邊度|边度|哪个窗口|哪個窗口|哪个部门|哪個部門|找谁|找誰")),  # noqa: E501
    ("eligibility", re.compile(
        r"条件|條件|门槛|門檻|(?<!职业)(?<!職業)资格(?!证|證)|(?<!职业)(?<!職業)資格(?!证|證)|符合|哪些人|什么人|什麼人|谁可以|誰可以|能不能(?:领|領|申请|申請|办|辦|享受|参加|參加|交|买|買)|"
        r"可以(?:领|領|申请|申請|享受)(?:吗|嗎|不)|能否(?:领|領|申请|申請|享受)|够不够|夠不夠|算不算|有没有资格|有冇資格")),
    ("amount", re.compile(
        r"多少钱|多少錢|几多钱|幾多錢|(?<!职业)(?<!技能)(?<!服务)标准|標準|利息|利率|贴息|貼息|(?:领|領|拿|发|發|补|補)[^，。]{0,3}几个月|"
        r"(?:领|領|拿|发|發|补|補)[^，。]{0,3}幾個月|补贴多少|補貼多少|补多少|補多少|标准是多少|標準是多少|额度|額度|金额|金額|"
        r"领多少|領多少|領幾多|领几多|能拿多少|拿多少|攞幾多|贷多少|貸多少|能贷|最多贷|交多少|缴多少|繳多少|赔多少|賠多少|"
        r"待遇标准|待遇是多少|(?:发|發|给|給)多少(?![家本人个個项項万萬次名所])|费用|費用|一个月多少|每月多少|每个月多少")),
    ("when", re.compile(
        r"多久|几天|幾天|多长时间|多長時間|多长|多長|几年一次|幾年一次|时效|時效|时限|時限|什么时候|什麼時候|几时|幾時|何时|何時|期限|哪天|几号|幾號|几月|幾月|"
        r"几点|幾點|营业时间|營業時間|办公时间|辦公時間|截止|到账|到賬|多耐|幾耐")),
    ("howto", re.compile(
        r"怎么办|怎麼辦|如何|流程|步骤|步驟|怎样|怎樣|點樣|点样|點算|点算|點搞|点搞|點辦|材料|手续|手續|怎么|怎麼|咋|点办|點辦|补办|補辦|挂失|掛失|"
        r"激活|需要准备|需要什么|需要啥|要带|要帶|how to|how do|how can|"
        # why: these verbs name a procedure only when the message asks no figure ("有多少个项目报名" counts).
        r"^(?!.*(?:多少|几个|幾個|百分之|比例|目标|目標|人数|人數)).*(?:办理|辦理|申领|申領|申请|申請|报名|報名|领取|領取)")),  # noqa: E501
    ("what", re.compile(
        r"什么是|什麼是|是什么|是什麼|是啥|啥是|干嘛|幹嘛|做什么|做什麼|干什么|幹什麼|干什么用|有什么用|有什麼用|有啥用|用途|作用|功能|指什么|指的是|含义|含義|"
        r"意思|係乜|系乜|咩嚟|乜嘢|what is|what are|包括哪些|有哪些|有什么|有什麼|有啥|什么内容|哪几|哪幾")),
    ("whether", re.compile(
        r"吗[？?。！!\s]*$|嗎[？?。！!\s]*$|是否|有没有|有沒有|有冇|能否|可不可以|可唔可以|能不能|会不会|會不會|收不收|要不要|"
        r"免不免费|免費嗎|收费吗|收費嗎|算不算|是不是|係咪|系咪")),
    ("figure", re.compile(
        r"多少|几个|幾個|几多|幾多|比例|目标|目標|人数|人數|几成|幾成|百分之|排名|增长|增長|规模|規模|几家|幾家|几项|幾項|多大")),
)

# facet -> (cue in the question, words an answering statement uses)
_FACETS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("use", re.compile(r"干嘛|幹嘛|有什么用|有什麼用|有啥用|用途|作用|功能|能用来|能拿来|可以用来|用來|能做什么|可以做什么"),  # noqa: E501
     ("功能", "应用", "用于", "一卡通", "服务", "支付", "结算", "认证")),
    ("fee", re.compile(r"收费|收費|收不收|要钱|要錢|免费|免費|付费|付費|花钱|花錢|费用|費用|自费|自費"),
     ("免费", "收费", "费用", "补贴", "六免")),
    ("conditions", re.compile(r"条件|條件|门槛|門檻|(?<!职业)(?<!職業)资格(?!证|證)|(?<!职业)(?<!職業)資格(?!证|證)|符合|哪些人|什么人|谁可以|誰可以|对象|對象"),  # noqa: E501
     ("对象", "人员", "条件", "符合", "群体", "纳入")),
    ("time", re.compile(r"多久|几天|幾天|多长时间|多長時間|时限|時限|什么时候|什麼時候|何时|何時|期限|哪天|几号|截止|秒批|即时|即時"),  # noqa: E501
     ("秒批", "即时", "时限", "快立", "快审", "截止", "工作日", "压缩")),
    ("place", re.compile(r"在哪|去哪|哪里|哪裡|地址|地点|地點|网点|網點|窗口|附近"),
     ("网点", "窗口", "服务站", "驿站", "服务圈", "银行", "终端", "大厅")),
    ("procedure", re.compile(r"怎么|怎麼|如何|流程|步骤|材料|手续|手續|办理|辦理|申请|申請|參加|参加|参保|參保"),
     ("办理", "申请", "参加", "参保", "流程", "经办", "网上", "登记")),
    ("amount", re.compile(r"多少钱|多少錢|标准|標準|额度|額度|金额|金額|补贴|補貼|待遇"),
     ("标准", "补贴", "待遇", "元", "额度", "提高")),
    ("phone", re.compile(r"电话|電話|热线|熱線|12333|联系"), ("电话", "热线", "联系")),
)

# why: "1. … 2. …", "一是…二是…", "第一…第二…" and several question marks are separate questions.
_NUMBERED = re.compile(r"(?:^|[\s，,。；;：:？?！!])(?:[1-9][.．、)）]|[（(][1-9][)）]|[一二三四五六][是、]|第[一二三四五六][，,、个個点點是])")  # noqa: E501
_QUESTION_END = re.compile(r"(?<=[？?])")
_PERIODS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("13th", re.compile(r"十三五|“十三五”|2016|2017|2018|2019")),
    ("14th", re.compile(r"十四五|“十四五”")),
    ("2020", re.compile(r"2020")),
    ("2024", re.compile(r"2024")),
    ("2025", re.compile(r"2025|到期末")),
    ("last_year", re.compile(r"去年|上一年|舊年|旧年")),
)
# why: the sources report 2015-2020 (十三五), 2024 and targets for 2025 and 2035; any other year has no figure.
_YEAR = re.compile(r"(?<!\d)(20[0-4]\d)(?:年|(?=\D|$))")
_SOURCE_YEARS = frozenset({"2015", "2016", "2017", "2018", "2019", "2020", "2024", "2025", "2035"})
_COMPARE_CUE = re.compile(r"对比|對比|比较|比較|相比|区别|區別|分别|分別|各是|各有|各自|哪个多|哪個多|哪个高|谁多|vs|VS|和.{1,6}比")  # noqa: E501


@dataclass(frozen=True)
class Analysis:
    """The parts of a resident's message that decide the shape of the answer."""

    text: str
    kind: str
    facet: str | None = None
    facet_terms: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    periods: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    missing_years: tuple[str, ...] = ()  # years asked that no source speaks of (2021, 2022 …)

    @property
    def is_service(self) -> bool:
        return self.kind in SERVICE_KINDS

    @property
    def covered_regions(self) -> tuple[str, ...]:
        return tuple(r for r in self.regions if r in COVERED_REGIONS)

    @property
    def uncovered_places(self) -> tuple[str, ...]:
        return tuple(r for r in self.regions if r not in COVERED_REGIONS)


def question_kind(text: str) -> str:
    """The first rule of ``_KIND_RULES`` that matches, else ``general``."""
    value = unicodedata.normalize("NFKC", text or "").lower()
    # why: "怎么样" asks how things stand (a figure or a summary), not how to do something.
    value = value.replace("怎么样", "").replace("怎麼樣", "")
    for kind, rule in _KIND_RULES:
        if rule.search(value):
            return kind
    return "general"


def split_parts(text: str) -> tuple[str, ...]:
    """Separate questions of one message (numbered items, or several sentences ending in ？)."""
    value = (text or "").strip()
    if not value:
        return ()
    marks = list(_NUMBERED.finditer(value))
    if len(marks) >= 2:
        pieces = []
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(value)
            piece = value[mark.end() : end].strip(" ，,。；;")
            if len(piece) >= 4:
                pieces.append(piece)
        if len(pieces) >= 2:
            return tuple(pieces)
    questions = [q.strip(" ，,。；;") for q in _QUESTION_END.split(value) if len(q.strip(" ，,。；;？?")) >= 5]
    if len(questions) >= 2:
        return tuple(questions)
    return (value,)


def analyse(text: str) -> Analysis:
    """Kind, facet, places, periods and parts of ``text`` (see the module contract)."""
    value = unicodedata.normalize("NFKC", text or "")
    regions = tuple(regions_in(value))
    districts = tuple(
        p.written for p in places_in(value) if p.covered and p.level == "county" and p.written not in COVERED_CITIES
    )
    kind = question_kind(value)
    covered = [r for r in regions if r in COVERED_REGIONS]
    if kind not in ("verify",) and len(covered) >= 2 and (_COMPARE_CUE.search(value) or kind in ("figure", "general")):
        kind = "compare"
    facet, terms = None, ()
    for name, cue, words in _FACETS:
        if cue.search(value):
            facet, terms = name, words
            break
    periods = tuple(name for name, rule in _PERIODS if rule.search(value))
    years = tuple(dict.fromkeys(y for y in _YEAR.findall(value) if y not in _SOURCE_YEARS))
    return Analysis(
        text=value,
        kind=kind,
        facet=facet,
        facet_terms=terms,
        regions=regions,
        districts=districts,
        periods=periods,
        parts=split_parts(value),
        missing_years=years,
    )
