"""The WeChat path end to end: wechatpy as WeChat → real Rasa server (trained model) → action server."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.channels.wechat_settings import DEV_TOKEN
from ops.wechat_sim import (
    WeChatPeer,
    event_message,
    location_message,
    new_msg_id,
    text_message,
    voice_message,
)
from tests.bot.wechat_helpers import AES_KEY, APPID, new_openid

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wechat(running_bot) -> WeChatPeer:
    # why: running_bot starts Rasa with credentials.yml and no WECHAT_* variables (unless the
    # environment has them): the channel runs on the development token, plaintext, local mode.
    return WeChatPeer(f"{running_bot.rasa_url}/webhooks/wechat/webhook",
                      os.environ.get("WECHAT_TOKEN") or DEV_TOKEN, timeout=60)


def _answer(peer: WeChatPeer, xml: str, openid: str) -> str:
    """The whole answer: the passive reply plus customer-service texts (local outbox)."""
    reply = peer.post(xml)
    assert reply.status == 200, reply.body
    texts = [reply.content] if reply.kind == "text" else []
    deadline = time.monotonic() + (30 if reply.kind != "text" else 1.5)
    while time.monotonic() < deadline:
        extra = peer.outbox(openid) or []
        texts += extra
        if extra and reply.kind != "text":
            break
        time.sleep(0.3)
    return "\n".join(texts)


def _user_turns(rasa_url: str, api_token: str, openid: str) -> int:
    response = requests.get(f"{rasa_url}/conversations/{openid}/tracker", params={"token": api_token},
                            timeout=30)
    response.raise_for_status()
    return sum(1 for event in response.json().get("events", []) if event.get("event") == "user")


def test_a_real_answer_comes_back_through_wechat_with_its_source(wechat):
    openid = new_openid()
    reply = wechat.post(text_message(openid, "深圳有多少个社保服务网点"))
    assert reply.kind == "text", f"not answered within the deadline: {reply}"
    assert "来源：《" in reply.content
    assert reply.elapsed < 4.5


def test_voice_recognition_is_answered_like_text(wechat):
    openid = new_openid()
    assert "来源：《" in _answer(wechat, voice_message(openid, "深圳有多少个社保服务网点"), openid)


def test_subscribe_menu_and_digit_reply(wechat):
    openid = new_openid()
    welcome = wechat.post(event_message(openid, "subscribe"))
    assert "人社小助手" in welcome.content and "1. 社保服务网点" in welcome.content
    picked = _answer(wechat, text_message(openid, "1"), openid)
    assert "网点" in picked and "来源：《" in picked


def test_menu_click_answers_its_topic(wechat):
    openid = new_openid()
    assert "来源：《" in _answer(wechat, event_message(openid, "CLICK", "SERVICE_POINTS"), openid)


def test_location_is_answered_honestly(wechat):
    openid = new_openid()
    answer = _answer(wechat, location_message(openid, "广东省深圳市福田区福中三路"), openid)
    assert "不能按位置查找" in answer and "来源：《" in answer


def test_request_for_a_human_transfers_to_customer_service(wechat):
    openid = new_openid()
    reply = wechat.post(text_message(openid, "转人工"))
    assert reply.kind == "transfer_customer_service"
    time.sleep(1.5)
    assert any("人工" in text for text in wechat.outbox(openid) or [])


def test_retries_of_one_message_make_one_rasa_turn(running_bot, wechat):
    openid = new_openid()
    xml = text_message(openid, "深圳有多少个社保服务网点", msg_id=new_msg_id())
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: wechat.post(xml), range(4)))
    assert len({(r.kind, r.content) for r in replies}) == 1
    assert _user_turns(running_bot.rasa_url, running_bot.api_token, openid) == 1


@pytest.mark.redis
def test_two_rasa_processes_sharing_redis_make_one_turn(rasa_pair):
    """Safe mode, Redis store: the same MsgId delivered to both processes at once → one turn."""
    peers = [WeChatPeer(url, rasa_pair.token, AES_KEY, APPID, timeout=60) for url in rasa_pair.urls]
    openid = new_openid()
    xml = text_message(openid, "深圳有多少个社保服务网点", msg_id=new_msg_id())
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda peer: peer.post(xml), [*peers, *peers]))
    assert {r.kind for r in replies} == {"text"}, replies
    assert len({r.content for r in replies}) == 1 and "来源：《" in replies[0].content
    turns = [_user_turns(url, rasa_pair.api_token, openid) for url in rasa_pair.rasa_urls]
    assert sum(turns) == 1, turns
