"""The jieba user dictionary generated from the knowledge content."""

from __future__ import annotations

import re

import pytest

from knowledge import __main__ as cli
from knowledge.content import load_content
from knowledge.settings import PACKAGE_DIR, Settings
from knowledge.userdict import MAX_WORD_LEN, render

from .helpers import FIXTURE_CONTENT, REPO_ROOT

LINE_RE = re.compile(r"^(\S+) (\d+) ([a-z]+)$")


@pytest.fixture(scope="module")
def fixture_text() -> str:
    return render(load_content(FIXTURE_CONTENT))


def test_format_sorted_and_unique(fixture_text):
    lines = fixture_text.splitlines()
    assert fixture_text.endswith("\n")
    assert all(LINE_RE.match(line) for line in lines), [x for x in lines if not LINE_RE.match(x)]
    words = [line.split()[0] for line in lines]
    assert words == sorted(words) and len(words) == len(set(words))
    assert all(2 <= len(w) <= MAX_WORD_LEN for w in words)


@pytest.mark.parametrize(
    "word, tag",
    [
        ("社保服务网点", "n"),  # topic name and alias
        ("15分钟社保服务圈", "n"),  # alias
        ("电子社保卡", "n"),
        ("社银自助服务终端", "nz"),  # fact metric
        ("博士后研究人员年招数", "nz"),  # metric of the parsed 专栏2
        ("粤菜师傅培训人次", "nz"),  # quotes stripped from “粤菜师傅”培训人次
        ("深圳", "ns"),
        ("鹏城", "ns"),
        ("调援裁诉", "n"),  # core term
    ],
)
def test_contains(fixture_text, word, tag):
    assert re.search(rf"^{re.escape(word)} \d+ {tag}$", fixture_text, re.M), word


def test_long_metric_names_are_left_out(fixture_text):
    assert "新增取得职业资格证书或职业技能等级证书人数" not in fixture_text


def test_render_is_deterministic():
    assert render(load_content(FIXTURE_CONTENT)) == render(load_content(FIXTURE_CONTENT))


def test_cli_check_detects_stale_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "dict" / "userdict.txt"
    settings = Settings(database_url="sqlite://", content_dir=FIXTURE_CONTENT, userdict_path=path)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["userdict", "--check"]) == 1  # missing
    assert cli.main(["userdict"]) == 0
    assert cli.main(["userdict", "--check"]) == 0
    path.write_text(path.read_text(encoding="utf-8") + "手工添加 5 n\n", encoding="utf-8")
    assert cli.main(["userdict", "--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_repository_userdict_is_up_to_date():
    """data/dict/userdict.txt must be regenerated (and the NLU retrained) when the content changes."""
    path = REPO_ROOT / "data" / "dict" / "userdict.txt"
    assert path.is_file(), "run `python -m knowledge userdict`"
    assert path.read_text(encoding="utf-8") == render(load_content(PACKAGE_DIR)), (
        "data/dict/userdict.txt is stale: run `python -m knowledge userdict` and retrain"
    )
