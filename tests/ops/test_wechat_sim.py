"""The terminal simulator (``make wechat-sim``) drives the real channel the way WeChat does."""

from __future__ import annotations

import pytest

from ops import wechat_sim
from tests.bot.wechat_helpers import FakeRasa


def test_simulator_session(make_channel, monkeypatch, capsys):
    long_text = "这是一句很长的回答。" * 120
    rasa = FakeRasa(respond=lambda m: [{"text": long_text if m.text == "长" else f"答：{m.text}"}])
    ch = make_channel(rasa=rasa)
    lines = iter(["你好", ":voice 失业保险怎么领", ":click SERVICE_POINTS",
                  ":location 上海市浦东新区世纪大道", ":image", "长", ":bogus", ":quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert wechat_sim.main(["--url", ch.server.url, "--token", ch.peer.token, "--openid", "oSim1"]) == 0
    out = capsys.readouterr().out
    assert "答：/greet" in out  # the session starts with a subscribe event
    assert "答：你好" in out and "答：失业保险怎么领" in out and "答：/ask_service_points" in out
    assert '答：/ask_service_points{"region": "上海"}' in out
    assert "只能看懂文字消息" in out
    assert "bot [customer-service]>" in out  # the rest of the long answer, from the local outbox
    assert "unknown command" in out
    assert [m.sender_id for m in rasa.calls] == ["oSim1"] * 6


@pytest.mark.parametrize("line", [":voice", ":subscribe", ":image"])
def test_simulator_builds_xml_that_the_channel_parses(make_channel, line):
    ch = make_channel()
    reply = ch.peer.post(wechat_sim._message_for(line, "oSim2"))
    assert reply.status == 200 and reply.kind == "text"
