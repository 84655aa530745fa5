"""Queues (`TriggerAction.Enqueue(queue)`): retries with exponential backoff, FIFO message groups,
dead letters, and redrive.

An enqueued invocation that fails is run again, up to the queue's `max_retries`, after
`backoff_ms * 2**(retry - 1)`. The next attempt and its due time are written to the
`invocations-running` table first, so a worker that dies during a backoff resumes it after restart.
When the retries are spent, the request goes to `<app>.dead-letters` with the error (header
`iii.queue`), and `redrive` puts dead letters of a queue back as new invocations.

In a FIFO queue the caller keys the message by its group (the payload's `message_group_field`), so
a group lives on one partition, and the executor runs a group's messages one at a time, in order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from faust.types import TP
from iii_kafka.schemas import Event

from ..exactly_once import writing_for_partition
from ..settings import Settings
from ..transactions import send_in_transaction
from .clock import now_ms

if TYPE_CHECKING:
    from .executor import Executor

__all__ = ["QUEUE_HEADER", "QueueRunner", "Turn", "message_group"]

QUEUE_HEADER = "iii.queue"


def message_group(payload: Any, field: str) -> str | None:
    """The FIFO group of a payload: its `field`, as text; None when the payload has no such field."""
    if not isinstance(payload, dict) or payload.get(field) is None:
        return None
    return str(payload[field])


class Turn:
    """A FIFO message's place in its group: `wait()` until the one before it is done."""

    def __init__(self, before: asyncio.Future | None) -> None:
        self._before = before
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    async def wait(self) -> None:
        if self._before is not None:
            await asyncio.shield(self._before)

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class QueueRunner:
    def __init__(self, executor: "Executor", settings: Settings) -> None:
        self._executor = executor
        self._settings = settings
        self._group_tails: dict[tuple[str, str], asyncio.Future] = {}

    def take_turn(self, record: dict[str, Any]) -> Turn | None:
        """Called when the invocation's task is created (in offset order per partition)."""
        request = record["request"]
        if request["action"] != "enqueue":
            return None
        config = self._executor.registry.queue(request["queue"])
        if config.type != "fifo":
            return None
        group = message_group(request["payload"], config.message_group_field)
        key = (config.name, group or "")
        turn = Turn(self._group_tails.get(key))
        self._group_tails[key] = turn.done
        turn.done.add_done_callback(lambda done: self._group_tails.pop(key, None)
                                    if self._group_tails.get(key) is done else None)
        return turn

    @staticmethod
    async def wait_backoff(record: dict[str, Any]) -> None:
        delay_ms = record.get("not_before_ms", 0) - now_ms()
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    async def retry_later(self, tp: TP, invocation_id: str, record: dict[str, Any],
                          error: dict[str, Any]) -> dict[str, Any] | None:
        """The record of the next attempt, written to the running table (hold the commit barrier);
        None when the invocation is not queued or has no retries left."""
        request = record["request"]
        if request["action"] != "enqueue":
            return None
        config = self._executor.registry.queue(request["queue"])
        attempt = request["attempt"] + 1
        if attempt > config.max_retries + 1:
            return None
        retry = {**record, "request": {**request, "attempt": attempt}, "last_error": error,
                 "not_before_ms": now_ms() + config.backoff_before(attempt)}
        with writing_for_partition(tp):
            self._executor.running[invocation_id] = retry
        return retry

    async def dead_letter(self, tp: TP, record: dict[str, Any], error: dict[str, Any]) -> None:
        """The spent request goes to the dead-letter topic with its error (hold the commit barrier)."""
        request = record["request"]
        executor = self._executor
        reason = (f"{executor.topic_name}[{tp.partition}]@{record['offset']}: queue {request['queue']}: "
                  f"{request['function_id']} failed {request['attempt']} time(s); last error "
                  f"{error['code']}: {error['message']}")
        value = executor.app.serializers.dumps_value(None, Event("iii.kafka.InvocationRequested", **request))
        letter = Event("iii.kafka.DeadLetter", topic=executor.topic_name, partition=tp.partition,
                       offset=record["offset"], reason=reason, error_type=error["code"],
                       failed_at_ms=now_ms(), key=request["invocation_id"].encode(),
                       value=value, headers=[{"key": QUEUE_HEADER, "value": request["queue"].encode()}])
        await send_in_transaction(executor.app, tp, executor.processing.dead_letters.topic,
                                  request["invocation_id"], letter)

    def describe(self) -> dict[str, Any]:
        """The configured queues, for the catalog (callers key FIFO messages by their group)."""
        return {q.name: {"type": q.type, "max_retries": q.max_retries, "backoff_ms": q.backoff_ms,
                         "message_group_field": q.message_group_field}
                for q in self._executor.registry.queues()}
