"""Durable composition graphs: a worker killed with SIGKILL in the middle of a graph; after a
restart the graph completes and each step's side effect happened exactly once."""

from __future__ import annotations

import collections
import os
import uuid
from pathlib import Path

import pytest
from iii_kafka.processors.admin import ensure_topics
from iii_kafka.processors.functions import TriggerAction
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.topics import TopicSpec
from kafka_helpers import read_topic, wait_for, wait_for_functions

pytestmark = pytest.mark.kafka

SERVICES = str(Path(__file__).parent / "services")
READER = AvroCodec()


def test_a_graph_resumes_after_sigkill_and_runs_each_step_once(
        worker_factory, function_caller, kafka_bootstrap_servers, kafka_app_id):
    effects = f"{kafka_app_id}.effects"
    ensure_topics(kafka_bootstrap_servers, [TopicSpec.log(effects, 2)])
    env = {"IIIKAFKA_SERVICES": "svc_graph", "TEST_EFFECTS_TOPIC": effects,
           "PYTHONPATH": os.pathsep.join([SERVICES, os.environ.get("PYTHONPATH", "")])}
    worker = worker_factory("w1", **env)
    wait_for_functions(function_caller, "flow::run")

    # A finished run first: parallel branches, a condition that skips a step.
    done = function_caller.trigger("flow::run", {"run": "quick", "n": 1})
    assert done["steps"]["last"] == {"total": 2 * 2 + 2 * 3} and done["skipped"] == ["never"]

    # Then one killed in the middle: `first` and `left` done, `slow` sleeping.
    run = f"r{uuid.uuid4().hex[:8]}"
    function_caller.trigger("flow::run", {"run": run, "n": 4, "slow_seconds": 6}, TriggerAction.Void())

    def steps_seen() -> collections.Counter:
        records = read_topic(kafka_bootstrap_servers, effects, 0, timeout=0.5)
        return collections.Counter(READER.decode(m.value())["step"] for m in records
                                   if m.key().decode().startswith(f"{run}/"))

    assert wait_for(lambda: steps_seen()["left"] == 1, timeout=60), "the graph never got going"
    worker.kill()
    assert steps_seen()["slow"] == 0, "the worker was to die while `slow` was still sleeping"

    worker_factory("w1", **env)  # the same data dir: its tables come back from disk and changelog
    finished = wait_for(lambda: steps_seen()["last"] >= 1, timeout=90)
    assert finished, f"the graph did not finish after the restart: {steps_seen()}"
    counts = steps_seen()
    assert counts == {"first": 1, "left": 1, "slow": 1, "last": 1}, counts
