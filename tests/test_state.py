"""KV state against the real broker with worker processes: iii's operations from handlers, the CLI
and callers; wrong input that changes nothing and stalls nothing; increments that survive a
SIGKILL of an owner and a restart of the broker exactly once; replay to a point in time; state
triggers with conditions; a handler run again after a crash that does not apply its writes twice."""

from __future__ import annotations

import asyncio
import collections
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from iii_kafka.processors.functions import InvocationError, TriggerAction
from iii_kafka.processors.functions.blocking import BlockingCaller
from iii_kafka.processors.settings import Settings
from iii_kafka.processors.testing.restartable import RestartableBroker
from iii_kafka.schemas import AvroCodec, Event
from iii_kafka.state.digest import digest_view, format_digests
from iii_kafka.state.keys import state_key, state_partition
from iii_kafka.state.view import StateView
from iii_kafka.topology.state import state_topics
from kafka_helpers import produce, produce_to_partition, read_topic, wait_for, wait_for_functions

pytestmark = pytest.mark.kafka

READER = AvroCodec()
INCREMENT = [{"type": "increment", "path": "n", "by": 1}]


def changes_topic(worker_env: dict[str, str]) -> str:
    return state_topics(worker_env["IIIKAFKA_NAMESPACE"], 4).changes.name


def cli(worker_env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "iii_kafka.processors.cli", *args], env={**worker_env},
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def read_changes(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[dict]:
    return [READER.decode(m.value()) for m in read_topic(bootstrap, topic, expected, timeout=timeout)]


def test_iii_state_operations_from_callers_and_the_cli(worker_factory, function_caller, worker_env):
    worker_factory("w1")
    worker_factory("w2")  # two owners: keys of one scope live on both
    wait_for_functions(function_caller, "state::set", "state::list")
    state = function_caller

    assert state.trigger("state::set", {"scope": "mem", "key": "m1",
                                        "value": {"text": "hi", "tags": []}}) == \
        {"old_value": None, "new_value": {"text": "hi", "tags": []}}
    assert state.trigger("state::update", {"scope": "mem", "key": "m1", "ops": [
        {"type": "append", "path": "tags", "value": "x"}, {"type": "increment", "path": "reads", "by": 2},
        {"type": "merge", "path": ["meta", "source"], "value": {"who": "ann"}}]})["new_value"] == \
        {"text": "hi", "tags": ["x"], "reads": 2, "meta": {"source": {"who": "ann"}}}
    for i in range(8):
        state.trigger("state::set", {"scope": "mem", "key": f"k{i}", "data": i})  # `data`: iii's alias
    state.trigger("state::set", {"scope": "other", "key": "a", "value": None})
    assert state.trigger("state::get", {"scope": "mem", "key": "k3"}) == 3
    assert state.trigger("state::get", {"scope": "mem", "key": "nope"}) is None
    assert state.trigger("state::list", {"scope": "mem"}) == [0, 1, 2, 3, 4, 5, 6, 7, {
        "text": "hi", "tags": ["x"], "reads": 2, "meta": {"source": {"who": "ann"}}}]
    assert state.trigger("state::list_groups", {}) == {"groups": ["mem", "other"]}
    assert state.trigger("state::delete", {"scope": "other", "key": "a"}) is None  # its old value
    assert state.trigger("state::delete", {"scope": "mem", "key": "k0"}) == 0
    assert state.trigger("state::delete", {"scope": "mem", "key": "k0"}) is None  # gone already
    assert state.trigger("state::list_groups", {}) == {"groups": ["mem"]}

    # the CLI, from another process
    assert json.loads(cli(worker_env, "state", "get", "mem", "k5").stdout) == 5
    assert json.loads(cli(worker_env, "state", "update", "mem", "k5", json.dumps(
        [{"type": "increment", "path": "", "by": 10}])).stdout) == {"old_value": 5, "new_value": 15}
    assert json.loads(cli(worker_env, "state", "list", "mem").stdout)[:2] == [1, 2]
    assert json.loads(cli(worker_env, "state", "groups").stdout) == {"groups": ["mem"]}
    failed = cli(worker_env, "state", "update", "mem", "k5", '[{"type": "merge", "value": {"a": 1}}]',
                 check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip() == ("iii-kafka: error: merge.target_not_object (state::update): op 0: "
                                     "merge.target_not_object: Cannot merge at path root: target is number, "
                                     "expected object.")

    # the log: one event per change, versions counting up per key, deletes keep the version going
    events = read_changes(worker_env["KAFKA_BOOTSTRAP_SERVERS"], changes_topic(worker_env), 15)
    k0 = [(e["event_type"], e["version"]) for e in events if e["key"] == "k0"]
    assert k0 == [("created", 1), ("deleted", 2)]
    assert [e["version"] for e in events if e["key"] == "m1"] == [1, 2]


def test_wrong_input_is_refused_changes_nothing_and_stalls_nothing(
        worker_factory, function_caller, worker_env, kafka_bootstrap_servers, avro_codec):
    worker_factory("w1")
    wait_for_functions(function_caller, "state::update")
    call = function_caller.trigger
    before = call("state::set", {"scope": "s", "key": "k", "value": {"name": "ann", "n": 1}})["new_value"]

    def refused(function_id: str, payload: object) -> InvocationError:
        with pytest.raises(InvocationError) as error:
            call(function_id, payload)
        return error.value

    cases = [
        (("state::update", {"scope": "s", "key": "k",
                            "ops": [{"type": "merge", "path": "name", "value": {}}]}),
         "merge.target_not_object", "Cannot merge at path 'name': target is string, expected object."),
        (("state::update", {"scope": "s", "key": "k",
                            "ops": [{"type": "increment", "path": "n", "by": 1},
                                    {"type": "increment", "path": "name", "by": 1}]}),
         "increment.not_number", "op 1: increment.not_number: Expected number at path 'name', got string."),
        (("state::set", {"key": "k", "value": 1}), "deserialization_error", "`scope` must be a string"),
        (("state::get", {"scope": "", "key": "k"}), "deserialization_error", "`scope` must not be empty"),
        (("state::update", {"scope": "s", "key": "k", "ops": [{"type": "explode"}]}), "deserialization_error",
         "unknown type 'explode'"),
        (("state::set", {"scope": "s", "key": "k", "value": {1, 2}}), "invalid_payload",
         "set is not a JSON-like value"),
        (("state::set", {"scope": "s", "key": "k", "value": "x" * 1_100_000}), "VALUE_TOO_LARGE",
         "over the 1000000-byte limit"),
    ]
    for (function_id, payload), code, message in cases:
        error = refused(function_id, payload)
        assert error.code == code and message in error.message, (function_id, error)

    # a value that grows past the limit on the owner's side is refused there
    call("state::set", {"scope": "s", "key": "big", "value": "x" * 600_000})
    error = refused("state::update", {"scope": "s", "key": "big", "ops": [
        {"type": "append", "path": "", "value": "y" * 600_000}]})
    assert error.code == "VALUE_TOO_LARGE"

    # bytes that are not a command, straight on the topic: dead-lettered, and the partition goes on
    topics = state_topics(worker_env["IIIKAFKA_NAMESPACE"], 4)
    produce(kafka_bootstrap_servers, topics.requests.name, [(b"s\x00k", b"not avro"), (b"s\x00k", None)])
    # a well-formed command on a partition that does not own its key (or under another key) is
    # refused: one writer per key holds only if a key's commands all reach its owner
    owner = state_partition(state_key("s", "k"), 4)
    rogue = Event("iii.kafka.StateCommand", request_id="rogue", function="set", scope="s", key="k",
                  ops=[{"op": "set", "path": [], "value": 999}], requested_at_ms=int(time.time() * 1000))
    produce_to_partition(kafka_bootstrap_servers, topics.requests.name, (owner + 1) % 4, b"s\x00k",
                         avro_codec.encode(rogue))
    produce_to_partition(kafka_bootstrap_servers, topics.requests.name, owner, b"s\x00other",
                         avro_codec.encode(rogue))
    letters = read_topic(kafka_bootstrap_servers, topics.dead_letters.name, 2)
    assert sorted(READER.decode(m.value())["error_type"] for m in letters) == ["empty", "not_framed"]
    assert call("state::get", {"scope": "s", "key": "k"}) == before  # nothing changed
    results = function_caller.trigger_many([("state::update", {"scope": "s", "key": "k", "ops": INCREMENT})
                                            for _ in range(20)])
    assert sorted(r["new_value"]["n"] for r in results) == list(range(2, 22))
    events = read_changes(kafka_bootstrap_servers, topics.changes.name, 22)
    assert [e["version"] for e in events if e["key"] == "k"] == list(range(1, 22))  # no refused op wrote


async def _increments(caller, keys: list[str], total: int, concurrency: int, timeout_ms: int,
                      acked: collections.Counter, acked_ids: set, failures: collections.Counter) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        key, request_id = keys[i % len(keys)], f"inc-{i}"
        async with gate:
            try:
                await caller.trigger("state::update", {"scope": "counters", "key": key, "ops": INCREMENT},
                                     timeout_ms=timeout_ms, invocation_id=request_id)
            except InvocationError as error:
                failures[error.code] += 1
                return
            acked[key] += 1
            acked_ids.add(request_id)

    await asyncio.gather(*(one(i) for i in range(total)))


def _run_increments_while(caller: BlockingCaller, disruption, total: int = 3000, concurrency: int = 16,
                          keys: int = 12):
    names = [f"c{i}" for i in range(keys)]
    acked, acked_ids, failures = collections.Counter(), set(), collections.Counter()
    future = asyncio.run_coroutine_threadsafe(
        _increments(caller.caller, names, total, concurrency, 120_000, acked, acked_ids, failures),
        caller._loop)
    assert wait_for(lambda: sum(acked.values()) >= total // 4, timeout=120), "increments did not start"
    disruption()
    future.result(timeout=600)
    return names, acked, acked_ids, failures


def _assert_exactly_once(caller: BlockingCaller, bootstrap: str, topic: str, names: list[str],
                         acked: collections.Counter, acked_ids: set) -> None:
    finals = {name: (caller.trigger("state::get", {"scope": "counters", "key": name}) or {}).get("n", 0)
              for name in names}
    events = read_changes(bootstrap, topic, sum(finals.values()), timeout=120)
    applied = [e["request_id"] for e in events if e["scope"] == "counters"]
    duplicates = [rid for rid, count in collections.Counter(applied).items() if count > 1]
    assert not duplicates, f"applied more than once: {duplicates[:5]}"
    assert acked_ids <= set(applied), \
        f"acknowledged but not in the log: {sorted(acked_ids - set(applied))[:5]}"
    for name in names:
        versions = [e["version"] for e in events if e["key"] == name]
        assert versions == list(range(1, len(versions) + 1)), f"{name}: versions {versions[:10]}..."
        assert finals[name] == len(versions) >= acked[name], (name, finals[name], len(versions), acked[name])


def test_concurrent_increments_survive_a_sigkilled_owner_exactly_once(worker_factory, function_caller,
                                                                      worker_env, kafka_bootstrap_servers):
    w1 = worker_factory("w1")
    worker_factory("w2")
    wait_for_functions(function_caller, "state::update")

    def kill_and_restart() -> None:
        w1.kill()
        time.sleep(1)
        w1.start().wait_ready()

    names, acked, acked_ids, failures = _run_increments_while(function_caller, kill_and_restart)
    assert sum(acked.values()) == 3000, f"not every increment was acknowledged: {dict(failures)}"
    _assert_exactly_once(function_caller, kafka_bootstrap_servers, changes_topic(worker_env), names, acked,
                         acked_ids)


def test_increments_survive_a_restart_of_the_broker(tmp_path, worker_env, kafka_app_id):
    from iii_kafka.processors.schema_store import schema_topic_client
    from iii_kafka.processors.workers import WorkerProcess
    from iii_kafka.schemas import AvroCodec as Codec

    broker = RestartableBroker(tmp_path / "broker").start()
    produce(broker.bootstrap_servers, "warm-up", [(b"k", b"v")])  # a new broker: its first leader elected
    env = {**worker_env, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
    workers = [WorkerProcess(tmp_path / name / "worker.log",
                             env={**env, "IIIKAFKA_DATA_DIR": str(tmp_path / name)})
               for name in ("w1", "w2")]
    settings = Settings.from_env(env)
    store = schema_topic_client(settings)
    caller = None
    try:
        for worker in workers:
            worker.start().wait_ready()
        caller = BlockingCaller(settings, Codec(store=store))
        wait_for_functions(caller, "state::update")
        names, acked, acked_ids, failures = _run_increments_while(caller, lambda: broker.restart(down_s=3),
                                                                  total=2000)
        assert all(worker.running for worker in workers), "a worker died with the broker"
        assert sum(acked.values()) == 2000, f"not every increment was acknowledged: {dict(failures)}"
        _assert_exactly_once(caller, broker.bootstrap_servers, changes_topic(env), names, acked, acked_ids)
    finally:
        if caller is not None:
            caller.close()
        for worker in workers:
            worker.stop()
        store.close()
        broker.stop()


def test_replay_rebuilds_the_view_in_full_and_as_of_a_point_in_time(
        worker_factory, function_caller, worker_env, kafka_bootstrap_servers, tmp_path):
    worker_factory("w1")
    wait_for_functions(function_caller, "state::set")
    call = function_caller.trigger
    recorded: list[tuple[int, dict]] = []  # (time, the state as the writes left it)
    state: dict[str, object] = {}
    for phase in range(3):
        for i in range(30):
            key = f"k{i % 10}"
            if phase == 2 and i % 10 == 3:
                call("state::delete", {"scope": "pit", "key": key})
                state.pop(key, None)
                continue
            state[key] = call("state::update", {"scope": "pit", "key": key, "ops": [
                {"type": "increment", "path": "n", "by": 1},
                {"type": "set", "path": "phase", "value": phase}]})["new_value"]
        time.sleep(0.05)
        recorded.append((int(time.time() * 1000), dict(state)))
        time.sleep(0.05)

    def replayed(out: Path, *args: str) -> dict:
        done = cli(worker_env, "replay", str(out), "--no-progress", *args)
        assert "replayed" in done.stdout
        with StateView(out) as view:
            items = {}
            for _, skey, data in view.entries():
                event = READER.decode(data)
                if event["event_type"] != "deleted":
                    items[event["key"]] = event["new_value"]
            return items

    for index, (moment, expected) in enumerate(recorded):
        assert replayed(tmp_path / f"pit{index}", "--until", str(moment)) == expected, f"as of phase {index}"

    full = tmp_path / "full"
    assert replayed(full) == recorded[-1][1]
    live = json.loads(cli(worker_env, "state", "digest").stdout)
    with StateView(full) as view:
        assert format_digests(digest_view(view, READER.decode)) == live
    assert json.loads(cli(worker_env, "state", "digest", "--view", str(full)).stdout) == live
    assert live["pit"]["keys"] == 9

    # to offsets: nothing of any partition
    assert replayed(tmp_path / "none", "--until-offset", "0:0,1:0,2:0,3:0") == {}
    refused = cli(worker_env, "replay", str(full), check=False)
    assert refused.returncode == 1 and "is not empty" in refused.stderr


def test_a_state_trigger_fires_once_per_change_when_its_condition_holds(
        start_app, function_caller, kafka_bootstrap_servers, effects_topic):
    start_app("ledger", "svc_state", name="a1")
    start_app("ledger", "svc_state", name="a2")  # two hosts of one binding: it still fires once
    wait_for_functions(function_caller, "ledger::on_change", "state::set")
    assert wait_for(lambda: [t for t in function_caller.caller.list_triggers()
                             if t["trigger_type"] == "state"])
    call = function_caller.trigger
    call("state::set", {"scope": "watched", "key": "a", "value": 1})
    call("state::update", {"scope": "watched", "key": "a",
                           "ops": [{"type": "increment", "path": "", "by": 1}]})
    call("state::set", {"scope": "watched", "key": "skip-me", "value": 1})  # its condition says no
    call("state::set", {"scope": "unwatched", "key": "a", "value": 1})
    call("state::delete", {"scope": "watched", "key": "a"})
    effects = [READER.decode(m.value()) for m in read_topic(kafka_bootstrap_servers, effects_topic, 3)]
    fired = [(e["event_type"], e["key"], e["old_value"], e["new_value"]) for e in effects]
    assert fired == [("state:created", "a", None, 1), ("state:updated", "a", 1, 2),
                     ("state:deleted", "a", 2, None)], fired
    assert all(e["type"] == "state" and e["scope"] == "watched" for e in effects)


def test_a_handler_run_again_after_a_crash_does_not_apply_its_state_writes_twice(
        start_app, function_caller, kafka_bootstrap_servers, effects_topic):
    worker = start_app("ledger", "svc_state", name="a1")
    wait_for_functions(function_caller, "ledger::bump", "state::update")
    function_caller.trigger("ledger::bump", {"scope": "jobs", "key": "j1", "pause_s": 12},
                            TriggerAction.Void())
    assert wait_for(lambda: function_caller.trigger("state::get", {"scope": "jobs", "key": "j1"}),
                    timeout=60) == {"n": 1}, "the handler did not increment"
    time.sleep(4)  # Faust's offset commit records the running invocation
    worker.kill()  # while the handler waits, after its increment was committed
    worker.start().wait_ready()
    effects = [READER.decode(m.value())
               for m in read_topic(kafka_bootstrap_servers, effects_topic, 1, timeout=90)]
    assert [(e["pid"], e["n"]) for e in effects] == [(worker.pid, 1)], \
        "the rerun did not finish, or counted twice"
    assert function_caller.trigger("state::get", {"scope": "jobs", "key": "j1"}) == {"n": 1}


def test_a_derived_view_is_rebuilt_beside_the_live_one_and_swaps_once_caught_up(start_app, function_caller,
                                                                               tmp_path):
    worker = start_app("index", "svc_index", name="i1")
    wait_for_functions(function_caller, "index::lookup", "state::set")
    call = function_caller.trigger
    for i in range(300):
        call("state::set", {"scope": "memories", "key": f"m{i:03}",
                            "value": {"tags": ["red" if i % 3 else "blue"]}})
    call("state::set", {"scope": "memories", "key": "m000", "value": {"tags": ["red"]}})  # was blue
    reds = sorted({f"m{i:03}" for i in range(300) if i % 3} | {"m000"})
    assert wait_for(lambda: call("index::lookup", {"tag": "red"})["keys"] == reds, timeout=30)
    assert call("index::lookup", {"tag": "blue"})["keys"] == [f"m{i:03}" for i in range(3, 300, 3)]

    worker.stop()
    worker.env["TEST_INDEX_V2"] = "1"
    worker.start().wait_ready()
    wait_for_functions(function_caller, "index::lookup")
    # v2 takes about 15 s to rebuild (50 ms a change): meanwhile v1 answers, and follows new writes
    during = call("index::lookup", {"tag": "red"})
    assert during["version"] == 1 and during["keys"] == reds
    call("state::set", {"scope": "memories", "key": "m999", "value": {"tags": ["red"]}})
    followed = wait_for(lambda: (lambda found: found if "m999" in found["keys"] else None)(
        call("index::lookup", {"tag": "red"})), timeout=10)
    assert followed and followed["version"] == 1, followed
    swapped = wait_for(lambda: call("index::lookup", {"tag": "RED"})["version"] == 2, timeout=60)
    assert swapped, "v2 never took over"
    assert call("index::lookup", {"tag": "RED"})["keys"] == sorted([*reds, "m999"])
    views_dir = Path(worker.env["IIIKAFKA_DATA_DIR"]) / "views" / "by-tag"
    assert wait_for(lambda: not (views_dir / "v1").exists(), timeout=15), \
        "the replaced version is still on disk"
    assert (views_dir / "ACTIVE").read_text().strip() == "2"

    # a worker with no copy of the view (a new machine) builds it from a log that already has data
    worker.stop()
    shutil.rmtree(views_dir)
    worker.start().wait_ready()
    rebuilt = wait_for(lambda: (lambda found: found if found.get("version") == 2 else None)(
        _lookup_or_none(call, "RED")), timeout=90)
    assert rebuilt and rebuilt["keys"] == sorted([*reds, "m999"]), rebuilt


def _lookup_or_none(call, tag: str) -> dict:  # noqa: ANN001
    try:
        return call("index::lookup", {"tag": tag})
    except InvocationError:  # not caught up yet: the view says so
        return {}
