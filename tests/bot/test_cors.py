"""Who may call the Rasa server from a browser: the site's own origins, never every origin (bot.cors)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from sanic import Sanic

from bot.cors import rasa_cors_origins
from ops.cluster import ClusterPlan, rasa_service
from ops.launcher import bot_services
from tests.bot.asgi import requests_to

FOREIGN = "https://evil.example"
SITE = "http://localhost:8000"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RASA_CORS", "WEB_ALLOWED_ORIGINS", "WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    # why: Sanic 21 refuses a second app of the same name in one process unless in test mode.
    monkeypatch.setattr(Sanic, "test_mode", True)


def _cors_arguments(argv: List[str]) -> List[str]:
    start = list(argv).index("--cors") + 1
    values = []
    for arg in argv[start:]:
        if arg.startswith("--"):
            break
        values.append(arg)
    return values


def _launcher_cors(env: dict | None = None) -> List[str]:
    rasa = next(s for s in bot_services("m.tar.gz", extra_env=env) if s.name == "rasa server")
    return _cors_arguments(rasa.argv)


def _cluster_cors(tmp_path: Path) -> List[str]:
    return _cors_arguments(rasa_service(ClusterPlan(model="m.tar.gz", run_dir=tmp_path), 0).argv)


def test_by_default_only_the_sites_own_origins(tmp_path: Path):
    assert rasa_cors_origins({}) == ["http://localhost:8000", "http://127.0.0.1:8000"]
    assert _launcher_cors() == ["http://localhost:8000", "http://127.0.0.1:8000"]
    assert _cluster_cors(tmp_path) == ["http://localhost:8000", "http://127.0.0.1:8000"]


def test_sites_that_embed_the_widget_and_an_explicit_list(monkeypatch: pytest.MonkeyPatch):
    env = {"WEB_ALLOWED_ORIGINS": "https://renshe.example.gov.cn/, https://www.example.gov.cn", "WEB_PORT": "8080"}
    assert rasa_cors_origins(env) == ["http://localhost:8080", "http://127.0.0.1:8080",
                                      "https://renshe.example.gov.cn", "https://www.example.gov.cn"]
    monkeypatch.setenv("RASA_CORS", "https://a.example.gov.cn https://b.example.gov.cn")
    assert _launcher_cors() == ["https://a.example.gov.cn", "https://b.example.gov.cn"]


@pytest.mark.parametrize("value", ["*", "* https://a.example.gov.cn"])
def test_a_star_is_never_passed_on(value: str):
    origins = rasa_cors_origins({"RASA_CORS": value})
    assert "*" not in origins and origins
    assert "*" not in _launcher_cors({"RASA_CORS": value})


def _rasa_app(origins: List[str]):
    from rasa.core.run import _create_app_without_api

    return _create_app_without_api(origins)


def test_a_foreign_origin_gets_no_cors_reflection_from_rasa():
    """Rasa's own app with what the launcher passes: a foreign page cannot read the replies."""
    foreign, site = requests_to(_rasa_app(_launcher_cors()), ("GET", "/", {"Origin": FOREIGN}),
                                ("GET", "/", {"Origin": SITE}))
    assert foreign[0] == 200
    assert "access-control-allow-origin" not in foreign[1], foreign[1]
    assert "access-control-allow-credentials" not in foreign[1]
    assert site[1].get("access-control-allow-origin") == SITE


def test_a_foreign_preflight_is_not_allowed_either():
    [(status, headers, _)] = requests_to(_rasa_app(_launcher_cors()), (
        "OPTIONS", "/webhooks/rest/webhook",
        {"Origin": FOREIGN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}))
    assert headers.get("access-control-allow-origin") != FOREIGN
    assert "access-control-allow-credentials" not in headers
