"""bot.nlu.intent_classifier: the linear SVM intent classifier, trained on real pipeline features."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu.intent_classifier import LinearIntentClassifier, fit_temperature, softmax

EXAMPLES = {
    "greet": ["你好", "您好", "早上好", "hi", "哈喽", "你好呀"],
    "ask_social_security_card": ["社保卡怎么办", "社保卡丢了", "电子社保卡", "社保卡补办", "办社保卡", "社保卡激活"],
    "ask_wage_arrears": ["老板欠薪", "拖欠工资怎么办", "讨薪", "工资不发", "欠工资投诉", "欠薪找谁"],
}


def test_softmax_rows_sum_to_one_and_temperature_sharpens():
    values = np.array([[2.0, 1.0, 0.0]])
    assert softmax(values, 1.0).sum() == pytest.approx(1.0)
    assert softmax(values, 0.1)[0, 0] > softmax(values, 1.0)[0, 0] > softmax(values, 10.0)[0, 0]


def test_fitted_temperature_follows_how_often_the_top_score_is_right():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    clean = np.eye(3)[truth] + rng.normal(0, 0.05, (600, 3))  # always right, clearly separated
    noisy = rng.normal(0, 1, (600, 3))  # right by chance only
    assert fit_temperature(clean, truth) < fit_temperature(noisy, truth)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    context = ExecutionContext(GraphSchema({}), "test")
    data = TrainingData([Message.build(text=t, intent=i) for i, texts in EXAMPLES.items() for t in texts])
    tokenizer = JiebaTokenizer.create(JiebaTokenizer.get_default_config(), storage, Resource("tok"), context)
    tokenizer.process_training_data(data)
    featurizer = CountVectorsFeaturizer.create(
        {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 3},
        storage, Resource("cvf"), context,
    )
    featurizer.train(data)
    featurizer.process_training_data(data)
    resource = Resource("linear")
    classifier = LinearIntentClassifier.create({"calibration_folds": 2}, storage, resource, context)
    classifier.train(data)

    def classify(component, text):
        message = Message.build(text=text)
        tokenizer.process([message])
        featurizer.process([message])
        component.process([message])
        return message

    return storage, resource, context, classifier, classify


@pytest.mark.parametrize("text, intent", [("社保卡在哪办", "ask_social_security_card"), ("老板拖欠工资", "ask_wage_arrears"),
                                          ("你好啊", "greet")])
def test_classifies_and_ranks(trained, text, intent):
    *_, classifier, classify = trained
    message = classify(classifier, text)
    assert message.get("intent")["name"] == intent
    ranking = message.get("intent_ranking")
    assert [r["name"] for r in ranking][0] == intent and len(ranking) == 3
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0, abs=1e-5)


def test_round_trip_through_model_storage_without_pickle(trained):
    storage, resource, context, classifier, classify = trained
    loaded = LinearIntentClassifier.load({}, storage, resource, context)
    assert loaded.classes == classifier.classes and loaded.temperature == classifier.temperature
    assert classify(loaded, "欠薪").get("intent") == classify(classifier, "欠薪").get("intent")
    with storage.read_from(resource) as directory:
        assert sorted(p.name for p in directory.iterdir()) == ["coef.npy", "intercept.npy", "meta.json"]
