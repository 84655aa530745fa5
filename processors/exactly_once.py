"""Closes two gaps in Faust's exactly-once processing, found by our SIGKILL tests.

Faust commits a transaction (the consumed offsets) from a timer, and in Kafka 4.4 with
faust-streaming 0.15.3 two kinds of writes can land in the wrong transaction:

1. An event still being processed: its output is already in the open transaction, but its offset
   is not yet acked, so the commit takes the output without the offset. After a crash the event
   is processed again and its output appears twice (faust-streaming#517).
2. Table changelog writes wait in Faust's producer buffer (`send_soon`); a commit that runs before
   the buffer drains commits the offset without the state change, which is then lost.

`EventBoundaryCommits` makes commits happen only between events (agents hold `processing()` while
they handle one), and before each commit waits until every changelog write of the tables it made
(`boundary.table(...)`) is delivered, so it is inside the transaction that commits the offsets:
Faust hands changelog writes to aiokafka later, from a buffer, and aiokafka's commit flushes only
what it was handed (`send_in_transaction` hands its record over before it returns).
(Faust's own `ProducerBuffer.flush()` returns after 0.1 s of quiet whether or not the buffer is
empty, so it cannot be the barrier.)

3. At a rebalance Faust keeps the transactional producer of a partition that this worker lost to
   another one when the partition stays here as a standby (`TransactionManager._tps_to_active_tpgs`
   leaves standbys out of the producers it stops). The new owner's InitProducerId fences that
   producer; when the partition comes back (the other worker left), Faust's `begin_transaction`
   finds the fenced producer still there ("Invalid state transition IN_TRANSACTION ->
   IN_TRANSACTION", logged and ignored) and keeps using it: the first write to the partition gets
   INVALID_PRODUCER_EPOCH, aiokafka's sender dies with ProducerFenced and the producer is in
   FATAL_ERROR, and the worker crashes. `transactions_follow_active_partitions` (installed by
   `EventBoundaryCommits`) keeps across a rebalance only the producers of partitions that were
   active here before it and still are, and starts a new producer for every other active one.
4. Faust forgets the acked offsets of every revoked partition (all of them: its rebalancing is
   eager) before it stops its streams, and seeks every assigned partition back to its committed
   offset afterwards, also the ones this worker keeps, whose still-open transaction holds the
   output and table writes of the events after that offset: they are processed again and count
   twice (194 duplicated outputs on one kept partition in tests/test_rebalance.py).
   `commit_before_revocation` stops the streams, waits for the events in progress and commits
   their offsets first (with the writes, under the barrier), so there is nothing to redo. That
   commit ends those transactions; work that writes outside events must stop writing before it
   (`EventBoundaryCommits.before_revocation`) and wait for the new assignment.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event
from faust.transport.consumer import Consumer, TopicPartitionGroup, TransactionManager
from faust.types import TP

__all__ = ["EventBoundaryCommits", "commit_before_revocation", "transactional_id_for",
           "transactions_follow_active_partitions", "writing_for_partition"]

log = logging.getLogger(__name__)

class _PartitionEvent:
    """Stands in for Faust's current event where only its partition matters (table writes)."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, tp: TP) -> None:
        self.message = _PartitionMessage(tp)


class _PartitionMessage:
    __slots__ = ("tp", "topic", "partition")

    def __init__(self, tp: TP) -> None:
        self.tp, self.topic, self.partition = tp, tp.topic, tp.partition


def transactional_id_for(app: faust.App, tp: TP) -> str:
    """The id of the transactional producer Faust uses for source partition `tp` (its offsets,
    its tables' changelog writes)."""
    tpg = TopicPartitionGroup(tp.topic, tp.partition, app.assignor.group_for_topic(tp.topic))
    return app.consumer.transactions.transactional_id_format.format(group_id=app.conf.id, tpg=tpg)


@contextmanager
def writing_for_partition(tp: TP) -> Iterator[None]:
    """Table writes made in this block go to source partition `tp`'s store and changelog (and so
    into its transaction), also outside an agent's event: Faust takes the partition from the
    current event, which a task finishing its work later no longer has."""
    event = _PartitionEvent(tp)
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def transactions_follow_active_partitions() -> None:
    """Replaces Faust's `TransactionManager.on_rebalance` (see 3. above): a producer is kept only
    for a partition active here before and after the rebalance (its transaction was never anyone
    else's); every other producer is stopped, and each newly active partition gets a new one, whose
    InitProducerId fences the previous owner and aborts what it left open."""
    if getattr(TransactionManager.on_rebalance, "follows_active_partitions", False):
        return

    async def on_rebalance(self: Any, assigned: Any, revoked: Any, newly_assigned: Any) -> None:
        producer = self.producer
        active = self._tps_to_transactional_ids(set(assigned))  # standbys are left out
        producers = producer._transaction_producers
        held = {transactional_id for transactional_id in self.__dict__.get("_iii_active_ids", set()) & active
                if transactional_id in producers and _usable(producers[transactional_id])}
        self._iii_active_ids = active
        stale = sorted(set(producers) - held)
        if stale:
            log.info("stopping %d transactional producer(s) not held through the rebalance: %s",
                     len(stale), ", ".join(stale))
            for transactional_id in stale:
                await producer.stop_transaction(transactional_id)
        for transactional_id in sorted(held):  # its transaction was ended at the revocation
            if not producers[transactional_id]._txn_manager.is_in_transaction():
                await producer.begin_transaction(transactional_id)
        fresh = sorted(active - held)
        if fresh:
            log.info("starting %d transactional producer(s) (%d kept): %s", len(fresh), len(held),
                     ", ".join(fresh))
            for transactional_id in fresh:
                await producer.begin_transaction(transactional_id)

    on_rebalance.follows_active_partitions = True  # type: ignore[attr-defined]
    TransactionManager.on_rebalance = on_rebalance  # type: ignore[method-assign]


def commit_before_revocation() -> None:
    """Wraps Faust's `Consumer.on_partitions_revoked` (see 4. above): under exactly-once, first
    the streams stop, the events in progress finish, and their offsets commit with their writes
    (Faust's `wait_empty`, which ends with a commit through the barrier); then Faust's own handling,
    which forgets the offsets."""
    if getattr(Consumer.on_partitions_revoked, "commits_first", False):
        return
    forget_and_revoke = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        app = self.app
        assignment = self.assignment()
        if self.in_transaction and assignment and not app.should_stop:
            for callback in list(getattr(app, "_iii_before_revocation", ())):
                await callback()
            self.stop_flow()
            app.flow_control.suspend()
            self.pause_partitions(assignment)
            app.flow_control.clear()
            await self.wait_empty()  # ... and commits what was acked, ending those transactions
        await forget_and_revoke(self, revoked)

    on_partitions_revoked.commits_first = True  # type: ignore[attr-defined]
    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]


def _usable(transactional: Any) -> bool:
    """A producer whose sender still runs and whose transaction can go on."""
    txn_manager = getattr(transactional, "_txn_manager", None)
    sender = getattr(getattr(transactional, "_sender", None), "sender_task", None)
    return (txn_manager is not None and not txn_manager.is_fatal_error()
            and sender is not None and not sender.done())


class EventBoundaryCommits:
    def __init__(self, app: faust.App) -> None:
        transactions_follow_active_partitions()
        commit_before_revocation()
        self._app = app
        self._lock: asyncio.Lock | None = None
        self._undelivered: list[asyncio.Future] = []
        self._before_commit: list[Callable[[], None]] = []
        if not hasattr(app, "_iii_before_revocation"):
            app._iii_before_revocation = []  # type: ignore[attr-defined]
        app.on_partitions_assigned.connect(self._on_partitions_assigned)

    def table(self, name: str, **kwargs: Any) -> faust.Table:
        """`app.Table(name, **kwargs)`, with its changelog writes held to the commit barrier."""
        undelivered = self._undelivered

        class BarrierTable(faust.Table):
            def send_changelog(self, *args: Any, **kw: Any) -> Any:
                future = super().send_changelog(*args, **kw)
                undelivered.append(future)
                return future

        return self._app.tables.add(BarrierTable(self._app, name=name, **kwargs))

    def before_commit(self, callback: Callable[[], None]) -> None:
        """`callback()` runs before each offset commit, under the barrier: writes it makes commit with
        the offsets."""
        self._before_commit.append(callback)

    def before_revocation(self, callback: Callable[[], Awaitable[None]]) -> None:
        """`await callback()` at the start of a revocation, before the offsets commit and the
        transactions end: the last moment to commit writes made outside events, and to stop making
        them until the next assignment."""
        self._app._iii_before_revocation.append(callback)  # type: ignore[attr-defined]

    async def _writes_delivered(self) -> None:
        """Waits for every write made so far. Two commits may wait at once (one per partition):
        each waits for all of them, and only delivered writes leave the list."""
        pending = list(self._undelivered)
        if pending:
            await asyncio.gather(*pending)  # a failed write fails the commit: nothing is skipped
            self._undelivered[:] = [write for write in self._undelivered if not write.done()]

    async def commit_writes(self, tp: TP) -> None:
        """Commits what source partition `tp`'s transaction holds now.

        Faust commits a transaction only together with newer offsets, on its timer. Work that
        finishes after its event was acked (an invocation's result) must become visible at once;
        its offset follows with Faust's next commit. Only writes: offsets would cost two more
        round trips to the broker. The caller keeps out writes that must not be split between two
        transactions; other sends wait for the commit (Faust's per-transaction lock) and go into
        the next one.
        """
        await self._writes_delivered()
        if not self._app.in_transaction:
            return
        producer = self._app.producer
        transactional_id = transactional_id_for(self._app, tp)
        async with producer._trn_locks[transactional_id]:
            transaction = producer._transaction_producers.get(transactional_id)
            # (not in one: Faust ended it at a revocation, and nothing was written since)
            if transaction is not None and transaction._txn_manager.is_in_transaction():
                await transaction.commit_transaction()
                await transaction.begin_transaction()

    def processing(self) -> asyncio.Lock:
        """`async with boundary.processing():` around the handling of one event."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _on_partitions_assigned(self, sender: Any, assigned: Any = None, **kwargs: Any) -> None:
        # Nothing is processed before the first assignment, so no commit can run unpatched.
        consumer = self._app.consumer
        if getattr(consumer, "_commits_at_event_boundaries", False):
            return
        commit_any_time = consumer.commit
        lock = self.processing()

        async def commit_between_events(*args: Any, **kwargs: Any) -> bool:
            async with lock:
                for callback in self._before_commit:
                    callback()
                await self._writes_delivered()
                return await commit_any_time(*args, **kwargs)

        consumer.commit = commit_between_events
        consumer._commits_at_event_boundaries = True
