"""What an example must pass before it is kept: refusals, near-duplicates, `rasa data validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.checks import MAX_CHARS, char_ngrams, check_example, jaccard, normalise, rasa_validate
from console.nlu_files import NluRepository
from console.settings import ConsoleSettings
from tests.console.support import console_env, copy_project, flashes, post_form, sign_in

NLU = """version: "3.1"
nlu:
- intent: ask_pension
  examples: |
    - [深圳](region)养老金平均每月多少钱
    - 养老金今年涨了吗
- intent: ask_unemployment_insurance
  examples: |
    - 失业保险金怎么领
    - 失业金每月能领多少钱
"""
ENTITIES = {"region", "period", "insurance_type"}


@pytest.fixture
def data(tmp_path):
    (tmp_path / "nlu").mkdir()
    (tmp_path / "nlu" / "x.yml").write_text(NLU, encoding="utf-8")
    return NluRepository(tmp_path / "nlu").load()


@pytest.mark.parametrize(
    ("raw", "intent", "error"),
    [
        ("", "ask_pension", "不能为空"),
        ("   ", "ask_pension", "不能为空"),
        ("？！。", "ask_pension", "不能为空"),
        ("养" * (MAX_CHARS + 1), "ask_pension", f"不能超过 {MAX_CHARS} 个字"),
        ("失业保险金怎么领", "ask_pension", "相同例句已属于意图 ask_unemployment_insurance"),
        ("失业保险金，怎么领？", "ask_pension", "相同例句已属于意图 ask_unemployment_insurance"),
        ("养老金今年涨了吗", "ask_pension", "下已有相同例句"),
        ("[深圳](city)养老金", "ask_pension", "没有实体 city"),
        ('[深圳]{"entity": region}养老金', "ask_pension", "不是合法的 JSON"),
        ("我的电话13812345678养老金", "ask_pension", "手机号"),
        ("身份证440301199001011234查养老金", "ask_pension", "身份证号"),
        ("养老金怎么算", "no_such_intent", "没有意图"),
    ],
    ids=[
        "empty",
        "spaces",
        "punctuation",
        "too-long",
        "other-intent",
        "other-intent-punct",
        "same-intent",
        "unknown-entity",
        "bad-json",
        "phone",
        "id-card",
        "unknown-intent",
    ],
)
def test_refusals(data, raw, intent, error):
    result = check_example(raw, intent, data, ENTITIES)
    assert not result.ok
    assert any(error in e for e in result.errors), result.errors


@pytest.mark.parametrize(
    "raw",
    [
        "养老金怎么算",
        "[上海](region)养老金多少",
        "养" * MAX_CHARS,
        '[鹏城]{"entity": "region", "value": "深圳"}养老金',
    ],
)
def test_acceptable_examples(data, raw):
    result = check_example(raw, "ask_pension", data, ENTITIES)
    assert result.ok, result.errors
    assert result.near_duplicates == ()


def test_near_duplicates_across_intents_are_flagged_not_refused(data):
    result = check_example("失业保险金每月能领多少钱", "ask_pension", data, ENTITIES)
    assert result.ok
    assert [d.intent for d in result.near_duplicates] == ["ask_unemployment_insurance"]
    assert result.near_duplicates[0].similarity >= 0.5


def test_editing_an_example_does_not_collide_with_itself(data):
    result = check_example("养老金今年涨了吗", "ask_pension", data, ENTITIES, ignore=("ask_pension", 1))
    assert result.ok


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ("失业保险金怎么领", "失业保险金怎么领", 1.0, 1.0),
        ("失业保险金怎么领", "养老金今年涨了吗", 0.0, 0.1),
        ("深圳养老金多少", "上海养老金多少", 0.4, 0.8),
    ],
)
def test_char_trigram_jaccard(a, b, low, high):
    assert low <= jaccard(char_ngrams(a), char_ngrams(b)) <= high


def test_normalise_drops_punctuation_space_and_width():
    assert normalise("ＳＺ 养老金，多少？") == "sz养老金多少"


# --- rasa data validate (real subprocess) --------------------------------------------------------------


def _validate_settings(project: Path) -> ConsoleSettings:
    return ConsoleSettings.from_env(console_env(project, CONSOLE_VALIDATE="rasa"))


@pytest.mark.slow
def test_rasa_validate_passes_on_the_project_and_fails_on_a_broken_story(tmp_path, run_async):
    project = copy_project(tmp_path / "project")
    settings = _validate_settings(project)
    assert run_async(rasa_validate(settings)).ok
    (project / "data" / "stories" / "broken.yml").write_text(
        'version: "3.1"\nstories:\n- story: broken\n  steps:\n  - intent: greet\n  - action: action_not_in_domain\n',
        encoding="utf-8",
    )
    result = run_async(rasa_validate(settings))
    assert not result.ok
    assert result.messages


def _drop_domain_intent(project: Path, intent: str) -> None:
    domain = project / "domain.yml"
    text = domain.read_text(encoding="utf-8")
    assert f"  - {intent}\n" in text
    domain.write_text(text.replace(f"  - {intent}\n", "", 1), encoding="utf-8")


@pytest.mark.parametrize("broken", [False, True], ids=["valid-project", "intent-not-in-domain"])
def test_web_changes_are_validated_and_reverted_byte_for_byte(project, fake_rasa, broken):
    """Through the web app: the rewritten file is validated (Rasa's NLU reader, intents in the domain);
    on failure the old bytes come back."""
    from console.app import create_app
    from console.auth import Authenticator, load_secret
    from console.store import Store
    from tests.console.support import PASSWORD, EmptyAppStore, ServerThread

    if broken:
        _drop_domain_intent(project, "ask_pension")
    settings = _validate_settings(project)
    store = Store(settings.database_url)
    Authenticator(store, settings, load_secret(settings)).create_user("t", PASSWORD, "trainer")
    path = project / "data" / "nlu" / "pension.yml"
    before = path.read_bytes()
    server = ServerThread(create_app(settings, store=store, rasa=fake_rasa, app_store_factory=EmptyAppStore)).start()
    try:
        session = sign_in(server.url, "t")
        response = post_form(
            session,
            server.url,
            "/intents/ask_pension",
            "/intents/ask_pension/add",
            {"raw": "[深圳](region)养老金到底怎么算才对"},
        )
    finally:
        server.stop()
    actions = [e.action for e in store.audit_entries()]
    if broken:
        assert response.status_code == 422
        assert any("数据校验没有通过" in f for f in flashes(response.text))
        assert "domain.yml 中没有意图 ask_pension" in response.text
        assert path.read_bytes() == before
        assert "example_add_rejected" in actions
    else:
        assert response.status_code == 303
        assert path.read_bytes() != before
        assert "- [深圳](region)养老金到底怎么算才对" in path.read_text(encoding="utf-8")
        assert "example_add" in actions


@pytest.mark.slow
def test_a_project_wide_error_does_not_block_a_save_but_blocks_training(project, fake_rasa):
    """A broken story elsewhere is no reason to refuse an example; the full `rasa data validate`
    before retraining stops the run instead (issue 17: saves no longer run it)."""
    import time

    from console.app import create_app
    from console.auth import Authenticator, load_secret
    from console.store import Store
    from tests.console.support import PASSWORD, EmptyAppStore, ServerThread

    (project / "data" / "stories" / "broken.yml").write_text(
        'version: "3.1"\nstories:\n- story: broken\n  steps:\n  - intent: greet\n'
        "  - action: action_not_in_domain\n",
        encoding="utf-8",
    )
    settings = _validate_settings(project)
    store = Store(settings.database_url)
    Authenticator(store, settings, load_secret(settings)).create_user("t", PASSWORD, "trainer")
    server = ServerThread(create_app(settings, store=store, rasa=fake_rasa, app_store_factory=EmptyAppStore)).start()
    try:
        session = sign_in(server.url, "t")
        saved = post_form(session, server.url, "/intents/ask_pension", "/intents/ask_pension/add",
                          {"raw": "[深圳](region)养老金到底怎么算才对"})
        assert saved.status_code == 303
        started = post_form(session, server.url, "/training", "/training/start", {})
        assert started.status_code == 303
        run_id = int(started.headers["Location"].rsplit("/", 1)[1])
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            run = store.run(run_id)
            if run.finished:
                break
            time.sleep(1)
    finally:
        server.stop()
    assert run.status == "failed" and "rasa data validate 没有通过" in (run.error or "")
    assert run.model_name is None  # nothing was trained
