"""The hand-off queue end to end in headless Chromium, with the real bot (trained model, action server,
socket.io and WeChat channels), the real website widget and the real console:

- 网页在线: a resident types 转人工 in the widget; the case appears in the console queue with the masked
  conversation; a staff member claims it and replies; the reply appears live in the resident's widget.
- 网页离线: a resident leaves a message (contact encrypted) and leaves the page; the staff reply is kept
  and the widget shows it when the resident comes back.
- 微信: a signed WeChat XML 转人工 from a simulated resident; the staff reply goes through the
  customer-service API (the channel's local mode keeps it in the outbox the test reads, signed).
- Status, times and who answered are in the audit log.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from bot.channels.wechat_settings import DEV_TOKEN
from console.app import create_app
from console.auth import Authenticator, load_secret
from console.rasa_client import RasaClient
from console.settings import ConsoleSettings
from console.store import Store
from ops.launcher import bot_services
from ops.supervise import free_port, stop_all, wait_ready
from ops.wechat_sim import WeChatPeer, text_message
from tests.browser import browser_scope
from tests.console.support import PASSWORD, ServerThread, console_env, copy_project
from tests.widget.conftest import CHROMIUM, LOOPBACK_CORS, start_web_site

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def stack(bot_model, tmp_path_factory, browser):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps`")
    tmp = tmp_path_factory.mktemp("handoff-e2e")
    api_token, staff_token = uuid.uuid4().hex, uuid.uuid4().hex
    rasa_port, action_port = free_port(), free_port()
    tracker = tmp / "tracker.db"
    services = bot_services(
        bot_model, rasa_port=rasa_port, action_port=action_port, tracker_db=str(tracker), log_dir=tmp,
        extra_env={"RASA_API_TOKEN": api_token, "STAFF_REPLY_TOKEN": staff_token, "WECHAT_TOKEN": DEV_TOKEN,
                   "RASA_CORS": LOOPBACK_CORS},
    )
    site = console = None
    try:
        for service in services:
            service.start()
        wait_ready(services, timeout=300)
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        site = start_web_site(rasa_url, tmp)
        project = copy_project(tmp / "project")
        settings = ConsoleSettings.from_env(
            console_env(project, TRACKER_DB=str(tracker), RASA_URL=rasa_url, RASA_API_TOKEN=api_token,
                        STAFF_REPLY_TOKEN=staff_token)
        )
        store = Store(settings.database_url)
        auth = Authenticator(store, settings, load_secret(settings))
        auth.create_user("wang", PASSWORD, "trainer")
        app = create_app(settings, store=store, rasa=RasaClient(rasa_url, api_token),
                         app_store_factory=lambda: site.store)
        console = ServerThread(app).start()
        with browser_scope(browser) as browser:
            yield {
                "browser": browser, "site": site, "console": console, "rasa_url": rasa_url,
                "staff_token": staff_token, "store": store, "tmp": tmp,
                "wechat": WeChatPeer(f"{rasa_url}/webhooks/wechat/webhook", DEV_TOKEN, timeout=60),
            }
            browser.close()
    except Exception:
        for log in Path(tmp).glob("*.log"):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        if console:
            console.stop()
        if site:
            site.service.stop()
        stop_all(services)


def _staff_events(stack, sender_id: str | None) -> list[dict]:
    """Staff replies recorded in the tracker store (bot events with metadata.staff), oldest first."""
    import json
    import sqlite3

    with sqlite3.connect(stack["tmp"] / "tracker.db") as db:
        rows = db.execute(
            "SELECT sender_id, data FROM events WHERE type_name = 'bot' ORDER BY id"
        ).fetchall()
    events = [(sender, json.loads(data)) for sender, data in rows]
    return [e for sender, e in events
            if (e.get("metadata") or {}).get("staff") and (sender_id is None or sender == sender_id)]


def _page(stack) -> Page:
    context = stack["browser"].new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def _resident(stack) -> Page:
    page = _page(stack)
    page.goto(stack["site"].url)
    page.get_by_role("button", name=re.compile("打开人社小助手")).first.click()
    expect(page.locator(".rw-status-text")).to_have_text("在线", timeout=30_000)
    return page


def _ask(page: Page, text: str) -> None:
    box = page.get_by_label("输入您的问题")
    box.fill(text)
    box.press("Enter")


def _staff(stack) -> Page:
    page = _page(stack)
    page.goto(stack["console"].url + "/login")
    page.get_by_label("用户名").fill("wang")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("link", name="转人工", exact=True)).to_be_visible()
    return page


def _open_case(staff: Page, console_url: str, needle: str) -> None:
    staff.goto(console_url + "/handoff")
    row = staff.locator("#handoff-queue tr", has_text=needle)
    expect(row).to_have_count(1)
    row.get_by_role("link", name="查看").click()


def _claim_and_reply(staff: Page, text: str) -> None:
    staff.get_by_role("button", name="认领").click()
    expect(staff.locator(".flash.ok")).to_contain_text("已认领")
    staff.get_by_label(re.compile("回复居民")).fill(text)
    staff.get_by_role("button", name="发送回复").click()


def test_socketio_live_reply(stack):
    resident = _resident(stack)
    _ask(resident, "社保卡丢了怎么补办，我的手机号13812345678")
    expect(resident.locator(".rw-msg-bot")).not_to_have_count(1, timeout=60_000)  # welcome + an answer
    _ask(resident, "转人工")
    expect(resident.get_by_role("group", name="留言给工作人员")).to_be_visible(timeout=60_000)
    session_id = resident.evaluate("window.RensheWidget.sessionId()")

    staff = _staff(stack)
    _open_case(staff, stack["console"].url, "社保卡丢了怎么补办")
    conversation = staff.locator("#conversation")
    expect(conversation).to_contain_text("社保卡丢了")
    expect(conversation).to_contain_text("（转人工）")
    assert "13812345678" not in staff.content()
    expect(staff.locator("#case-status")).to_have_text("待认领")

    reply = "您好，我是人社窗口的工作人员，补办社保卡请带身份证到就近网点。"
    _claim_and_reply(staff, reply)
    expect(staff.locator(".flash.ok")).to_contain_text("即时送达")
    expect(staff.locator("#case-status")).to_have_text("已回复")
    expect(staff.locator("#replies")).to_contain_text("已即时送达")

    shown = resident.locator(".rw-msg-staff")
    expect(shown).to_have_count(1, timeout=20_000)
    expect(shown).to_contain_text("工作人员回复")
    expect(shown).to_contain_text(reply)
    # the live reply is also kept as delivered: coming back does not show it twice
    assert [r.delivered_at is not None for r in stack["site"].store.list_staff_replies(session_id)] == [True]
    resident.reload()
    expect(resident.locator(".rw-status-text")).to_have_text("在线", timeout=30_000)
    resident.wait_for_timeout(1000)
    expect(resident.locator(".rw-msg-staff")).to_have_count(1)

    # the resident's conversation itself records what staff told them
    assert [e["text"] for e in _staff_events(stack, session_id)] == [reply]

    audit = {e.action: e for e in stack["store"].audit_entries(100)}
    assert audit["handoff_claim"].username == "wang"
    assert audit["handoff_reply"].detail["delivery"] == "live"
    assert audit["handoff_reply"].detail["channel"] == "socketio"


def test_leave_a_message_reply_shown_on_return(stack):
    resident = _resident(stack)
    _ask(resident, "转人工")
    card = resident.get_by_role("group", name="留言给工作人员")
    expect(card).to_be_visible(timeout=60_000)
    card.get_by_label("留言内容").fill("我想问灵活就业人员怎么交养老保险")
    card.get_by_label("手机号码").fill("139 8765 4321")
    card.get_by_label("我同意保存以上联系方式").check()
    card.get_by_role("button", name="提交留言").click()
    expect(card).to_contain_text("留言已提交")
    site_url = stack["site"].url
    resident.goto("about:blank")  # the resident leaves: no browser in the socket.io room

    staff = _staff(stack)
    _open_case(staff, stack["console"].url, "灵活就业人员怎么交养老保险")
    expect(staff.locator(".card").first).to_contain_text("139****4321")
    assert "13987654321" not in staff.content()
    reply = "您好，灵活就业人员可以在网上服务大厅办理参保登记，具体请以经办机构答复为准。"
    _claim_and_reply(staff, reply)
    expect(staff.locator(".flash.ok")).to_contain_text("回到网页时会看到")
    expect(staff.locator("#replies")).to_contain_text("等居民回到网页")

    resident.goto(site_url)
    resident.get_by_role("button", name=re.compile("打开人社小助手")).first.click()
    shown = resident.locator(".rw-msg-staff")
    expect(shown).to_contain_text(reply, timeout=30_000)
    resident.reload()
    expect(resident.locator(".rw-status-text")).to_have_text("在线", timeout=30_000)
    resident.wait_for_timeout(1000)
    expect(resident.locator(".rw-msg-staff")).to_have_count(1)  # kept in the transcript, fetched once


def test_wechat_reply_through_customer_service_api(stack):
    peer: WeChatPeer = stack["wechat"]
    openid = "oStaff" + uuid.uuid4().hex[:20]
    assert peer.post(text_message(openid, "失业保险金怎么领")).status == 200
    answer = peer.post(text_message(openid, "转人工"))
    assert answer.status == 200 and answer.kind in ("transfer_customer_service", "text", "success"), answer.body
    peer.outbox(openid)  # whatever the bot itself pushed

    staff = _staff(stack)
    _open_case(staff, stack["console"].url, "失业保险金怎么领")
    expect(staff.locator("h1")).to_contain_text("微信")
    reply = "您好，失业保险金的申领请通过官方渠道办理，我们已收到您的问题。"
    _claim_and_reply(staff, reply)
    expect(staff.locator(".flash.ok")).to_contain_text("微信客服消息")
    # why: the bot's own follow-up text may still be on its way; the staff text must be there once.
    assert (peer.outbox(openid) or []).count(reply) == 1

    audit = [e for e in stack["store"].audit_entries(100) if e.action == "handoff_reply"]
    assert audit[0].detail["channel"] == "wechat" and audit[0].detail["delivery"] == "wechat"
    recorded = [e for e in _staff_events(stack, None) if e["text"] == reply]
    assert len(recorded) == 1 and recorded[0]["metadata"]["channel"] == "wechat"


def test_staff_route_needs_its_token(stack):
    url = stack["rasa_url"] + "/webhooks/staff/reply"
    body = {"channel": "socketio", "sender_id": "abc", "text": "hi"}
    assert requests.post(url, json=body, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 32}
    assert requests.post(url, json=body, headers=wrong, timeout=10).status_code == 401
    right = {"Authorization": f"Bearer {stack['staff_token']}"}
    assert requests.post(url, json={**body, "channel": "rest"}, headers=right, timeout=10).status_code == 400
    # a WeChat resident who never wrote is outside the 48-hour window
    closed = requests.post(url, json={**body, "channel": "wechat", "sender_id": "oNobody"}, headers=right, timeout=10)
    assert closed.status_code == 409 and closed.json()["error"] == "window_closed"
