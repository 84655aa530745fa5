"""Functions over Kafka, against the real broker with worker processes: composition across two
processes in one trace, errors that reach the caller and stall nothing, idempotency by invocation
id, and registrations that go away with their worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from iii_kafka.processors.functions import ErrorCode, InvocationError
from iii_kafka.schemas import AvroCodec, Event
from kafka_helpers import produce, read_topic, wait_for, wait_for_functions

pytestmark = pytest.mark.kafka

READER = AvroCodec()


def spans(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_composed_call_spans_two_worker_processes_in_one_trace(start_app, function_caller, tmp_path):
    back = start_app("back", "svc_back")
    front = start_app("front", "svc_front")
    wait_for_functions(function_caller, "front::sum_of_squares", "back::square")

    result = function_caller.trigger("front::sum_of_squares", {"a": 3, "b": 4})

    assert result["result"] == 25
    assert result["front_pid"] == front.pid and set(result["back_pids"]) == {back.pid}
    trace_id = result["front_trace_id"]
    assert trace_id != "0" * 32 and result["back_trace_ids"] == [trace_id, trace_id]
    # The exported spans agree: the front's process span and the back's are one trace, and each
    # back span's parent is a trigger span of the front.
    front_spans = wait_for(lambda: [s for s in spans(tmp_path / "traces-front.jsonl")
                                    if s["name"] == "front::sum_of_squares process"])
    back_spans = wait_for(lambda: [s for s in spans(tmp_path / "traces-back.jsonl")
                                   if s["name"].startswith("back::") and s["context"]["trace_id"][2:]
                                   == trace_id], timeout=10)
    assert front_spans and front_spans[0]["context"]["trace_id"] == f"0x{trace_id}"
    assert front_spans[0]["attributes"]["messaging.system"] == "kafka"
    assert sorted(s["name"] for s in back_spans) == ["back::add process", "back::square process",
                                                      "back::square process"]
    trigger_ids = {s["context"]["span_id"] for s in spans(tmp_path / "traces-front.jsonl")
                   if s["name"].startswith("trigger back::")}
    assert {s["parent_id"] for s in back_spans} <= trigger_ids and len(trigger_ids) == 3

    # Conditional composition: the condition function decides whether the trigger fires.
    assert function_caller.trigger("front::maybe", {"n": 4}) == {"fired": True, "square": 16}
    assert function_caller.trigger("front::maybe", {"n": 3}) == {"fired": False}


def test_errors_reach_the_caller_and_stall_nothing(start_app, function_caller, kafka_bootstrap_servers,
                                                    kafka_app_id, avro_codec):
    start_app("back", "svc_back")
    wait_for_functions(function_caller, "back::add")
    caller = function_caller

    with pytest.raises(InvocationError) as unknown:
        caller.trigger("nobody::hosts_this", {})
    assert unknown.value.code == ErrorCode.FUNCTION_NOT_FOUND
    assert "no worker has registered it" in unknown.value.message

    with pytest.raises(InvocationError) as bad_id:
        caller.trigger("no-separator", {})
    assert bad_id.value.code == ErrorCode.INVALID_FUNCTION_ID

    with pytest.raises(InvocationError) as invalid:
        caller.trigger("back::add", {"a": "two", "b": 3})
    assert invalid.value.code == ErrorCode.INVALID_PAYLOAD
    assert "test.back.AddRequest.a" in invalid.value.message

    with pytest.raises(InvocationError) as raised:
        caller.trigger("back::fail", {"thing": "unicorn"})
    assert raised.value.code == ErrorCode.INVOCATION_FAILED
    assert "KeyError" in raised.value.message and "unicorn" in raised.value.message
    assert "svc_back.py" in raised.value.stacktrace  # the handler's own traceback

    for function_id, problem in [("back::too_big", "over the 1000000-byte limit"),
                                 ("back::not_a_value", "cannot be written")]:
        with pytest.raises(InvocationError) as unwritable:
            caller.trigger(function_id, {})
        assert unwritable.value.code == ErrorCode.INVALID_RESULT and problem in unwritable.value.message
    with pytest.raises(InvocationError) as oversized:
        caller.trigger("back::square", {"x": 1, "padding": "y" * 1_100_000})
    assert oversized.value.code == ErrorCode.INVALID_PAYLOAD and "byte limit" in oversized.value.message

    started = time.monotonic()
    with pytest.raises(InvocationError) as hung:
        caller.trigger("back::hang", {}, None, 1500)
    assert hung.value.code == ErrorCode.TIMEOUT and time.monotonic() - started >= 1.5

    # A request that skips the caller's checks (written straight to the topic) is refused by the
    # executor, and a message that is not a request at all is dead-lettered.
    reply_topic = caller.caller.reply_topic.name
    rogue = Event("iii.kafka.InvocationRequested", invocation_id="rogue-1", function_id="back::add",
                  action="none", caller=reply_topic, requested_at_ms=int(time.time() * 1000),
                  payload={"a": [1], "b": 2})
    topic = f"{kafka_app_id}-back.invocations"
    produce(kafka_bootstrap_servers, topic, [(b"rogue-1", avro_codec.encode(rogue)),
                                             (b"junk", b"not avro at all")])
    replies = read_topic(kafka_bootstrap_servers, reply_topic, 5, timeout=30,
                         identity=lambda m: m.key())
    rogue_replies = [READER.decode(m.value()) for m in replies if m.key() == b"rogue-1"]
    assert [f["error"]["code"] for f in rogue_replies] == ["invalid_payload"]
    assert "a" in rogue_replies[0]["error"]["message"]
    letters = read_topic(kafka_bootstrap_servers, f"{kafka_app_id}-back.dead-letters", 1, timeout=30)
    assert READER.decode(letters[0].value())["value"] == b"not avro at all"

    # Nothing stalled: the hung handler, the refusals and the junk are behind us.
    results = caller.trigger_many([("back::add", {"a": i, "b": 1}) for i in range(20)])
    assert [r["sum"] for r in results] == [i + 1 for i in range(20)]


def test_a_completed_invocation_is_answered_from_its_result_and_never_runs_twice(
        start_app, function_caller, kafka_bootstrap_servers, effects_topic, tmp_path):
    worker = start_app("back", "svc_back", IIIKAFKA_RESULTS_RETENTION="25")
    wait_for_functions(function_caller, "back::count")
    invocation_id = f"once-{uuid.uuid4().hex}"

    def effects() -> int:
        return len(read_topic(kafka_bootstrap_servers, effects_topic, 0, timeout=0.5))

    first = function_caller.trigger("back::count", {"key": "k1"}, invocation_id=invocation_id)
    again = [function_caller.trigger("back::count", {"key": "k1"}, invocation_id=invocation_id)
             for _ in range(3)]

    assert first == {"counted": "k1"} and again == [first] * 3
    assert effects() == 1, "the handler ran more than once for one invocation id"
    # The stored outcome is a view of the log: without its RocksDB files, the restarted worker
    # recovers it from the changelog and still answers the repeat without running it.
    worker.stop()
    shutil.rmtree(tmp_path / "back" / "tables")
    start_app("back", "svc_back", IIIKAFKA_RESULTS_RETENTION="25")
    wait_for_functions(function_caller, "back::count")
    assert function_caller.trigger("back::count", {"key": "k1"}, invocation_id=invocation_id) == first
    assert effects() == 1, "a repeat ran again after the worker rebuilt its tables"
    # Outcomes are kept for IIIKAFKA_RESULTS_RETENTION (here 25 s, a day by default); after that
    # the id is forgotten and a repeat runs again.
    def ran_again() -> bool:
        function_caller.trigger("back::count", {"key": "k1"}, invocation_id=invocation_id)
        return effects() == 2
    assert wait_for(ran_again, timeout=60, interval=1.0)


def test_registrations_go_away_with_their_worker(start_app, function_caller, worker_env, tmp_path):
    liveness = {"IIIKAFKA_LIVENESS": "4", "IIIKAFKA_HEARTBEAT": "1"}
    killed = start_app("back", "svc_back", name="doomed", **liveness)
    stopped = start_app("front", "svc_front", name="stopping", **liveness)
    wait_for_functions(function_caller, "back::add", "front::maybe")
    # The CLI sees the same catalog, and calls through it.
    env = {**os.environ, **worker_env}
    cli = [sys.executable, "-m", "iii_kafka.processors.cli"]
    listing = subprocess.run([*cli, "functions"], env=env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "back::add" in listing.stdout and "front::maybe" in listing.stdout
    called = subprocess.run([*cli, "trigger", "back::add", '{"a": 40, "b": 2}'], env=env,
                            capture_output=True, text=True, timeout=60)
    assert called.returncode == 0 and json.loads(called.stdout) == {"sum": 42}
    refused = subprocess.run([*cli, "trigger", "back::add", '{"a": "x"}'], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stderr.startswith("iii-kafka: error: invalid_payload")

    stopped.stop()  # a clean stop tombstones its registrations: gone well before the liveness bound
    assert wait_for(lambda: "front::maybe" not in {f["function_id"] for f in
                                                   function_caller.list_functions()}, timeout=2)
    killed.kill()   # a dead worker's go away within the liveness bound
    gone = wait_for(lambda: "back::add" not in {f["function_id"] for f in function_caller.list_functions()},
                    timeout=15)
    assert gone
    with pytest.raises(InvocationError) as stale:
        function_caller.trigger("back::add", {"a": 1, "b": 2})
    assert stale.value.code == ErrorCode.FUNCTION_NOT_FOUND and "last host was seen" in stale.value.message
