"""Faults, really (issue 16): crashes in the middle of work, not clean restarts between requests.

* PostgreSQL's postmaster killed with SIGKILL while residents are writing, restarted on the same data
  directory (crash recovery): no acknowledged message is lost, and every reply is what the conversation
  stored for that message (a failed turn shows only the polite reply).
* A Rasa instance killed with SIGKILL while requests are inside it: those residents get an answer
  (a polite one from the guard or nginx's polite 502), nothing hangs, the conversations continue.
* The private Redis and nginx stopped and started again: polite answers or clean errors within a
  timeout, then normal service.
* Fuzz runs over REST and over WeChat (signed XML as WeChat sends it) in which every input reaches Rasa
  (rate limits raised through their environment knobs), with every reply checked for politeness and for
  echoed personal data, by a detector written here (independent of ``bot.sanitize``); WeChat replies
  must also be valid XML addressed back to the sender.

Shares the session's cluster (``scale_cluster``) and brings back whatever it stops. Figures are
printed and added to ``results/scale.json`` (through ``test_cluster._report``).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import string
import threading
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import pytest
import requests

from bot.channels.guard import replies
from ops.supervise import wait_ready
from tests.scale import fuzz
from tests.scale.conftest import ScaleCluster
from tests.scale.support import user_texts
from tests.scale.test_cluster import SOURCE, _report

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(1200)]

QUESTIONS = ["深圳有多少个社保服务网点", "社保卡怎么补办", "最低工资是多少", "人才引进入户最快多久",
             "创业担保贷款发放了多少", "被拖欠工资怎么办", "失业保险怎么领", "你好"]


@dataclass
class Exchange:
    """One REST message and what the resident got back."""

    sender: str
    text: str
    sent_at: float
    seconds: float = 0.0
    status: int | None = None  # None: no HTTP answer (connection refused, timeout)
    replies: List[str] = field(default_factory=list)
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        """A real answer: the resident was told the message was handled (not a polite failure)."""
        polite_failures = {replies()["unavailable"], replies()["rate_limited"]}
        return self.status == 200 and bool(self.replies) and not set(self.replies) & polite_failures


def _exchange(cluster: ScaleCluster, sender: str, text: str, timeout: float = 60) -> Exchange:
    exchange = Exchange(sender, text, time.monotonic())
    try:
        response = cluster.say(text, sender, timeout=timeout)
        exchange.status = response.status_code
        try:
            body = response.json()
            # why: a message may be buttons only; the texts are what a resident reads.
            exchange.replies = ([m["text"] for m in body if isinstance(m, dict) and m.get("text")]
                                if isinstance(body, list) else [response.text])
        except ValueError:
            exchange.replies = [response.text]
    except requests.RequestException as error:
        exchange.error = type(error).__name__
    exchange.seconds = time.monotonic() - exchange.sent_at
    return exchange


_CJK = re.compile(r"[\u4e00-\u9fff]")
_IMPOLITE = re.compile(r"traceback|error|exception|nginx|<html", re.IGNORECASE)


def impolite(text: str) -> str | None:
    """Why ``text`` is no answer to show a resident (None when it is one)."""
    if not text.strip():
        return "empty"
    if not _CJK.search(text):
        return "no Chinese text"
    if _IMPOLITE.search(text):
        return "error wording"
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            json.loads(stripped)
            return "raw JSON"
        except ValueError:
            pass
    return None


def _clean_outcome(exchange: Exchange) -> str | None:
    """What is wrong with an answer given during a fault (None: a polite answer or a clean error)."""
    if exchange.status is None:
        return f"no answer ({exchange.error}) after {exchange.seconds:.1f}s"
    if exchange.status not in (200, 502):
        return f"HTTP {exchange.status}"
    if exchange.status == 502 and exchange.replies != [replies()["unavailable"]]:
        return f"502 without the polite page: {exchange.replies!r:.200}"
    bad = [why for why in map(impolite, exchange.replies) if why] or ([] if exchange.replies else ["no reply"])
    return f"impolite ({bad[0]}): {exchange.replies!r:.200}" if bad else None


# --- 1. PostgreSQL killed -9 during writes ----------------------------------------------------------
def stored_turns(engine, sender_id: str) -> Dict[str, List[str]]:
    """Each user text of a conversation with the bot texts stored after it (split as channels split them)."""
    import sqlalchemy as sa

    turns: Dict[str, List[str]] = {}
    current: List[str] | None = None
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT type_name, data FROM events WHERE sender_id IN (:s, :r) ORDER BY id"),
            {"s": sender_id, "r": "rest-" + sender_id},
        ).all()
    for type_name, data in rows:
        event = json.loads(data)
        if type_name == "user":
            current = turns.setdefault(event.get("text") or "", [])
        elif type_name == "bot" and current is not None and event.get("text"):
            # why: Rasa's output channels send a text in parts split at blank lines.
            current += [part for part in event["text"].strip().split("\n\n")]
    return turns


def _not_what_was_stored(exchange: Exchange, turns: Dict[str, List[str]]) -> str | None:
    """How the reply differs from what the conversation recorded for this message (None: it does not)."""
    if exchange.status != 200:
        return None
    if exchange.acknowledged:
        stored = turns.get(exchange.text)
        return None if stored == exchange.replies else f"replied {exchange.replies!r:.160} but stored {stored!r:.160}"
    # A failed turn is not stored (or, rarely, stored while its answer was lost): the resident must read
    # only the polite reply, never answers that the conversation does not hold.
    polite = {replies()["unavailable"], replies()["rate_limited"]}
    return None if exchange.replies and set(exchange.replies) <= polite else f"failed turn said {exchange.replies!r:.200}"


# why: 2 s is within the tracker store's retry window (TRACKER_DB_RETRY_SECONDS=15 in the scale cluster);
# 20 s is past it, where Rasa's FailSafeTrackerStore would carry on from an empty in-memory tracker, and where
# turns fail when Rasa stores them, after their answers were sent (bot.channels.guard, contract 4).
@pytest.mark.parametrize("down_for", [2.0, 20.0], ids=["within-retry-window", "past-retry-window"])
def test_postgres_killed_9_during_writes_loses_no_acknowledged_message(cluster: ScaleCluster, capsys,
                                                                       down_for: float):
    stop = threading.Event()
    exchanges: List[Exchange] = []
    lock = threading.Lock()
    run = uuid.uuid4().hex[:6]

    def writer(index: int) -> None:
        count = 0
        while not stop.is_set():
            # why: a fresh conversation every 6 messages stays within the per-conversation burst (12).
            sender = f"pgkill-{run}-{index}-{count // 6}"
            exchange = _exchange(cluster, sender, f"{QUESTIONS[count % len(QUESTIONS)]}（{index}-{count}）")
            with lock:
                exchanges.append(exchange)
            count += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    # why: at least 4 s of writes, and at least 4 answered before the crash; on a busy machine the first turns of
    # freshly started instances can take seconds, and a fixed 4 s then left fewer than 4 answered.
    started = time.monotonic()
    while True:
        time.sleep(0.5)
        with lock:
            before_kill = sum(1 for e in exchanges if e.acknowledged)
        if (before_kill >= 4 and time.monotonic() - started >= 4) or time.monotonic() - started > 60:
            break
    killed_at = time.monotonic()
    cluster.pg.kill()
    time.sleep(down_for)  # backends gone with their postmaster
    recovery_seconds = cluster.pg.start_after_crash()
    up_at = time.monotonic()
    time.sleep(8)
    stop.set()
    for thread in threads:
        thread.join(120)
    cluster.engine.dispose()

    stored: Dict[str, List[str]] = {}
    for sender in {e.sender for e in exchanges}:
        stored[sender] = user_texts(cluster.engine, sender)
    acknowledged = [e for e in exchanges if e.acknowledged]
    lost = [e for e in acknowledged if e.text not in stored[e.sender]]
    turns = {sender: stored_turns(cluster.engine, sender) for sender in stored}
    # Every reply is the answer the conversation recorded for that very message: no other turn's answers,
    # no answers of a turn that was never stored.
    mismatched = [(e.text, why) for e in exchanges if (why := _not_what_was_stored(e, turns[e.sender]))]
    in_outage = [e for e in exchanges if e.sent_at < up_at and e.sent_at + e.seconds > killed_at]
    unclean = [(e.text, why) for e in exchanges if (why := _clean_outcome(e))]
    after_up = [e for e in exchanges if e.sent_at > up_at + 1]
    _report(f"postgres_killed_9_down_{down_for:.0f}s", {
        "messages": len(exchanges), "acknowledged": len(acknowledged), "acknowledged_before_kill": before_kill,
        "during_outage": len(in_outage), "during_outage_acknowledged": sum(1 for e in in_outage if e.acknowledged),
        "polite_failures": len(exchanges) - len(acknowledged), "acknowledged_lost": len(lost),
        "replies_not_as_stored": len(mismatched),
        "unclean_answers": len(unclean), "postgres_back_after_seconds": round(up_at - killed_at, 1),
        "restart_attempts_seconds": round(recovery_seconds, 1),
        "slowest_answer_seconds": round(max(e.seconds for e in exchanges), 1),
    }, capsys)
    assert before_kill >= 4 and len(in_outage) >= 2  # writes before and during the crash
    assert max(e.seconds for e in exchanges) < 45  # nobody waits past the retry window and a bit
    assert lost == [], [(e.sender, e.text) for e in lost][:10]
    assert unclean == [], unclean[:10]
    assert mismatched == [], mismatched[:10]
    assert after_up and all(e.acknowledged for e in after_up), [(e.text, e.replies) for e in after_up][:5]


# --- 2. a Rasa instance killed while requests are inside it ------------------------------------------
def _upstream_failures(cluster: ScaleCluster, port: int, since: int) -> int:
    """nginx error-log lines since byte ``since`` about requests to ``port`` that died mid-way."""
    log = cluster.log_dir / "nginx-error.log"
    text = log.read_bytes()[since:].decode("utf-8", "replace") if log.exists() else ""
    return sum(1 for line in text.splitlines()
               if f"127.0.0.1:{port}" in line and ("prematurely closed" in line or "reset by peer" in line))


def test_rasa_instance_killed_with_requests_in_flight(cluster: ScaleCluster, capsys):
    port = cluster.plan.rasa_ports[0]
    log = cluster.log_dir / "nginx-error.log"
    attempts = []
    for attempt in range(3):
        senders = [f"inflight-{attempt}-{i}-{uuid.uuid4().hex[:6]}" for i in range(10)]
        for sender in senders:
            assert cluster.say("你好", sender, timeout=60).status_code == 200
        since = log.stat().st_size if log.exists() else 0
        # why: a turn takes ~0.1 s here, too short to aim a kill at. With the action servers paused
        # (SIGSTOP: their sockets still accept, nothing answers) every knowledge question waits inside
        # its Rasa instance for the action's reply, for as long as the test wants.
        actions = [s for s in cluster.cluster.services if s.name.startswith("actions-")]
        with ThreadPoolExecutor(max_workers=len(senders)) as pool:
            for service in actions:
                os.killpg(service.process.pid, signal.SIGSTOP)
            try:
                futures = [pool.submit(_exchange, cluster, s, "深圳有多少个社保服务网点", 90) for s in senders]
                time.sleep(1.5)  # the knowledge questions are inside their instance, waiting for their action
                cluster.cluster.kill("rasa-1")
                killed_at = time.monotonic()
                time.sleep(0.5)
            finally:
                for service in actions:
                    os.killpg(service.process.pid, signal.SIGCONT)
            answers = [f.result() for f in futures]
        in_flight = _upstream_failures(cluster, port, since)
        unanswered_at_kill = sum(1 for e in answers if e.sent_at + e.seconds > killed_at)
        continued = [_exchange(cluster, s, "那上海呢", 60) for s in senders]
        attempts.append((in_flight, unanswered_at_kill, answers, continued))
        cluster.cluster.service("rasa-1").start()
        wait_ready([cluster.cluster.service("rasa-1")], timeout=420)
        if in_flight:
            break
    in_flight, unanswered_at_kill, answers, continued = attempts[-1]
    _report("rasa_killed_in_flight", {
        "attempts": len(attempts), "requests": len(answers), "in_flight_at_killed_instance": in_flight,
        "unanswered_when_killed": unanswered_at_kill,
        "answered": sum(1 for e in answers if e.acknowledged),
        "polite_502": sum(1 for e in answers if e.status == 502),
        "polite_unavailable": sum(1 for e in answers if e.status == 200 and not e.acknowledged),
        "slowest_seconds": round(max(e.seconds for e in answers), 1),
        "continued_answered": sum(1 for e in continued if e.acknowledged),
    }, capsys)
    assert in_flight >= 1, "no request was inside rasa-1 when it was killed (three tries)"
    assert [why for e in answers if (why := _clean_outcome(e))] == []
    assert max(e.seconds for e in answers) < 90
    # The conversations continue on the other instance: the follow-up is understood.
    assert all(e.acknowledged and "上海" in "".join(e.replies) for e in continued), \
        [(e.status, e.replies) for e in continued]


# --- 3. Redis and nginx stopped ---------------------------------------------------------------------
def _until_answered(cluster: ScaleCluster, sender: str, text: str, within: float) -> Tuple[Exchange, float]:
    started = time.monotonic()
    while True:
        exchange = _exchange(cluster, sender, text, timeout=30)
        if exchange.acknowledged or time.monotonic() - started > within:
            return exchange, time.monotonic() - started
        time.sleep(0.5)


def test_redis_stopped_polite_answers_then_service_resumes(cluster: ScaleCluster, capsys):
    if cluster.redis_server is None:
        pytest.skip("the cluster uses a shared Redis (TEST_REDIS_URL or no redis-server): not ours to stop")
    sender = "redisdown-" + uuid.uuid4().hex[:8]
    assert SOURCE in "".join(_exchange(cluster, sender, "深圳有多少个社保服务网点").replies)
    cluster.redis_server.stop()
    during = [_exchange(cluster, sender, text, timeout=60) for text in ("那上海呢", "社保卡怎么补办", "你好")]
    cluster.redis_server.start()
    back, resumed_seconds = _until_answered(cluster, sender, "最低工资是多少", within=30)
    _report("redis_stopped", {
        "messages_while_down": len(during), "statuses": [e.status for e in during],
        "polite_unavailable": sum(1 for e in during if e.replies == [replies()["unavailable"]]),
        "slowest_while_down_seconds": round(max(e.seconds for e in during), 1),
        "answered_again_after_seconds": round(resumed_seconds, 1),
    }, capsys)
    assert [why for e in during if (why := _clean_outcome(e))] == []
    assert max(e.seconds for e in during) < 20  # nothing waits for a lock that can never be had
    assert back.acknowledged, back.replies


def test_nginx_stopped_clean_refusal_then_service_resumes(cluster: ScaleCluster, capsys):
    sender = "nginxdown-" + uuid.uuid4().hex[:8]
    assert _exchange(cluster, sender, "你好").acknowledged
    nginx = cluster.cluster.service("nginx")
    nginx.stop()
    during = _exchange(cluster, sender, "社保卡怎么补办", timeout=10)
    nginx.start()
    wait_ready([nginx], timeout=60)
    back, resumed_seconds = _until_answered(cluster, sender, "社保卡怎么补办", within=30)
    _report("nginx_stopped", {"while_down": during.error or during.status,
                              "while_down_seconds": round(during.seconds, 2),
                              "answered_again_after_seconds": round(resumed_seconds, 1)}, capsys)
    # Nobody listens: the client's connection is refused at once (no hang, no half answer).
    assert during.status is None and during.error == "ConnectionError" and during.seconds < 5
    assert back.acknowledged and len(user_texts(cluster.engine, sender)) == 2


# --- security through the cluster: CORS, /version, the stream path's rate limit -----------------------
FOREIGN_ORIGIN = "https://evil.example"


def test_a_foreign_origin_gets_no_cors_reflection_through_nginx(cluster: ScaleCluster):
    url = cluster.plan.public_url + "/webhooks/rest/"
    foreign = requests.get(url, headers={"Origin": FOREIGN_ORIGIN}, timeout=10)
    preflight = requests.options(cluster.rest_url, headers={
        "Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=10)
    site = requests.get(url, headers={"Origin": "http://localhost:8000"}, timeout=10)
    assert foreign.status_code == 200 and "Access-Control-Allow-Origin" not in foreign.headers
    assert preflight.headers.get("Access-Control-Allow-Origin") != FOREIGN_ORIGIN
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert site.headers.get("Access-Control-Allow-Origin") == "http://localhost:8000"


def test_version_is_not_reachable_through_nginx_nor_on_the_instances(cluster: ScaleCluster):
    assert requests.get(cluster.plan.public_url + "/version", timeout=10).status_code == 404
    for base in cluster.plan.rasa_urls:  # the HTTP API is on there, with a token
        version = requests.get(base + "/version", timeout=10)
        assert version.status_code == 404 and "3.6" not in version.text
        assert "3.6" not in requests.get(base + "/", timeout=10).text
        assert requests.get(base + "/status", params={"token": cluster.api_token}, timeout=10).status_code == 200


def test_the_stream_path_meets_the_rate_limit_through_the_cluster(cluster: ScaleCluster, capsys):
    from tests.scale.conftest import RATE_LIMIT_BURST

    sender = "stream-" + uuid.uuid4().hex[:8]
    answers = []
    for _ in range(RATE_LIMIT_BURST + 4):
        response = requests.post(cluster.rest_url, params={"stream": "true"},
                                 json={"sender": sender, "message": "你好"}, timeout=60)
        assert response.status_code == 200
        answers.append([json.loads(line)["text"] for line in response.text.splitlines() if line.strip()])
    limited = sum(1 for a in answers if a == [replies()["rate_limited"]])
    stored = len(user_texts(cluster.engine, sender))
    _report("stream_rate_limit", {"sent": len(answers), "rate_limited": limited, "reached_rasa": stored}, capsys)
    assert limited >= 3 and stored == len(answers) - limited


# --- 4. a fuzz that reaches Rasa, every reply checked -----------------------------------------------
_SEPARATORS = re.compile(r"(?<=\d)[\s\-\u200b\u200c\u200d\u2060\ufeff./_]+(?=\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def digits_normalised(text: str) -> str:
    """``text`` with full-width digits made ASCII and separators between digits removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))


def personal_numbers(text: str) -> List[str]:
    """ID-card, mobile and bank-card numbers in ``text``: written here, not taken from bot.sanitize.

    Deliberately broad: any run of 11 or more digits (bank cards, numbers we do not know the format
    of), every 18-character resident ID with a valid check character, every mobile number
    1[3-9]xxxxxxxxx, whatever surrounds them.
    """
    normal = digits_normalised(text)
    found = re.findall(r"\d{11,}", normal)
    for match in re.finditer(r"\d{17}[\dXx]", normal):
        body = match.group()[:17]
        if "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11] == match.group()[17].upper():
            found.append(match.group())
    found += re.findall(r"1[3-9]\d{9}", normal)
    return sorted(set(found))


def test_pii_detector_of_this_file_finds_the_spellings_residents_use():
    for text, expected in [("电话 138-1234-5678 谢谢", "13812345678"), ("１３９１２３４５６７８", "13912345678"),
                           ("卡号6222 0212 3456 7890", "6222021234567890"), ("身份证44030119900101123X", None),
                           ("13812\u200b345678", "13812345678")]:
        found = personal_numbers(text)
        assert found and (expected is None or expected in found), (text, found)
    assert personal_numbers("深圳有113个社保服务网点，2025年目标是60万人") == []


def _fuzz_inputs(seed: int, senders: int, per_sender: int) -> List[Tuple[str, fuzz.Generated]]:
    """Hostile resident messages that all fit the channel (no oversized bodies: those get 413 from nginx)."""
    rng = random.Random(seed)
    out = []
    for _ in range(senders):
        # why: letters only; digits joined by "-" ("…-20261202-13-…") look like a phone or card number to
        # the masker, and such a conversation is stored under a pseudonym the count would not find.
        sender = "fuzzall-" + "".join(rng.choice(string.ascii_lowercase) for _ in range(16))
        for _ in range(per_sender):
            generated = fuzz.make_text(rng)
            while generated.kind == "huge" and len(generated.text) > 5000:
                generated = fuzz.make_text(rng)
            out.append((sender, generated))
    return out


RAISED_LIMITS = {f"RATE_LIMIT_{kind}{knob}": value for kind in ("", "CLIENT_", "GLOBAL_")
                 for knob, value in (("BURST", "100000"), ("PER_MINUTE", "1000000"))}


@pytest.fixture
def raised_limits(cluster: ScaleCluster):
    """Both Rasa instances restarted with the rate limits raised (their env knobs); restored after."""
    rasa = [s for s in cluster.cluster.services if s.name.startswith("rasa-")]
    saved = [dict(s.env) for s in rasa]

    def restart(envs) -> None:
        for service, env in zip(rasa, envs, strict=True):
            service.stop()
            service.env = env
            service.start()
        wait_ready(rasa, timeout=420)

    restart([{**env, **RAISED_LIMITS} for env in saved])
    try:
        yield cluster
    finally:
        restart(saved)


def test_fuzz_every_input_reaches_rasa_and_every_reply_is_polite(raised_limits: ScaleCluster, capsys):
    cluster = raised_limits
    senders, per_sender = 50, 20  # 20 per conversation: beyond the session's normal burst of 12
    inputs = _fuzz_inputs(20261202, senders, per_sender)
    results: List[Tuple[str, fuzz.Generated, Exchange]] = []
    lock = threading.Lock()

    def conversation(sender: str) -> None:
        session = requests.Session()
        for sender_id, generated in (i for i in inputs if i[0] == sender):
            exchange = Exchange(sender_id, str(generated.text), time.monotonic())
            try:
                response = session.post(cluster.rest_url, json={"sender": sender_id, "message": generated.text},
                                        timeout=120)
                exchange.status = response.status_code
                body = response.json()
                exchange.replies = [m["text"] for m in body if m.get("text")]
            except (requests.RequestException, ValueError, TypeError, AttributeError) as error:
                exchange.error = type(error).__name__
            exchange.seconds = time.monotonic() - exchange.sent_at
            with lock:
                results.append((sender_id, generated, exchange))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(conversation, sorted({s for s, _ in inputs})))
    seconds = time.perf_counter() - started

    problems, echoed = [], []
    for _sender, generated, exchange in results:
        if exchange.status != 200:
            problems.append((generated.kind, exchange.status, exchange.error))
            continue
        for text in exchange.replies or [""]:
            if why := impolite(text):
                problems.append((generated.kind, why, text[:120]))
        answer = "\n".join(exchange.replies)
        numbers = personal_numbers(answer)
        injected = [n for n in generated.pii if n in digits_normalised(answer)]
        if numbers or injected:
            echoed.append((generated.kind, numbers, injected, answer[:120]))
    rate_limited = sum(1 for *_, e in results if replies()["rate_limited"] in e.replies)
    empty = sum(1 for *_, e in results if e.replies == [replies()["empty"]])
    reached = sum(len(user_texts(cluster.engine, s)) for s in {s for s, _ in inputs})
    _report("fuzz_reaching_rasa", {
        "sent": len(inputs), "seconds": round(seconds, 1), "answered_200": sum(1 for *_, e in results if e.status == 200),
        "reached_rasa": reached, "empty_reply_without_rasa": empty, "rate_limited": rate_limited,
        "with_pii": sum(1 for _, g, _ in results if g.pii), "impolite": len(problems), "pii_echoed": len(echoed),
        "kinds": dict(sorted({k: sum(1 for _, g in inputs if g.kind == k) for k in {g.kind for _, g in inputs}}.items())),
    }, capsys)
    assert len(results) == len(inputs)
    assert rate_limited == 0
    # Every input reached Rasa (stored as a user event), except those that were empty after cleaning.
    assert reached == len(inputs) - empty and reached >= 0.9 * len(inputs)
    assert problems == [], problems[:10]
    assert echoed == [], echoed[:10]


# --- 5. the same for WeChat: signed XML as WeChat sends it, hostile content, every reply checked ---------
WECHAT_ACCOUNT = "gh_renshe_fuzz"
TRADITIONAL = ["深圳社保服務網點有多少個？", "失業保險怎麼領", "社保卡點樣補辦", "最低工資係幾多", "被拖欠工資怎麼辦啊"]
COMMANDS = ['/ask_service_points{"region": "上海"}', '/intent{"city":"上海"}', "/restart", "/session_start",
            '/ask_pension{"region": "北京"} 深圳有多少个社保服务网点', "／greet", "\n/request_human"]


def _cdata(text: str) -> str:
    """``text`` in a CDATA section the way WeChat writes one: a ``]]>`` inside is split across two sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class WeChatInput:
    """One signed WeChat message to send: its body, what it carries, and whether Rasa must see it."""

    openid: str
    kind: str
    body: bytes
    text: str  # what the resident wrote (for the report)
    reaches_rasa: bool  # False: the channel answers by itself (no text in <Content>)
    pii: Tuple[str, ...] = ()


def _wechat_body(openid: str, content: str, msg_type: str = "text") -> str:
    field = "Recognition" if msg_type == "voice" else "Content"
    extra = "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>" if msg_type == "voice" else ""
    return (f"<xml><ToUserName>{_cdata(WECHAT_ACCOUNT)}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{_cdata(msg_type)}</MsgType>{extra}"
            f"<{field}>{content}</{field}><MsgId>{uuid.uuid4().int % 10**18}</MsgId></xml>")


def _xml_safe(text: str) -> str:
    # why: XML 1.0 cannot carry most control characters nor lone surrogates; WeChat never sends them.
    return "".join(ch for ch in text if ch in "\t\n\r" or (ord(ch) >= 0x20 and not 0xD800 <= ord(ch) <= 0xDFFF
                                                          and ch not in "\ufffe\uffff"))


def _wechat_input(rng: random.Random, openid: str) -> WeChatInput:
    roll = rng.random()
    if roll < 0.08:  # elements inside <Content>: parses to a mapping, not text; answered without Rasa
        inner = rng.choice(["<a>深圳</a>", "<Content>x</Content><b/>", "<x><y><z>社保卡怎么补办</z></y></x>",
                            "前<b>中</b>后"])
        return WeChatInput(openid, "nested-element", _wechat_body(openid, inner).encode(), inner, False)
    if roll < 0.14:  # a CDATA breaker written naively into the section: the rest becomes markup
        text = rng.choice(["abc]]><evil/><![CDATA[def", "]]><FromUserName>oOther</FromUserName><![CDATA[",
                           "x]]><MsgType>event</MsgType><![CDATA[y"])
        body = _wechat_body(openid, f"<![CDATA[{text}]]>").encode()
        return WeChatInput(openid, "cdata-breaker-raw", body, text, False)
    if roll < 0.22:  # a resident who types "]]>": WeChat splits the section, the text arrives whole
        text = rng.choice(fuzz.QUESTIONS) + rng.choice(["]]>", "]]]]>", "<![CDATA[", "]]><xml>", "]]&gt;"])
        return WeChatInput(openid, "cdata-breaker", _wechat_body(openid, _cdata(text)).encode(), text, True)
    if roll < 0.28:  # lone surrogates as their UTF-8-style bytes (invalid UTF-8): replaced, the rest reaches Rasa
        text = rng.choice(fuzz.QUESTIONS) + "\ud800" + rng.choice(["", "abc", "\udfff社保"])
        body = _wechat_body(openid, "<![CDATA[" + text + "]]>").encode("utf-8", "surrogatepass")
        return WeChatInput(openid, "lone-surrogate", body, text, True)
    if roll < 0.36:
        text = rng.choice(TRADITIONAL)
        return WeChatInput(openid, "traditional", _wechat_body(openid, _cdata(text)).encode(), text, True)
    if roll < 0.44:
        text = rng.choice(COMMANDS)
        return WeChatInput(openid, "command", _wechat_body(openid, _cdata(text)).encode(), text, True)
    if roll < 0.48:  # huge, but within the channel's 64 KB body limit
        text = (rng.choice(fuzz.QUESTIONS) * 2000)[:rng.choice([700, 5_000, 18_000])]
        return WeChatInput(openid, "huge", _wechat_body(openid, _cdata(text)).encode(), text[:40], True)
    if roll < 0.52:
        text = rng.choice(["", " ", "\n\t", "\u200b"])
        return WeChatInput(openid, "empty", _wechat_body(openid, _cdata(text)).encode(), text, False)
    generated = fuzz.make_text(rng)
    while generated.kind in ("huge", "empty") or not isinstance(generated.text, str):
        generated = fuzz.make_text(rng)
    text = _xml_safe(generated.text)
    msg_type = "voice" if rng.random() < 0.15 else "text"
    return WeChatInput(openid, generated.kind if msg_type == "text" else "voice-" + generated.kind,
                       _wechat_body(openid, _cdata(text), msg_type).encode(), text, True, generated.pii)


@dataclass
class WeChatExchange:
    sent: WeChatInput
    status: int | None = None
    texts: List[str] = field(default_factory=list)  # the passive reply's text, then customer-service texts
    problems: List[str] = field(default_factory=list)


def _wechat_reply_texts(peer, body: str, openid: str, exchange: WeChatExchange) -> None:
    """Check one reply as WeChat would read it (valid XML, addressed back) and collect what the resident reads."""
    import xml.etree.ElementTree as ET

    if body.strip() != "success":
        try:
            root = ET.fromstring(body)
        except ET.ParseError as error:
            exchange.problems.append(f"reply is not valid XML ({error}): {body[:120]!r}")
            return
        fields = {child.tag: child.text or "" for child in root}
        if (fields.get("ToUserName"), fields.get("FromUserName")) != (openid, WECHAT_ACCOUNT):
            exchange.problems.append(f"reply addressed to {fields.get('ToUserName')!r}")
        if fields.get("MsgType") == "text":
            exchange.texts.append(fields.get("Content", ""))
        elif fields.get("MsgType") != "transfer_customer_service":
            exchange.problems.append(f"reply of type {fields.get('MsgType')!r}")
    # why: a slow answer (reply "success") or the rest of a long one comes through the customer-service API;
    # the cluster runs it in local mode, where those texts wait in the channel's outbox.
    long_passive = bool(exchange.texts) and len(exchange.texts[0].encode("utf-8")) > 1500
    wait = 30.0 if not exchange.texts else (3.0 if long_passive else 0.0)
    deadline = time.monotonic() + wait
    while True:
        more = peer.outbox(openid)
        if more is None:
            exchange.problems.append("no outbox (the cluster is not in local mode?)")
            return
        exchange.texts += more
        if (more and not long_passive) or time.monotonic() >= deadline:
            break
        time.sleep(0.3)
    if not exchange.texts and body.strip() == "success":
        exchange.problems.append("answered success and nothing arrived through the customer-service API")


def test_wechat_fuzz_every_input_reaches_rasa_and_every_reply_is_polite(raised_limits: ScaleCluster, capsys):
    from ops.wechat_sim import WeChatPeer
    from tests.scale.conftest import WECHAT_TOKEN

    cluster = raised_limits
    rng = random.Random(20261203)
    # why: letters only (as the REST fuzz): an openid holding a long digit run is stored under a pseudonym.
    openids = ["oFuzzWx" + "".join(rng.choice(string.ascii_letters) for _ in range(20)) for _ in range(30)]
    inputs = [_wechat_input(rng, openid) for openid in openids for _ in range(15)]
    results: List[WeChatExchange] = []
    lock = threading.Lock()

    def conversation(openid: str) -> None:
        peer = WeChatPeer(cluster.wechat_url, WECHAT_TOKEN, timeout=60)
        for sent in (i for i in inputs if i.openid == openid):
            exchange = WeChatExchange(sent)
            try:
                response = peer.session.post(cluster.wechat_url, params=peer.signed_query(), data=sent.body,
                                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=60)
                exchange.status = response.status_code
                if response.status_code == 200:
                    _wechat_reply_texts(peer, response.text, openid, exchange)
                else:
                    exchange.problems.append(f"HTTP {response.status_code}: {response.text[:80]!r}")
            except requests.RequestException as error:
                exchange.problems.append(type(error).__name__)
            with lock:
                results.append(exchange)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(conversation, openids))
    seconds = time.perf_counter() - started

    problems, echoed = [], []
    canned = {replies()["empty"]}
    for exchange in results:
        kind = exchange.sent.kind
        problems += [(kind, why, exchange.sent.text[:40]) for why in exchange.problems]
        for text in exchange.texts or ([] if exchange.problems else [""]):
            if why := impolite(text):
                problems.append((kind, why, text[:120]))
        answer = "\n".join(exchange.texts)
        numbers = personal_numbers(answer)
        injected = [n for n in exchange.sent.pii if n in digits_normalised(answer)]
        if numbers or injected:
            echoed.append((kind, numbers, injected, answer[:120]))
        if exchange.sent.reaches_rasa and canned & set(exchange.texts) and kind not in ("binary", "voice-binary"):
            problems.append((kind, "answered as empty without Rasa", exchange.sent.text[:40]))
    answered_without_rasa = sum(1 for e in results if canned & set(e.texts) or not e.sent.reaches_rasa)
    reached = sum(len(user_texts(cluster.engine, openid)) for openid in openids)
    rate_limited = sum(1 for e in results if replies()["rate_limited"] in e.texts)
    _report("wechat_fuzz_reaching_rasa", {
        "sent": len(inputs), "seconds": round(seconds, 1), "answered_200": sum(1 for e in results if e.status == 200),
        "reached_rasa": reached, "answered_without_rasa": answered_without_rasa, "rate_limited": rate_limited,
        "with_pii": sum(1 for i in inputs if i.pii), "problems": len(problems), "pii_echoed": len(echoed),
        "kinds": dict(sorted({k: sum(1 for i in inputs if i.kind == k) for k in {i.kind for i in inputs}}.items())),
    }, capsys)
    assert len(results) == len(inputs)
    assert rate_limited == 0
    assert problems == [], problems[:10]
    assert echoed == [], echoed[:10]
    # Every input with text reached Rasa (stored as a user event); the others were answered by the channel.
    assert reached == len(inputs) - answered_without_rasa and reached >= 0.75 * len(inputs)
