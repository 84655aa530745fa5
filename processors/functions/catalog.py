"""The catalog: which live worker hosts which function, and which triggers are bound.

Every worker process writes its registrations to the compacted `<namespace>.catalog` topic, keyed
`function/<function id>/<worker id>`, `trigger/<trigger id>/<worker id>` and `worker/<worker id>`
(its heartbeat, every `IIIKAFKA_HEARTBEAT` seconds). A clean stop writes tombstones for all of them.
A worker whose heartbeat is older than its liveness bound (`IIIKAFKA_LIVENESS`, 10 s) counts as
gone for every reader at once, and the first live worker to notice writes its tombstones: a
registration outlives its worker by at most that bound (docs/functions.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Message
from iii_kafka.schemas import AvroCodec, Event

from .clock import now_ms
from .kafka_io import AsyncProducer, TopicReader
from .registry import FunctionRegistry

__all__ = ["CatalogPublisher", "CatalogView"]

log = logging.getLogger(__name__)


class CatalogView:
    """An in-memory view of the catalog. Fed by `apply(key, record)`; `start` feeds it from Kafka."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.workers: dict[str, dict[str, Any]] = {}
        self._functions: dict[tuple[str, str], dict[str, Any]] = {}
        self._triggers: dict[tuple[str, str], dict[str, Any]] = {}
        self._last_seen: dict[str, int] = {}  # function id -> last heartbeat of any of its hosts
        self._reader: TopicReader | None = None

    # -- feeding -----------------------------------------------------------------------------

    def apply(self, key: str, record: dict[str, Any] | None) -> None:
        kind, _, rest = key.partition("/")
        with self._lock:
            if kind == "worker":
                self._apply(self.workers, rest, record)
            elif kind in ("function", "trigger"):
                item, _, worker = rest.rpartition("/")
                table = self._functions if kind == "function" else self._triggers
                self._apply(table, (item, worker), record)
            else:
                log.warning("catalog: ignoring unknown key %r", key)

    @staticmethod
    def _apply(table: dict, key: Any, record: dict[str, Any] | None) -> None:
        if record is None:
            table.pop(key, None)
        else:
            table[key] = record

    def start(self, bootstrap_servers: str, topic: str, codec: AvroCodec) -> "CatalogView":
        def on_message(message: Message) -> None:
            value = message.value()
            self.apply(message.key().decode(), None if value is None else dict(codec.decode(value)))

        self._reader = TopicReader(bootstrap_servers, topic, on_message, from_beginning=True,
                                   name="iii-catalog").start()
        return self

    def wait_caught_up(self, timeout: float = 30.0) -> bool:
        return self._reader is None or self._reader.caught_up.wait(timeout)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    # -- reading -----------------------------------------------------------------------------

    def is_live(self, worker_id: str, at_ms: int | None = None) -> bool:
        heartbeat = self.workers.get(worker_id)
        if heartbeat is None:
            return False
        return (at_ms or now_ms()) - heartbeat["heartbeat_at_ms"] <= heartbeat["liveness_ms"]

    def hosts(self, function_id: str, at_ms: int | None = None) -> list[dict[str, Any]]:
        """The registrations of `function_id` by live workers."""
        at_ms = at_ms or now_ms()
        with self._lock:
            found = [r for (fid, wid), r in self._functions.items()
                     if fid == function_id and self.is_live(wid, at_ms)]
            for record in found:
                self._last_seen[function_id] = max(self._last_seen.get(function_id, 0),
                                                   self.workers[record["worker_id"]]["heartbeat_at_ms"])
        return found

    def last_seen_ms(self, function_id: str) -> int | None:
        """When a host of `function_id` last gave a sign of life, as far as this view knows."""
        with self._lock:
            seen = [self.workers[wid]["heartbeat_at_ms"] for (fid, wid) in self._functions
                    if fid == function_id and wid in self.workers]
            if function_id in self._last_seen:
                seen.append(self._last_seen[function_id])
        return max(seen) if seen else None

    def functions(self, at_ms: int | None = None) -> list[dict[str, Any]]:
        """iii's `engine::functions::list` entries, one per live (function, worker) registration."""
        at_ms = at_ms or now_ms()
        with self._lock:
            records = [r for (_, wid), r in sorted(self._functions.items()) if self.is_live(wid, at_ms)]
        return [{"function_id": r["function_id"], "worker_name": r["worker_id"],
                 "description": r.get("description"), "metadata": r.get("metadata"),
                 "request_format": r.get("request_schema"), "response_format": r.get("response_schema"),
                 "invocation_topic": r.get("invocation_topic")} for r in records]

    def triggers(self, at_ms: int | None = None) -> list[dict[str, Any]]:
        at_ms = at_ms or now_ms()
        with self._lock:
            records = [r for (_, wid), r in sorted(self._triggers.items()) if self.is_live(wid, at_ms)]
        return [{"id": r["trigger_id"], "trigger_type": r["trigger_type"], "function_id": r["function_id"],
                 "config": r["config"], "condition_function_id": r.get("condition_function_id"),
                 "worker_name": r["worker_id"]} for r in records]

    def stale_keys(self, bound_ms: int, at_ms: int | None = None) -> list[str]:
        """Catalog keys of workers that are gone: silent past their liveness bound, or registrations
        older than `bound_ms` of a worker that never sent a heartbeat (it died while registering)."""
        at_ms = at_ms or now_ms()
        with self._lock:
            dead = {wid for wid in self.workers if not self.is_live(wid, at_ms)}
            orphans = {r["worker_id"] for r in [*self._functions.values(), *self._triggers.values()]
                       if r["worker_id"] not in self.workers and at_ms - r["registered_at_ms"] > bound_ms}
            gone = dead | orphans
            keys = [f"worker/{wid}" for wid in dead]
            keys += [f"function/{fid}/{wid}" for (fid, wid) in self._functions if wid in gone]
            keys += [f"trigger/{tid}/{wid}" for (tid, wid) in self._triggers if wid in gone]
        return keys

    def lacks_registrations_of(self, worker_id: str, function_ids: Iterable[str]) -> bool:
        """Whether any of a worker's functions is missing (another worker tombstoned them while
        this one was silent past its bound, say)."""
        with self._lock:
            return any((function_id, worker_id) not in self._functions for function_id in function_ids)

    def queue_config(self, worker_id: str, queue: str) -> dict[str, Any] | None:
        heartbeat = self.workers.get(worker_id)
        return ((heartbeat or {}).get("queues") or {}).get(queue)

    def reply_topic_of(self, worker_id: str) -> str | None:
        heartbeat = self.workers.get(worker_id)
        return heartbeat.get("reply_topic") if heartbeat else None


class CatalogPublisher:
    """Writes one worker process's registrations and heartbeats; tombstones them on stop."""

    def __init__(self, producer: AsyncProducer, codec: AvroCodec, topic: str, *, worker_id: str,
                 app_id: str, invocation_topic: str, reply_topic: str | None,
                 registry: FunctionRegistry, liveness_s: float, queues: dict[str, Any],
                 view: CatalogView | None = None) -> None:
        self._producer = producer
        self._codec = codec
        self.topic = topic
        self.worker_id = worker_id
        self._app_id = app_id
        self._invocation_topic = invocation_topic
        self._reply_topic = reply_topic
        self._registry = registry
        self._liveness_ms = int(liveness_s * 1000)
        self._queues = queues
        self._view = view  # this process's own view sees its writes at once
        self._started_at_ms = now_ms()
        self._keys: set[str] = set()

    async def register(self) -> None:
        """The functions first, then the heartbeat: readers count a function as hosted only once its
        worker's heartbeat is there, so a worker's functions appear all at once."""
        for function in self._registry:
            record = Event("iii.kafka.FunctionRegistered", function_id=function.function_id,
                           worker_id=self.worker_id, description=function.description,
                           request_schema=function.schema_json("request"),
                           response_schema=function.schema_json("response"),
                           registered_at_ms=now_ms(), metadata=function.metadata,
                           invocation_topic=function.invocation_topic or self._invocation_topic,
                           timeout_ms=function.timeout_ms)
            await self._write(f"function/{function.function_id}/{self.worker_id}", record)
        for trigger in self._registry.triggers():
            record = Event("iii.kafka.TriggerRegistered", trigger_id=trigger.trigger_id,
                           trigger_type=trigger.trigger_type, function_id=trigger.function_id,
                           worker_id=self.worker_id, condition_function_id=trigger.condition_function_id,
                           registered_at_ms=now_ms(), config=trigger.config)
            await self._write(f"trigger/{trigger.trigger_id}/{self.worker_id}", record)
        await self.heartbeat()

    async def heartbeat(self) -> None:
        record = Event("iii.kafka.WorkerHeartbeat", worker_id=self.worker_id, app_id=self._app_id,
                       host=socket.gethostname(), pid=os.getpid(), reply_topic=self._reply_topic,
                       queues=self._queues,
                       functions=[f.function_id for f in self._registry],
                       started_at_ms=self._started_at_ms, heartbeat_at_ms=now_ms(),
                       liveness_ms=self._liveness_ms)
        await self._write(f"worker/{self.worker_id}", record)

    async def unregister(self) -> None:
        """Tombstones for every key this worker wrote: callers see its functions gone at once."""
        keys = sorted(self._keys, key=lambda k: k.startswith("worker/"))  # the worker record last
        await self.tombstone(keys)
        self._keys.clear()

    async def tombstone(self, keys: Iterable[str]) -> None:
        for key in keys:
            await self._producer.send(self.topic, key.encode(), None)
            if self._view is not None:
                self._view.apply(key, None)

    async def _write(self, key: str, record: Event) -> None:
        self._keys.add(key)
        await self._producer.send(self.topic, key.encode(), self._codec.encode(record))
        if self._view is not None:
            self._view.apply(key, dict(record))
