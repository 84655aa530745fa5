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
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event
from faust.transport.consumer import TopicPartitionGroup
from faust.types import TP

__all__ = ["EventBoundaryCommits", "transactional_id_for", "writing_for_partition"]

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


class EventBoundaryCommits:
    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._lock: asyncio.Lock | None = None
        self._undelivered: list[asyncio.Future] = []
        self._before_commit: list[Callable[[], None]] = []
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
            if transaction is not None:
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
