"""BM25 search over passages and facts (jieba + the generated user dictionary)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from knowledge import __main__ as cli
from knowledge.search import SearchIndex, Tokenizer, shared_tokenizer
from knowledge.service import KnowledgeService


@pytest.fixture(scope="module")
def svc(shared_kb):
    return KnowledgeService(shared_kb.database_url, shared_kb.userdict_path)


def test_service_points_question_finds_113_with_citation(svc):
    hits = svc.search("深圳社保服务网点有多少个")
    top = hits[:3]
    fact = next((h for h in top if h.kind == "fact" and "113" in h.text), None)
    assert fact is not None, [h.text for h in hits]
    assert fact.source.title == "深圳人社2024年十件大事"
    assert fact.source.date_label == "2024年"
    assert fact.source.section == "四、强保障:实现“15分钟社保服务圈”"
    assert "113" in fact.source.quote
    assert fact.source.citation == "《深圳人社2024年十件大事》，2024年，四、强保障:实现“15分钟社保服务圈”"
    assert fact.region == "深圳" and "service_points" in fact.topics


@pytest.mark.parametrize(
    "query, region, topic, expect_in_top",
    [
        ("社保卡持卡人数", "上海", None, "2000"),
        ("社保卡持卡人数", "沪", None, "2000"),  # region is normalised
        ("社保卡持卡人数", "深圳", "social_security_card", "2287.95"),
        ("城镇新增就业目标", "全国", None, "5500"),
        ("劳动保障监察举报投诉案件结案率", "深圳", None, "98"),
    ],
)
def test_filters(svc, query, region, topic, expect_in_top):
    hits = svc.search(query, region=region, topic=topic, limit=3)
    assert hits, query
    wanted = svc.normalise_region(region)
    assert all(h.region == wanted for h in hits)
    if topic:
        assert all(topic in h.topics for h in hits)
    assert any(expect_in_top in h.text or expect_in_top in h.source.quote for h in hits)


def test_current_version_outranks_superseded(svc):
    hits = [
        h
        for h in svc.search("劳动保障监察举报投诉案件结案率目标", region="深圳", limit=10)
        if h.kind == "fact"
    ]
    assert "98" in hits[0].text


@pytest.mark.parametrize("query", ["", "   ", "？？", "的了吗"])
def test_empty_queries(svc, query):
    assert svc.search(query) == []


def test_unknown_region_or_topic_gives_nothing(svc):
    assert svc.search("社保卡", region="广州") == []
    assert svc.search("社保卡", topic="no_such_topic") == []


def test_limit(svc):
    assert len(svc.search("社保", limit=2)) <= 2
    assert svc.search("社保", limit=0) == []


def test_sparse_scores_equal_rank_bm25(svc):
    index = svc._search_index()
    for query in ("深圳社保服务网点有多少个", "城镇新增就业", "电子社保卡签发"):
        tokens = index.tokenizer.tokens(query)
        assert np.allclose(index.scores(tokens), index.bm25.get_scores(tokens))


def test_tokenizer_uses_the_user_dictionary(fixture_userdict, tmp_path):
    with_dict = shared_tokenizer(fixture_userdict)
    assert "社保服务网点" in with_dict.tokens("深圳社保服务网点有多少个")
    without = Tokenizer(tmp_path / "missing.txt")
    assert "社保服务网点" not in without.tokens("深圳社保服务网点有多少个")


def test_tokens_drop_stopwords_and_punctuation(fixture_userdict):
    tokens = shared_tokenizer(fixture_userdict).tokens("请问，深圳的社保卡有多少？")
    assert "的" not in tokens and "，" not in tokens and "？" not in tokens and "多少" not in tokens
    assert "深圳" in tokens and "社保卡" in tokens


def test_index_is_built_once(svc):
    first = svc._search_index()
    svc.search("社保")
    assert svc._search_index() is first
    assert isinstance(first, SearchIndex)


def test_cli_search(shared_kb, monkeypatch, capsys):
    monkeypatch.setattr(cli, "get_settings", lambda: shared_kb)
    assert cli.main(["search", "深圳社保服务网点有多少个", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "113个" in out and "来源：《深圳人社2024年十件大事》" in out
    assert cli.main(["search", "社保卡", "--region", "上海", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and all(h["region"] == "上海" for h in hits)
    assert hits[0]["source"]["citation"].startswith("《")


def test_synonyms_map_to_one_spelling(fixture_userdict):
    tokens = shared_tokenizer(fixture_userdict).tokens("社会保障卡持卡人数")
    assert "社保卡" in tokens


def test_a_region_named_in_the_query_ranks_first(svc):
    hits = [h for h in svc.search("上海社保卡持卡人数", limit=3) if h.kind == "fact"]
    assert hits[0].region == "上海" and "2000" in hits[0].text
