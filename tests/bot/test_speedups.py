"""bot.speedups: the cached JSON-schema check of action-server replies behaves like Rasa's own."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot import speedups

# why: captured before any test installs the speed-ups (the module fixture keeps them installed).
STOCK_SESSION = EndpointConfig.session

VALID = {
    "events": [{"event": "slot", "name": "topic", "value": "service_points"}],
    "responses": [{"response": "utter_kb_answer", "answer": "…"}],
}


@pytest.fixture(scope="module")
def stock_and_patched():
    from rasa.utils.endpoints import EndpointConfig

    action = RemoteAction.__new__(RemoteAction)  # why: validation needs no endpoint or name
    stock = RemoteAction._validate_action_result
    stock_session = EndpointConfig.session
    speedups.install()
    yield action, stock
    RemoteAction._validate_action_result = stock
    EndpointConfig.session = stock_session
    speedups._installed = False


@pytest.mark.parametrize(
    "result",
    [VALID, {"events": [], "responses": []}, {}],
)
def test_valid_replies_pass(stock_and_patched, result):
    action, stock = stock_and_patched
    assert stock(action, result) is True
    assert action._validate_action_result(result) is True


@pytest.mark.parametrize(
    "result",
    [{"events": [{"event": 5}]}, {"events": "slot"}, {"responses": [1]}, []],
)
def test_invalid_replies_fail_with_rasas_message(stock_and_patched, result):
    action, stock = stock_and_patched
    with pytest.raises(ValidationError) as theirs:
        stock(action, result)
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(result)
    assert ours.value.message == theirs.value.message
    assert "Failed to validate Action server response" in ours.value.message


AGREEMENT_CASES = [
    VALID,
    {"events": [{"event": "slot", "name": "last_answer", "value": {"topic": "x", "fact_ids": [1]}},
                {"event": "bot", "text": "hi", "data": {"buttons": None}, "metadata": {}},
                {"event": "followup", "name": "action_listen"}, {"event": "restart"}]},
    {"events": [{"event": "slot", "name": "topic"}]},  # no value
    {"events": [{"event": "slot", "name": 5, "value": 1}]},
    {"events": [{"event": "nonsense"}]},
    {"events": [{"event": "user", "text": 5}]},
    {"events": [{"event": "action", "name": "x", "confidence": "high"}]},
    {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "now"}]},
    {"events": [{"event": "entities", "entities": [{"entity": "city"}]}]},
    {"events": [{}]},
    {"events": [None]},
    {"responses": [{"response": "utter_x"}], "events": None},
    {"responses": "utter_x"},
    {"something_else": 1},
]


@pytest.mark.parametrize("result", AGREEMENT_CASES)
def test_the_event_by_event_check_agrees_with_rasas(stock_and_patched, result):
    """The fast path (each event against its own type's schema) never accepts what Rasa's check refuses."""
    action, stock = stock_and_patched
    try:
        theirs = stock(action, result)
    except ValidationError as error:
        theirs = error.message
    try:
        ours = action._validate_action_result(result)
    except ValidationError as error:
        ours = error.message
    assert ours == theirs


def test_install_is_idempotent(stock_and_patched):
    patched = RemoteAction._validate_action_result
    speedups.install()
    assert RemoteAction._validate_action_result is patched


def test_launcher_starts_rasa_through_speedups(monkeypatch):
    from ops.launcher import bot_services

    monkeypatch.delenv("RASA_SPEEDUPS", raising=False)
    rasa = next(s for s in bot_services("models/x.tar.gz") if s.name == "rasa server")
    assert rasa.argv[1:4] == ["-m", "bot.speedups", "run"]


@pytest.mark.parametrize("value", ["0", "off", "false"])
def test_speedups_can_be_switched_off(monkeypatch, value):
    monkeypatch.setenv("RASA_SPEEDUPS", value)
    (command,) = speedups.rasa_command()
    assert command.endswith("/rasa")


@pytest.mark.slow  # starts Rasa's CLI in a subprocess (~10 s)
def test_speedups_module_runs_rasas_cli():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "bot.speedups", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3.6.21" in result.stdout


def _peer_ports_of_two_requests() -> list:
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    async def run() -> list:
        ports = []

        async def handler(request):
            ports.append(request.transport.get_extra_info("peername")[1])
            return web.json_response({"ok": True, "auth": request.headers.get("X-Test")})

        app = web.Application()
        app.router.add_post("/webhook", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-Test": "yes"})
        try:
            for _ in range(2):
                assert await endpoint.request(json={}) == {"ok": True, "auth": "yes"}
        finally:
            await runner.cleanup()
        return ports

    return asyncio.run(run())


def test_action_server_calls_reuse_one_connection():
    from rasa.utils.endpoints import EndpointConfig

    patched_session = EndpointConfig.session
    stock_validate = RemoteAction._validate_action_result
    EndpointConfig.session = STOCK_SESSION
    first, second = _peer_ports_of_two_requests()
    assert first != second  # Rasa's own: a new session, so a new connection, per call
    try:
        speedups._installed = False
        speedups.install()
        first, second = _peer_ports_of_two_requests()
        assert first == second
    finally:
        EndpointConfig.session = patched_session
        RemoteAction._validate_action_result = stock_validate
        speedups._installed = True
