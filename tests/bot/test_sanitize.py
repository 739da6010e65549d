import pytest

from bot.sanitize import MAX_CHARS, clean_user_text, contains_pii, mask_pii


@pytest.mark.parametrize(
    "text, must_not_contain, kinds",
    [
        ("我的身份证是440301199001011234帮我查社保", "440301199001011234", ("id_card",)),
        ("身份证 44030119900101123X", "44030119900101123X", ("id_card",)),
        ("电话13812345678", "13812345678", ("phone",)),
        ("电话 138-1234-5678 谢谢", "138-1234-5678", ("phone",)),
        ("手机+86 13912345678", "13912345678", ("phone",)),
        ("卡号6222 0212 3456 7890 123", "6222 0212 3456 7890 123", ("bank_card",)),
        ("卡号6222021234567890", "6222021234567890", ("bank_card",)),
        ("全角１３８１２３４５６７８", "１３８１２３４５６７８", ("phone",)),
    ],
)
def test_personal_numbers_are_masked(text, must_not_contain, kinds):
    cleaned = clean_user_text(text)
    assert must_not_contain not in cleaned.text
    assert cleaned.pii_kinds == kinds
    assert not contains_pii(cleaned.text)


@pytest.mark.parametrize(
    "text",
    ["深圳有113个社保服务网点吗", "2024年城镇新增就业20.7万人", "目标2300万", "1", "0755-88123017"],
)
def test_ordinary_numbers_are_kept(text):
    cleaned = clean_user_text(text)
    assert cleaned.text == text
    assert not cleaned.has_pii


@pytest.mark.parametrize("text", ["/greet", '/ask_pension{"region": "上海"}', "  /restart"])
def test_typed_intent_commands_become_plain_text(text):
    cleaned = clean_user_text(text)
    assert not cleaned.text.startswith("/")
    assert cleaned.neutralised_command


@pytest.mark.parametrize("value, expected", [(None, ""), (123, "123"), ("\x00你好\u200b", "你好")])
def test_odd_values_are_made_text(value, expected):
    assert clean_user_text(value).text == expected


def test_huge_input_is_cut():
    cleaned = clean_user_text("社保" * 10_000)
    assert len(cleaned.text) == MAX_CHARS
    assert cleaned.truncated


@pytest.mark.parametrize("raw", ["\ud800abc", "abc\udfff", "\udbff\udbff深圳", "😀\ud83d"])
def test_invalid_unicode_is_repaired_so_it_can_always_be_encoded(raw):
    cleaned = clean_user_text(raw).text
    cleaned.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError here
    assert "\ufffd" in cleaned and mask_pii(raw)[0].encode("utf-8")
