"""The capability menu as numbered options, so "2" after it answers that topic."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import KnowledgeAction

# why: one representative card per line of the old text menu; titles are the cards' own names, so the
# menu cannot promise a topic the knowledge base does not have.
MENU_TOPICS = (
    "plan_overview",
    "social_security_card",
    "service_points",
    "pension",
    "unemployment_insurance",
    "subsidised_training",
    "entrepreneurship",
    "labor_dispute",
    "wage_arrears",
)


def options_for(cards) -> List[Dict[str, str]]:
    """Slot ``last_options`` entries ({"kind", "value", "title"}) for topic cards, in order."""
    return [{"kind": "topic", "value": card.id, "title": card.name} for card in cards]


def buttons_for(options: List[Dict[str, str]]) -> List[Dict[str, str]]:
    """Buttons whose payload is the option's number (the widget sends it, WeChat users type it)."""
    return [{"title": option["title"], "payload": str(index)} for index, option in enumerate(options, 1)]


class ActionCapabilities(KnowledgeAction):
    """Answers ``ask_capabilities`` with ``utter_capabilities_menu`` and numbered topic buttons.

    Needs ``utter_capabilities_menu`` and slot ``last_options``; ``action_select_option`` reads the choice.
    """

    def name(self) -> str:
        return "action_capabilities"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        cards = [card for card in [await self.in_thread(self.service.topic, t) for t in MENU_TOPICS] if card]
        if not cards:
            dispatcher.utter_message(response="utter_capabilities")
            return [SlotSet("last_options", None)]
        options = options_for(cards)
        dispatcher.utter_message(response="utter_capabilities_menu", buttons=buttons_for(options))
        return [SlotSet("last_options", options)]
