"""The functions a worker process hosts, registered by id with iii's `register_function`."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import fastavro
from fastavro.validation import ValidationError
from iii_kafka.topology.functions import FunctionId
from iii_kafka.topology.triggers import TriggerConfigError, check_trigger_config

from .errors import ErrorCode, InvocationError

__all__ = ["DEFAULT_TIMEOUT_MS", "FunctionRegistry", "QueueConfig", "RegisteredFunction",
           "RegisteredTrigger", "check_against_schema", "functions"]

DEFAULT_TIMEOUT_MS = 30_000  # iii's default for a trigger that awaits its result

Handler = Callable[..., Any]


@dataclass(frozen=True)
class QueueConfig:
    """iii's queue settings: `max_retries` retries after the first attempt, waiting
    `backoff_ms * 2**(retry - 1)` before each; `fifo` queues keep each message group in order."""

    name: str
    max_retries: int = 3
    backoff_ms: int = 1000
    type: str = "standard"
    message_group_field: str | None = None

    def __post_init__(self) -> None:
        if self.type not in ("standard", "fifo"):
            raise ValueError(f"queue {self.name}: type must be standard or fifo, not {self.type!r}")
        if self.type == "fifo" and not self.message_group_field:
            raise ValueError(f"queue {self.name}: a fifo queue needs message_group_field")
        if self.max_retries < 0 or self.backoff_ms < 0:
            raise ValueError(f"queue {self.name}: max_retries and backoff_ms must be >= 0")

    def backoff_before(self, attempt: int) -> int:
        """Milliseconds to wait before `attempt` (2 is the first retry)."""
        return self.backoff_ms * 2 ** (attempt - 2) if attempt > 1 else 0


@dataclass(frozen=True)
class RegisteredFunction:
    function_id: str
    handler: Handler
    description: str | None = None
    metadata: Any = None
    request_format: dict | None = None
    response_format: dict | None = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    invocation_topic: str | None = None  # engine functions answered elsewhere (state::*)

    @property
    def wants_context(self) -> bool:
        """A handler gets the context if it takes a second positional parameter (iii: `data` only)."""
        params = [p for p in inspect.signature(self.handler).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    def check_request(self, payload: Any) -> None:
        """Raises `invalid_payload` naming what does not match the declared request schema."""
        self._check("request", self.request_format, payload, ErrorCode.INVALID_PAYLOAD)

    def check_response(self, result: Any) -> None:
        self._check("response", self.response_format, result, ErrorCode.INVALID_RESULT)

    def _check(self, which: str, schema: dict | None, value: Any, code: str) -> None:
        if schema is not None:
            check_against_schema(schema, value, which=which, function_id=self.function_id, code=code)

    def schema_json(self, which: str) -> str | None:
        schema = self.request_format if which == "request" else self.response_format
        return None if schema is None else json.dumps(schema, sort_keys=True)


@dataclass(frozen=True)
class RegisteredTrigger:
    """iii's trigger: events of `trigger_type` matching `config` invoke `function_id`. Its id is
    derived from what it binds, so every worker that registers the same binding shares one id
    (and the binding fires once, not once per worker)."""

    trigger_type: str
    function_id: str
    config: dict
    condition_function_id: str | None = None

    @property
    def trigger_id(self) -> str:
        text = json.dumps([self.trigger_type, self.function_id, self.config, self.condition_function_id],
                          sort_keys=True)
        digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
        return f"{self.trigger_type}:{self.function_id}:{digest}"


@lru_cache(maxsize=256)
def _parsed(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))


def check_against_schema(schema: dict | str, value: Any, *, which: str, function_id: str,
                         code: str) -> None:
    """Raises `code` naming what in `value` does not match the Avro `schema` (a dict or its JSON)."""
    text = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True)
    try:
        fastavro.validate(value, _parsed(text), raise_errors=True)
    except ValidationError as exc:
        problems = "; ".join(str(e) for e in exc.errors) or str(exc)
        raise InvocationError(code, f"{which} does not match {function_id}'s {which} schema: {problems}",
                              function_id=function_id) from None


class FunctionRegistry:
    """Function id -> handler, and the queues the functions are enqueued on."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}
        self._queues: dict[str, QueueConfig] = {}
        self._triggers: dict[str, RegisteredTrigger] = {}

    def register_function(self, function_id: str, handler: Handler, *, description: str | None = None,
                          metadata: Any = None, request_format: dict | None = None,
                          response_format: dict | None = None,
                          timeout_ms: int = DEFAULT_TIMEOUT_MS,
                          invocation_topic: str | None = None) -> RegisteredFunction:
        """iii's `register_function`: `handler(data)` or `handler(data, ctx)`, sync or async.

        `request_format` and `response_format` are Avro schemas; a payload or a result that does not
        match is refused with `invalid_payload` / `invalid_result`, naming the field.
        """
        FunctionId(function_id)  # raises FunctionIdError naming the problem
        if function_id in self._functions:
            raise ValueError(f"function {function_id} is already registered in this worker")
        if not callable(handler):
            raise TypeError(f"handler for {function_id} is not callable")
        for which, schema in (("request_format", request_format), ("response_format", response_format)):
            if schema is not None:
                try:
                    fastavro.parse_schema(schema)
                except Exception as exc:  # fastavro raises several types for a bad schema
                    raise ValueError(f"{function_id}: {which} is not an Avro schema: {exc}") from None
        registered = RegisteredFunction(function_id, handler, description, metadata, request_format,
                                        response_format, timeout_ms, invocation_topic)
        self._functions[function_id] = registered
        return registered

    def function(self, function_id: str, **options: Any) -> Callable[[Handler], Handler]:
        """Decorator form of `register_function`."""
        def register(handler: Handler) -> Handler:
            self.register_function(function_id, handler, **options)
            return handler
        return register

    def unregister_function(self, function_id: str) -> None:
        self._functions.pop(function_id, None)

    def get(self, function_id: str) -> RegisteredFunction | None:
        return self._functions.get(function_id)

    def __iter__(self) -> Iterator[RegisteredFunction]:
        return iter(list(self._functions.values()))

    def __len__(self) -> int:
        return len(self._functions)

    def register_trigger(self, trigger_type: str | dict, function_id: str | None = None,
                         config: dict | None = None, *,
                         condition_function_id: str | None = None) -> RegisteredTrigger:
        """iii's `register_trigger`: `register_trigger("state", "mem::on_change", {"scope": "mem"})`,
        or iii's dict form `register_trigger({"type", "function_id", "config"})`. The condition may
        be given as `config["condition_function_id"]`, as in iii."""
        if isinstance(trigger_type, dict):
            spec = trigger_type
            trigger_type, function_id, config = spec.get("type"), spec.get("function_id"), spec.get("config")
        config = dict(config or {})
        condition_function_id = condition_function_id or config.pop("condition_function_id", None)
        FunctionId(function_id)
        if condition_function_id is not None:
            FunctionId(condition_function_id)
        try:
            config = check_trigger_config(trigger_type, config)
        except TriggerConfigError as exc:
            raise ValueError(f"trigger for {function_id}: {exc}") from None
        trigger = RegisteredTrigger(trigger_type, function_id, config, condition_function_id)
        self._triggers[trigger.trigger_id] = trigger
        return trigger

    def unregister_trigger(self, trigger_id: str) -> None:
        self._triggers.pop(trigger_id, None)

    def triggers(self) -> list[RegisteredTrigger]:
        return list(self._triggers.values())

    def configure_queue(self, name: str, **settings: Any) -> QueueConfig:
        """iii's `queue_configs` entry for `name` (max_retries, backoff_ms, type, message_group_field)."""
        config = self._queues[name] = QueueConfig(name, **settings)
        return config

    def queues(self) -> list[QueueConfig]:
        return list(self._queues.values())

    def queue(self, name: str) -> QueueConfig:
        """A queue's settings; a queue nobody configured gets iii's defaults."""
        return self._queues.get(name) or QueueConfig(name)


functions = FunctionRegistry()
"""The registry of this process: the service modules of `IIIKAFKA_SERVICES` register here."""
