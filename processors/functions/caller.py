"""`trigger`: invokes a function by id, from any process (a worker's handler, the CLI, a program).

The caller finds a live host in its catalog view, writes `InvocationRequested` to the host app's
`<app>.invocations` topic (key: the invocation id) with an idempotent producer, and, for action
none, waits on its own reply topic `<namespace>.reply.<caller id>` (read_committed) for the result.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

from confluent_kafka import Message
from iii_kafka.schemas import AvroCodec, CodecError, Event
from iii_kafka.topology.functions import FunctionId, FunctionIdError, catalog_topic, reply_topic
from iii_kafka.topology.state import STATE_FUNCTIONS
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..admin import delete_topic, ensure_topics
from ..schema_store import schema_topic_client
from ..settings import Settings
from .actions import TriggerAction
from .catalog import CatalogView
from .clock import now_ms
from .errors import ErrorCode, InvocationError
from .kafka_io import AsyncProducer, TopicReader
from .publishing import PUBLISHING_FUNCTIONS, Publishing
from .queues import message_group
from .registry import DEFAULT_TIMEOUT_MS, check_against_schema
from .tracing import headers_with_context, tracer

__all__ = ["Caller"]

log = logging.getLogger(__name__)


class Caller:
    """Triggers functions. `await Caller(settings, codec).start()`, then `await caller.trigger(...)`."""

    def __init__(self, settings: Settings, codec: AvroCodec, *, caller_id: str | None = None,
                 catalog: CatalogView | None = None, producer: AsyncProducer | None = None) -> None:
        self.settings = settings
        self.codec = codec
        self.caller_id = caller_id or f"c{uuid.uuid4().hex[:12]}"
        self.reply_topic = reply_topic(settings.namespace, self.caller_id, settings.replication_factor)
        self._own_catalog = catalog is None
        self.catalog = catalog or CatalogView()
        self._own_producer = producer is None
        self.producer = producer or AsyncProducer(settings.bootstrap_servers)
        self._waiting: dict[str, asyncio.Future] = {}
        self._reader: TopicReader | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()  # set when start() is done
        self._closables: list[Any] = []
        from ..state.access import StateAccess
        from ..state.client import StateClient

        self._state_client = StateClient(self)  # state calls go straight to the key's owner
        self.state = StateAccess(self.trigger)  # `await caller.state.set(scope, key, value)`
        self._publishing = Publishing(self)  # publish and iii::durable::publish
        from ..state.streams import STREAM_FUNCTIONS, StreamClient

        self._stream_functions = STREAM_FUNCTIONS
        self.streams = StreamClient(self)  # stream::* and `caller.streams.subscribe(name, group)`

    @classmethod
    def from_env(cls) -> "Caller":
        """A caller configured like every command: settings from the environment, the engine's codec
        publishing to the cluster's schema topic. `async with Caller.from_env() as caller: ...`"""
        settings = Settings.from_env()
        store = schema_topic_client(settings)
        caller = cls(settings, AvroCodec(store=store))
        caller._closables.append(store)
        return caller

    async def start(self, timeout: float = 30.0) -> "Caller":
        self._loop = asyncio.get_running_loop()
        topics = [self.reply_topic]
        if self._own_catalog:
            topics.append(catalog_topic(self.settings.namespace, self.settings.replication_factor))
        await asyncio.to_thread(ensure_topics, self.settings.bootstrap_servers, topics)
        self._reader = await asyncio.to_thread(self._start_reader, timeout)
        if self._own_catalog:
            await asyncio.to_thread(self.catalog.start, self.settings.bootstrap_servers,
                                    topics[1].name, self.codec)
            await asyncio.to_thread(self.catalog.wait_caught_up, timeout)
        self.ready.set()
        return self

    def _start_reader(self, timeout: float) -> TopicReader:
        # The topic is this caller's own and new: reading it from the start misses no early reply.
        return TopicReader(self.settings.bootstrap_servers, self.reply_topic.name, self._on_reply,
                           from_beginning=True, name="iii-replies").start(timeout)

    async def close(self, delete_reply_topic: bool = True) -> None:
        if self._reader is not None:
            await asyncio.to_thread(self._reader.close)
        if self._own_catalog:
            await asyncio.to_thread(self.catalog.close)
        if self._own_producer:
            await asyncio.to_thread(self.producer.close)
        if delete_reply_topic:
            await asyncio.to_thread(delete_topic, self.settings.bootstrap_servers, self.reply_topic.name)
        for closable in self._closables:
            closable.close()

    async def __aenter__(self) -> "Caller":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- triggering ----------------------------------------------------------------------------

    async def trigger(self, function_id: str, payload: Any = None,
                      action: TriggerAction | dict | str | None = None,
                      timeout_ms: int = DEFAULT_TIMEOUT_MS, *, invocation_id: str | None = None,
                      parent_invocation_id: str | None = None) -> Any:
        """iii's `trigger`: the result (action none), None (void), or `{"messageReceiptId"}` (enqueue).

        Raises `InvocationError` with iii's codes: `function_not_found`, `invalid_payload`,
        `TIMEOUT`, `invocation_failed` (the handler raised; its traceback is in `stacktrace`).
        """
        if not self.ready.is_set():
            raise RuntimeError("Caller.trigger before Caller.start(): start it (or use `async with`)")
        action = TriggerAction.parse(action)
        if function_id in PUBLISHING_FUNCTIONS:  # (iii's `publish` is not service::name)
            return await self._publishing.call(function_id, payload, action, invocation_id,
                                               parent_invocation_id)
        try:
            FunctionId(function_id)
        except FunctionIdError as exc:
            raise InvocationError(ErrorCode.INVALID_FUNCTION_ID, str(exc), function_id=str(function_id))
        if function_id in self._stream_functions:
            return await self.streams.call(function_id, payload, action, timeout_ms, invocation_id,
                                           parent_invocation_id)
        if function_id in STATE_FUNCTIONS:
            return await self._state_client.call(function_id, payload, action, timeout_ms, invocation_id,
                                         parent_invocation_id)
        host = self._pick_host(function_id)
        if host.get("request_schema"):
            check_against_schema(host["request_schema"], payload, which="request",
                                 function_id=function_id, code=ErrorCode.INVALID_PAYLOAD)
        invocation_id = invocation_id or uuid.uuid4().hex
        topic = host["invocation_topic"]
        kind = "none" if action is None else action.kind
        with tracer().start_as_current_span(
                f"trigger {function_id}", kind=SpanKind.PRODUCER,
                attributes={"messaging.system": "kafka", "messaging.operation.type": "send",
                            "messaging.destination.name": topic, "messaging.message.id": invocation_id,
                            "iii.function_id": function_id, "iii.action": kind}) as span:
            request = Event("iii.kafka.InvocationRequested", invocation_id=invocation_id,
                            function_id=function_id, action=kind,
                            queue=action.queue if action is not None else None,
                            caller=self.reply_topic.name if action is None else None,
                            parent_invocation_id=parent_invocation_id, attempt=1,
                            deadline_ms=now_ms() + timeout_ms if action is None else None,
                            requested_at_ms=now_ms(), payload=payload)
            try:
                value = self.codec.encode(request)
            except CodecError as exc:
                raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"payload cannot be written: {exc}",
                                      function_id=function_id) from None
            if len(value) > self.settings.max_message_bytes:
                raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"the invocation is {len(value)} bytes, "
                                      f"over the {self.settings.max_message_bytes}-byte limit "
                                      "(IIIKAFKA_MAX_MESSAGE_BYTES)", function_id=function_id)
            key = self._message_key(host, action, payload, invocation_id).encode()
            if action is not None:
                await self.send_request(topic, key, value, function_id, action)
                return {"messageReceiptId": invocation_id} if action.kind == "enqueue" else None
            try:
                record = await self.send_and_wait(
                    invocation_id, lambda: self.send_request(topic, key, value, function_id, action),
                    function_id, timeout_ms)
            except InvocationError as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                raise
            return record["result"]

    async def send_and_wait(self, request_id: str, send: Any, function_id: str, timeout_ms: int) -> Event:
        """Awaits `send()`, then the reply to `request_id` on this caller's topic; raises the
        `InvocationError` of a failed invocation."""
        future = self._loop.create_future()
        self._waiting[request_id] = future
        try:
            await send()
            return await self._result(future, function_id, request_id, timeout_ms)
        finally:
            self._waiting.pop(request_id, None)

    def _message_key(self, host: dict[str, Any], action: TriggerAction | None, payload: Any,
                     invocation_id: str) -> str:
        """The invocation id; for a FIFO queue, the message group, so the group stays in order."""
        if action is None or action.kind != "enqueue":
            return invocation_id
        queue = self.catalog.queue_config(host["worker_id"], action.queue)
        if not queue or queue.get("type") != "fifo":
            return invocation_id
        field = queue["message_group_field"]
        group = message_group(payload, field)
        if group is None:
            raise InvocationError(ErrorCode.ENQUEUE_ERROR, f"queue {action.queue} is FIFO by {field!r}, "
                                  f"and the payload has no {field!r}", function_id=host["function_id"])
        return group

    async def send_request(self, topic: str, key: bytes, value: bytes, function_id: str,
                           action: TriggerAction | None, partition: int | None = None) -> None:
        try:
            await self.producer.send(topic, key, value, headers_with_context(), partition=partition)
        except Exception as exc:
            code = ErrorCode.ENQUEUE_ERROR if action is not None and action.kind == "enqueue" \
                else ErrorCode.INVOCATION_FAILED
            raise InvocationError(code, f"cannot write the invocation to {topic}: {exc}",
                                  function_id=function_id) from None

    async def _result(self, future: asyncio.Future, function_id: str, invocation_id: str,
                      timeout_ms: int) -> Any:
        try:
            record = await asyncio.wait_for(future, timeout_ms / 1000)
        except asyncio.TimeoutError:
            raise InvocationError(ErrorCode.TIMEOUT, f"no result within {timeout_ms} ms",
                                  function_id=function_id, invocation_id=invocation_id) from None
        if record.schema == "iii.kafka.InvocationFailed":
            raise InvocationError.from_dict(record["error"], function_id=function_id,
                                            invocation_id=invocation_id)
        return record

    def _pick_host(self, function_id: str) -> dict[str, Any]:
        hosts = self.catalog.hosts(function_id)
        if hosts:
            return random.choice(hosts)
        seen = self.catalog.last_seen_ms(function_id)
        when = (f"its last host was seen {(now_ms() - seen) / 1000:.0f} s ago" if seen
                else "no worker has registered it")
        raise InvocationError(ErrorCode.FUNCTION_NOT_FOUND, f"no live worker hosts {function_id} ({when})",
                              function_id=function_id)

    def _on_reply(self, message: Message) -> None:
        """In the reader's thread: hand the record to the waiting trigger, if any."""
        try:
            record = self.codec.decode(message.value())
        except CodecError as exc:
            log.error("reply topic %s@%s: %s", self.reply_topic.name, message.offset(), exc)
            return
        # an invocation's reply, or (for a state write) the committed StateChanged itself
        invocation_id = None
        if isinstance(record, dict):
            invocation_id = record.get("invocation_id") or record.get("request_id")
        if invocation_id is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._resolve, invocation_id, record)

    def _resolve(self, invocation_id: str, record: Event) -> None:
        future = self._waiting.get(invocation_id)
        if future is not None and not future.done():
            future.set_result(record)

    # -- the catalog, as iii's engine::functions::list and engine::registered-triggers::list ----

    def list_functions(self) -> list[dict[str, Any]]:
        return self.catalog.functions()

    def list_triggers(self) -> list[dict[str, Any]]:
        return self.catalog.triggers()
