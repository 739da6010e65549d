"""繁體 answers: detection, the widget's switch, and conversion in the channel output (bot.script)."""

from __future__ import annotations

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.guard import guarded, replies
from bot.channels.wechat import WeChatOutput
from bot.script import HANS, HANT, convert_output, is_traditional, to_traditional, wanted_script


@pytest.mark.parametrize(
    "text, traditional",
    [
        ("深圳有多少個社保服務網點", True),
        ("勞動合同怎麼簽", True),
        ("深圳有多少个社保服务网点", False),
        ("你好", False),  # the same in both scripts: simplified
        ("113", False),
        ("", False),
        (None, False),
        ("社保服務网点", False),  # mixed scripts: simplified
    ],
)
def test_is_traditional(text, traditional):
    assert is_traditional(text) is traditional


@pytest.mark.parametrize(
    "text, metadata, script",
    [
        ("社保網點", None, HANT),
        ("社保网点", None, HANS),
        ("社保网点", {"web": {"script": "hant"}}, HANT),  # the widget's 繁 switch wins
        ("社保網點", {"web": {"script": "hans"}}, HANS),
        ("社保網點", {"web": {"script": "klingon"}}, HANT),  # unknown choice: the text decides
        ("社保网点", {"web": "hant"}, HANS),
        ("社保网点", "not a dict", HANS),
    ],
)
def test_wanted_script(text, metadata, script):
    assert wanted_script(text, metadata) == script


def test_conversion_uses_opencc_phrases_not_a_character_table():
    # why: 发 is 發 in 发展 but 髮 in 头发; only a phrase dictionary gets both right.
    assert to_traditional("发展头发") == "發展頭髮"


class Bot:
    """Stands in for Rasa: answers with a text, buttons and a custom payload."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.heard: list[str] = []

    async def __call__(self, message: UserMessage) -> None:
        out = message.output_channel
        self.names.append(out.name())
        self.heard.append(message.text)
        await out.send_response(message.sender_id, {"text": "社保服务网点：113个"})
        await out.send_response(
            message.sender_id,
            {"text": "您想了解哪一个？", "buttons": [{"title": "社保卡服务", "payload": "/ask_card"}]},
        )
        await out.send_response(message.sender_id, {"custom": {"citations": [{"quote": "社保服务网点"}]}})


def _turn(text: str, output=None, metadata=None) -> tuple[list[dict], Bot]:
    bot = Bot()
    output = output or CollectingOutputChannel()
    asyncio.run(guarded(bot)(UserMessage(text, output, "s1", input_channel="rest", metadata=metadata)))
    return output.messages, bot


def test_a_traditional_question_gets_a_traditional_answer():
    messages, bot = _turn("深圳有多少個社保服務網點")
    assert messages[0]["text"] == "社保服務網點：113個"
    assert messages[1]["text"] == "您想了解哪一個？"
    assert messages[1]["buttons"] == [{"title": "社保卡服務", "payload": "/ask_card"}]  # payload unchanged
    assert messages[2]["custom"] == {"citations": [{"quote": "社保服务网点"}]}  # verbatim quote kept


@pytest.mark.parametrize(
    "text, heard",
    [
        ("深圳有多少個社保服務網點", "深圳有多少个社保服务网点"),  # the NLU and search read simplified
        ("深圳有多少个社保服务网点", "深圳有多少个社保服务网点"),
        ("社保服務网点", "社保服務网点"),  # mixed: left as written
    ],
)
def test_rasa_reads_traditional_questions_in_simplified(text, heard):
    _, bot = _turn(text)
    assert bot.heard == [heard]


def test_the_switch_alone_does_not_change_what_rasa_reads():
    _, bot = _turn("显著著作", metadata={"web": {"script": "hant"}})
    assert bot.heard == ["显著著作"]


def test_a_simplified_question_is_answered_unchanged():
    messages, _ = _turn("深圳有多少个社保服务网点")
    assert [m.get("text") for m in messages[:2]] == ["社保服务网点：113个", "您想了解哪一个？"]


def test_the_widget_switch_asks_for_traditional():
    messages, _ = _turn("你好", metadata={"web": {"script": "hant"}})
    assert messages[0]["text"] == "社保服務網點：113個"


def test_the_channel_keeps_its_name_for_response_variations():
    messages, bot = _turn("社保網點", output=WeChatOutput())
    assert bot.names == ["wechat"] and messages[0]["text"] == "社保服務網點：113個"


def test_the_polite_fallback_is_converted_too():
    async def silent(message: UserMessage) -> None:
        return None

    output = CollectingOutputChannel()
    asyncio.run(guarded(silent)(UserMessage("社保網點", output, "s2", input_channel="rest")))
    assert [m["text"] for m in output.messages] == [to_traditional(replies()["unavailable"])]
    assert output.messages[0]["text"] != replies()["unavailable"]


def test_converting_twice_changes_nothing_more():
    output = convert_output(convert_output(CollectingOutputChannel()))
    asyncio.run(output.send_text_message("s", "网点"))
    assert output.messages[0]["text"] == "網點"
