"""A Redis ticket-lock store that is safe when several Rasa instances share a conversation.

Rasa Open Source 3.6's ``RedisLockStore`` changes a conversation's lock with a plain
read-modify-write (GET, change the ticket list in Python, SET). When two instances receive a
message for the same conversation at the same moment, one SET overwrites the other: a ticket is
lost (that message then waits until the lock key disappears — minutes — and fails with
``LockError``) or two messages get the same number and are processed at once. Rasa's reviewers
noted it when the ticket lock was introduced ("this is far from atomic", RasaHQ/rasa#3933); the
concurrent lock store that fixes it is not part of Rasa Open Source. The scale tests hit it.

Contract: :class:`AtomicRedisLockStore` keeps Rasa's key layout and ticket semantics (first come,
first served; tickets expire after the lock lifetime) but performs every change — issuing a ticket,
removing expired ones, finishing one, deleting an empty lock — as an optimistic Redis transaction
(WATCH / MULTI / EXEC, retried on conflict). Lock keys also expire (lifetime + a minute after the
last change), so a lock can no longer outlive every ticket in it. Waiting messages poll every
:attr:`POLL_SECONDS` (Rasa: 1 s) so a queued message follows the previous one without a second's gap.

Registered in ``deploy/endpoints.prod.yml`` as ``type: bot.stores.lock_store.AtomicRedisLockStore`` with the
same keys as Rasa's ``redis`` lock store (``url``, ``port``, ``db``, ``password``, ``key_prefix``).
"""
# rasa-patch: lock-store (docs/rasa-patches.md)

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

logger = logging.getLogger(__name__)

T = TypeVar("T")
_KEY_GRACE_SECONDS = 60


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis ticket lock with atomic updates (see the module docstring)."""

    POLL_SECONDS = 0.1

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            # why: Rasa builds custom lock stores as ``cls(endpoint_config=...)``; its keys are ours.
            kwargs = {**endpoint_config.kwargs, **kwargs}
            if endpoint_config.url:
                kwargs.setdefault("host", endpoint_config.url)
        # why: an empty ${REDIS_PASSWORD} means "no password", not AUTH with "".
        for name in ("password", "username"):
            if not kwargs.get(name):
                kwargs.pop(name, None)
        super().__init__(**kwargs)

    # --- one atomic change ---------------------------------------------------------------------------
    def _change(self, conversation_id: str,
                change: Callable[[TicketLock | None], Tuple[TicketLock | None, T]]) -> T:
        """Apply ``change`` to the stored lock in one transaction; None as the new lock deletes it."""
        import redis

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(raw)) if raw else None
                    new_lock, result = change(lock)
                    pipe.multi()
                    if new_lock is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, new_lock.dumps(), ex=int(LOCK_LIFETIME) + _KEY_GRACE_SECONDS)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another instance changed the lock in between: read it again

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: TicketLock | None) -> Tuple[TicketLock, int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, issue)
        except Exception as error:  # noqa: BLE001 - Rasa's contract: any failure is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        def expire(lock: TicketLock | None) -> Tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_expired_tickets()
            # why: a lock without tickets is deleted, so a waiter whose ticket expired stops waiting.
            return (lock if lock.tickets else None), None

        # why: read first; a waiter polls often and must not write when nothing expired.
        lock = self.get_lock(conversation_id)
        if lock is not None and any(ticket.has_expired() for ticket in lock.tickets):
            self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def finish(lock: TicketLock | None) -> Tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish ``ticket_number`` and delete the lock when nobody else waits — in one step."""

        def finish_and_maybe_delete(lock: TicketLock | None) -> Tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._change(conversation_id, finish_and_maybe_delete)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = POLL_SECONDS,
    ) -> AsyncGenerator[TicketLock, None]:
        async with super().lock(conversation_id, lock_lifetime, wait_time_in_seconds) as ticket_lock:
            yield ticket_lock
