"""Per-turn cost of the tracker store: ``python -m bench.tracker_store`` (SQLite, in-process).

Each turn is what the Rasa server does per message: ``retrieve`` the conversation, append a turn's
five events (user message, action, bot message, slot, listen), ``save``. Rasa's own ``SQLTrackerStore``
and ours (:class:`bot.stores.tracker_store.ResilientSQLTrackerStore`, as ``endpoints.yml`` configures it) run
interleaved ``--rounds`` times over ``--conversations`` x 4 turns, after 50 earlier conversations are in
the table; prints JSON with CPU and wall milliseconds per turn (CPU is what a busy machine distorts least).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # why: runnable as a plain script as well as with -m


def _stores(tmp: Path):
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    from bot.stores.tracker_store import ResilientSQLTrackerStore

    domain = Domain.load(str(ROOT / "domain.yml"))
    return domain, {"rasa SQLTrackerStore": lambda name: SQLTrackerStore(domain, dialect="sqlite",
                                                                         db=str(tmp / f"{name}.db")),
                    "ours": lambda name: ResilientSQLTrackerStore(domain, dialect="sqlite", db=str(tmp / f"{name}.db"))}


async def _turn(store, domain, sender: str) -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = await store.retrieve(sender)
    if tracker is None:
        tracker = DialogueStateTracker(sender, domain.slots)
        for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
            tracker.update(event)
    for event in (UserUttered("深圳社保卡怎么办", {"name": "ask_social_security_card", "confidence": 0.9}),
                  ActionExecuted("action_answer_topic"), BotUttered("答案" * 50), SlotSet("region", "深圳"),
                  ActionExecuted("action_listen")):
        tracker.update(event)
    await store.save(tracker)


async def _measure(store, domain, conversations: int) -> tuple[float, float]:
    for c in range(50):
        await _turn(store, domain, f"old-{c}")
    cpu, wall, turns = time.process_time(), time.perf_counter(), conversations * 4
    for c in range(conversations):
        for _ in range(4):
            await _turn(store, domain, f"conversation-{c}")
    return (time.process_time() - cpu) * 1000 / turns, (time.perf_counter() - wall) * 1000 / turns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=30)
    args = parser.parse_args(argv)
    runs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tracker-") as tmp:
        domain, stores = _stores(Path(tmp))
        for round_ in range(args.rounds):
            for name, make in stores.items():
                store = make(f"{name.split()[0]}-{round_}")
                runs.setdefault(name, []).append(asyncio.run(_measure(store, domain, args.conversations)))
                store.engine.dispose()
    print(json.dumps({name: {"cpu_ms_per_turn": round(statistics.median(c for c, _ in values), 2),
                             "wall_ms_per_turn": round(statistics.median(w for _, w in values), 2),
                             "runs": [[round(c, 2), round(w, 2)] for c, w in values]}
                      for name, values in runs.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
