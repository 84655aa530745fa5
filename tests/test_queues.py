"""Queues: retries with exponential backoff and a max, dead letters with the error, redrive,
and FIFO order per message group, against the real broker with a worker process."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from iii_kafka.processors.admin import ensure_topics
from iii_kafka.processors.functions import ErrorCode, InvocationError, TriggerAction
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.topics import TopicSpec
from kafka_helpers import read_topic, wait_for, wait_for_functions

pytestmark = pytest.mark.kafka

SERVICES = str(Path(__file__).parent / "services")
READER = AvroCodec()


@pytest.fixture
def queue_worker(worker_factory, function_caller, kafka_bootstrap_servers, kafka_app_id):
    effects = f"{kafka_app_id}.effects"
    ensure_topics(kafka_bootstrap_servers, [TopicSpec.log(effects, 2)])
    worker_factory("w1", IIIKAFKA_SERVICES="svc_queue", TEST_EFFECTS_TOPIC=effects,
                   PYTHONPATH=os.pathsep.join([SERVICES, os.environ.get("PYTHONPATH", "")]))
    wait_for_functions(function_caller, "jobs::flaky", "jobs::ordered")
    return effects


def attempts(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_retries_back_off_exponentially_then_dead_letter_and_redrive(
        queue_worker, function_caller, kafka_bootstrap_servers, kafka_app_id, worker_env, tmp_path):
    effects = queue_worker
    # Succeeds on the third attempt: two retries, 200 ms then 400 ms after the failures.
    log = tmp_path / "flaky.log"
    receipt = function_caller.trigger("jobs::flaky", {"id": "a", "log": str(log), "succeed_on": 3},
                                      TriggerAction.Enqueue("retrying"))
    assert set(receipt) == {"messageReceiptId"}
    done = read_topic(kafka_bootstrap_servers, effects, 1, timeout=60)
    assert [READER.decode(m.value()) for m in done] == [{"attempt": 3}]
    tries = attempts(log)
    assert [t["attempt"] for t in tries] == [1, 2, 3]
    gaps = [later["at"] - earlier["at"] for earlier, later in zip(tries, tries[1:])]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps

    # Never succeeds: after 1 + max_retries (4) attempts, a dead letter with the error.
    log = tmp_path / "doomed.log"
    function_caller.trigger("jobs::flaky", {"id": "b", "log": str(log), "succeed_on": 99},
                            TriggerAction.Enqueue("retrying"))
    letters = read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.dead-letters", 1, timeout=60)
    letter = READER.decode(letters[0].value())
    assert [t["attempt"] for t in attempts(log)] == [1, 2, 3, 4]
    assert letter["error_type"] == ErrorCode.INVOCATION_FAILED
    assert "queue retrying: jobs::flaky failed 4 time(s)" in letter["reason"]
    assert "attempt 4 fails on purpose" in letter["reason"]
    assert {h["key"]: h["value"] for h in letter["headers"]}["iii.queue"] == b"retrying"
    assert READER.decode(letter["value"])["payload"]["id"] == "b"

    # Redrive: once the cause is fixed, the dead letter runs again, and only once.
    flag = tmp_path / "flag"
    function_caller.trigger("jobs::needs_file", {"id": "c", "flag": str(flag)},
                            TriggerAction.Enqueue("short"))
    assert wait_for(lambda: len(read_topic(kafka_bootstrap_servers, f"{kafka_app_id}.dead-letters", 2,
                                           timeout=1)) == 2, timeout=30)
    flag.touch()
    cli = [sys.executable, "-m", "iii_kafka.processors.cli", "queue", "redrive", "short"]
    redriven = subprocess.run(cli, env={**os.environ, **worker_env}, capture_output=True, text=True,
                              timeout=60)
    assert redriven.returncode == 0 and "redrove 1 message(s) of queue short" in redriven.stdout
    again = subprocess.run(cli, env={**os.environ, **worker_env}, capture_output=True, text=True,
                           timeout=60)
    assert "redrove 0 message(s)" in again.stdout
    records = read_topic(kafka_bootstrap_servers, effects, 2, timeout=30)
    assert [m.key() for m in records if READER.decode(m.value()) == {"done": True}] == [b"c"]


def test_a_fifo_queue_keeps_each_message_group_in_order(queue_worker, function_caller,
                                                        kafka_bootstrap_servers):
    effects = queue_worker
    calls = [("jobs::ordered", {"group": f"g{i % 3}", "seq": i}, TriggerAction.Enqueue("ordered"))
             for i in range(60)]
    for call in calls:  # one after another: the queue's order is the order of the writes
        function_caller.trigger(*call)
    records = read_topic(kafka_bootstrap_servers, effects, 60, timeout=60)
    by_group = collections.defaultdict(list)
    for message in records:
        value = READER.decode(message.value())
        by_group[value["group"]].append(value["seq"])
    assert {g: seqs for g, seqs in by_group.items()} == {
        f"g{k}": [i for i in range(60) if i % 3 == k] for k in range(3)}

    with pytest.raises(InvocationError) as no_group:
        function_caller.trigger("jobs::ordered", {"seq": 1}, TriggerAction.Enqueue("ordered"))
    assert no_group.value.code == ErrorCode.ENQUEUE_ERROR and "'group'" in no_group.value.message


