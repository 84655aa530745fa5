"""The pure parts of functions: registration, actions, errors, queues, graphs, the catalog view."""

from __future__ import annotations

import pytest
from iii_kafka.processors.functions import (
    ErrorCode,
    FunctionRegistry,
    InvocationContext,
    InvocationError,
    QueueConfig,
    TriggerAction,
)
from iii_kafka.processors.functions.catalog import CatalogView
from iii_kafka.processors.functions.graphs import _truthy
from iii_kafka.processors.functions.queues import message_group
from iii_kafka.topology.functions import FunctionIdError
from iii_kafka.topology.graphs import Graph, GraphError, Parallel, Step, step_payload


def test_register_function_checks_the_id_the_handler_and_its_schemas():
    registry = FunctionRegistry()
    registry.register_function("math::add", lambda data: data)
    with pytest.raises(FunctionIdError):
        registry.register_function("add", lambda data: data)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_function("math::add", lambda data: data)
    with pytest.raises(TypeError, match="not callable"):
        registry.register_function("math::sub", 42)
    with pytest.raises(ValueError, match="request_format is not an Avro schema"):
        registry.register_function("math::mul", lambda d: d, request_format={"type": "recordz"})


def test_handlers_get_the_context_when_they_take_a_second_parameter():
    registry = FunctionRegistry()
    plain = registry.register_function("a::plain", lambda data: data)

    async def with_ctx(data, ctx):
        return data

    contextual = registry.register_function("a::ctx", with_ctx)
    assert not plain.wants_context and not plain.is_async
    assert contextual.wants_context and contextual.is_async


def test_a_payload_that_violates_the_request_schema_is_refused_naming_the_field():
    registry = FunctionRegistry()
    schema = {"type": "record", "name": "Req", "fields": [{"name": "n", "type": "long"}]}
    function = registry.register_function("a::b", lambda d: d, request_format=schema,
                                          response_format={"type": "string"})
    function.check_request({"n": 3})
    with pytest.raises(InvocationError) as error:
        function.check_request({"n": "three"})
    assert error.value.code == ErrorCode.INVALID_PAYLOAD and "Req.n" in error.value.message
    with pytest.raises(InvocationError) as bad_result:
        function.check_response(7)
    assert bad_result.value.code == ErrorCode.INVALID_RESULT


def test_trigger_actions_parse_iii_forms():
    assert TriggerAction.parse(None) is None
    assert TriggerAction.parse({"type": "void"}) == TriggerAction.Void()
    assert TriggerAction.parse({"type": "enqueue", "queue": "q"}) == TriggerAction.Enqueue("q")
    assert TriggerAction.parse("enqueue:jobs") == TriggerAction.Enqueue("jobs")
    with pytest.raises(ValueError, match="unknown trigger action 'later'"):
        TriggerAction.parse({"type": "later"})
    with pytest.raises(ValueError, match="needs a queue"):
        TriggerAction.Enqueue("")


def test_errors_keep_iii_shape_and_the_handler_traceback():
    try:
        raise ZeroDivisionError("nope")
    except ZeroDivisionError as exc:
        error = InvocationError.from_handler_exception(exc)
    assert error.code == ErrorCode.INVOCATION_FAILED and error.message == "ZeroDivisionError: nope"
    assert "test_functions_pure.py" in error.stacktrace
    again = InvocationError.from_dict(error.to_dict(), function_id="a::b")
    assert str(again) == "invocation_failed (a::b): ZeroDivisionError: nope"


def test_queue_backoff_doubles_and_fifo_needs_a_group_field():
    queue = QueueConfig("q", max_retries=3, backoff_ms=1000)
    assert [queue.backoff_before(a) for a in (1, 2, 3, 4)] == [0, 1000, 2000, 4000]
    with pytest.raises(ValueError, match="needs message_group_field"):
        QueueConfig("f", type="fifo")
    with pytest.raises(ValueError, match="standard or fifo"):
        QueueConfig("x", type="lifo")
    assert message_group({"user": 7}, "user") == "7"
    assert message_group({"other": 1}, "user") is None and message_group([1], "user") is None


def test_child_invocation_ids_are_stable_across_reruns():
    def ids() -> list[str]:
        ctx = InvocationContext("run1", "a::b", 1, caller=None)
        return [ctx.child_id(), ctx.child_id("step"), ctx.child_id()]
    assert ids() == ids() == ["run1/1", "run1/step", "run1/2"]


def test_graph_declarations_are_validated():
    graph = Graph("flow::run", [Step("a", "x::a"), Parallel(Step("b", "x::b"), [Step("c", "x::c"),
                                                                               Step("d", "x::d")])])
    assert [s.name for s in graph.steps()] == ["a", "b", "c", "d"]
    with pytest.raises(GraphError, match="used twice: a"):
        Graph("flow::run", [Step("a", "x::a"), Step("a", "x::b")])
    with pytest.raises(GraphError, match="at least two branches"):
        Parallel(Step("a", "x::a"))
    with pytest.raises(FunctionIdError):
        Step("a", "x::a", when="not-an-id")
    with pytest.raises(GraphError, match="no steps"):
        Graph("flow::run", [])
    assert step_payload({"n": 1}, {"a": 2}) == {"input": {"n": 1}, "steps": {"a": 2}}
    assert _truthy(True) and _truthy({"result": True}) and not _truthy({"ok": False}) and not _truthy(0)


def _heartbeat(worker: str, at_ms: int, liveness_ms: int = 10_000) -> dict:
    return {"worker_id": worker, "heartbeat_at_ms": at_ms, "liveness_ms": liveness_ms,
            "reply_topic": f"r.{worker}", "queues": {"q": {"type": "fifo"}}}


def _function(function_id: str, worker: str, at_ms: int = 0) -> dict:
    return {"function_id": function_id, "worker_id": worker, "registered_at_ms": at_ms,
            "invocation_topic": "app.invocations"}


def test_the_catalog_counts_a_silent_worker_as_gone_after_its_liveness_bound():
    view = CatalogView()
    view.apply("function/m::add/w1", _function("m::add", "w1"))
    assert view.hosts("m::add", at_ms=1_000) == []  # no heartbeat yet: not hosted
    view.apply("worker/w1", _heartbeat("w1", 1_000))
    assert [h["worker_id"] for h in view.hosts("m::add", at_ms=5_000)] == ["w1"]
    assert view.hosts("m::add", at_ms=11_001) == []
    assert view.last_seen_ms("m::add") == 1_000
    assert sorted(view.stale_keys(10_000, at_ms=11_001)) == ["function/m::add/w1", "worker/w1"]
    assert view.queue_config("w1", "q") == {"type": "fifo"} and view.reply_topic_of("w1") == "r.w1"
    view.apply("worker/w1", None)  # a clean stop's tombstones
    view.apply("function/m::add/w1", None)
    assert view.functions(at_ms=2_000) == [] and view.stale_keys(10_000, at_ms=2_000) == []


def test_registrations_of_a_worker_that_never_sent_a_heartbeat_expire_only_after_the_bound():
    view = CatalogView()
    view.apply("function/m::add/w2", _function("m::add", "w2", at_ms=1_000))
    assert view.stale_keys(10_000, at_ms=5_000) == []      # it may be registering right now
    assert view.stale_keys(10_000, at_ms=11_001) == ["function/m::add/w2"]
