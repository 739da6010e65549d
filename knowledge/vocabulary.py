"""The vocabulary every part shares: covered regions, periods and synonyms (docs/design.md).

Contract: plain data, no I/O, no imports of our own; the one home of these values. ``knowledge``
(content checks, search, question analysis, planning, staff facts, the service), ``actions`` and the
WeChat channel import them from here instead of keeping copies. Changing a value here changes what
the whole bot understands: the content build, NLU entity values (data/nlu/entities.yml) and the
domain's slot values must agree with it.
"""

from __future__ import annotations

# --- regions -----------------------------------------------------------------------------------
# The regions the sources cover, cities first (a Shenzhen question may mention 国家). Any other place
# is kept as written and means "not covered by the sources".
COVERED_REGIONS = ("深圳", "上海", "全国")
COVERED_CITIES = COVERED_REGIONS[:2]

# canonical region -> spellings an entity value or a short phrase may use (knowledge.normalise)
REGION_ALIASES: dict[str, tuple[str, ...]] = {
    "深圳": ("深圳", "深", "鹏城", "鵬城", "sz", "shenzhen", "深圳市", "深圳特区", "深圳經濟特區"),
    "上海": ("上海", "沪", "滬", "申城", "sh", "shanghai", "上海市"),
    "全国": (
        "全国",
        "全國",
        "国家",
        "國家",
        "national",
        "nationwide",
        "china",
        "中国",
        "中國",
        "国务院",
        "國務院",
    ),
}

# other cities: simplified name -> extra spellings (traditional, English)
OTHER_CITIES: dict[str, tuple[str, ...]] = {
    "广州": ("廣州", "guangzhou", "穗", "羊城"),
    "北京": ("beijing", "京", "帝都"),
    "杭州": ("hangzhou",),
    "东莞": ("東莞", "dongguan", "莞"),
    "成都": ("chengdu", "蓉"),
    "武汉": ("武漢", "wuhan"),
    "香港": ("hongkong", "hong kong", "hk", "香港特区", "香港特別行政區", "香港特别行政区"),
    "澳门": ("澳門", "macau", "macao", "澳门特别行政区", "澳門特別行政區"),
    "台北": ("臺北", "taipei"),
    "天津": ("tianjin",),
    "重庆": ("重慶", "chongqing", "渝"),
    "南京": ("nanjing",),
    "苏州": ("蘇州", "suzhou"),
    "西安": ("xian", "xi'an"),
    "长沙": ("長沙", "changsha"),
    "郑州": ("鄭州", "zhengzhou"),
    "青岛": ("青島", "qingdao"),
    "厦门": ("廈門", "xiamen"),
    "宁波": ("寧波", "ningbo"),
    "无锡": ("無錫", "wuxi"),
    "合肥": ("hefei",),
    "福州": ("fuzhou",),
    "济南": ("濟南", "jinan"),
    "沈阳": ("瀋陽", "shenyang"),
    "大连": ("大連", "dalian"),
    "哈尔滨": ("哈爾濱", "harbin"),
    "长春": ("長春", "changchun"),
    "昆明": ("kunming",),
    "南宁": ("南寧", "nanning"),
    "贵阳": ("貴陽", "guiyang"),
    "海口": ("haikou",),
    "三亚": ("三亞", "sanya"),
    "南昌": ("nanchang",),
    "石家庄": ("石家莊", "shijiazhuang"),
    "太原": ("taiyuan",),
    "兰州": ("蘭州", "lanzhou"),
    "乌鲁木齐": ("烏魯木齊", "urumqi"),
    "拉萨": ("拉薩", "lhasa"),
    "呼和浩特": ("hohhot",),
    "银川": ("銀川", "yinchuan"),
    "西宁": ("西寧", "xining"),
    "佛山": ("foshan",),
    "珠海": ("zhuhai",),
    "惠州": ("huizhou",),
    "中山": ("zhongshan",),
    "江门": ("江門", "jiangmen"),
    "汕头": ("汕頭", "shantou"),
    "湛江": ("zhanjiang",),
    "肇庆": ("肇慶", "zhaoqing"),
    "清远": ("清遠", "qingyuan"),
    "韶关": ("韶關", "shaoguan"),
    "梅州": ("meizhou",),
    "潮州": ("chaozhou",),
    "揭阳": ("揭陽", "jieyang"),
    "茂名": ("maoming",),
    "阳江": ("陽江", "yangjiang"),
    "河源": ("heyuan",),
    "汕尾": ("shanwei",),
    "云浮": ("雲浮", "yunfu"),
    "温州": ("溫州", "wenzhou"),
    "南通": ("nantong",),
    "常州": ("changzhou",),
    "徐州": ("xuzhou",),
    "烟台": ("煙台", "yantai"),
    "洛阳": ("洛陽", "luoyang"),
}

# --- periods -----------------------------------------------------------------------------------
# Fact periods (the ``period`` field of knowledge/facts/*.yml; other years are result_<year>/target_<year>).
CANONICAL_PERIODS = (
    "base_2020",
    "result_13th",
    "target_2025",
    "total_2021_2025",
    "annual_target",
    "result_2024",
    "info",
    # why: the 专栏1 "2020年目标" column is the "十三五" plan's target (the content uses this name).
    "target_13th",
)

# fact period -> how the bot names it
PERIOD_LABELS = {
    "base_2020": "2020年基数",
    "result_13th": "“十三五”实绩",
    "target_2025": "2025年目标",
    "total_2021_2025": "“十四五”五年累计目标",
    "annual_target": "“十四五”期间每年目标",
    "result_2024": "2024年实绩",
    "info": "",
    "target_13th": "“十三五”规划目标",
}

TARGET_PERIODS = ("target_2025", "total_2021_2025", "annual_target")
RESULT_PERIODS = ("result_2024", "result_13th", "base_2020")

# NLU ``period`` entity value -> the fact periods that answer it, best first (actions.composer) ...
PERIOD_CODES: dict[str, tuple[str, ...]] = {
    "13th": ("result_13th", "base_2020"),
    "14th": TARGET_PERIODS,
    "2020": ("base_2020", "result_13th"),
    "2024": ("result_2024",),
    "2025": ("target_2025", "total_2021_2025"),
}
# ... and every fact period it matches when facts are filtered (knowledge.service): those answers plus
# the other figures of that time (the 十三五 plan's own targets, single years).
PERIOD_ENTITY_VALUES: dict[str, frozenset[str]] = {
    value: frozenset(PERIOD_CODES[value]) | extra
    for value, extra in {
        "13th": frozenset({"target_13th"} | {f"result_{y}" for y in range(2015, 2021)}),
        "14th": frozenset({f"result_{y}" for y in range(2021, 2026)}),
        "2020": frozenset({"result_2020", "target_13th"}),
        "2024": frozenset(),
        "2025": frozenset(),
    }.items()
}

# NLU ``period`` entity value -> how an answer names it
PERIOD_WORDS: dict[str, str] = {
    "13th": "“十三五”",
    "14th": "“十四五”",
    "2020": "2020年",
    "2024": "2024年",
    "2025": "2025年",
}

# --- synonyms ------------------------------------------------------------------------------------
# why: the sources and the citizens name the same thing differently (上海 writes 社会保障卡, people
# say 社保卡); search tokens are mapped to one spelling on both the index and the query side.
SYNONYMS = {
    "社会保障卡": "社保卡",
    "社会保险卡": "社保卡",
    "失业保险金": "失业金",
    "医疗保险": "医保",
    "鹏城": "深圳",
    "鵬城": "深圳",
    "申城": "上海",
    "沪": "上海",
    "滬": "上海",
}
