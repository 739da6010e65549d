"""Knowledge-base benchmark: build time and search latency (p50/p95) on the full corpus; prints JSON.

``python bench/kb_search.py`` builds the KB from ``knowledge/`` into a temporary SQLite file (so the
build is never skipped), then times ~50 real questions, each repeated ``--rounds`` times, after one
warm-up search (which builds the index and loads jieba; reported separately). ``--database-url``
benchmarks another database, e.g. PostgreSQL. Not a test: it reports numbers for the benchmark issue.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # why: runnable as a plain script

from knowledge.build import build  # noqa: E402
from knowledge.service import KnowledgeService  # noqa: E402
from knowledge.settings import Settings, get_settings  # noqa: E402

QUERIES = [
    ("深圳社保服务网点有多少个", None),
    ("社保卡持卡人数", "深圳"),
    ("上海社保卡持卡人数目标", "上海"),
    ("电子社保卡签发多少人", None),
    ("十四五城镇新增就业目标", "深圳"),
    ("全国城镇新增就业目标", "全国"),
    ("上海每年新增就业岗位", "上海"),
    ("城镇调查失业率控制在多少", None),
    ("城镇登记失业率", "深圳"),
    ("补贴性职业技能培训多少人次", None),
    ("职业技能培训规模", "上海"),
    ("高技能人才占比", "深圳"),
    ("技能人才总量", None),
    ("世界技能大赛成绩", None),
    ("第47届世界技能大赛金牌", "深圳"),
    ("养老保险参保人数", "深圳"),
    ("城镇职工基本养老保险参保人数", "上海"),
    ("企业退休人员人均基本养老金", None),
    ("失业保险援企稳岗", None),
    ("工伤保险参保人数", None),
    ("灵活就业人员参保", None),
    ("新就业形态劳动者权益", None),
    ("零工市场有多少家", None),
    ("就业驿站", None),
    ("暖流就业服务站", None),
    ("高校毕业生双选会", None),
    ("创业担保贷款", None),
    ("就业创业补贴", "深圳"),
    ("港澳青年创新创业基地", None),
    ("1+10+N", None),
    ("人才引进一件事高效办", None),
    ("最快24分钟入户", None),
    ("秒批事项", None),
    ("网上办理比例", None),
    ("5G视频办", None),
    ("调援裁诉", None),
    ("劳动人事争议调解成功率", None),
    ("仲裁结案率", None),
    ("欠薪线索百日攻坚", None),
    ("劳动保障监察举报投诉案件结案率", "深圳"),
    ("最低工资标准", "深圳"),
    ("劳动合同签订率", None),
    ("博士后年招数", None),
    ("在站博士后人数", None),
    ("专业技术人员职业资格", None),
    ("人力资源服务产业园", None),
    ("中国深圳创新创业大赛国际赛", None),
    ("事业单位公开招聘", None),
    ("征求意见截止日期", None),
    ("南粤家政培训", None),
    ("粤菜师傅", None),
    ("技工院校毕业生就业率", None),
]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def run_benchmark(settings: Settings, rounds: int = 5) -> dict:
    """Build (forced), warm up, then time every query ``rounds`` times; return the figures."""
    result = build(settings, force=True)
    svc = KnowledgeService(settings.database_url, settings.userdict_path)
    started = time.perf_counter()
    svc.search("社保")
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    svc.topic_for_intent("ask_service_points")
    first_lookup = time.perf_counter() - started
    latencies: list[float] = []
    empty = 0
    for _ in range(rounds):
        for query, region in QUERIES:
            t0 = time.perf_counter()
            hits = svc.search(query, region=region, limit=5)
            latencies.append((time.perf_counter() - t0) * 1000)
            empty += not hits
    lookups: list[float] = []
    for _ in range(1000):
        t0 = time.perf_counter()
        svc.topic_for_intent("ask_service_points")
        svc.fact("SZ24-16")
        lookups.append((time.perf_counter() - t0) * 1e6)
    return {
        "database": settings.database_url.split("://", 1)[0],
        "counts": result.counts,
        "build_s": round(result.duration_s, 3),
        "index_warmup_s": round(warmup, 3),
        "first_topic_lookup_s": round(first_lookup, 3),
        "queries": len(QUERIES),
        "rounds": rounds,
        "empty_results": empty // rounds,
        "search_ms": {
            "p50": round(percentile(latencies, 50), 3),
            "p95": round(percentile(latencies, 95), 3),
            "max": round(max(latencies), 3),
        },
        "topic_plus_fact_lookup_us": {
            "p50": round(percentile(lookups, 50), 2),
            "p95": round(percentile(lookups, 95), 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    base = get_settings()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(database_url=url, content_dir=base.content_dir, userdict_path=base.userdict_path)
        print(json.dumps(run_benchmark(settings, args.rounds), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
