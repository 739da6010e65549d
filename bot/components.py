"""Custom NLU components (registered with Rasa's default recipe)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.sanitize import MASKS

# why: a bare digit (or ① / 第二个) is always the choice of a numbered option; a model should not guess it.
# why: requests to cheat are refused by rule, whatever topic words they also contain.
_FRAUD = re.compile(
    r"骗保|騙保|骗取|騙取|伪造|偽造|造假|做假|作假|假的?(?:证明|證明|材料|合同|记录|記錄|病历|病歷|发票|發票)|"
    r"假嘅|整[张張个個份]假|弄[个個张張份]假|装作|裝作|冒领|冒領|虚报|虛報|编造|編造|捏造|套取|"
    r"(?<![被受防])(?:骗|騙)(?![子局案])|冒充|(?:买|買)[^，。,\s]{0,4}(?:证|證)(?!明)|假(?:证|證)(?!明)|"
    r"虚开|虛開|走后门|走後門|塞[点點]?(?:钱|錢|红包|紅包)|呃[^，。,.\s]{0,3}(?:钱|錢|金|保|补贴|補貼)|"
    r"\bcheat|\bfake\b|\bforg(?:e|ed|ing)\b"
)
# why: a question about fighting fraud (怎么举报骗保, 基金监管怎么防止骗保) is not a request to cheat.
_AGAINST_FRAUD = re.compile(
    r"投诉|投訴|虚假招聘|虛假招聘|举报|舉報|防止|防范|防範|打击|打擊|查处|查處|严厉|嚴厲|监管|監管|处罚|處罰|"
    r"被骗|被騙|受骗|受騙"
)
# why: a typed "/intent{...}" arrives neutralised as "／intent{...}" (bot.sanitize); it is plain text
# that means nothing, so the model's guess from its English words must not steer the answer.
_COMMAND = re.compile(r"^\s*／[A-Za-z_]+(?:\{.*\})?\s*$", re.S)
_OPTION = re.compile(r"^\s*(?:[1-9]|[①②③④⑤]|第[一二三四五][个個項项]?|选\s*[1-9])\s*[.。．]?\s*$")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentGuard(GraphComponent, IntentClassifier):
    """Deterministic corrections after the classifiers.

    * A message whose personal numbers were masked by the channel (``[身份证号]`` …) and that is not
      a topic question becomes ``ask_personal_record``, whose answer warns about personal data.
    * A bare option number becomes ``select_option``.
    * A request to cheat (骗保, 伪造材料, 假证明 …) becomes ``request_fraud``.
    """

    @classmethod
    def required_components(cls) -> List[Type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            "topic_prefix": "ask_",
            "personal_intent": "ask_personal_record",
            "option_intent": "select_option",
            "fraud_intent": "request_fraud",
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        self._config = config

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentGuard:
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY) or ""
            if _COMMAND.match(text):
                self._set(message, "nlu_fallback")
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            elif _OPTION.match(text):
                self._set(message, self._config["option_intent"])
            elif _FRAUD.search(text) and not _AGAINST_FRAUD.search(text):
                self._set(message, self._config["fraud_intent"])
            elif any(mask in text for mask in MASKS) and not intent.startswith(self._config["topic_prefix"]):
                self._set(message, self._config["personal_intent"])
        return messages

    @staticmethod
    def _set(message: Message, intent: str) -> None:
        message.set(INTENT, {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
