"""Calls of the state functions (`state::set`, `state::get`, ...) from any process.

`Caller.trigger("state::set", {...})` comes here. The payload is checked and turned into a
`StateCommand` before anything is sent (a missing scope or a malformed op is refused at once,
with iii's `deserialization_error`); the command goes to the partition of
`<ns>.state.requests` that owns its key, and the answer comes back on the caller's reply topic:
for a write, the `StateChanged` event itself, once it is committed. `state::list`,
`state::list_groups` and `state::digest` ask every partition's owner and merge the answers.

Results are iii's: set and update give `{old_value, new_value}`, get the value (or None), delete
the old value (or None), list the values (in key order), list_groups `{groups}`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from iii_kafka.schemas import CodecError, Event
from iii_kafka.state.apply import MISSING, StateInputError, StateOpError, parse_ops
from iii_kafka.state.digest import add_digests, format_digests
from iii_kafka.state.keys import StateKeyError, check_name, state_key, state_partition
from iii_kafka.topology.state import SCOPE_WIDE_FUNCTIONS, state_topics

from ..functions.actions import TriggerAction
from ..functions.clock import now_ms
from ..functions.errors import ErrorCode, InvocationError

if TYPE_CHECKING:
    from ..functions.caller import Caller

__all__ = ["StateClient", "result_of_reply"]


class StateClient:
    def __init__(self, caller: "Caller") -> None:
        self.caller = caller
        settings = caller.settings
        self.topic = state_topics(settings.namespace, settings.state_partitions,
                                  settings.replication_factor).requests.name
        self._partitions: int | None = None

    async def call(self, function_id: str, payload: Any, action: TriggerAction | None, timeout_ms: int,
                   invocation_id: str | None, parent_invocation_id: str | None) -> Any:
        catalog = self.caller.catalog
        if not catalog.hosts(function_id) and catalog.last_seen_ms(function_id) is None:
            self.caller._pick_host(function_id)  # function_not_found: no worker here ever owned state
        # Owners that were seen but are silent now (a restarting broker stops heartbeats, say) are
        # waited for: the command is durable in its topic and answered when an owner is back.
        if action is not None and action.kind == "enqueue":
            raise InvocationError(ErrorCode.ENQUEUE_ERROR, f"{function_id} is not queued: call it "
                                  "directly (or with TriggerAction.Void())", function_id=function_id)
        function = function_id.partition("::")[2]
        try:
            command = _command(function, payload)
        except (StateKeyError, StateInputError, StateOpError) as error:
            raise InvocationError(error.code, str(error), function_id=function_id) from None
        command["remember"] = invocation_id is not None  # a fresh id of ours is never sent again
        invocation_id = invocation_id or uuid.uuid4().hex
        command.update(request_id=invocation_id, cause=parent_invocation_id, requested_at_ms=now_ms(),
                       caller=self.caller.reply_topic.name if action is None else None,
                       deadline_ms=now_ms() + timeout_ms if action is None else None)
        if function_id in SCOPE_WIDE_FUNCTIONS:
            return await self._ask_every_partition(function_id, command, action, timeout_ms)
        key = state_key(command["scope"], command["key"])
        partition = state_partition(key, await self.partitions())
        return await self._ask(function_id, command, key, partition, action, timeout_ms)

    async def _ask(self, function_id: str, command: Event, key: bytes, partition: int | None,
                   action: TriggerAction | None, timeout_ms: int) -> Any:
        try:
            value = self.caller.codec.encode(command)
        except CodecError as exc:
            raise InvocationError(ErrorCode.INVALID_PAYLOAD, f"the value cannot be written: {exc}",
                                  function_id=function_id) from None
        limit = self.caller.settings.max_message_bytes
        if len(value) > limit:
            raise InvocationError("VALUE_TOO_LARGE", f"the command is {len(value)} bytes, "
                                  f"over the {limit}-byte limit (IIIKAFKA_MAX_MESSAGE_BYTES)",
                                  function_id=function_id)
        request_id = command["request_id"]

        async def send() -> None:
            await self.caller.send_request(self.topic, key, value, function_id, action, partition=partition)

        if action is not None:
            await send()
            return None
        reply = await self.caller.send_and_wait(request_id, send, function_id, timeout_ms)
        return result_of_reply(command["function"], reply)

    async def _ask_every_partition(self, function_id: str, command: Event, action: TriggerAction | None,
                                   timeout_ms: int) -> Any:
        partitions = await self.partitions()
        asks = []
        for partition in range(partitions):
            part = Event(command.schema, command, request_id=f"{command['request_id']}/p{partition}")
            asks.append(self._ask(function_id, part, b"", partition, action, timeout_ms))
        answers = await asyncio.gather(*asks)
        if action is not None:
            return None
        return _merge(command["function"], answers)

    async def partitions(self) -> int:
        if self._partitions is None:
            self._partitions = await asyncio.to_thread(self.caller.producer.partitions_of, self.topic)
        return self._partitions


def _command(function: str, payload: Any) -> Event:
    data = payload if isinstance(payload, dict) else {}
    if not isinstance(payload, dict) and function != "list_groups":
        raise StateInputError(f"the payload must be an object, got {type(payload).__name__}")
    scope = key = ""
    if function not in ("list_groups", "digest"):
        scope = check_name("scope", data.get("scope"))
    if function in ("digest",) and data.get("scope") is not None:
        scope = check_name("scope", data.get("scope"))
    if function in ("set", "get", "delete", "update"):
        key = check_name("key", data.get("key"))
    ops: list[dict[str, Any]] = []
    if function == "set":
        value = data.get("value", data.get("data", MISSING))  # iii accepts `data` as an alias
        if value is MISSING:
            raise StateInputError("state::set needs `value`")
        ops = [{"op": "set", "path": [], "value": value}]
    elif function == "update":
        ops = [{"op": kind, "path": path, "value": operand}
               for kind, path, operand in parse_ops(data.get("ops"))]
    return Event("iii.kafka.StateCommand", function=function, scope=scope, key=key, ops=ops)


def result_of_reply(function: str, reply: Event) -> Any:
    """iii's result for a state function's reply (a StateChanged, or an InvocationCompleted)."""
    if reply.schema == "iii.kafka.StateChanged":
        if function == "delete":
            return reply["old_value"]
        return {"old_value": reply["old_value"], "new_value": reply["new_value"]}
    return reply["result"]


def _merge(function: str, answers: list[Any]) -> Any:
    if function == "list":
        items = sorted((item for answer in answers for item in answer["items"]), key=lambda kv: kv[0])
        return [value for _, value in items]
    if function == "list_groups":
        return {"groups": sorted({group for answer in answers for group in answer["groups"]})}
    return format_digests(add_digests(answers))
