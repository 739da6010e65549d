"""Creating a topic intent in the console: files written, card linked, knowledge base rebuilt, refusals kept.

A copy of the project with its own knowledge content and knowledge database, so the repository's files and
var/knowledge.db stay untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from console import new_intent
from console.app import create_app
from console.auth import Authenticator, load_secret
from console.settings import ConsoleSettings
from console.store import Store
from knowledge.service import KnowledgeService
from tests.console.support import EmptyAppStore, FakeRasa, ServerThread, console_env, flashes, post_form, sign_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["社保卡怎么激活", "新社保卡要激活吗", "社保卡激活在哪里办", "拿到社保卡第一步做什么", "社保卡金融功能怎么开通"]


@pytest.fixture
def site(project: Path, tmp_path: Path):
    shutil.copytree(ROOT / "knowledge", project / "knowledge", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    kb_url = f"sqlite:///{tmp_path / 'kb.db'}"
    settings = ConsoleSettings.from_env(console_env(project, DATABASE_URL=kb_url))
    store = Store(settings.database_url)
    Authenticator(store, settings, load_secret(settings)).create_user("trainer1", "correct horse battery 9", "trainer")
    new_intent.rebuild_knowledge(project / "knowledge", kb_url)
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyAppStore)).start()
    yield server, project, kb_url, store
    server.stop()


def _create(session, url, **fields):
    data = {"name": "ask_card_activation", "topic": "social_security_card", "examples": "\n".join(EXAMPLES)}
    return post_form(session, url, "/intents/new", "/intents/new", {**data, **fields})


def test_a_trainer_creates_an_intent_linked_to_its_card(site):
    server, project, kb_url, store = site
    session = sign_in(server.url, "trainer1", "correct horse battery 9")
    assert "新建意图" in session.get(server.url + "/").text
    page = session.get(server.url + "/intents/new")
    assert page.status_code == 200 and "社保卡与电子社保卡（social_security_card）" in page.text
    response = _create(session, server.url)
    assert response.status_code == 303 and response.headers["Location"] == "/intents/ask_card_activation"
    shown = session.get(server.url + response.headers["Location"])
    assert any("已创建意图 ask_card_activation" in f and "知识库已重建" in f for f in flashes(shown.text)), shown.text

    nlu = yaml.safe_load((project / "data" / "nlu" / "ask_card_activation.yml").read_text(encoding="utf-8"))
    assert nlu["nlu"][0]["intent"] == "ask_card_activation"
    assert [line[2:] for line in nlu["nlu"][0]["examples"].splitlines()] == EXAMPLES
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    assert "ask_card_activation" in domain["intents"] and "greet" in domain["intents"]
    rules = yaml.safe_load((project / "data" / "rules" / "topics.yml").read_text(encoding="utf-8"))["rules"]
    assert {"rule": "ask_card_activation",
            "steps": [{"intent": "ask_card_activation"}, {"action": "action_answer_topic"}]} in rules
    card = yaml.safe_load((project / "knowledge" / "topics" / "social_security_card.yml").read_text(encoding="utf-8"))
    assert card["intents"][-1] == "ask_card_activation" and len(card["intents"]) >= 2
    # the knowledge base the actions read links the intent to the card
    assert KnowledgeService(kb_url).topic_for_intent("ask_card_activation").id == "social_security_card"
    entry = store.audit_entries(20, action="intent_create")[0]
    assert entry.username == "trainer1" and entry.detail["topic"] == "social_security_card"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": "card activation"}, "意图名须以 ask_ 开头"),
        ({"name": "ask_pension"}, "已存在"),
        ({"topic": "no_such_card"}, "请选择一个已有的主题卡片"),
        ({"examples": "社保卡怎么激活\n社保卡怎么激活\n新社保卡要激活吗"}, "至少写 5 条"),
        ({"examples": "\n".join([*EXAMPLES[:4], "我的电话13812345678社保卡怎么激活"])}, "不能含身份证号"),
    ],
)
def test_refused_requests_keep_what_was_typed_and_write_nothing(site, fields, message):
    server, project, _, _ = site
    before = {p: p.read_bytes() for p in [project / "domain.yml", project / "data" / "rules" / "topics.yml"]}
    session = sign_in(server.url, "trainer1", "correct horse battery 9")
    response = _create(session, server.url, **fields)
    assert response.status_code == 422 and message in response.text
    assert "社保卡怎么激活" in response.text  # the examples stay in the form
    assert "13812345678" not in response.text
    assert {p: p.read_bytes() for p in before} == before
    assert not (project / "data" / "nlu" / "ask_card_activation.yml").exists()


def test_the_page_needs_a_signed_in_editor(site):
    server, _, _, _ = site
    import requests

    response = requests.get(server.url + "/intents/new", allow_redirects=False)
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    response = requests.post(server.url + "/intents/new", data={"name": "ask_x"}, allow_redirects=False)
    assert response.status_code in (302, 303, 401, 403)
