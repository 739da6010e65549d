"""Round trip of data/nlu/*.yml: byte for byte when nothing changes, one-line diffs when one example does."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from console.nlu_files import (
    Add,
    ConflictError,
    Delete,
    Entity,
    ExampleFormatError,
    FileFormatError,
    NluFile,
    NluRepository,
    Replace,
    format_example,
    parse_example,
)
from tests.console.support import ROOT

REPO_NLU_FILES = sorted((ROOT / "data" / "nlu").glob("*.yml"))

# A file in the repository's style, with everything a round trip could lose.
STYLE_A = """version: "3.1"
# Topic: pension. Comment at the top.
nlu:
- intent: ask_pension  # trailing comment
  examples: |
    - [深圳](region)企业退休人员人均养老金多少
    - 养老金平均每月多少钱
    - [鹏城]{"entity": "region", "value": "深圳"}养老金

    - [2025年](period)[养老保险]{"entity": "insurance_type", "value": "养老"}参保目标
# comment between intents

- intent: ask_retirement
  examples: |
    - 退休年龄是多少
    - 延迟退休怎么算
  # comment after the block
"""

# The other common layout: the sequence indented under its key.
STYLE_B = """version: '3.1'
nlu:
  - intent: greet
    examples: |
      - 你好
      - 您好呀
  - synonym: 深圳
    examples: |
      - 鹏城
  - intent: goodbye
    examples: |
      - 再见
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    directory = tmp_path / "nlu"
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize(
    ("raw", "text", "entities"),
    [
        ("养老金平均每月多少钱", "养老金平均每月多少钱", ()),
        ("[深圳](region)养老金", "深圳养老金", (Entity(0, 2, "region"),)),
        (
            '[鹏城]{"entity": "region", "value": "深圳"}养老金',
            "鹏城养老金",
            (Entity(0, 2, "region", "深圳"),),
        ),
        ("那[上海](region)呢", "那上海呢", (Entity(1, 3, "region"),)),
        (
            '[2025年](period)[养老保险]{"entity": "insurance_type", "value": "养老"}参保目标',
            "2025年养老保险参保目标",
            (Entity(0, 5, "period"), Entity(5, 9, "insurance_type", "养老")),
        ),
        ('[城市]{"entity": "region", "role": "from"}', "城市", (Entity(0, 2, "region", None, "from"),)),
        ("我的身份证[身份证号]丢了", "我的身份证[身份证号]丢了", ()),
    ],
)
def test_parse_and_format_are_inverse(raw, text, entities):
    example = parse_example(raw)
    assert (example.text, example.entities) == (text, entities)
    assert format_example(example.text, example.entities) == raw


def test_colon_value_form_is_read_and_written_as_dict():
    example = parse_example("[SZ](region:深圳)养老金")
    assert example.entities == (Entity(0, 2, "region", "深圳"),)
    assert format_example(example.text, example.entities) == '[SZ]{"entity": "region", "value": "深圳"}养老金'


def test_several_entities_on_one_span():
    raw = '[深圳][{"entity": "region"}, {"entity": "city", "value": "深圳市"}]'
    example = parse_example(raw)
    assert [e.entity for e in example.entities] == ["region", "city"]
    assert format_example(example.text, example.entities) == raw


@pytest.mark.parametrize(
    "raw",
    [
        '[深圳]{"entity": region}养老金',
        '[深圳]{"value": "深圳"}',
        "[深圳](re gion)",
        '[深圳]{"entity": "x", "bad": 1}',
    ],
)
def test_malformed_annotations_are_refused(raw):
    with pytest.raises(ExampleFormatError):
        parse_example(raw)


@pytest.mark.parametrize("path", REPO_NLU_FILES, ids=lambda p: p.name)
def test_every_repository_file_round_trips_byte_for_byte(path):
    nf = NluFile.load(path)
    assert nf.roundtrip_ok
    assert nf.dump() == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", [STYLE_A, STYLE_B], ids=["repo-style", "indented-style"])
def test_styles_round_trip_byte_for_byte(tmp_path, text):
    path = write(tmp_path, "x.yml", text)
    assert NluFile.load(path).dump() == text


def test_nothing_changes_when_nothing_is_applied(tmp_path):
    path = write(tmp_path, "pension.yml", STYLE_A)
    data = NluRepository(path.parent).load()
    assert [e.raw for e in data.intents["ask_pension"].examples][1] == "养老金平均每月多少钱"
    assert path.read_text(encoding="utf-8") == STYLE_A


@pytest.mark.parametrize(
    ("change", "expected_diff"),
    [
        (Add("ask_pension", "[上海](region)养老金多少"), ["+    - [上海](region)养老金多少"]),
        (
            Replace("ask_pension", 1, "养老金平均每月多少钱", "养老金平均每个月多少钱"),
            ["-    - 养老金平均每月多少钱", "+    - 养老金平均每个月多少钱"],
        ),
        (
            Delete("ask_pension", 2, '[鹏城]{"entity": "region", "value": "深圳"}养老金'),
            ['-    - [鹏城]{"entity": "region", "value": "深圳"}养老金'],
        ),
        (Add("ask_retirement", "  退休   手续 "), ["+    - 退休 手续"]),
    ],
    ids=["add", "edit", "delete", "add-normalises-spaces"],
)
def test_one_change_is_a_one_line_diff(tmp_path, change, expected_diff):
    path = write(tmp_path, "pension.yml", STYLE_A)
    applied = NluRepository(path.parent).apply([change])
    after = path.read_text(encoding="utf-8")
    assert diff(STYLE_A, after) == expected_diff
    assert "# comment between intents" in after and "# trailing comment" in after
    assert applied.previous[path] == STYLE_A.encode("utf-8")


def test_add_goes_after_the_last_example_not_after_blank_lines(tmp_path):
    path = write(tmp_path, "pension.yml", STYLE_A)
    NluRepository(path.parent).apply([Add("ask_pension", "新例句")])
    lines = path.read_text(encoding="utf-8").splitlines()
    position = lines.index("    - 新例句")
    assert lines[position - 1].startswith("    - [2025年]")


def test_indented_style_keeps_its_indentation(tmp_path):
    path = write(tmp_path, "conversation.yml", STYLE_B)
    NluRepository(path.parent).apply([Add("greet", "早上好")])
    assert diff(STYLE_B, path.read_text(encoding="utf-8")) == ["+      - 早上好"]


def test_move_between_files_changes_one_line_in_each(tmp_path):
    a = write(tmp_path, "pension.yml", STYLE_A)
    b = write(tmp_path, "conversation.yml", STYLE_B)
    repo = NluRepository(a.parent)
    applied = repo.apply([Delete("ask_pension", 1, "养老金平均每月多少钱"), Add("greet", "养老金平均每月多少钱")])
    assert sorted(applied.files) == ["conversation.yml", "pension.yml"]
    assert diff(STYLE_A, a.read_text(encoding="utf-8")) == ["-    - 养老金平均每月多少钱"]
    assert diff(STYLE_B, b.read_text(encoding="utf-8")) == ["+      - 养老金平均每月多少钱"]
    repo.restore(applied)
    assert (a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8")) == (STYLE_A, STYLE_B)


@pytest.mark.parametrize(
    "change",
    [
        Replace("ask_pension", 1, "别的句子", "新的"),
        Delete("ask_pension", 99, "x"),
        Add("ask_pension", '[a]{"x"}'),
    ],
    ids=["stale-edit", "gone", "bad-annotation"],
)
def test_refused_changes_write_nothing(tmp_path, change):
    path = write(tmp_path, "pension.yml", STYLE_A)
    with pytest.raises((ConflictError, ExampleFormatError)):
        NluRepository(path.parent).apply([change])
    assert path.read_text(encoding="utf-8") == STYLE_A


def test_a_file_that_does_not_round_trip_is_read_only(tmp_path):
    odd = STYLE_A.replace("- intent: ask_retirement", "- intent:    ask_retirement")
    path = write(tmp_path, "odd.yml", odd)
    repo = NluRepository(path.parent)
    data = repo.load()
    assert not data.intents["ask_retirement"].editable
    with pytest.raises(FileFormatError):
        repo.apply([Add("ask_retirement", "退休")])
    assert path.read_text(encoding="utf-8") == odd


def test_unknown_intent(tmp_path):
    path = write(tmp_path, "pension.yml", STYLE_A)
    with pytest.raises(KeyError):
        NluRepository(path.parent).apply([Add("no_such_intent", "x")])


def test_real_file_edit_is_minimal(tmp_path):
    source = ROOT / "data" / "nlu" / "pension.yml"
    target = tmp_path / "nlu"
    target.mkdir()
    shutil.copy2(source, target / "pension.yml")
    repo = NluRepository(target)
    first = repo.load().intents["ask_pension"].examples[0]
    repo.apply([Replace("ask_pension", 0, first.raw, first.raw + "呀")])
    changed = diff(source.read_text(encoding="utf-8"), (target / "pension.yml").read_text(encoding="utf-8"))
    assert changed == [f"-    - {first.raw}", f"+    - {first.raw}呀"]


# --- issue 17: import / export ---------------------------------------------------------------------------

IMPORT_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "console" / "import_examples.csv"


def test_export_then_import_round_trip(server, users, project):
    from tests.console.support import csrf_of, flashes, sign_in

    session = sign_in(server.url, users["trainer"])
    exported = session.get(server.url + "/examples/export.csv")
    assert exported.status_code == 200 and exported.text.startswith("intent,example\n")
    assert "ask_pension," in exported.text
    assert session.get(server.url + "/examples/export.yml").text.startswith('version: "3.1"\nnlu:\n- intent: ')
    token = csrf_of(session.get(server.url + "/").text)
    response = session.post(server.url + "/examples/import", data={"csrf_token": token},
                            files={"file": ("import_examples.csv", IMPORT_FIXTURE.read_bytes(), "text/csv")})
    assert response.status_code == 200  # redirected to the intents page
    shown = flashes(response.text)
    assert shown[0] == "导入 2 条，未导入 3 条"
    assert any("文件中重复" in f for f in shown) and any("没有意图 ask_nothing_here" in f for f in shown)
    assert "13812345678" not in response.text
    assert "- [深圳](region)养老金到底每个月发多少钱\n" in (project / "data" / "nlu" / "pension.yml").read_text("utf-8")
    assert "- 退休手续一般提前多久开始准备\n" in (project / "data" / "nlu" / "retirement.yml").read_text("utf-8")
