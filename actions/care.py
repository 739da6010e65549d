"""A resident in distress (self-harm, violence, acute despair): care, the emergency numbers, a person."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# why: the staff inbox puts hand-offs with this priority at the top; the channels read ``handoff`` as for
# ``request_human`` (WeChat transfers to customer service, the widget opens its leave-a-message form).
DISTRESS_HANDOFF = {"handoff": True, "priority": "distress"}


class ActionAnswerDistress(Action):
    """Answers ``distress`` with ``utter_distress`` and asks for a person.

    Never a figure and never the goodbye. The reply names only 110/120: the knowledge base carries no
    crisis hotline with an official source, so none is stated. Needs ``utter_distress`` and slot
    ``last_options`` (cleared, so a later digit is not read as a choice from an older list).
    """

    def name(self) -> str:
        return "action_answer_distress"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        dispatcher.utter_message(response="utter_distress")
        dispatcher.utter_message(json_message=dict(DISTRESS_HANDOFF))
        return [SlotSet("last_options", None)]
