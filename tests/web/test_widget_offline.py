"""The widget without the real bot: offline state and reconnection, rendering, masking, keyboard, large text.

A tiny Rasa-free socket.io server (tests/web/fake_rasa.py) stands in for Rasa, so these tests need no
trained model; the end-to-end tests against the real bot are in test_widget_e2e.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bot.launcher import Service, free_port, wait_ready
from bot.sanitize import mask_pii
from tests.web.conftest import PHONE, WebSite, start_web_site

pytestmark = pytest.mark.browser


def _site_and_fake(tmp: Path) -> tuple[WebSite, Service]:
    """bot.web whose widget points at a port where nothing listens yet, and the fake Rasa for that port."""
    port = free_port()
    site = start_web_site(f"http://127.0.0.1:{port}", tmp)
    fake = Service(
        "fake rasa",
        [sys.executable, "-m", "tests.web.fake_rasa", "--port", str(port)],
        f"http://127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}/",
        {},
        tmp / "fake_rasa.log",
    )
    return site, fake


@pytest.fixture
def offline_site(tmp_path):
    site, fake = _site_and_fake(tmp_path)
    yield site, fake
    fake.stop()
    site.service.stop()
    site.store.dispose()


@pytest.fixture(scope="module")
def static_site(tmp_path_factory):
    """bot.web alone (nothing on its socket port): enough to load widget.js and call its helpers."""
    site = start_web_site(f"http://127.0.0.1:{free_port()}", tmp_path_factory.mktemp("static"))
    yield site
    site.service.stop()
    site.store.dispose()


@pytest.fixture(scope="module")
def online_site(tmp_path_factory):
    site, fake = _site_and_fake(tmp_path_factory.mktemp("online"))
    fake.start()
    wait_ready([fake], timeout=30)
    yield site, fake
    fake.stop()
    site.service.stop()
    site.store.dispose()


def open_widget(page):
    page.get_by_role("button", name=re.compile("打开人社小助手")).first.click()
    expect(page.get_by_role("dialog", name="人社小助手")).to_be_visible()


def test_offline_state_and_reconnect(new_page, offline_site, shot):
    site, fake = offline_site
    browser_page = new_page()
    page = browser_page.page
    page.goto(site.url)
    open_widget(page)
    banner = page.locator(".rw-offline")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("暂时无法连接")
    expect(page.locator(".rw-status-text")).to_have_text("离线")
    page.get_by_label("输入您的问题").fill("你好")
    expect(page.get_by_role("button", name="发送")).to_be_disabled()
    shot(page, "09-offline")

    fake.start()
    wait_ready([fake], timeout=30)
    expect(page.locator(".rw-status-text")).to_have_text("在线", timeout=20_000)
    expect(banner).to_be_hidden()
    page.get_by_role("button", name="发送").click()
    expect(page.locator(".rw-msg-bot").last).to_contain_text("收到：你好")

    # a server restart: offline while it is down, back by itself, history kept
    fake.stop()
    expect(banner).to_contain_text("连接已断开", timeout=15_000)
    expect(page.locator(".rw-status-text")).to_have_text("离线")
    fake.start()
    wait_ready([fake], timeout=30)
    expect(page.locator(".rw-status-text")).to_have_text("在线", timeout=20_000)
    page.get_by_label("输入您的问题").fill("还在吗")
    page.keyboard.press("Enter")
    expect(page.locator(".rw-msg-bot").last).to_contain_text("收到：还在吗")
    expect(page.locator(".rw-log")).to_contain_text("收到：你好")
    shot(page, "10-reconnected")
    assert browser_page.errors == []


RENDER_CASES = [
    ("第一行\n第二行", "p", 2),
    ("• 社保服务网点：113个\n• 社银合作专窗：12个", "ul > li", 2),
    ("1. 就业\n2. 社保\n3. 人才", "ol > li", 3),
    ("答案\n来源：《深圳人社2024年十件大事》，2024年", ".rw-source", 1),
    ("详见 https://www.example.gov.cn/a?b=1。", "a[href='https://www.example.gov.cn/a?b=1'][rel~=noopener]", 1),  # noqa: E501
    ("javascript:alert(1) 和 data:text/html,<b>x</b>", "a", 0),
    ("<img src=x onerror=alert(1)><script>alert(2)</script>", "img, script", 0),
    ("• 目标：98%以上（2025年目标）\n  注：正式稿为准", ".rw-list li .rw-note", 1),
]


@pytest.mark.parametrize("text, selector, count", RENDER_CASES)
def test_rendering_is_dom_only(new_page, static_site, text, selector, count):
    page = new_page().page
    page.goto(static_site.url)
    # why: not wait_for_function: its polling evaluates strings, which the page's CSP forbids.
    page.locator(".rw-launcher").wait_for()
    found = page.evaluate(
        "([text, selector]) => window.RensheWidget._renderText(text).querySelectorAll(selector).length",
        [text, selector],
    )
    assert found == count
    # whatever the markup in the text, it comes back as text
    shown = page.evaluate("(text) => window.RensheWidget._renderText(text).textContent", text)
    assert "<img" not in text or "<img src=x onerror=alert(1)>" in shown


@pytest.mark.parametrize(
    "text",
    [
        "我的身份证是440301199001011234帮我查社保",
        "身份证 44030119900101123X",
        "电话 138-1234-5678 谢谢",
        "手机+86 13912345678",
        "卡号6222 0212 3456 7890 123",
        "全角１３８１２３４５６７８",
        "深圳有113个社保服务网点吗",
        "0755-88123017",
        "电话 138.1234.5678 谢谢",
        "1 3 8 1 2 3 4 5 6 7 8",
        "身份证 440301 1990 0101 123X",
    ],
)
def test_local_masking_matches_the_server(new_page, static_site, text):
    page = new_page().page
    page.goto(static_site.url)
    # why: not wait_for_function: its polling evaluates strings, which the page's CSP forbids.
    page.locator(".rw-launcher").wait_for()
    assert page.evaluate("(t) => window.RensheWidget._maskPII(t)", text) == mask_pii(text)[0]


def test_transcript_in_local_storage_is_masked_and_bounded(new_page, online_site):
    site, _ = online_site
    browser_page = new_page()
    page = browser_page.page
    page.goto(site.url)
    open_widget(page)
    expect(page.locator(".rw-status-text")).to_have_text("在线")
    box = page.get_by_label("输入您的问题")
    box.fill("我的电话是13812345678")
    box.press("Enter")
    expect(page.locator(".rw-msg-user").last).to_contain_text("[手机号]")
    expect(page.locator(".rw-msg-bot").last).to_contain_text("收到：")
    stored = page.evaluate("JSON.stringify(localStorage)")
    assert "13812345678" not in stored and "[手机号]" in stored
    for i in range(70):
        page.evaluate("(t) => window.RensheWidget.ask(t)", f"第{i}条")
    expect(page.locator(".rw-msg-bot").last).to_contain_text("收到：第69条")
    count = page.evaluate("JSON.parse(localStorage.getItem('renshe-widget:transcript')).items.length")
    assert count == 60
    assert browser_page.errors == []


def test_keyboard_only_and_screen_reader_labels(new_page, online_site, shot):
    site, _ = online_site
    page = new_page().page
    page.goto(site.url)
    launcher = page.locator(".rw-launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="人社小助手")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("输入您的问题")).to_be_focused()
    expect(page.get_by_role("log", name="对话记录")).to_have_attribute("aria-live", "polite")
    expect(page.locator(".rw-status-text")).to_have_text("在线")
    page.keyboard.type("键盘提问")
    page.keyboard.press("Enter")
    expect(page.locator(".rw-msg-bot").last).to_contain_text("收到：键盘提问")
    # Shift+Enter is a new line, not a send
    page.keyboard.type("第一行")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("第二行")
    assert page.get_by_label("输入您的问题").input_value() == "第一行\n第二行"
    # the welcome suggestions and the header buttons are reachable with Tab and labelled
    for name in ("大字模式", "清空记录，开始新对话", "关闭对话窗口", "有帮助", "没有帮助"):
        expect(page.get_by_role("button", name=name).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_input_limit_and_counter(new_page, online_site):
    site, _ = online_site
    page = new_page().page
    page.goto(site.url)
    open_widget(page)
    box = page.get_by_label("输入您的问题")
    expect(box).to_have_attribute("maxlength", "500")
    box.fill("字" * 498)
    box.press_sequentially("一二三四")
    assert len(box.input_value()) == 500
    expect(page.locator(".rw-counter").first).to_have_text("500/500")
    expect(page.locator(".rw-counter").first).to_have_class(re.compile("rw-counter-warn"))


def test_large_text_mode_on_a_phone_is_remembered(new_page, online_site, shot):
    site, _ = online_site
    page = new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).page
    page.goto(site.url)
    open_widget(page)
    panel = page.locator(".rw-panel")
    box = panel.bounding_box()
    assert box["width"] >= 359 and box["height"] >= 639  # the whole phone screen
    toggle = page.get_by_role("button", name="大字模式")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.rw-bubble')).fontSize)")
    assert size >= 19
    page.reload()
    expect(page.get_by_role("dialog", name="人社小助手")).to_be_visible()  # it was open: stays open
    expect(page.get_by_role("button", name="大字模式")).to_have_attribute("aria-pressed", "true")
    no_overflow = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_overflow


def test_quick_reply_sends_its_payload_once_then_disables(new_page, online_site):
    site, _ = online_site
    browser_page = new_page()
    page = browser_page.page
    page.goto(site.url)
    open_widget(page)
    expect(page.locator(".rw-status-text")).to_have_text("在线")
    page.evaluate("window.RensheWidget.ask('选项')")
    question = page.locator(".rw-msg-bot", has_text="您想了解的是哪一个？")
    chip = question.get_by_role("button", name="社保卡")
    expect(chip).to_be_enabled()
    chip.dblclick()
    expect(page.locator(".rw-msg-bot", has_text="收到：1")).to_have_count(1)
    page.wait_for_timeout(500)  # a second send would have been answered by now
    expect(page.locator(".rw-msg-bot", has_text="收到：")).to_have_count(1)
    expect(page.locator(".rw-msg-user", has_text="社保卡")).to_have_count(1)
    for name in ("社保卡", "就业"):
        expect(question.get_by_role("button", name=name)).to_be_disabled()
    expect(chip).to_have_attribute("aria-pressed", "true")
    assert browser_page.errors == []


def test_typing_indicator_while_the_bot_works(new_page, online_site):
    site, _ = online_site
    page = new_page().page
    page.goto(site.url)
    open_widget(page)
    expect(page.locator(".rw-status-text")).to_have_text("在线")
    typing = page.locator(".rw-typing")
    expect(typing).to_be_hidden()
    page.evaluate("window.RensheWidget.ask('慢一点回答')")
    expect(typing).to_be_visible()
    expect(typing).to_contain_text("小助手正在")
    expect(page.locator(".rw-msg-bot", has_text="收到：慢一点回答")).to_be_visible()
    expect(typing).to_be_hidden()
    expect(page.locator(".rw-msg-bot").last.locator("time")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))


def test_handoff_message_opens_the_leave_a_message_form(new_page, online_site):
    site, _ = online_site
    browser_page = new_page()
    page = browser_page.page
    page.goto(site.url)
    open_widget(page)
    expect(page.locator(".rw-status-text")).to_have_text("在线")
    page.evaluate("window.RensheWidget.ask('灵活就业怎么参保')")
    expect(page.locator(".rw-msg-bot", has_text="收到：灵活就业怎么参保")).to_be_visible()
    page.evaluate("window.RensheWidget.ask('转人工')")
    card = page.get_by_role("group", name="留言给工作人员")
    expect(card).to_contain_text("工作人员会在工作日回复，回复时间以实际为准")
    expect(card.get_by_label("留言内容")).to_have_value("灵活就业怎么参保")
    card.get_by_role("button", name="提交留言").click()
    expect(card.get_by_role("alert")).to_contain_text("手机号码或电子邮箱")
    expect(card.get_by_label("手机号码")).to_be_focused()
    card.get_by_label("手机号码").fill("13912345678")
    card.get_by_role("button", name="提交留言").click()
    expect(card.get_by_role("alert")).to_contain_text("勾选同意")
    assert site.store.list_handoffs() == []
    card.get_by_label("我同意保存以上联系方式").check()
    card.get_by_role("button", name="提交留言").click()
    expect(card).to_contain_text("留言已提交")
    expect(card).to_contain_text("139****5678")
    [handoff] = site.store.list_handoffs()
    assert handoff.contact_masked == "139****5678" and handoff.message == "灵活就业怎么参保"
    assert "13912345678" not in page.evaluate("JSON.stringify(localStorage)")
    assert browser_page.errors == []


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("large_text", [False, True])
def test_axe_finds_no_accessibility_violations(new_page, online_site, large_text):
    """axe-core (WCAG 2.1 A/AA rules, colour contrast included) over the page with every widget state open."""
    assert AXE.is_file(), "node_modules missing: run `make web-deps`"
    site, _ = online_site
    page = new_page(bypass_csp=True).page  # why: to inject axe; the widget itself runs under the CSP elsewhere
    page.goto(site.url)
    open_widget(page)
    expect(page.locator(".rw-status-text")).to_have_text("在线")
    if large_text:
        page.get_by_role("button", name="大字模式").click()
    page.evaluate("window.RensheWidget.ask('选项')")
    expect(page.locator(".rw-msg-bot", has_text="您想了解的是哪一个？")).to_be_visible()
    page.evaluate("window.RensheWidget.ask('你好')")
    answer = page.locator(".rw-msg-bot", has_text="收到：你好")
    answer.get_by_role("button", name="没有帮助").click()
    page.evaluate("window.RensheWidget.ask('转人工')")
    expect(page.get_by_role("group", name="留言给工作人员")).to_be_visible()
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    assert result == []
