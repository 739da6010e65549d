"""widget.store: masking, consent, encryption of hand-off contacts, listing for the trainer console."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from cryptography.fernet import Fernet

from widget.store import (
    AppStore,
    ConsentRequired,
    StoreError,
    load_fernet,
    mask_email,
    mask_name,
    mask_phone,
    normalise_phone,
)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "app.db"


@pytest.fixture
def store(db_path):
    store = AppStore(f"sqlite:///{db_path}", Fernet(Fernet.generate_key()))
    yield store
    store.dispose()


def raw_dump(db_path) -> str:
    """Everything in the database file as text, to prove what is NOT stored."""
    with sqlite3.connect(db_path) as conn:
        return "\n".join(conn.iterdump())


def test_feedback_round_trip_newest_first(store):
    first = store.record_feedback(
        session_id="s1", rating="up", bot_text="答案一\n来源：《深圳人社2024年十件大事》"
    )
    second = store.record_feedback(
        session_id="s1", rating="down", bot_text="答案二", reason="inaccurate", comment="数字不对",
        user_text="深圳有多少个社保服务网点", message_id="m2",
    )
    listed = store.list_feedback()
    assert [f.id for f in listed] == [second.id, first.id]
    assert listed[0].reason == "inaccurate" and listed[0].comment == "数字不对"
    assert listed[0].user_text == "深圳有多少个社保服务网点" and listed[0].message_id == "m2"
    assert listed[0].created_at.tzinfo is not None
    assert [f.id for f in store.list_feedback(rating="up")] == [first.id]


@pytest.mark.parametrize(
    "field, value, secret",
    [
        ("comment", "我的身份证440301199001011234查不到", "440301199001011234"),
        ("user_text", "电话13812345678", "13812345678"),
        ("bot_text", "卡号6222021234567890", "6222021234567890"),
    ],
)
def test_feedback_texts_are_masked_before_storage(store, db_path, field, value, secret):
    kwargs = {"session_id": "s1", "rating": "down", "bot_text": "答案", field: value}
    record = store.record_feedback(**kwargs)
    assert secret not in getattr(record, field)
    assert secret not in raw_dump(db_path)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"rating": "meh"}, "rating"),
        ({"reason": "because"}, "reason"),
        ({"session_id": "<script>"}, "session_id"),
        ({"session_id": ""}, "session_id"),
    ],
)
def test_feedback_rejects_bad_values(store, kwargs, field):
    values = {"session_id": "s1", "rating": "down", "bot_text": "答案", **kwargs}
    with pytest.raises(StoreError) as error:
        store.record_feedback(**values)
    assert error.value.field == field
    assert store.list_feedback() == []


def test_feedback_texts_are_cut_to_length(store):
    record = store.record_feedback(session_id="s1", rating="down", bot_text="字" * 5000, comment="评" * 900)
    assert len(record.bot_text) == 2000 and len(record.comment) == 500


def test_handoff_requires_explicit_consent(store, db_path):
    for consent in (False, None, "true", 1):
        with pytest.raises(ConsentRequired):
            store.record_handoff(session_id="s1", message="请联系我", consent=consent, phone="13812345678")
    assert store.list_handoffs() == []
    assert "13812345678" not in raw_dump(db_path)


def test_handoff_contact_is_encrypted_and_listed_masked(store, db_path):
    record = store.record_handoff(
        session_id="s1", message="想咨询灵活就业参保，电话13812345678", consent=True,
        phone="138 1234 5678", name="张三丰",
    )
    assert record.contact_kind == "phone" and record.contact_masked == "138****5678"
    assert record.name_masked == "张**"
    assert "13812345678" not in record.message and "[手机号]" in record.message
    dump = raw_dump(db_path)
    assert "13812345678" not in dump and "张三丰" not in dump
    [listed] = store.list_handoffs()
    assert listed.id == record.id and listed.status == "new" and listed.consent_version
    contact = store.reveal_contact(record.id)
    assert (contact.name, contact.phone, contact.email) == ("张三丰", "13812345678", None)
    assert store.set_handoff_status(record.id, "answered")
    assert store.list_handoffs(status="answered")[0].id == record.id


def test_handoff_with_email_only(store):
    record = store.record_handoff(
        session_id="s1", message="请回复", consent=True, email="zhang.san@example.com"
    )
    assert record.contact_kind == "email" and record.contact_masked == "z***@example.com"
    assert store.reveal_contact(record.id).email == "zhang.san@example.com"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({}, "contact"),
        ({"phone": "abc"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "13812345678", "message": "   "}, "message"),
    ],
)
def test_handoff_rejects_bad_contact_or_message(store, kwargs, field):
    values = {"session_id": "s1", "message": "请联系我", "consent": True, **kwargs}
    with pytest.raises(StoreError) as error:
        store.record_handoff(**values)
    assert error.value.field == field


def test_contact_cannot_be_read_with_another_key(db_path):
    writer = AppStore(f"sqlite:///{db_path}", Fernet(Fernet.generate_key()))
    record = writer.record_handoff(session_id="s1", message="请联系我", consent=True, phone="13812345678")
    reader = AppStore(f"sqlite:///{db_path}", Fernet(Fernet.generate_key()))
    assert reader.reveal_contact(record.id) is None
    assert reader.list_handoffs()[0].contact_masked == "138****5678"
    writer.dispose()
    reader.dispose()


@pytest.mark.parametrize(
    "func, value, expected",
    [
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "075588123017", "********3017"),
        (mask_email, "a@b.cn", "a***@b.cn"),
        (mask_name, "李", "李*"),
        (mask_name, "欧阳娜娜", "欧***"),
        (normalise_phone, "+86 138-1234-5678", "13812345678"),
        (normalise_phone, "１３８１２３４５６７８", "13812345678"),
        (normalise_phone, "(0755) 8812 3017", "075588123017"),
        (normalise_phone, "12", None),
        (normalise_phone, "call me", None),
    ],
)
def test_masking_helpers(func, value, expected):
    assert func(value) == expected


def test_handoff_key_from_environment(tmp_path):
    key = Fernet.generate_key()
    fernet = load_fernet({"HANDOFF_KEY": key.decode()}, key_path=tmp_path / "k")
    assert Fernet(key).decrypt(fernet.encrypt(b"x")) == b"x"
    assert not (tmp_path / "k").exists()


def test_handoff_key_required_in_production(tmp_path):
    with pytest.raises(RuntimeError, match="HANDOFF_KEY"):
        load_fernet({"APP_ENV": "production"}, key_path=tmp_path / "k")


def test_development_key_is_generated_once_and_private(tmp_path):
    path = tmp_path / "var" / "handoff.key"
    first = load_fernet({}, key_path=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_fernet({}, key_path=path)
    assert second.decrypt(first.encrypt(b"x")) == b"x"


def test_default_store_reads_app_database_url(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("APP_DATABASE_URL", url)
    assert AppStore().database_url == url
    monkeypatch.setenv("APP_DATABASE_URL", "postgres://u:p@h/db")
    assert AppStore().database_url == "postgresql://u:p@h/db"
