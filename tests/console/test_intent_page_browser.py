"""The intent page in headless Chromium: Chinese names with the ids, a refused sentence stays in the
field, deleting asks first (cancel keeps the example, OK deletes it)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console.app import create_app
from tests.browser import browser_scope
from tests.console.support import PASSWORD, EmptyAppStore, FakeRasa, ServerThread
from tests.widget.conftest import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_refused_sentence_kept_and_delete_confirmed(settings, store, users, project, browser):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps`")
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyAppStore)).start()
    nlu = project / "data" / "nlu" / "pension.yml"
    try:
        with browser_scope(browser) as browser:
            page = browser.new_context(locale="zh-CN").new_page()
            page.set_default_timeout(20_000)
            page.goto(server.url + "/login")
            page.get_by_label("用户名").fill(users["trainer"])
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.goto(server.url + "/intents/ask_pension")
            expect(page.locator("h1")).to_contain_text("（ask_pension）")

            page.locator("#new-example").fill("我的电话13812345678养老金怎么算")
            page.locator("#add-example").click()
            expect(page.locator(".flash.error").first).to_contain_text("个人信息")
            expect(page.locator("#new-example")).to_have_value("我的电话[手机号]养老金怎么算")

            first = page.locator("form.confirm-delete input[name=expected]").first.get_attribute("value")
            before = nlu.read_text(encoding="utf-8")
            page.once("dialog", lambda dialog: dialog.dismiss())
            page.locator("form.confirm-delete button").first.evaluate("b => b.closest('details').open = true")
            page.locator("form.confirm-delete button").first.click()
            page.wait_for_timeout(500)
            assert nlu.read_text(encoding="utf-8") == before
            page.once("dialog", lambda dialog: dialog.accept())
            page.locator("form.confirm-delete button").first.click()
            expect(page.locator(".flash.ok")).to_contain_text("已删除例句")
            assert f"- {first}\n" not in nlu.read_text(encoding="utf-8")
            browser.close()
    finally:
        server.stop()


def test_inbox_annotate_by_selecting_text_then_assign(settings, store, users, project, browser):
    from pathlib import Path

    from tests.console.test_inbox import CONTEXT_EVENTS, EmptyFeedback, tracker_db

    tracker_db(Path(settings.tracker_db_url.removeprefix("sqlite:///")), CONTEXT_EVENTS)
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyFeedback)).start()
    try:
        with browser_scope(browser) as browser:
            page = browser.new_context(locale="zh-CN").new_page()
            page.set_default_timeout(20_000)
            page.goto(server.url + "/login")
            page.get_by_label("用户名").fill(users["trainer"])
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.goto(server.url + "/inbox?q=上海")
            field = page.locator("input.annotatable").first
            expect(field).to_have_value("那上海那边咋样哩")
            field.evaluate("el => { el.focus(); el.setSelectionRange(1, 3); }")
            page.locator("button.mark-entity[data-entity=region]").click()
            expect(field).to_have_value("那[上海](region)那边咋样哩")
            row = page.locator("#inbox tbody tr").first
            row.get_by_label("意图").select_option("followup")
            row.get_by_role("button", name="归入意图").click()
            expect(page.locator(".flash.ok")).to_contain_text("已把")
            browser.close()
    finally:
        server.stop()
    files = [p.read_text(encoding="utf-8") for p in (project / "data" / "nlu").glob("*.yml")]
    assert any("- 那[上海](region)那边咋样哩\n" in text for text in files)
