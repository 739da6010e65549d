"""Chinese display names of intents for the console pages; the ids stay what is stored and sent.

Topic intents take their topic card's name from the knowledge base (``KnowledgeService.topics()``,
public API); conversation intents have names here. Without a built knowledge base the topic intents
show their ids only.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

CONVERSATION = {
    "greet": "问候",
    "goodbye": "道别",
    "thanks": "感谢",
    "bot_identity": "问机器人是谁",
    "ask_capabilities": "问能做什么",
    "request_human": "转人工",
    "affirm": "肯定",
    "deny": "否定",
    "out_of_scope": "超出范围",
    "ask_other_domain": "其他部门的事",
    "followup": "追问",
    "select_option": "选择选项",
    "request_fraud": "要求造假",
    "prompt_injection": "改变规则的指令",
    "nlu_fallback": "没听懂",
}


def intent_labels(database_url: str | None = None) -> dict[str, str]:
    """intent id -> Chinese name (topic card names from the knowledge base, conversation names above)."""
    labels = dict(CONVERSATION)
    try:
        from knowledge.service import KnowledgeService

        service = KnowledgeService(database_url) if database_url else KnowledgeService.from_settings()
        for card in service.topics():
            for intent in card.intents:
                labels.setdefault(intent, card.name)
    except Exception as error:  # noqa: BLE001 - names are a convenience; ids always work
        logger.info("intent names from the knowledge base unavailable: %s", error.__class__.__name__)
    return labels
