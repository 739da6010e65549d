"""The knowledge editor in headless Chromium: a trainer adds a service fact whose source page is fetched
(a local "official" page, fixture file, content fictitious) and verified; a wrong quote is refused with the
typed text kept; the trainer cannot approve; an admin approves; the knowledge service then gives the fact
with its citation (url, publisher, date, verified_on). An upload path and "no review of one's own change"
are checked too.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from console.app import create_app
from console.auth import Authenticator, load_secret
from console.settings import ConsoleSettings
from console.store import Store
from knowledge.service import KnowledgeService
from ops.supervise import free_port
from tests.browser import browser_scope
from tests.console.support import PASSWORD, EmptyAppStore, FakeRasa, ServerThread, console_env, csrf_of
from tests.widget.conftest import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PAGES = Path(__file__).resolve().parents[1] / "data" / "service_facts"
STATEMENT = "社保卡补办可拨打咨询电话12333"
QUOTE = "社保卡补办：持有效身份证件到任一测试服务网点办理，咨询电话 12333"


@pytest.fixture
def official_site():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def editor(project, tmp_path, browser):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps`")
    kb_url = f"sqlite:///{tmp_path / 'kb.db'}"
    settings = ConsoleSettings.from_env(console_env(project, DATABASE_URL=kb_url, SERVICE_FACT_HOSTS="127.0.0.1"))
    store = Store(settings.database_url)
    auth = Authenticator(store, settings, load_secret(settings))
    auth.create_user("trainer1", PASSWORD, "trainer")
    auth.create_user("admin1", PASSWORD, "admin")
    auth.create_user("admin2", PASSWORD, "admin")
    server = ServerThread(create_app(settings, store=store, rasa=FakeRasa(), app_store_factory=EmptyAppStore)).start()
    with browser_scope(browser) as browser:
        yield {"browser": browser, "url": server.url, "kb_url": kb_url, "store": store}
        browser.close()
    server.stop()


def _sign_in(editor, name: str) -> Page:
    page = editor["browser"].new_context(locale="zh-CN").new_page()
    page.set_default_timeout(20_000)
    page.goto(editor["url"] + "/login")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.goto(editor["url"] + "/facts")
    return page


def _fill(page: Page, url: str, quote: str) -> None:
    page.get_by_label("类型").select_option("hotline")
    page.get_by_label("地区").select_option("深圳")
    page.get_by_label("话题").fill("social_security_card")
    page.get_by_label("机器人要说的陈述").fill(STATEMENT)
    page.get_by_label(re.compile("来源网址")).fill(url)
    page.get_by_label("来源标题").fill("测试用官方页面")
    page.get_by_label("发布机构").fill("测试人社局")
    page.get_by_label("发布日期").fill("2026年11月")
    page.get_by_label(re.compile("原文摘录")).fill(quote)


def test_fact_added_verified_approved_and_served(editor, official_site):
    trainer = _sign_in(editor, "trainer1")
    _fill(trainer, official_site + "/official_page.html", "咨询电话 12334")
    trainer.get_by_role("button", name="核实并提交审核").click()
    expect(trainer.locator(".flash.error", has_text="原文摘录在来源网页中找不到")).to_be_visible()
    # a refused entry keeps the text
    expect(trainer.get_by_label("机器人要说的陈述")).to_have_value(STATEMENT)
    expect(trainer.get_by_label("发布机构")).to_have_value("测试人社局")

    trainer.get_by_label(re.compile("原文摘录")).fill(QUOTE)
    trainer.get_by_role("button", name="核实并提交审核").click()
    expect(trainer.locator(".flash.ok")).to_contain_text("已核实")
    expect(trainer).to_have_url(re.compile(r"/facts/SF-0001$"))
    expect(trainer.locator(".version .status").first).to_have_text("待审核")
    assert trainer.get_by_role("button", name="批准上线").count() == 0
    # not even by hand: reviewing is an admin permission
    token = csrf_of(trainer.content())
    refused = trainer.request.post(editor["url"] + "/facts/rows/1/review",
                                   form={"csrf_token": token, "decision": "approve"})
    assert refused.status == 403
    assert KnowledgeService(editor["kb_url"]).service_facts() == []

    admin = _sign_in(editor, "admin1")
    admin.get_by_role("link", name="SF-0001").click()
    admin.get_by_role("button", name="批准上线").click()
    expect(admin.locator(".flash.ok")).to_contain_text("批准上线")
    expect(admin.locator(".version .status").first).to_have_text("已上线")

    facts = KnowledgeService(editor["kb_url"]).service_facts(topic="social_security_card", region="深圳")
    assert [f.display for f in facts] == [STATEMENT]
    source = facts[0].source
    assert (source.url, source.publisher, source.date_label, source.verified_on) == (
        official_site + "/official_page.html", "测试人社局", "2026年11月", dt.date.today().isoformat(),
    )
    assert source.citation == "《测试用官方页面》，2026年11月"
    actions = [e.action for e in editor["store"].audit_entries(50)]
    assert "fact_propose" in actions and "fact_approve" in actions


def test_uploaded_page_and_no_review_of_ones_own_change(editor, official_site):
    admin = _sign_in(editor, "admin1")
    # the URL does not answer: the editor uploads the page instead
    _fill(admin, official_site + "/missing.html", QUOTE)
    admin.get_by_label(re.compile("上传来源网页")).set_input_files(str(PAGES / "other_page.html"))
    admin.get_by_role("button", name="核实并提交审核").click()
    expect(admin.locator(".flash.error", has_text="找不到")).to_be_visible()
    admin.get_by_label(re.compile("上传来源网页")).set_input_files(str(PAGES / "official_page.html"))
    admin.get_by_role("button", name="核实并提交审核").click()
    expect(admin.locator(".flash.ok")).to_contain_text("已核实")
    expect(admin.locator(".version")).to_contain_text("上传的网页")
    expect(admin.locator(".version")).to_contain_text("需要另一位管理员审核")
    assert admin.get_by_role("button", name="批准上线").count() == 0

    other = _sign_in(editor, "admin2")
    other.goto(editor["url"] + "/facts/SF-0001")
    other.get_by_role("button", name="退回").click()
    expect(other.locator(".version .status").first).to_have_text("已退回")
    assert KnowledgeService(editor["kb_url"]).service_facts() == []
