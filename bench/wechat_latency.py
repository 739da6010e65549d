"""WeChat-path latency against a running bot: signed WeChat XML in, passive reply out; prints JSON.

``python bench/wechat_latency.py --url http://localhost:5005/webhooks/wechat/webhook --n 60``
measures the time from posting a signed message (encrypted too, with ``--aes-key``) until the
channel's reply, for real questions. A ``success`` reply means the answer missed the 4.5 s deadline
and went through the customer-service API instead; those are counted separately (``slow``).
Not a test: it reports numbers for the benchmark issue.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # why: runnable as a plain script

from bot.channels.wechat_settings import DEV_TOKEN  # noqa: E402
from ops.wechat_sim import WeChatPeer, text_message  # noqa: E402

QUESTIONS = [
    "深圳有多少个社保服务网点",
    "电子社保卡怎么申领",
    "上海每年新增就业岗位目标是多少",
    "失业保险金怎么领",
    "补贴性职业技能培训有哪些",
    "全国十四五城镇新增就业目标",
    "被拖欠工资怎么办",
    "你好",
]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("WECHAT_SIM_URL",
                                                        "http://localhost:5005/webhooks/wechat/webhook"))
    parser.add_argument("--token", default=os.environ.get("WECHAT_TOKEN") or DEV_TOKEN)
    parser.add_argument("--aes-key", default=os.environ.get("WECHAT_AES_KEY", ""))
    parser.add_argument("--appid", default=os.environ.get("WECHAT_APPID", ""))
    parser.add_argument("--n", type=int, default=48, help="measured messages")
    parser.add_argument("--warmup", type=int, default=4, help="messages sent first and not measured")
    args = parser.parse_args(argv)

    peer = WeChatPeer(args.url, args.token, args.aes_key, args.appid)
    users = ["bench-" + uuid.uuid4().hex[:12] for _ in range(4)]
    timings, slow, errors, with_source = [], 0, 0, 0
    for i in range(args.warmup + args.n):
        question = QUESTIONS[i % len(QUESTIONS)]
        reply = peer.post(text_message(users[i % len(users)], question))
        if i < args.warmup:
            continue
        if reply.kind == "error":
            errors += 1
            continue
        timings.append(reply.elapsed * 1000)
        slow += reply.kind == "success"
        with_source += "来源：《" in reply.content
    result = {
        "url": args.url,
        "mode": "safe" if args.aes_key else "plaintext",
        "n": len(timings),
        "errors": errors,
        "slow_via_customer_service": slow,
        "answers_with_source": with_source,
    }
    if timings:
        result.update({
            "p50_ms": round(percentile(timings, 50), 1),
            "p95_ms": round(percentile(timings, 95), 1),
            "mean_ms": round(statistics.fmean(timings), 1),
            "min_ms": round(min(timings), 1),
            "max_ms": round(max(timings), 1),
        })
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if timings and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
