"""Fixtures of the operator-tool tests: the WeChat simulator talks to the channel fixture of tests/bot."""

from tests.bot.conftest import fake_api, make_channel  # noqa: F401 - fixtures, used by name
