"""End to end in headless Chromium: sign in, add an example, see the file change, retrain, activate,
and the running bot classifies the new sentence — on a COPY of the project, with the real Rasa server.

Retraining the real pipeline takes long on two cores, so the copy's config.yml keeps the same pipeline
but trains DIET and TED for a few epochs (``LIGHT_EPOCHS``). The initial model is trained from the
copy exactly as ``make train`` would name it (``models/rs-<hash>.tar.gz``), so the console finds the
live model's data snapshot and measures both models the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from ruamel.yaml import YAML

from bot.signing import sign_model
from console.app import create_app
from console.rasa_client import RasaClient
from console.settings import ConsoleSettings
from console.store import Store
from console.training import content_hash, in_test_fold, project_files
from ops.launcher import bot_services
from ops.supervise import free_port, stop_all, wait_ready
from tests.browser import browser_scope
from tests.console.support import PASSWORD, EmptyAppStore, ServerThread, console_env, copy_project

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]

LIGHT_EPOCHS = {"DIETClassifier": 8, "TEDPolicy": 3}
INTENT = "ask_minimum_wage"
NEW_EXAMPLE = "[深圳](region)现在的最低工资标准每个月到底是多少钱"
NEW_TEXT = "深圳现在的最低工资标准每个月到底是多少钱"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def light_config(project: Path) -> None:
    yaml = YAML()
    yaml.preserve_quotes = True
    config = yaml.load((project / "config.yml").read_text(encoding="utf-8"))
    for item in list(config["pipeline"]) + list(config["policies"]):
        if item["name"] in LIGHT_EPOCHS:
            item["epochs"] = LIGHT_EPOCHS[item["name"]]
    with (project / "config.yml").open("w", encoding="utf-8") as handle:
        yaml.dump(config, handle)


def rasa_env(project: Path) -> dict:
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
        "RASA_CACHE_DIRECTORY": str(project / ".rasa" / "cache"),
    }


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    assert not in_test_fold(NEW_TEXT, 0.2), "pick a sentence that trains, so both test folds are the same"
    tmp = tmp_path_factory.mktemp("console-e2e")
    project = copy_project(tmp / "project")
    light_config(project)
    timings: dict[str, float] = {}
    started = time.monotonic()
    data_hash = content_hash(project_files(ConsoleSettings.from_env(console_env(project))))
    initial = project / "models" / f"rs-{data_hash}.tar.gz"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "train",
            "--config",
            "config.yml",
            "--domain",
            "domain.yml",
            "--data",
            "data",
            "--out",
            "models",
            "--fixed-model-name",
            f"rs-{data_hash}",
            "--quiet",
        ],
        cwd=project,
        env=rasa_env(project),
        check=True,
        timeout=1800,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sign_model(initial)  # as `make train` does; the console loads only signed models
    timings["initial_train"] = time.monotonic() - started
    token = uuid.uuid4().hex
    rasa_port, action_port = free_port(), free_port()
    services = bot_services(
        str(initial),
        rasa_port=rasa_port,
        action_port=action_port,
        tracker_db=str(tmp / "tracker.db"),
        log_dir=tmp,
        extra_env={"RASA_API_TOKEN": token},
    )
    server = None
    try:
        for service in services:
            service.start()
        wait_ready(services, timeout=300)
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        settings = ConsoleSettings.from_env(
            console_env(
                project,
                CONSOLE_VALIDATE="rasa",
                RASA_URL=rasa_url,
                RASA_API_TOKEN=token,
                TRACKER_DB=str(tmp / "tracker.db"),
                CONSOLE_EVAL_SET="off",
                # why: a few epochs make both models noisy; the gate itself is unit-tested at 0.01.
                CONSOLE_F1_TOLERANCE="0.05",
            )
        )
        store = Store(settings.database_url)
        for name, role in (("admin-e2e", "admin"),):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "console",
                    "create-user",
                    name,
                    "--role",
                    role,
                    "--password-stdin",
                ],
                input=PASSWORD + "\n",
                text=True,
                check=True,
                timeout=60,
                env={**os.environ, **console_env(project)},
            )
        server = ServerThread(
            create_app(settings, store=store, rasa=RasaClient(rasa_url, token), app_store_factory=EmptyAppStore)
        ).start()
        yield {
            "project": project,
            "settings": settings,
            "store": store,
            "server": server,
            "rasa_url": rasa_url,
            "token": token,
            "timings": timings,
            "initial": initial,
            "tmp": tmp,
        }
    finally:
        if server is not None:
            server.stop()
        stop_all(services)


def parse(e2e, text: str) -> dict:
    response = requests.post(
        e2e["rasa_url"] + "/model/parse", params={"token": e2e["token"]}, json={"text": text}, timeout=60
    )
    response.raise_for_status()
    return response.json()


def live_model(e2e) -> str:
    response = requests.get(e2e["rasa_url"] + "/status", params={"token": e2e["token"]}, timeout=30)
    return Path(response.json()["model_file"]).name


def test_sign_in_add_retrain_activate_and_the_bot_knows(e2e, browser):
    from playwright.sync_api import Error as PlaywrightError

    url = e2e["server"].url
    nlu_file = e2e["project"] / "data" / "nlu" / "minimum_wage.yml"
    before = nlu_file.read_text(encoding="utf-8")
    before_parse = parse(e2e, NEW_TEXT)["intent"]
    timings = e2e["timings"]
    shots = Path(os.environ.get("CONSOLE_E2E_SCREENSHOTS", e2e["tmp"] / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with browser_scope(browser) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # why: a click that posts a form waits for the answer: validation, training, model loading take long.
        page.set_default_timeout(600_000)
        try:
            # sign in
            page.goto(url + "/intents/" + INTENT)
            assert page.url.startswith(url + "/login")
            page.fill("#username", "admin-e2e")
            page.fill("#password", PASSWORD)
            page.click("#login-button")
            page.wait_for_url(url + "/intents/" + INTENT)

            # add an example (rasa data validate runs before it is kept)
            t0 = time.monotonic()
            page.fill("#new-example", NEW_EXAMPLE)
            page.click("#add-example")
            page.wait_for_selector(".flash.ok", timeout=180_000)
            timings["add_and_validate"] = time.monotonic() - t0
            assert "已添加例句" in page.inner_text(".flash.ok")
            assert NEW_TEXT[2:] in page.inner_text("#examples")  # after the 深圳 entity chip
            page.screenshot(path=str(shots / "1-added.png"))

            # the file changed by exactly that line
            after = nlu_file.read_text(encoding="utf-8")
            added = [line for line in after.splitlines() if line not in before.splitlines()]
            assert added == [f"    - {NEW_EXAMPLE}"]
            assert len(after.splitlines()) == len(before.splitlines()) + 1

            # retrain with visible progress
            page.goto(url + "/training")
            t0 = time.monotonic()
            page.click("#start-training")
            page.wait_for_url(url + "/training/*")
            seen_progress = set()
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                try:
                    status = page.get_attribute("#run-status", "data-status")
                    if status in ("done", "failed"):
                        break
                    seen_progress.add(page.eval_on_selector("#run-progress", "e => e.value"))
                except PlaywrightError:
                    pass  # why: the page reloads itself when the run finishes
                time.sleep(3)
            timings["retrain_and_evaluate"] = time.monotonic() - t0
            page.screenshot(path=str(shots / "2-run.png"), full_page=True)
            assert page.get_attribute("#run-status", "data-status") == "done", page.inner_text("main")[:2000]
            assert len(seen_progress) >= 2, seen_progress
            verdict = page.inner_text("#verdict")
            assert "不比线上差" in verdict, verdict
            assert page.locator("#comparison tr").count() > 10

            # activate without restarting the bot
            t0 = time.monotonic()
            page.click("#activate")
            page.wait_for_selector(".flash.ok", timeout=600_000)
            timings["activate"] = time.monotonic() - t0
            assert "已启用新模型" in page.inner_text(".flash.ok")
            page.screenshot(path=str(shots / "3-activated.png"))

            # "try a sentence" in the console shows the new model's answer
            page.goto(url + "/try")
            page.fill("#try-text", NEW_TEXT)
            page.click("#try-button")
            page.wait_for_selector("#top-intent")
            assert page.inner_text("#top-intent") == INTENT
            assert page.inner_text("#live-model").startswith("rs-")
            page.screenshot(path=str(shots / "4-try.png"), full_page=True)
        finally:
            browser.close()

    run = e2e["store"].runs(1)[0]
    assert live_model(e2e) == run.model_name != e2e["initial"].name
    assert (e2e["settings"].models_dir / "ACTIVE").read_text().strip() == run.model_name
    assert e2e["initial"].exists(), "the previous model stays for rollback"
    assert parse(e2e, NEW_TEXT)["intent"]["name"] == INTENT
    actions = [entry.action for entry in e2e["store"].audit_entries()]
    assert {"login", "example_add", "training_start", "model_activate"} <= set(actions)
    timings["run_timings"] = run.timings
    print(
        f"\nretrain-and-activate cycle: {timings}\nlive model before: {e2e['initial'].name} "
        f"({before_parse}); after: {run.model_name}"
    )
