"""bot.sessions: server-issued session ids and the PII key, development vs every other environment."""

from __future__ import annotations

import pytest

from bot.sessions import DEV_PII_KEY, MissingKey, issue_widget_session, pii_hash_key, rest_sender, valid_widget_session


@pytest.mark.parametrize("env", [{"APP_ENV": "production"}, {"APP_ENV": "staging"}, {"APP_ENV": "test"},
                                 {"RASA_ENV": "prod"}, {"APP_ENV": "production", "PII_HASH_KEY": "  "}])
def test_the_public_pii_key_is_refused_outside_development(env):
    with pytest.raises(MissingKey):
        pii_hash_key(env)


def test_development_keeps_its_default_and_a_set_key_wins():
    assert pii_hash_key({}) == pii_hash_key({"APP_ENV": "development"}) == DEV_PII_KEY
    assert pii_hash_key({"APP_ENV": "production", "PII_HASH_KEY": "k" * 32}) == "k" * 32


def test_session_ids_are_signed_with_the_key():
    prod = {"APP_ENV": "production", "PII_HASH_KEY": "k" * 32}
    session = issue_widget_session(prod)
    assert valid_widget_session(session, prod) == session
    assert valid_widget_session(session, {"APP_ENV": "production", "PII_HASH_KEY": "other" * 8}) is None
    assert issue_widget_session(prod) != session


@pytest.mark.parametrize("value, expected", [("resident-1234", "rest-resident-1234"), ("1", None), (None, None),
                                             ("a b c d e f g h", None), ("x" * 64, "rest-" + "x" * 64)])
def test_rest_senders(value, expected):
    assert rest_sender(value) == expected
