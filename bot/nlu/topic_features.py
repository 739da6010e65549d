"""Knowledge-base topic features for the NLU: how strongly a message's words belong to each topic.

Why: residents name things the NLU examples never contained but the knowledge base does (兵支书,
一园四区, 548.04亿, 孔雀计划 …). The n-gram featurizers only know the words of the training
examples, so such a message gets a low-confidence guess. This featurizer scores the message against
the texts of every topic card (name, aliases, summaries, gaps, and the metrics and verbatim quotes of
its facts: ``data/topics/topics.json``, written by ``python -m knowledge userdict``) and hands the
classifier one dense feature per topic intent.

Contract:
- Terms are character 2- and 3-grams of CJK runs and whole Latin/digit runs (``12333``, ``5g``,
  ``548.04``), after NFKC and lower-casing, so the scores do not depend on how jieba segments.
- Training reads the topic texts once and stores BM25 weights (term -> per-intent weight) in the model,
  so a trained model never reads ``data/`` again and gives the same features wherever it runs.
- Features per message (sentence) and per token (sequence): ``log1p`` of the BM25 score for each
  topic intent, so both which topic and how much topic vocabulary there is at all reach the classifier.
  Intents without a card (greet, affirm …) have no column: their absence of topic words is the signal.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9][a-z0-9.%]*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
K1, B = 1.2, 0.75


def _stop_grams() -> frozenset:
    from knowledge.search import STOPWORDS

    return frozenset(w for w in STOPWORDS if len(w) >= 2)


# why: question words (什么, 怎么, 多少 …) occur in a few topic texts by chance; they say nothing about
# the topic, so they and the 3-grams that start or end with them are no terms.
_STOP = _stop_grams()


def terms(text: str) -> List[str]:
    """Character 2/3-grams of CJK runs and whole Latin/digit runs of ``text`` (question words left out)."""
    value = unicodedata.normalize("NFKC", text or "").lower()
    out: List[str] = []
    for run in _RUNS.findall(value):
        if _CJK.match(run):
            out += [g for g in (run[i : i + 2] for i in range(len(run) - 1)) if g not in _STOP]
            trigrams = (run[i : i + 3] for i in range(len(run) - 2))
            out += [g for g in trigrams if g[:2] not in _STOP and g[1:] not in _STOP]
        else:
            run = run.rstrip(".%")
            if len(run) >= 2:
                out.append(run)
    return out


def bm25_weights(documents: Dict[str, List[str]]) -> tuple[List[str], Dict[str, List[float]]]:
    """(intents, term -> BM25 weight per intent) for one document per intent (its texts joined)."""
    intents = sorted(documents)
    counts = [Counter(terms("\n".join(documents[i]))) for i in intents]
    lengths = [sum(c.values()) for c in counts]
    average = sum(lengths) / max(1, len(lengths))
    frequency = Counter(t for c in counts for t in c)
    n = len(intents)
    weights: Dict[str, List[float]] = {}
    for term, df in frequency.items():
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        row = []
        for count, length in zip(counts, lengths, strict=False):
            tf = count.get(term, 0)
            row.append(round(idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average)), 5) if tf else 0.0)
        weights[term] = row
    return intents, weights


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class TopicFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense per-topic BM25 features from the knowledge base's topic texts (see module docstring)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # why: generated from the knowledge content next to the jieba dictionary (make kb / userdict).
            "documents": "data/topics/topics.json",
        }

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        if not str(config.get("documents") or "").endswith(".json"):
            raise ValueError("TopicFeaturizer needs `documents`: the path of the topic texts (JSON)")

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        intents: List[str] | None = None,
        weights: Dict[str, List[float]] | None = None,
    ) -> None:
        super().__init__(resource.name if resource else "TopicFeaturizer", config)
        self._model_storage = model_storage
        self._resource = resource
        self.intents = intents or []
        self.weights = weights or {}
        self._rows = {t: np.asarray(w, dtype=np.float32) for t, w in self.weights.items()}

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TopicFeaturizer:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        path = Path(self._config["documents"])
        documents = json.loads(path.read_text(encoding="utf-8"))
        self.intents, self.weights = bm25_weights(documents)
        self._rows = {t: np.asarray(w, dtype=np.float32) for t, w in self.weights.items()}
        logger.info("topic features: %d intents, %d terms from %s", len(self.intents), len(self.weights), path)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / "topics.json").write_text(
                json.dumps({"intents": self.intents, "weights": self.weights}, ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TopicFeaturizer:
        try:
            with model_storage.read_from(resource) as directory:
                data = json.loads((directory / "topics.json").read_text(encoding="utf-8"))
        except (ValueError, OSError):
            logger.warning("topic features: no stored weights in the model; features will be zeros")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, data["intents"], data["weights"])

    def vector(self, text: str) -> np.ndarray:
        """The features of one text: ``log1p`` of its BM25 score for each topic intent."""
        scores = np.zeros(len(self.intents), dtype=np.float32)
        for term in set(terms(text)):
            row = self._rows.get(term)
            if row is not None:
                scores += row
        return np.log1p(scores)

    def _featurize(self, message: Message) -> None:
        text = message.get(TEXT)
        if not text or not self.intents:
            return
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        sequence = np.stack([self.vector(t.text) for t in tokens]) if tokens else np.zeros((0, len(self.intents)))
        sentence = self.vector(text)[np.newaxis, :]
        alias = self._config[FEATURIZER_CLASS_ALIAS]
        message.add_features(Features(sequence.astype(np.float32), FEATURE_TYPE_SEQUENCE, TEXT, alias))
        message.add_features(Features(sentence.astype(np.float32), FEATURE_TYPE_SENTENCE, TEXT, alias))

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data
