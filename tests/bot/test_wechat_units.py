"""Pure parts of the WeChat channel: settings, store, rendering, splitting, menu configuration."""

from __future__ import annotations

import logging

import pytest
from ruamel.yaml import YAML

from bot.channels.wechat import (
    MAX_PASSIVE_BYTES,
    WeChatMenu,
    location_region,
    option_digit,
    render_messages,
    split_text,
)
from bot.channels.wechat_settings import DEFAULT_MENU_PATH, DEV_TOKEN, WeChatConfigError, WeChatSettings
from bot.stores.wechat_store import MemoryStore
from tests.bot.conftest import REDIS_URL
from tests.bot.wechat_helpers import AES_KEY, APPID

ROOT = DEFAULT_MENU_PATH.parents[2]


# --- settings ----------------------------------------------------------------------------------
def test_unset_token_uses_the_development_default_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        settings = WeChatSettings.from_env({})
    assert settings.token == DEV_TOKEN
    assert not settings.safe_mode and settings.local_mode and not settings.production
    assert "development token" in caplog.text


@pytest.mark.parametrize("token", ["", "changeme", DEV_TOKEN, "${WECHAT_TOKEN}"])
@pytest.mark.parametrize("env_name", [("RASA_ENV", "production"), ("APP_ENV", "prod")])
def test_production_refuses_empty_or_placeholder_tokens(token, env_name):
    with pytest.raises(WeChatConfigError):
        WeChatSettings.from_env({"WECHAT_TOKEN": token, env_name[0]: env_name[1]})


def test_production_settings_from_the_environment():
    settings = WeChatSettings.from_env({
        "RASA_ENV": "production", "WECHAT_TOKEN": "real-token-123", "WECHAT_APPID": APPID,
        "WECHAT_SECRET": "s3cret", "WECHAT_AES_KEY": AES_KEY, "WECHAT_API_BASE": "http://127.0.0.1:1/",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    })
    assert settings.safe_mode and not settings.local_mode and settings.production
    assert settings.api_base == "http://127.0.0.1:1"
    assert "s3cret" not in repr(settings) and "real-token-123" not in repr(settings)


@pytest.mark.parametrize(
    "env",
    [
        {"WECHAT_AES_KEY": "too-short", "WECHAT_APPID": APPID},
        {"WECHAT_AES_KEY": "!" * 43, "WECHAT_APPID": APPID},
        {"WECHAT_AES_KEY": AES_KEY},  # safe mode needs the AppID
        {"WECHAT_REPLY_DEADLINE": "5"},  # must stay under WeChat's 5 seconds
        {"WECHAT_REPLY_DEADLINE": "soon"},
    ],
)
def test_bad_settings_are_refused(env):
    with pytest.raises(WeChatConfigError):
        WeChatSettings.from_env({"WECHAT_TOKEN": "t", **env})


# --- store -------------------------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _exercise_store(store, advance=None) -> None:
    assert store.add("k", "first", 60)
    assert not store.add("k", "second", 60)
    assert store.get("k") == "first"
    store.set("k", "third", 60)
    assert store.get("k") == "third"
    store.delete("k")
    assert store.get("k") is None
    store.push("list", "a", 60)
    store.push("list", "b", 60)
    assert store.drain("list") == ["a", "b"]
    assert store.drain("list") == []


def test_memory_store_contract_and_expiry():
    clock = _Clock()
    store = MemoryStore(prefix="p:", clock=clock)
    _exercise_store(store)
    assert store.add("short", "x", 5)
    clock.now += 6
    assert store.get("short") is None
    assert store.add("short", "y", 5)


@pytest.mark.redis
def test_redis_store_contract_and_expiry(redis_store):
    import time

    _exercise_store(redis_store)
    assert redis_store.add("short", "x", 0.2)
    time.sleep(0.3)
    assert redis_store.get("short") is None
    assert redis_store.client.exists(redis_store.key("short")) == 0


@pytest.mark.redis
def test_redis_store_keys_are_namespaced(redis_store):
    redis_store.set("seen:x", "1", 60)
    assert redis_store.client.get(f"{redis_store.prefix}seen:x") == "1"
    assert REDIS_URL.startswith("redis://")


# --- rendering ---------------------------------------------------------------------------------
def test_buttons_become_numbered_options():
    rendered = render_messages([
        {"text": "您想了解的是哪一个？请回复数字："},
        {"text": "", "buttons": [{"title": "社保卡", "payload": "1"},
                                 {"title": "社保服务网点", "payload": "2"}]},
    ])
    assert rendered.text == "您想了解的是哪一个？请回复数字：\n\n1. 社保卡\n2. 社保服务网点"
    assert rendered.options == (("1", "社保卡", "1"), ("2", "社保服务网点", "2"))
    assert not rendered.handoff


def test_intent_payload_buttons_are_numbered_by_position():
    rendered = render_messages([{"text": "选一个", "buttons": [{"title": "是", "payload": "/affirm"},
                                                              {"title": "否", "payload": "/deny"}]}])
    assert rendered.text.endswith("1. 是\n2. 否")
    assert rendered.options == (("1", "是", "/affirm"), ("2", "否", "/deny"))


def test_handoff_json_sets_the_flag_and_texts_are_kept():
    rendered = render_messages([{"text": "好的，正在为您转人工服务。"}, {"custom": {"handoff": True}}])
    assert rendered.handoff
    assert rendered.text == "好的，正在为您转人工服务。"


# --- splitting long answers --------------------------------------------------------------------
def test_short_text_is_one_part():
    assert split_text("深圳有多少个社保服务网点？") == ["深圳有多少个社保服务网点？"]


def test_long_text_is_split_by_sentence_within_2048_bytes():
    sentences = [f"第{i}句：深圳市人力资源和社会保障局发布的规划提出多项目标。" for i in range(120)]
    text = "".join(sentences)
    parts = split_text(text, continued="（未完）")
    assert len(parts) > 1
    assert all(len(p.encode("utf-8")) <= MAX_PASSIVE_BYTES for p in parts)
    assert parts[0].endswith("（未完）")
    # every part ends at a sentence end, and nothing is lost
    assert all(p.removesuffix("\n（未完）").endswith("。") for p in parts)
    assert "".join(p.removesuffix("\n（未完）") for p in parts) == text


def test_a_single_huge_sentence_is_cut_at_character_boundaries():
    text = "社" * 3000  # 9000 bytes, no sentence end
    parts = split_text(text)
    assert all(len(p.encode("utf-8")) <= MAX_PASSIVE_BYTES for p in parts)
    assert "".join(parts) == text


def test_closing_quotes_stay_with_their_sentence():
    text = ("他说：“" + "好" * 600 + "。”") * 3
    parts = split_text(text)
    assert all(not p.startswith("”") for p in parts)


@pytest.mark.parametrize(
    "text, digit",
    [("1", "1"), (" 2 ", "2"), ("３", "3"), ("1.", "1"), ("12", "12"),
     ("0", None), ("1个", None), ("", None)],
)
def test_option_digit(text, digit):
    assert option_digit(text) == digit


@pytest.mark.parametrize(
    "label, region",
    [
        ("广东省深圳市福田区福中三路", "深圳"),
        ("上海市浦东新区世纪大道", "上海"),
        ("广东省广州市天河区天河路", "广州"),
        ("浙江省杭州市西湖区", "杭州"),
        ("北京市朝阳区", "北京"),
        ("深圳湾公园", "深圳"),
        ("某个没有城市的地方", None),
    ],
)
def test_location_label_to_region(label, region):
    assert location_region(label) == region


# --- menu configuration --------------------------------------------------------------------------
def test_menu_intents_exist_in_the_domain():
    menu = WeChatMenu.load(DEFAULT_MENU_PATH)
    intents = set(YAML(typ="safe").load((ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"])
    messages = [*menu.click.values(), menu.subscribe_message, *(m for _, m in menu.menu)]
    assert messages and all(m.startswith("/") for m in messages)
    assert {m[1:] for m in messages} <= intents
    assert menu.location_intent in intents
    assert len(menu.menu) <= 9  # digits 1-9


def test_menu_without_canned_replies_is_refused(tmp_path):
    path = tmp_path / "menu.yml"
    path.write_text("click: {}\nreplies: {error: x}\n", encoding="utf-8")
    with pytest.raises(ValueError):
        WeChatMenu.load(path)


@pytest.mark.parametrize("name", ["staging", "test", "Prod ", "produciton", "live"])
def test_every_environment_but_development_refuses_the_published_token(name):
    with pytest.raises(WeChatConfigError):
        WeChatSettings.from_env({"APP_ENV": name})
    with pytest.raises(WeChatConfigError):
        WeChatSettings.from_env({"APP_ENV": name, "WECHAT_TOKEN": DEV_TOKEN})
    assert WeChatSettings.from_env({"APP_ENV": name, "WECHAT_TOKEN": "real-token-123"}).production


def test_explicit_development_may_use_the_published_token():
    assert WeChatSettings.from_env({"APP_ENV": "development"}).token == DEV_TOKEN
