"""End to end in headless Chromium against the real Rasa + action servers (the trained model).

What a resident does on the demo page: ask "深圳有多少个社保服务网点", see the answer and its source,
pick a quick reply, give a 👎 with a reason, reload and find the conversation again, use a phone-sized
screen, send a hostile message, ask for a person and leave a message. Screenshots of the main states
go to screenshots/ (gitignored).
"""

from __future__ import annotations

import itertools
import re

import pytest
import requests
from playwright.sync_api import Page, expect

from knowledge.thresholds import AMBIGUITY_GAP, MIN_OPTION_CONFIDENCE
from tests.widget.conftest import PHONE

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

QUESTION = "深圳有多少个社保服务网点"
# why: the bot offers quick replies when the NLU is torn between two topics (action_clarify_or_search).
# Which message does that depends on the trained model, so the test asks Rasa's /model/parse about
# pairs of topics ("A和B") and uses the first pair that the action would answer with options.
TOPIC_WORDS = (
    "培训补贴", "创业补贴", "失业保险", "工伤保险", "养老保险", "社保卡", "社保网点", "技能认定", "零工市场",
    "灵活就业", "高校毕业生", "欠薪", "劳动争议", "最低工资", "人才引进", "博士后", "技工学校", "港澳青年",
    "退休", "网上办",
)
HOSTILE = "<img src=x onerror=alert(1)>"


def open_chat(page: Page) -> None:
    page.get_by_role("button", name=re.compile("打开人社小助手")).first.click()
    expect(page.get_by_role("dialog", name="人社小助手")).to_be_visible()
    expect(page.locator(".rw-status-text")).to_have_text("在线", timeout=20_000)


def ask(page: Page, text: str) -> None:
    box = page.get_by_label("输入您的问题")
    box.fill(text)
    box.press("Enter")


def bot_messages(page: Page):
    return page.locator(".rw-msg-bot")


def answer_with_source(page: Page):
    return page.locator(".rw-msg-bot", has=page.locator(".rw-source")).last


def tracker_texts(running_bot, session_id: str) -> list[str]:
    response = requests.get(
        f"{running_bot.rasa_url}/conversations/{session_id}/tracker",
        params={"token": running_bot.api_token},
        timeout=10,
    )
    response.raise_for_status()
    return [e.get("text") for e in response.json()["events"] if e.get("event") == "user"]


def test_answer_source_feedback_and_history(demo_site, running_bot, new_page, shot):
    browser_page = new_page()
    page = browser_page.page
    page.goto(demo_site.url)
    expect(page).to_have_title(re.compile("演示"))
    shot(page, "01-home")
    open_chat(page)

    ask(page, QUESTION)
    expect(page.locator(".rw-msg-user").last).to_have_text(re.compile(QUESTION))
    expect(answer_with_source(page)).to_be_visible(timeout=30_000)
    # why: pinned by id (kept in the transcript, so it is the same message after the reload)
    answer = page.locator(f'[data-id="{answer_with_source(page).get_attribute("data-id")}"]')
    source = answer.locator(".rw-source")
    expect(source).to_have_attribute("role", "note")
    expect(source).to_contain_text("《")
    expect(answer.locator(".rw-bubble")).to_contain_text(re.compile(r"\d"))
    expect(answer.locator("time")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    expect(page.locator(".rw-typing")).to_be_hidden()
    shot(page, "02-answer-with-source")

    # 👎 with a reason, stored where trainers read it
    answer.get_by_role("button", name="没有帮助").click()
    reason = answer.locator(".rw-reason")
    expect(reason.get_by_label("补充说明（选填，最多200字）")).to_be_visible()
    reason.get_by_text("答案不准确").click()
    reason.get_by_label("补充说明（选填，最多200字）").fill("想知道具体地址，我的电话13812345678")
    shot(page, "04a-feedback-reason")
    reason.get_by_role("button", name="提交反馈").click()
    expect(answer.locator(".rw-thanks")).to_contain_text("感谢反馈")
    expect(answer.get_by_role("button", name="没有帮助")).to_have_attribute("aria-pressed", "true")
    [feedback] = demo_site.store.list_feedback(rating="down")
    assert feedback.reason == "inaccurate" and feedback.user_text == QUESTION
    assert "来源" in feedback.bot_text and "13812345678" not in (feedback.comment or "")
    shot(page, "04-feedback-given")

    # reload: the conversation is still there, and it is the same Rasa session
    session_id = page.evaluate("window.RensheWidget.sessionId()")
    page.reload()
    expect(page.get_by_role("dialog", name="人社小助手")).to_be_visible()
    expect(page.locator(".rw-msg-user", has_text=QUESTION)).to_be_visible()
    expect(answer.locator(".rw-source")).to_contain_text("《")
    expect(page.locator(".rw-divider")).to_contain_text("之前的对话")
    expect(answer.get_by_role("button", name="没有帮助")).to_have_attribute("aria-pressed", "true")
    expect(answer.get_by_role("button", name="有帮助", exact=True)).to_be_disabled()
    assert page.evaluate("window.RensheWidget.sessionId()") == session_id
    expect(page.locator(".rw-status-text")).to_have_text("在线", timeout=20_000)
    before = bot_messages(page).count()
    ask(page, "谢谢")
    expect(bot_messages(page)).to_have_count(before + 1, timeout=30_000)
    assert tracker_texts(running_bot, session_id)[:1] == [QUESTION]
    assert "谢谢" in tracker_texts(running_bot, session_id)
    shot(page, "05-history-after-reload")
    assert browser_page.errors == [] and browser_page.dialogs == []


def ambiguous_questions(running_bot, wanted: int = 3) -> list[str]:
    """Messages for which the model's NLU result makes action_clarify_or_search offer options."""
    found = []
    for first, second in itertools.combinations(TOPIC_WORDS, 2):
        text = f"{first}和{second}"
        parsed = requests.post(
            f"{running_bot.rasa_url}/model/parse", params={"token": running_bot.api_token},
            json={"text": text}, timeout=30,
        ).json()
        if parsed["intent"]["name"] != "nlu_fallback":
            continue
        topics = [r["confidence"] for r in parsed["intent_ranking"][:4] if r["name"].startswith("ask_")][:2]
        if len(topics) == 2 and topics[1] >= MIN_OPTION_CONFIDENCE and topics[0] - topics[1] <= AMBIGUITY_GAP:
            found.append(text)
            if len(found) == wanted:
                break
    return found


def test_quick_reply(demo_site, running_bot, new_page, shot):
    candidates = ambiguous_questions(running_bot)
    assert candidates, "no pair of TOPIC_WORDS makes this model's NLU ambiguous; add more words"
    browser_page = new_page()
    page = browser_page.page
    page.goto(demo_site.url)
    open_chat(page)
    for question in candidates:
        before = bot_messages(page).count()
        ask(page, question)
        expect(bot_messages(page)).not_to_have_count(before, timeout=30_000)
        page.wait_for_timeout(300)  # the rest of the turn
        if bot_messages(page).last.locator(".rw-quick").count():
            break
    else:
        pytest.fail(f"the bot offered no quick replies for {candidates}")
    # why: pin the message by its id; `.last` would move on to the answer that follows.
    offer = page.locator(f'[data-id="{bot_messages(page).last.get_attribute("data-id")}"]')
    chips = offer.locator(".rw-quick").get_by_role("button")
    count = chips.count()
    assert count >= 2
    title = chips.first.inner_text()
    shot(page, "03a-quick-reply-offered")
    before = bot_messages(page).count()
    chips.first.click()
    expect(page.locator(".rw-msg-user").last.locator("p")).to_have_text(title)
    expect(bot_messages(page)).to_have_count(before + 1, timeout=30_000)
    for index in range(count):
        expect(chips.nth(index)).to_be_disabled()
    expect(chips.first).to_have_attribute("aria-pressed", "true")
    # why: one click sends one message; the question itself may contain the title ("失业保险和最低工资").
    expect(page.locator(".rw-msg-user p", has_text=re.compile(rf"^\s*{re.escape(title)}\s*$"))).to_have_count(1)
    expect(bot_messages(page).last).not_to_contain_text("没有找到这个编号")
    offer.evaluate("node => node.scrollIntoView({block: 'start'})")
    shot(page, "03-quick-reply-chosen")
    assert browser_page.errors == []


def test_hostile_message_is_shown_as_text(demo_site, new_page, shot):
    browser_page = new_page()
    page = browser_page.page
    page.goto(demo_site.url)
    open_chat(page)
    before = bot_messages(page).count()
    ask(page, HOSTILE)
    expect(page.locator(".rw-msg-user").last.locator("p")).to_have_text(HOSTILE)
    expect(bot_messages(page)).to_have_count(before + 1, timeout=30_000)
    page.wait_for_timeout(300)
    assert page.locator(".rw-root img").count() == 0
    assert browser_page.dialogs == []
    shot(page, "08-hostile-message-as-text")
    assert browser_page.errors == []


def test_phone_sized_screen_and_large_text(demo_site, new_page, shot):
    browser_page = new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = browser_page.page
    page.goto(demo_site.url)
    shot(page, "06a-mobile-home")
    open_chat(page)
    ask(page, QUESTION)
    answer = answer_with_source(page)
    expect(answer).to_be_visible(timeout=30_000)
    box = answer.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "06-mobile-answer")
    page.get_by_role("button", name="大字模式").click()
    expect(page.locator(".rw-root")).to_have_class(re.compile("rw-large"))
    answer.scroll_into_view_if_needed()
    shot(page, "07-mobile-large-text")
    assert browser_page.errors == []


def test_human_handoff_leave_a_message(demo_site, new_page, shot):
    browser_page = new_page()
    page = browser_page.page
    page.goto(demo_site.url)
    open_chat(page)
    ask(page, QUESTION)
    expect(answer_with_source(page)).to_be_visible(timeout=30_000)
    ask(page, "转人工")
    card = page.get_by_role("group", name="留言给工作人员")
    expect(card).to_be_visible(timeout=30_000)
    expect(page.locator(".rw-msg-bot", has_text="人工")).not_to_have_count(0)
    expect(card).to_contain_text("工作人员会在工作日回复，回复时间以实际为准")
    expect(card.get_by_label("留言内容")).to_have_value(QUESTION)
    card.get_by_label("称呼（选填）").fill("李女士")
    card.get_by_label("手机号码").fill("138 1234 5678")
    shot(page, "11-handoff-form")
    card.get_by_role("button", name="提交留言").click()
    expect(card.get_by_role("alert")).to_contain_text("勾选同意")
    before = {h.id for h in demo_site.store.list_handoffs()}
    card.get_by_label("我同意保存以上联系方式").check()
    card.get_by_role("button", name="提交留言").click()
    expect(card).to_contain_text("留言已提交")
    expect(card).to_contain_text("138****5678")
    new = [h for h in demo_site.store.list_handoffs() if h.id not in before]
    assert len(new) == 1 and new[0].contact_masked == "138****5678" and new[0].name_masked == "李**"
    assert demo_site.store.reveal_contact(new[0].id).phone == "13812345678"
    assert "13812345678" not in page.evaluate("JSON.stringify(localStorage)")
    shot(page, "12-handoff-sent")
    assert browser_page.errors == []


def test_a_traditional_question_gets_a_traditional_answer_with_its_source_linked(demo_site, running_bot, new_page, shot):
    """繁體 in, 繁體 out (bot/script.py in the channel guard), the real model and knowledge base."""
    browser_page = new_page()
    page = browser_page.page
    page.goto(demo_site.url)
    open_chat(page)
    ask(page, "深圳有多少個社保服務網點")
    answer = answer_with_source(page)
    expect(answer).to_be_visible(timeout=30_000)
    text = answer.locator(".rw-bubble").inner_text()
    assert "113" in text  # the same verified figure
    assert "網點" in text and "网点" not in text
    stored = page.evaluate("JSON.parse(localStorage.getItem('renshe-widget:transcript')).items.map(i => i.text)")
    assert any(t.startswith("社保服務網點") and "\n來源：《" in t for t in stored)  # the bot's own 來源 line
    link = answer.locator(".rw-source").get_by_role("link").first
    expect(link).to_have_attribute("href", re.compile(r"/source/[0-9A-Za-z_-]+"))
    shot(page, "18-traditional-answer")
    # the switch: a simplified question answered in 繁體 on request
    page.get_by_role("button", name="繁體回覆").click()
    ask(page, QUESTION)
    expect(page.locator(".rw-msg-bot", has=page.locator(".rw-source"))).to_have_count(2, timeout=30_000)
    assert "網點" in answer_with_source(page).locator(".rw-bubble").inner_text()
    assert browser_page.errors == []
