"""Human hand-off: each channel fulfils it its own way (web form, WeChat customer service)."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


class ActionRequestHuman(Action):
    """Answers ``request_human`` with ``utter_request_human`` plus a channel hint in ``custom``.

    The WeChat channel turns ``{"handoff": true}`` into a ``transfer_customer_service`` reply;
    the web widget shows its leave-a-message form.
    """

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        dispatcher.utter_message(response="utter_request_human")
        dispatcher.utter_message(json_message={"handoff": True})
        return []
