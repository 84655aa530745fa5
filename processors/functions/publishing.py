"""`publish` (iii's pub/sub) and `iii::durable::publish`, from any process.

`publish {topic, data}` writes one invocation (action void, payload `data`) per `subscribe` binding
of the topic whose function has a live host: every subscribed function gets every message, once
(its invocation id is derived from the binding and the message). Nothing is kept for a function
that subscribes later, as in iii. A subscription's condition is honoured (iii ignores it).

`iii::durable::publish {topic, data}` appends a `DurableMessage` to `<ns>.durable.<topic>`, where it
is kept a week; each subscribed function's consumer group reads it (processors/functions/durable.py).
Both answer None once the broker has the records.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from iii_kafka.schemas import CodecError, Event
from iii_kafka.topology.messaging import DURABLE_PUBLISH, PUBLISH, check_message_topic, durable_topic

from ..admin import ensure_topics
from .actions import TriggerAction
from .bindings import Bindings, derived_invocation_id
from .clock import now_ms
from .errors import ErrorCode, InvocationError
from .tracing import headers_with_context

if TYPE_CHECKING:
    from .caller import Caller

__all__ = ["PUBLISHING_FUNCTIONS", "Publishing"]

PUBLISHING_FUNCTIONS = (PUBLISH, DURABLE_PUBLISH)
TOPIC_NOT_SET = "topic_not_set"  # iii's code for a publish without a topic


class Publishing:
    def __init__(self, caller: "Caller") -> None:
        self._caller = caller
        self._subscriptions = Bindings(caller.catalog, "subscribe")
        self._durable_topics: set[str] = set()

    async def call(self, function_id: str, payload: Any, action: TriggerAction | None,
                   invocation_id: str | None, parent_invocation_id: str | None) -> None:
        if action is not None and action.kind == "enqueue":
            raise InvocationError(ErrorCode.ENQUEUE_ERROR, f"{function_id} is not queued: call it "
                                  "directly (or with TriggerAction.Void())", function_id=function_id)
        topic, data = _topic_and_data(function_id, payload)
        message_id = invocation_id or uuid.uuid4().hex
        if function_id == PUBLISH:
            await self._fan_out(topic, data, message_id, parent_invocation_id)
        else:
            await self._append(topic, data, message_id, parent_invocation_id)
        return None

    async def _fan_out(self, topic: str, data: Any, message_id: str, parent: str | None) -> None:
        caller = self._caller
        sends = []
        for binding in self._subscriptions.of_type("subscribe"):
            if binding.config.get("topic") != topic:
                continue
            invocation_id = derived_invocation_id("pubsub", binding.id, message_id)
            value = self._encode(PUBLISH, binding.request(invocation_id, data,
                                                          parent_invocation_id=parent or message_id))
            sends.append(caller.send_request(binding.invocation_topic, invocation_id.encode(), value,
                                             PUBLISH, TriggerAction.Void()))
        await asyncio.gather(*sends)

    async def _append(self, topic: str, data: Any, message_id: str, parent: str | None) -> None:
        caller = self._caller
        settings = caller.settings
        spec = durable_topic(settings.namespace, topic, settings.partitions, settings.replication_factor)
        if spec.name not in self._durable_topics:
            await asyncio.to_thread(ensure_topics, settings.bootstrap_servers, [spec])
            self._durable_topics.add(spec.name)
        value = self._encode(DURABLE_PUBLISH, Event("iii.kafka.DurableMessage", message_id=message_id,
                                                    topic=topic, data=data, cause=parent,
                                                    published_at_ms=now_ms()))
        try:
            await caller.producer.send(spec.name, message_id.encode(), value, headers_with_context())
        except Exception as exc:
            raise InvocationError(ErrorCode.INVOCATION_FAILED, f"cannot write to {spec.name}: {exc}",
                                  function_id=DURABLE_PUBLISH) from None

    def _encode(self, function_id: str, event: Event) -> bytes:
        try:
            value = self._caller.codec.encode(event)
        except CodecError as exc:
            raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"data cannot be written: {exc}",
                                  function_id=function_id) from None
        limit = self._caller.settings.max_message_bytes
        if len(value) > limit:
            raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"the message is {len(value)} bytes, over the "
                                  f"{limit}-byte limit (IIIKAFKA_MAX_MESSAGE_BYTES)", function_id=function_id)
        return value


def _topic_and_data(function_id: str, payload: Any) -> tuple[str, Any]:
    if not isinstance(payload, dict):
        raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"{function_id} takes {{topic, data}}, got "
                              f"{type(payload).__name__}", function_id=function_id)
    if not payload.get("topic"):
        raise InvocationError(TOPIC_NOT_SET, f"{function_id}: `topic` is not set", function_id=function_id)
    unknown = set(payload) - {"topic", "data"}
    if unknown:
        raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"{function_id}: unknown field(s) "
                              f"{', '.join(sorted(unknown))} (it takes topic and data)",
                              function_id=function_id)
    try:
        topic = check_message_topic(payload["topic"])
    except ValueError as exc:
        raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"{function_id}: {exc}",
                              function_id=function_id) from None
    return topic, payload.get("data")
