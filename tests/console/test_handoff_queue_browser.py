"""The queue page in headless Chromium on a fixture tracker store: a distress case is first and
highlighted, the others follow, the conversation is masked; a second staff member cannot take a
claimed case; a REST conversation cannot be answered."""

from __future__ import annotations

import dataclasses
import re

import pytest
from playwright.sync_api import expect

from console.app import create_app
from tests.browser import browser_scope
from tests.console.support import PASSWORD, EmptyAppStore, FakeRasa, ServerThread
from tests.console.test_handoff import tracker_url  # noqa: F401 - the fixture tracker store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_distress_first_highlighted_and_claims_are_exclusive(settings, store, users, tracker_url, browser):  # noqa: F811
    settings = dataclasses.replace(settings, tracker_db_url=tracker_url)
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyAppStore)).start()
    try:
        with browser_scope(browser) as browser:

            def staff(name: str):
                page = browser.new_context(locale="zh-CN").new_page()
                page.set_default_timeout(20_000)
                page.goto(server.url + "/login")
                page.get_by_label("用户名").fill(name)
                page.get_by_label("密码").fill(PASSWORD)
                page.get_by_role("button", name="登录").click()
                page.goto(server.url + "/handoff")
                return page

            trainer = staff(users["trainer"])
            rows = trainer.locator("#handoff-queue tbody tr")
            expect(rows).to_have_count(4)
            expect(rows.first).to_have_class(re.compile("distress"))
            expect(rows.first).to_contain_text("优先：情绪困扰")
            expect(rows.first).to_contain_text("微信")
            assert trainer.locator("#handoff-queue tr.distress").count() == 1
            assert "13812345678" not in trainer.content()

            trainer.locator("#handoff-queue tr", has_text="社保卡丢了").get_by_role("link", name="查看").click()
            expect(trainer.locator("#conversation")).to_contain_text("[手机号]")
            trainer.get_by_role("button", name="认领").click()
            expect(trainer.locator("#case-status")).to_have_text("处理中")
            case_url = trainer.url

            admin = staff(users["admin"])
            admin.goto(case_url)
            expect(admin.get_by_text(f"{users['trainer']} 正在处理这个请求")).to_be_visible()
            assert admin.get_by_role("button", name="认领").count() == 0

            trainer.goto(server.url + "/handoff")
            trainer.locator("#handoff-queue tr", has_text="REST").get_by_role("link", name="查看").click()
            trainer.get_by_role("button", name="认领").click()
            expect(trainer.get_by_text("无法送达回复")).to_be_visible()
            browser.close()
    finally:
        server.stop()
