"""A challenge to the last answer ("你确定吗？出处呢", "征求意见稿不是写的96%吗", "到底以哪个为准"):
re-cite what it said, verbatim, and explain where the draft and the final version disagree."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import KnowledgeAction
from actions.composer import Templates
from knowledge.service import Fact, KnowledgeService

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# why: a re-citation is a check, not a new answer; a handful of figures is what the last answer showed.
MAX_FACTS = 4


def _source_label(fact: Fact) -> str:
    source = fact.source
    return f"《{source.title}》" + (f"（{source.date_label}）" if source.date_label else "")


def challenged_facts(svc: KnowledgeService, text: str, topic_id: str | None) -> List[Fact]:
    """Facts whose value the resident quotes back ("不是写的96%吗") and that have another version:
    first in the last answer's topic, else anywhere in the knowledge base."""
    numbers = {n for n in _NUMBER.findall(text or "")}
    if not numbers:
        return []
    topic_ids = [topic_id] if topic_id else []
    found: List[Fact] = []
    for ids in (topic_ids, [c.id for c in svc.topics()]):
        for tid in ids:
            for fact in svc.facts_for_topic(tid):
                if fact.value in numbers and fact not in found and any(
                    o.value != fact.value for o in svc.conflicts_for(fact.id)
                ):
                    found.append(fact)
        if found:
            break
    return found


def compose_verify(
    svc: KnowledgeService, templates: Templates, state: Mapping[str, Any] | None, text: str
) -> str | None:
    """The re-citation of ``state`` (slot ``last_answer``), or None when there is nothing to cite."""
    state = state or {}
    facts = [f for f in (svc.fact(i) for i in state.get("fact_ids") or []) if f][:MAX_FACTS]
    for fact in challenged_facts(svc, text, state.get("topic")):
        if fact.id not in {f.id for f in facts}:
            facts.append(fact)
    lines: List[str] = []
    citations: List[str] = []
    conflicts: List[str] = []
    for fact in facts:
        lines.append(templates.text(
            "utter_verify_fact", metric=fact.metric, display=fact.display,
            period_label=fact.period_label or "", citation=fact.source.citation, quote=fact.source.quote,
        ).replace("（）", ""))
        citations.append(_source_label(fact))
        versions = [fact] + [o for o in svc.conflicts_for(fact.id) if o.value != fact.value]
        current = [v for v in versions if v.status == "current"]
        superseded = [v for v in versions if v.status != "current" and v.note]
        if current and superseded:
            final, draft = current[0], superseded[0]
            line = templates.text(
                "utter_verify_conflict", metric=final.metric, draft=_source_label(draft),
                draft_display=draft.display, final=_source_label(final), final_display=final.display,
                note=draft.note,
            )
            if line not in conflicts:
                conflicts.append(line)
                citations += [_source_label(draft), _source_label(final)]
    quoted = [st for st in (svc.statement(i) for i in state.get("statement_ids") or []) if st][:MAX_FACTS]
    for st in quoted:
        lines.append(templates.text("utter_verify_statement", citation=st.source.citation, quote=st.text))
        citations.append(f"《{st.source.title}》" + (f"（{st.source.date_label}）" if st.source.date_label else ""))
    if not facts and not quoted and state.get("topic"):
        card = svc.topic(state["topic"])
        region = state.get("region")
        for _statement, source in (card.summary if card else ())[:2]:
            if region and svc.document_region(source.doc_id) not in (region, None):
                continue
            lines.append(templates.text("utter_verify_statement", citation=source.citation, quote=source.quote))
            citations.append(f"《{source.title}》" + (f"（{source.date_label}）" if source.date_label else ""))
    if not lines:
        return None
    out = [templates.text("utter_verify_intro"), *lines]
    if conflicts:
        out += [templates.text("utter_verify_conflict_intro"), *conflicts]
    out.append(templates.text("utter_part_source", citation="；".join(dict.fromkeys(citations))))
    return "\n".join(out)


class ActionVerify(KnowledgeAction):
    """Answers ``verify_source``: each fact of slot ``last_answer`` with its full citation and verbatim
    quote, plus the draft-vs-final explanation where versions disagree (``Fact.note``).

    Needs ``utter_verify_*``, ``utter_part_source``, ``utter_kb_answer`` and slot ``last_answer``.
    """

    def name(self) -> str:
        return "action_verify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        text = await self.in_thread(
            compose_verify, self.service, self.templates(tracker, domain), tracker.get_slot("last_answer"),
            tracker.latest_message.get("text") or "",
        )
        if text is None:
            dispatcher.utter_message(response="utter_verify_nothing")
        else:
            dispatcher.utter_message(response="utter_kb_answer", answer=text)
        return []
