"""iii's stream functions from any process, and live subscriptions to a stream's group.

`stream::set|get|delete|update|list|list_groups` are state calls on the group's scope
(state/streams.py), with iii's payloads and results: `get` gives the value itself, `list` the
values, `list_groups` the group ids, `delete` `{old_value}`. The owner writes each item change's
event to `<ns>.streams` and fires the `stream` triggers in the change's transaction.

`stream::send {stream_name, group_id, type, data, id?}` is an ephemeral event: nothing is stored.
It is appended to `<ns>.streams` on the group's partition (after every change the sender has
seen answered, so a group's subscribers get it in order) and fires the matching `stream`
triggers. `subscribe(stream_name, group_id)` yields the group's messages from now on, in order.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, TopicPartition
from iii_kafka.schemas import CodecError, Event
from iii_kafka.state.keys import StateKeyError, check_name, state_key, state_partition
from iii_kafka.state.streams import (
    StreamNameError,
    check_stream_name,
    parse_stream_scope,
    stream_message,
    stream_scope,
)
from iii_kafka.topology.messaging import streams_topic

from ..functions.actions import TriggerAction
from ..functions.bindings import Bindings, derived_invocation_id
from ..functions.clock import now_ms
from ..functions.errors import ErrorCode, InvocationError
from .triggers import stream_binding_matches

if TYPE_CHECKING:
    from ..functions.caller import Caller

__all__ = ["STREAM_FUNCTIONS", "StreamClient"]

STREAM_FUNCTIONS = (
    "stream::set",
    "stream::get",
    "stream::delete",
    "stream::update",
    "stream::list",
    "stream::list_groups",
    "stream::send",
)
FIELDS = {
    "set": ("stream_name", "group_id", "item_id", "data"),
    "get": ("stream_name", "group_id", "item_id"),
    "delete": ("stream_name", "group_id", "item_id"),
    "update": ("stream_name", "group_id", "item_id", "ops"),
    "list": ("stream_name", "group_id"),
    "list_groups": ("stream_name",),
    "send": ("stream_name", "group_id", "type", "data", "id"),
}


class StreamClient:
    def __init__(self, caller: "Caller") -> None:
        self._caller = caller
        settings = caller.settings
        self.topic = streams_topic(settings.namespace, settings.state_partitions, settings.replication_factor)
        self._bindings = Bindings(caller.catalog, "stream")

    async def call(
        self,
        function_id: str,
        payload: Any,
        action: TriggerAction | None,
        timeout_ms: int,
        invocation_id: str | None,
        parent_invocation_id: str | None,
    ) -> Any:
        function = function_id.partition("::")[2]
        try:
            data = _checked(function, payload)
            scope = stream_scope(data["stream_name"], data["group_id"]) if function != "list_groups" else None
        except (StateKeyError, StreamNameError) as error:
            raise InvocationError(error.code, f"{function_id}: {error}", function_id=function_id) from None
        if function == "send":
            await self._send(data, scope, invocation_id or uuid.uuid4().hex, parent_invocation_id)
            return None
        state_payload: dict[str, Any] = {"scope": scope} if scope else {}
        if "item_id" in FIELDS[function]:
            state_payload["key"] = data["item_id"]
        if function == "set":
            state_payload["value"] = data.get("data")
        if function == "update":
            state_payload["ops"] = data.get("ops")
        state_function = "list_groups" if function == "list_groups" else function
        result = await self._caller.trigger(
            f"state::{state_function}",
            state_payload,
            action,
            timeout_ms,
            invocation_id=invocation_id,
            parent_invocation_id=parent_invocation_id,
        )
        if action is not None:
            return result
        if function == "delete":
            return {"old_value": result}
        if function == "list_groups":
            groups = (parse_stream_scope(scope) for scope in result["groups"])
            return sorted(group for name, group in filter(None, groups) if name == data["stream_name"])
        return result

    async def _send(self, data: dict[str, Any], scope: str, send_id: str, parent: str | None) -> None:
        caller = self._caller
        name, group, item = data["stream_name"], data["group_id"], data.get("id")
        timestamp = now_ms()
        event = Event(
            "iii.kafka.StreamItemEvent",
            stream_name=name,
            group_id=group,
            item_id=item,
            event_type="event",
            event_name=data["type"],
            timestamp_ms=timestamp,
            data=data.get("data"),
        )
        value = self._encode(event)
        partition = state_partition(state_key(scope, item or "-"), await caller._state_client.partitions())
        sends = [
            caller.send_request(
                self.topic.name,
                scope.encode(),
                value,
                "stream::send",
                TriggerAction.Void(),
                partition=partition,
            )
        ]
        message = stream_message(name, group, item, "event", data.get("data"), timestamp, data["type"])
        for binding in self._bindings.of_type("stream"):
            if stream_binding_matches(binding.config, name, group, item):
                invocation_id = derived_invocation_id("stream-send", binding.id, send_id)
                request = self._encode(binding.request(invocation_id, message, parent_invocation_id=parent))
                sends.append(
                    caller.send_request(
                        binding.invocation_topic,
                        invocation_id.encode(),
                        request,
                        "stream::send",
                        TriggerAction.Void(),
                    )
                )
        await asyncio.gather(*sends)

    def _encode(self, event: Event) -> bytes:
        try:
            value = self._caller.codec.encode(event)
        except CodecError as exc:
            raise InvocationError(
                ErrorCode.INVALID_PAYLOAD, f"data cannot be written: {exc}", function_id="stream::send"
            ) from None
        limit = self._caller.settings.max_message_bytes
        if len(value) > limit:
            raise InvocationError(
                "VALUE_TOO_LARGE",
                f"the event is {len(value)} bytes, over the {limit}-byte limit (IIIKAFKA_MAX_MESSAGE_BYTES)",
                function_id="stream::send",
            )
        return value

    @asynccontextmanager
    async def subscribe(
        self,
        stream_name: str,
        group_id: str,
        item_id: str | None = None,
    ) -> AsyncIterator[asyncio.Queue]:
        """`async with client.subscribe("chat", "room-1") as messages: message = await messages.get()`:
        iii's messages of the group (or of one item) from now on, in order."""
        scope = stream_scope(stream_name, group_id)
        partition = state_partition(state_key(scope, "-"), await self._caller._state_client.partitions())
        queue: asyncio.Queue = asyncio.Queue()
        reader = _GroupReader(self._caller, self.topic.name, partition, stream_name, group_id, item_id, queue)
        await asyncio.to_thread(reader.start)
        try:
            yield queue
        finally:
            await asyncio.to_thread(reader.stop)


class _GroupReader:
    """Reads one partition of `<ns>.streams` from its end, read_committed, in a thread."""

    def __init__(
        self,
        caller: "Caller",
        topic: str,
        partition: int,
        stream_name: str,
        group_id: str,
        item_id: str | None,
        queue: asyncio.Queue,
    ) -> None:
        self._codec = caller.codec
        self._loop = asyncio.get_running_loop()
        self._queue = queue
        self._wanted = (stream_name, group_id, item_id)
        self._consumer = Consumer(
            {
                "bootstrap.servers": caller.settings.bootstrap_servers,
                "group.id": f"iii-stream-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 50,
                "log_level": 4,
            }
        )
        self._partition = TopicPartition(topic, partition)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iii-stream-subscription", daemon=True)

    def start(self) -> None:
        _, high = self._consumer.get_watermark_offsets(self._partition, timeout=30)
        position = high if high >= 0 else OFFSET_END  # the last stable offset: messages from now on
        self._consumer.assign([TopicPartition(self._partition.topic, self._partition.partition, position)])
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._consumer.close()

    def _run(self) -> None:
        name, group, item = self._wanted
        while not self._stopped.is_set():
            message = self._consumer.poll(0.1)
            if message is None or message.error() is not None:
                if message is not None and message.error().code() != KafkaError._PARTITION_EOF:
                    self._loop.call_soon_threadsafe(self._queue.put_nowait, {"error": message.error().str()})
                continue
            try:
                event = self._codec.decode(message.value())
            except CodecError:
                continue  # not a stream event: nothing a subscriber can use
            if (event["stream_name"], event["group_id"]) != (name, group) or item not in (
                None,
                event["item_id"],
            ):
                continue
            found = stream_message(
                name,
                group,
                event["item_id"],
                event["event_type"],
                event["data"],
                event["timestamp_ms"],
                event["event_name"],
            )
            self._loop.call_soon_threadsafe(self._queue.put_nowait, found)


def _checked(function: str, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise StateKeyError(
            f"the payload must be an object with {', '.join(FIELDS[function])}, got {type(payload).__name__}"
        )
    unknown = set(payload) - set(FIELDS[function])
    if unknown:
        raise StateKeyError(
            f"unknown field(s) {', '.join(sorted(unknown))} (it takes {', '.join(FIELDS[function])})"
        )
    check_stream_name(payload.get("stream_name"))
    if function != "list_groups":
        check_name("group_id", payload.get("group_id"))
    if "item_id" in FIELDS[function]:
        check_name("item_id", payload.get("item_id"))
    if function == "send":
        check_name("type", payload.get("type"))
        if payload.get("id") is not None:
            check_name("id", payload["id"])
    return payload
