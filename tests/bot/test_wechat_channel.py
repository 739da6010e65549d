"""The real WeChat channel over HTTP, with wechatpy playing WeChat and a fake Rasa behind it."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.channels import wechat as wechat_module
from bot.channels.guard import replies as guard_replies
from bot.channels.wechat import MAX_PASSIVE_BYTES
from bot.channels.wechat_settings import DEV_TOKEN
from tests.bot.wechat_helpers import DATA, FakeRasa, fixture_xml, new_openid


# --- server verification and request checks -------------------------------------------------------
def test_handshake_echoes_echostr(make_channel):
    peer = make_channel().peer
    response = peer.verify_server("8217364589")
    assert response.status_code == 200 and response.text == "8217364589"


@pytest.mark.parametrize("override", [{"signature": "0" * 40}, {"echostr": ""}, {"timestamp": "1"}])
def test_handshake_refuses_bad_requests(make_channel, override):
    peer = make_channel().peer
    response = peer.verify_server("8217364589", **override)
    assert response.status_code == 403 and "8217364589" not in response.text


def test_bad_signature_is_refused_before_rasa(make_channel):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("text", content="你好"), signature="f" * 40)
    assert reply.status == 403
    assert ch.rasa.calls == []


@pytest.mark.parametrize("age", [-400, 400, 100_000])
def test_stale_or_future_timestamps_are_refused(make_channel, age):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("text", content="你好"), timestamp=str(int(time.time()) - age))
    assert reply.status == 403 and "stale" in reply.body
    assert ch.rasa.calls == []


def test_timestamp_inside_the_window_is_accepted(make_channel):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("text", content="你好"), timestamp=str(int(time.time()) - 200))
    assert reply.kind == "text"


def test_body_over_the_limit_is_refused(make_channel):
    ch = make_channel(max_body_bytes=2048)
    reply = ch.peer.post(fixture_xml("text", content="社" * 2000))
    assert reply.status == 413
    assert ch.rasa.calls == []
    # the channel still works afterwards
    assert ch.peer.post(fixture_xml("text", content="你好")).kind == "text"


def test_huge_body_is_not_buffered(make_channel):
    ch = make_channel()
    try:
        status = ch.peer.post("", raw_body=b"<xml>" + b"x" * 5_000_000 + b"</xml>").status
    except requests.ConnectionError:
        status = "closed"  # Sanic hangs up rather than read megabytes it will refuse
    assert status in (413, "closed")
    assert ch.rasa.calls == []
    assert ch.peer.post(fixture_xml("text", content="你好")).kind == "text"


@pytest.mark.parametrize("name", sorted(p.stem for p in (DATA / "malformed").glob("*.xml")))
def test_malformed_xml_is_answered_without_a_crash(make_channel, name):
    ch = make_channel()
    raw = (DATA / "malformed" / f"{name}.xml").read_bytes()
    reply = ch.peer.post("", raw_body=raw)
    assert reply.status == 400
    assert ch.rasa.calls == []
    assert ch.peer.post(fixture_xml("text", content="你好")).kind == "text"


def test_binary_garbage_is_answered_without_a_crash(make_channel):
    ch = make_channel()
    assert ch.peer.post("", raw_body=bytes(range(256)) * 4).status == 400


# --- plaintext and safe mode -----------------------------------------------------------------------
def test_plaintext_text_message_reaches_rasa_as_the_openid(make_channel):
    ch = make_channel()
    openid = new_openid()
    reply = ch.peer.post(fixture_xml("text", openid=openid, content="深圳有多少个社保服务网点"))
    assert reply.kind == "text" and reply.content == "收到：深圳有多少个社保服务网点"
    [message] = ch.rasa.calls
    assert message.sender_id == openid
    assert message.input_channel == "wechat"
    assert message.output_channel.name() == "wechat"
    assert message.metadata["wechat"]["msg_type"] == "text"


def test_safe_mode_decrypts_and_encrypts(make_channel):
    ch = make_channel(safe=True)
    reply = ch.peer.post(fixture_xml("text", content="社保卡怎么办"))
    assert reply.kind == "text" and reply.content == "收到：社保卡怎么办"
    assert "<Encrypt>" in reply.body and "社保卡" not in reply.body  # the wire reply is encrypted


def test_safe_mode_refuses_plaintext(make_channel):
    ch = make_channel(safe=True)
    peer = ch.peer
    crypto, peer.crypto = peer.crypto, None  # WeChat would never send plaintext in safe mode
    reply = peer.post(fixture_xml("text", content="你好"))
    peer.crypto = crypto
    assert reply.status == 400 and ch.rasa.calls == []


def test_safe_mode_refuses_a_bad_msg_signature(make_channel):
    ch = make_channel(safe=True)
    xml = fixture_xml("text", content="你好")
    query = ch.peer.signed_query()
    body, extra = ch.peer.envelope(xml, query["timestamp"], query["nonce"])
    extra["msg_signature"] = "0" * 40
    response = requests.post(ch.server.url, params={**query, **extra}, data=body.encode(), timeout=10)
    assert response.status_code == 403 and ch.rasa.calls == []


def test_plaintext_channel_refuses_encrypted_messages(make_channel):
    ch = make_channel()
    response = requests.post(ch.server.url, params={**ch.peer.signed_query(), "encrypt_type": "aes"},
                             data=fixture_xml("text", content="x").encode(), timeout=10)
    assert response.status_code == 400


# --- message types ---------------------------------------------------------------------------------
def test_typed_text_is_guarded(make_channel):
    ch = make_channel()
    ch.peer.post(fixture_xml("text", content="/greet"))
    ch.peer.post(fixture_xml("text", content="我的电话13812345678"))
    assert ch.rasa.texts == ["／greet", "我的电话[手机号]"]
    assert ch.rasa.calls[1].metadata["hygiene"]["pii"] == ["phone"]


def test_voice_recognition_is_treated_as_guarded_text(make_channel):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("voice", recognition="失业保险怎么领 电话13812345678"))
    assert ch.rasa.texts == ["失业保险怎么领 电话[手机号]"]
    assert reply.kind == "text"


def test_voice_without_recognition_asks_to_type(make_channel):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("voice_unrecognised"))
    assert reply.kind == "text" and "请直接输入" in reply.content
    assert ch.rasa.calls == []


def test_subscribe_welcomes_with_a_menu_and_digits_select_it(make_channel):
    rasa = FakeRasa(respond=lambda m: [{"text": "您好！我是人社小助手。"} if m.text == "/greet"
                                       else {"text": f"回答：{m.text}"}])
    ch = make_channel(rasa=rasa)
    openid = new_openid()
    welcome = ch.peer.post(fixture_xml("subscribe", openid=openid))
    assert welcome.content.startswith("您好！我是人社小助手。")
    assert "1. 社保服务网点" in welcome.content and "2. 社保卡和电子社保卡" in welcome.content
    assert rasa.texts == ["/greet"]  # a trusted event: sent as an intent, not neutralised
    pick = ch.peer.post(fixture_xml("text", openid=openid, content="1"))
    assert rasa.texts[-1] == "/ask_service_points"
    assert pick.content == "回答：/ask_service_points"


def test_menu_click_is_mapped_to_its_intent(make_channel):
    ch = make_channel()
    ch.peer.post(fixture_xml("click", key="SERVICE_POINTS"))
    assert ch.rasa.texts == ["/ask_service_points"]


def test_unknown_menu_click_gets_a_polite_answer(make_channel):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("click", key="NO_SUCH_KEY"))
    assert reply.kind == "text" and "请直接输入" in reply.content
    assert ch.rasa.calls == []


def test_location_answers_what_we_know_about_service_points(make_channel):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml("location", label="广东省深圳市福田区福中三路"))
    assert ch.rasa.texts == ['/ask_service_points{"region": "深圳"}']
    assert "不能按位置查找" in reply.content and "福田区福中三路" in reply.content


@pytest.mark.parametrize("name", ["image", "link"])
def test_images_and_other_types_get_a_polite_answer(make_channel, name):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml(name))
    assert reply.kind == "text" and "文字" in reply.content
    assert ch.rasa.calls == []


@pytest.mark.parametrize("name", ["unsubscribe", "view"])
def test_silent_events_answer_success(make_channel, name):
    ch = make_channel()
    reply = ch.peer.post(fixture_xml(name))
    assert reply.kind == "success" and ch.rasa.calls == []


# --- numbered options, hand-off, long answers ------------------------------------------------------
def _clarify(message):
    if message.text in ("1", "2"):
        return [{"text": f"选了{message.text}"}]
    return [{"text": "您想了解的是哪一个？请回复数字：",
             "buttons": [{"title": "社保卡", "payload": "1"}, {"title": "社保服务网点", "payload": "2"}]}]


def test_buttons_are_numbered_and_a_digit_reply_goes_to_rasa(make_channel):
    ch = make_channel(rasa=FakeRasa(respond=_clarify))
    openid = new_openid()
    offer = ch.peer.post(fixture_xml("text", openid=openid, content="社保"))
    assert offer.content == "您想了解的是哪一个？请回复数字：\n1. 社保卡\n2. 社保服务网点"
    pick = ch.peer.post(fixture_xml("text", openid=openid, content="２"))
    assert ch.rasa.texts[-1] == "2" and pick.content == "选了2"


def test_digit_selects_an_intent_payload_offered_last(make_channel):
    def respond(message):
        if message.text.startswith("/"):
            return [{"text": f"intent {message.text}"}]
        return [{"text": "要转人工吗？", "buttons": [{"title": "是", "payload": "/request_human"},
                                                     {"title": "否", "payload": "/deny"}]}]

    ch = make_channel(rasa=FakeRasa(respond=respond))
    openid = new_openid()
    ch.peer.post(fixture_xml("text", openid=openid, content="不会用"))
    assert ch.peer.post(fixture_xml("text", openid=openid, content="2")).content == "intent /deny"
    # the options were used up by a reply without buttons: a digit is plain (guarded) text again
    ch.peer.post(fixture_xml("text", openid=openid, content="1"))
    assert ch.rasa.texts[-1] == "1"


def test_handoff_becomes_transfer_customer_service(make_channel, fake_api):
    rasa = FakeRasa(respond=lambda m: [{"text": "好的，正在为您转人工服务。"}, {"custom": {"handoff": True}}])
    ch = make_channel(rasa=rasa, api=fake_api)
    openid = new_openid()
    reply = ch.peer.post(fixture_xml("text", openid=openid, content="转人工"))
    assert reply.kind == "transfer_customer_service"
    assert fake_api.wait_for_texts(openid, 1) == ["好的，正在为您转人工服务。"]


def test_long_answer_is_split_and_the_rest_sent_through_the_api(make_channel, fake_api):
    long_answer = "".join(f"第{i}条：深圳市补贴性职业技能培训的资料内容。" for i in range(150))
    ch = make_channel(rasa=FakeRasa(respond=lambda m: [{"text": long_answer}]), api=fake_api)
    openid = new_openid()
    reply = ch.peer.post(fixture_xml("text", openid=openid, content="培训"))
    assert len(reply.content.encode("utf-8")) <= MAX_PASSIVE_BYTES
    assert reply.content.endswith("（内容较长，余下部分随后发送）")
    expected_parts = len(long_answer.encode("utf-8")) // MAX_PASSIVE_BYTES + 1
    rest = fake_api.wait_for_texts(openid, expected_parts - 1)
    first = reply.content.removesuffix("\n（内容较长，余下部分随后发送）")
    assert first + "".join(rest) == long_answer
    assert all(len(p.encode("utf-8")) <= MAX_PASSIVE_BYTES for p in rest)


def test_local_mode_outbox_serves_the_simulator(make_channel):
    long_answer = "长答案的句子。" * 200
    ch = make_channel(rasa=FakeRasa(respond=lambda m: [{"text": long_answer}]))
    openid = new_openid()
    first = ch.peer.post(fixture_xml("text", openid=openid, content="x"))
    time.sleep(0.3)
    rest = ch.peer.outbox(openid)
    first_part = first.content.removesuffix("\n（内容较长，余下部分随后发送）")
    assert first_part + "".join(rest) == long_answer.strip()
    # the outbox needs WeChat's signature
    assert requests.get(ch.server.url.removesuffix("webhook") + "outbox", params={"openid": openid},
                        timeout=5).status_code == 403


def test_outbox_is_absent_outside_local_mode(make_channel, fake_api):
    ch = make_channel(api=fake_api)
    assert ch.peer.outbox(new_openid()) is None


# --- de-duplication --------------------------------------------------------------------------------
def _deliver_concurrently(peer, xml, copies=4, stagger=0.15):
    """The first delivery and WeChat's retries of the same XML, overlapping in time."""

    def send(i):
        time.sleep(i * stagger)
        return peer.post(xml)

    with ThreadPoolExecutor(copies) as pool:
        return list(pool.map(send, range(copies)))


def test_three_retries_make_one_turn_and_the_same_reply(make_channel):
    ch = make_channel(rasa=FakeRasa(delay=1.0))
    replies = _deliver_concurrently(ch.peer, fixture_xml("text", content="社保卡"))
    assert len(ch.rasa.calls) == 1
    assert {r.kind for r in replies} == {"text"}
    assert {r.content for r in replies} == {"收到：社保卡"}


def test_without_deduplication_the_retries_would_make_extra_turns(make_channel, monkeypatch):
    # why: proves the test above can fail — with every delivery treated as new, four turns run.
    counter = iter(range(10**6))
    monkeypatch.setattr(wechat_module.WeChatInput, "dedupe_key", staticmethod(lambda m: f"x{next(counter)}"))
    ch = make_channel(rasa=FakeRasa(delay=1.0))
    _deliver_concurrently(ch.peer, fixture_xml("text", content="社保卡"))
    assert len(ch.rasa.calls) == 4


def test_a_retry_after_the_turn_gets_the_stored_reply(make_channel):
    ch = make_channel()
    xml = fixture_xml("text", content="你好")
    first = ch.peer.post(xml)
    again = ch.peer.post(xml)
    assert first.content == again.content and len(ch.rasa.calls) == 1


def test_events_are_deduplicated_by_sender_and_create_time(make_channel):
    ch = make_channel(rasa=FakeRasa(delay=0.5))
    openid = new_openid()
    xml = fixture_xml("subscribe", openid=openid, create_time=1_700_000_000)
    replies = _deliver_concurrently(ch.peer, xml, copies=3)
    assert len(ch.rasa.calls) == 1 and len({r.content for r in replies}) == 1
    ch.peer.post(fixture_xml("subscribe", openid=openid, create_time=1_700_000_001))
    assert len(ch.rasa.calls) == 2


@pytest.mark.redis
def test_two_channel_processes_sharing_redis_make_one_turn(make_channel, redis_store):
    first = make_channel(rasa=FakeRasa(delay=1.0), store=redis_store)
    second = make_channel(rasa=FakeRasa(delay=1.0), store=redis_store)
    xml = fixture_xml("text", content="社保卡")
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(peer.post, xml) for peer in (first.peer, second.peer, first.peer, second.peer)]
        replies = [f.result() for f in futures]
    assert len(first.rasa.calls) + len(second.rasa.calls) == 1
    assert {r.content for r in replies} == {"收到：社保卡"}


# --- the 5-second rule ---------------------------------------------------------------------------------
@pytest.mark.slow  # waits out WeChat's 5-second deadline
def test_slow_answer_gets_success_in_time_then_one_customer_service_message(make_channel, fake_api):
    ch = make_channel(rasa=FakeRasa(delay=6.0), api=fake_api)
    openid = new_openid()
    xml = fixture_xml("text", openid=openid, content="慢问题")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(ch.peer.post, xml)
        time.sleep(5.0)  # WeChat's retry after its 5-second timeout
        retry = pool.submit(ch.peer.post, xml)
        first, retry = first.result(), retry.result()
    assert first.kind == "success" and first.elapsed < 5.0
    assert retry.kind == "success"
    assert fake_api.wait_for_texts(openid, 1) == ["收到：慢问题"]
    time.sleep(1.0)
    assert fake_api.texts_for(openid) == ["收到：慢问题"]  # exactly one delivery
    assert len(ch.rasa.calls) == 1
    # a late retry after delivery also answers success, not the text a second time
    assert ch.peer.post(xml).kind == "success"


@pytest.mark.slow  # waits out WeChat's 5-second deadline
def test_answer_just_inside_the_deadline_is_passive_and_not_pushed(make_channel, fake_api):
    ch = make_channel(rasa=FakeRasa(delay=3.5), api=fake_api)
    openid = new_openid()
    reply = ch.peer.post(fixture_xml("text", openid=openid, content="不太慢"))
    assert reply.kind == "text" and reply.elapsed < 4.6
    time.sleep(0.5)
    assert fake_api.texts_for(openid) == []


@pytest.mark.parametrize("code", [40001, 42001])
def test_slow_answer_survives_token_expiry(make_channel, fake_api, code):
    ch = make_channel(rasa=FakeRasa(delay=0.3), api=fake_api, reply_deadline=0.1)
    openid = new_openid()
    ch.channel.client.send_text(openid, "预热")  # a token is cached
    fake_api.reject_token(code)
    assert ch.peer.post(fixture_xml("text", openid=openid, content="过期")).kind == "success"
    assert fake_api.wait_for_texts(openid, 2) == ["预热", "收到：过期"]
    assert fake_api.token_calls == 2


def test_failing_api_is_logged_clearly(make_channel, fake_api, caplog):
    ch = make_channel(rasa=FakeRasa(delay=0.3), api=fake_api, reply_deadline=0.1, api_attempts=3)
    fake_api.fail_sends(100, "http")
    openid = new_openid()
    with caplog.at_level(logging.ERROR):
        assert ch.peer.post(fixture_xml("text", openid=openid, content="发不出")).kind == "success"
        deadline = time.monotonic() + 10
        while "only 0 of 1" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "FAILED after 3 attempt(s): errcode=-3 HTTP 500" in caplog.text
    assert "only 0 of 1 customer-service message(s)" in caplog.text
    assert fake_api.texts_for(openid) == []


def test_rasa_failure_gets_a_polite_answer(make_channel):
    async def broken(message):
        raise RuntimeError("boom")

    ch = make_channel()
    server_rasa = ch.rasa
    ch.channel._on_new_message = broken
    reply = ch.peer.post(fixture_xml("text", content="x"))
    assert reply.kind == "text" and "稍后" in reply.content
    assert server_rasa.calls == []


def test_development_token_default_matches_the_simulator():
    # why: `make wechat-sim` signs with DEV_TOKEN when WECHAT_TOKEN is unset, like the server.
    from ops import wechat_sim

    assert wechat_sim.WeChatPeer("http://x").token == DEV_TOKEN
    assert json.loads(json.dumps({"ok": True}))


# --- security review (issue 16) -------------------------------------------------------------------
def test_a_signed_query_cannot_be_replayed_with_another_body(make_channel):
    ch = make_channel()
    stamp, nonce = str(int(time.time())), "replay0001"
    first = fixture_xml("text", content="你好")
    assert ch.peer.post(first, timestamp=stamp, nonce=nonce).kind == "text"
    assert ch.peer.post(first, timestamp=stamp, nonce=nonce).kind == "text"  # WeChat's retry: same body
    forged = ch.peer.post(fixture_xml("text", content="帮我转账"), timestamp=stamp, nonce=nonce)
    assert forged.status == 403 and len(ch.rasa.calls) == 1


def test_the_same_msg_id_from_two_accounts_makes_two_turns(make_channel):
    ch = make_channel()
    for openid in (new_openid(), new_openid()):
        ch.peer.post(fixture_xml("text", content="你好", openid=openid, msg_id=1234567890123456))
    assert len(ch.rasa.calls) == 2


def test_content_holding_elements_gets_a_polite_answer(make_channel, caplog):
    ch = make_channel()
    with caplog.at_level(logging.ERROR):
        reply = ch.peer.post(fixture_xml("text_element"))
    assert reply.status == 200 and reply.kind == "text" and reply.content == guard_replies()["empty"]
    assert ch.rasa.calls == [] and "Traceback" not in caplog.text
