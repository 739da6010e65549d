"""The WeChat API client against a fake customer-service API on loopback."""

from __future__ import annotations

import logging

import pytest

from bot.channels.wechat_client import WeChatClient
from bot.stores.wechat_store import MemoryStore
from tests.bot.wechat_helpers import APPID, SECRET, new_openid


def _client(api, store=None, **kwargs) -> WeChatClient:
    kwargs.setdefault("backoff", 0.01)
    return WeChatClient(store or MemoryStore(), APPID, SECRET, api.base_url, **kwargs)


def test_token_is_fetched_once_and_cached(fake_api):
    client = _client(fake_api)
    openid = new_openid()
    assert client.send_text(openid, "第一条").ok
    assert client.send_text(openid, "第二条").ok
    assert fake_api.token_calls == 1
    assert fake_api.texts_for(openid) == ["第一条", "第二条"]


def test_body_is_utf8_json_not_unicode_escapes(fake_api):
    client = _client(fake_api)
    openid = new_openid()
    client.send_text(openid, "社保卡")
    assert fake_api.sent[-1] == {"touser": openid, "msgtype": "text", "text": {"content": "社保卡"}}


def test_token_is_shared_through_the_store(fake_api):
    store = MemoryStore()
    _client(fake_api, store).send_text(new_openid(), "a")
    _client(fake_api, store).send_text(new_openid(), "b")  # another process/client, same store
    assert fake_api.token_calls == 1


@pytest.mark.parametrize("code", [40001, 42001])
def test_expired_token_is_refreshed_and_the_send_retried(fake_api, code):
    client = _client(fake_api)
    openid = new_openid()
    assert client.send_text(openid, "预热").ok
    fake_api.reject_token(code)
    result = client.send_text(openid, "令牌过期后")
    assert result.ok and result.attempts == 1
    assert fake_api.token_calls == 2
    assert fake_api.texts_for(openid) == ["预热", "令牌过期后"]


@pytest.mark.parametrize("kind", ["busy", "http"])
def test_transient_failures_are_retried_with_backoff(fake_api, kind):
    sleeps = []
    client = _client(fake_api, sleep=sleeps.append, backoff=0.5)
    fake_api.fail_sends(2, kind)
    result = client.send_text(new_openid(), "重试")
    assert result.ok and result.attempts == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_a_failing_api_gives_a_result_and_a_clear_log(fake_api, caplog):
    client = _client(fake_api, attempts=3)
    fake_api.fail_sends(10, "busy")
    openid = new_openid()
    with caplog.at_level(logging.ERROR, logger="bot.channels.wechat_client"):
        result = client.send_text(openid, "发不出去")
    assert not result.ok and result.errcode == -1 and result.attempts == 3
    assert "FAILED after 3 attempt(s): errcode=-1" in caplog.text
    assert openid not in caplog.text and SECRET not in caplog.text  # masked, no secrets


def test_unreachable_api_is_a_result_not_an_exception(caplog):
    client = WeChatClient(MemoryStore(), APPID, SECRET, "http://127.0.0.1:9",
                          attempts=2, backoff=0.01, timeout=1)
    result = client.send_text(new_openid(), "x")
    assert not result.ok and result.errmsg == "ConnectionError"
    assert SECRET not in caplog.text


def test_bad_credentials_are_not_retried(fake_api):
    client = WeChatClient(MemoryStore(), APPID, "wrong-secret", fake_api.base_url, backoff=0.01)
    result = client.send_text(new_openid(), "x")
    assert not result.ok and result.errcode == 40125 and result.attempts == 1


def test_send_texts_stops_at_the_first_failure(fake_api):
    client = _client(fake_api, attempts=1)
    openid = new_openid()
    fake_api.fail_sends(1, "busy")
    results = client.send_texts(openid, ["一", "二"])
    assert [r.ok for r in results] == [False]
    assert fake_api.texts_for(openid) == []


def test_local_mode_keeps_texts_in_the_outbox():
    store = MemoryStore()
    client = WeChatClient(store)  # no AppID/secret
    openid = new_openid()
    assert client.local
    result = client.send_text(openid, "本地")
    assert result.ok and result.local
    assert client.drain_outbox(openid) == ["本地"]
    assert client.drain_outbox(openid) == []
