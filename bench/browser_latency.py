"""First-answer latency in a real browser: widget on the demo page -> Rasa socket.io -> first bot bubble.

``python bench/browser_latency.py`` starts the action server, Rasa (newest ``models/rs-*.tar.gz`` or
``--model``) and ``widget.app`` on free ports, opens the demo page in headless Debian Chromium, and for
each question measures, inside the page, the time from sending (``RensheWidget.ask``) until the first
new bot bubble is in the DOM (a MutationObserver, so Playwright's polling does not add to it).
``--page-url`` measures an already running demo page instead (e.g. ``make run``'s
http://localhost:8000/). The first question of a fresh browser session is reported separately
(``cold_ms``): it includes Rasa's first prediction. Prints JSON. Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # why: runnable as a plain script

from playwright.sync_api import sync_playwright  # noqa: E402

from ops.launcher import bot_services  # noqa: E402
from ops.supervise import Service, free_port, stop_all, wait_ready  # noqa: E402

logger = logging.getLogger("bench.browser_latency")
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
QUESTIONS = [
    "深圳有多少个社保服务网点",
    "那上海呢",
    "电子社保卡签发了多少人",
    "补贴性职业技能培训",
    "灵活就业人员怎么参保",
    "劳动争议怎么处理",
    "上海“十四五”新增多少高技能人才",
    "全国城镇新增就业目标是多少",
    "欠薪怎么办",
    "你是谁",
]
# why: a turn can bring several messages; wait until the log has been quiet for a second so a late
# message of the previous turn is never taken for the answer to the next question.
SETTLE_JS = """
() => new Promise((resolve) => {
  const log = document.querySelector('.rw-log');
  let timer = setTimeout(done, 1000);
  const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, 1000); });
  function done() { observer.disconnect(); resolve(); }
  observer.observe(log, {childList: true, subtree: true});
})
"""
MEASURE_JS = """
(question) => new Promise((resolve, reject) => {
  const log = document.querySelector('.rw-log');
  const count = () => log.querySelectorAll('.rw-msg-bot, .rw-handoff').length;
  const before = count();
  const started = performance.now();
  const observer = new MutationObserver(() => {
    if (count() > before) { observer.disconnect(); resolve(performance.now() - started); }
  });
  observer.observe(log, {childList: true});
  setTimeout(() => { observer.disconnect(); reject(new Error('no answer in 60 s')); }, 60000);
  if (!window.RensheWidget.ask(question)) { observer.disconnect(); reject(new Error('widget offline')); }
})
"""


def newest_model() -> str:
    models = sorted((ROOT / "models").glob("rs-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("no trained model: run `make train`")
    return str(models[-1])


def measure(page_url: str, questions: list[str], rounds: int) -> dict:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        page = context.new_page()
        started = time.monotonic()
        page.goto(page_url)
        # why: not wait_for_function: its polling evaluates strings, which the page's CSP forbids.
        page.locator('.rw-root[data-status="online"]').wait_for(state="attached", timeout=30_000)
        connect_ms = (time.monotonic() - started) * 1000
        page.evaluate("window.RensheWidget.open()")
        page.evaluate(SETTLE_JS)
        cold_ms = page.evaluate(MEASURE_JS, questions[0])
        samples: list[float] = []
        for _ in range(rounds):
            for question in questions:
                page.evaluate(SETTLE_JS)
                samples.append(page.evaluate(MEASURE_JS, question))
        browser.close()
    samples.sort()
    return {
        "page_url": page_url,
        "page_load_to_online_ms": round(connect_ms, 1),
        "cold_ms": round(cold_ms, 1),
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 1),
        "max_ms": round(samples[-1], 1),
        "min_ms": round(samples[0], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model archive (default: newest models/rs-*.tar.gz)")
    parser.add_argument("--page-url", help="measure an already running demo page instead")
    parser.add_argument("--rounds", type=int, default=2, help="times each question is asked")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    if args.page_url:
        result = measure(args.page_url, QUESTIONS, args.rounds)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="browser-latency-"))
        rasa_port, action_port, web_port = free_port(), free_port(), free_port()
        services = bot_services(
            args.model or newest_model(), rasa_port, action_port,
            tracker_db=str(tmp / "tracker.db"), log_dir=tmp,
            extra_env={"WEB_PORT": str(web_port)},  # why: Rasa allows the demo page's origin (bot.cors)
        )
        services.append(
            Service(
                "website demo",
                [sys.executable, "-m", "widget", "--port", str(web_port),
                 "--socket-url", f"http://127.0.0.1:{rasa_port}"],
                f"http://127.0.0.1:{web_port}/healthz",
                f"http://127.0.0.1:{web_port}/",
                {"APP_DATABASE_URL": f"sqlite:///{tmp / 'app.db'}", "APP_ENV": "test"},
                tmp / "web.log",
            )
        )
        try:
            for service in services:
                service.start()
            wait_ready(services, timeout=600)  # why: a loaded 2-core machine loads the model slowly
            result = measure(services[-1].public_url, QUESTIONS, args.rounds)
        finally:
            stop_all(services)
    print(json.dumps(result, ensure_ascii=False, indent=2))  # the report is the output
    return 0


if __name__ == "__main__":
    sys.exit(main())
