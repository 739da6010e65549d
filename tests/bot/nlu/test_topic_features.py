"""bot.nlu.topic_features: knowledge-base topic scores as NLU features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.nlu.topic_features import bm25_weights, terms

ROOT = Path(__file__).resolve().parents[3]


def test_terms_are_cjk_ngrams_and_latin_runs():
    assert terms("社保卡") == ["社保", "保卡", "社保卡"]
    assert terms("打12333，5G视频办") == ["12333", "5g", "视频", "频办", "视频办"]
    assert terms("ＡＢＣ") == ["abc"]  # NFKC, lower-case
    assert terms("") == []


def test_weights_favour_the_topic_that_owns_a_term():
    intents, weights = bm25_weights({"ask_a": ["兵支书 退役军人"], "ask_b": ["社保卡 退役军人"], "ask_c": ["社保卡"]})
    assert intents == ["ask_a", "ask_b", "ask_c"]
    a = intents.index("ask_a")
    assert weights["兵支"][a] > 0 and sum(weights["兵支"]) == weights["兵支"][a]
    # a term in more topics weighs less than one in a single topic
    assert max(weights["退役"]) < weights["兵支"][a]


@pytest.fixture(scope="module")
def featurizer():
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from bot.nlu.topic_features import TopicFeaturizer

    documents = json.loads((ROOT / "data" / "topics" / "topics.json").read_text(encoding="utf-8"))
    component = TopicFeaturizer({**TopicFeaturizer.get_default_config(), "alias": "topics"},
                                LocalModelStorage.__new__(LocalModelStorage), Resource("topics"))
    component.intents, component.weights = bm25_weights(documents)
    component._rows = {t: np.asarray(w, dtype=np.float32) for t, w in component.weights.items()}
    return component


@pytest.mark.parametrize(
    "text, intent",
    [
        ("南粤家政是什么", "ask_three_projects"),
        ("创业担保贷款", "ask_entrepreneurship"),
        ("社保卡丢了", "ask_social_security_card"),
        ("欠薪投诉", "ask_wage_arrears"),
        ("公积金怎么提取", "ask_other_domain"),
    ],
)
def test_a_knowledge_base_term_points_at_its_topic(featurizer, text, intent):
    vector = featurizer.vector(text)
    assert vector.shape == (len(featurizer.intents),)
    # why: the 2024 review card shares many terms (兵支书 is one of the ten events), so "among the top two".
    top_two = [featurizer.intents[i] for i in np.argsort(-vector)[:2]]
    assert intent in top_two


def test_small_talk_has_no_topic_signal(featurizer):
    assert featurizer.vector("哈哈").max() == 0.0
    assert featurizer.vector("是什么呢").max() == 0.0
    assert featurizer.vector("你好").max() < featurizer.vector("社保卡丢了").max()


def test_committed_topic_documents_are_current():
    from knowledge.content import load_content
    from knowledge.userdict import render_topic_documents

    assert (ROOT / "data" / "topics" / "topics.json").read_text(encoding="utf-8") == render_topic_documents(
        load_content(ROOT / "knowledge")
    ), "run `python -m knowledge userdict` and retrain"
