"""Two workers of one app, invocations flowing, one worker leaves (SIGTERM or SIGKILL): the survivor
takes over its partitions and keeps serving, and every invocation completes exactly once (its effect,
written with `ctx.send`, read back with read_committed).

Before the fix in processors/exactly_once.py the survivor crashed after the rebalance on a
transactional producer that Faust had kept for a partition it lost to the other worker as a standby,
and that the other worker had fenced (docs/faust-notes.md, "Rebalancing").
"""

from __future__ import annotations

import collections
import threading
import time

import pytest
from iii_kafka.processors.functions import TriggerAction
from iii_kafka.schemas import AvroCodec
from kafka_helpers import produce, read_topic, wait_for_functions

pytestmark = pytest.mark.kafka

READER = AvroCodec()
RATE = 40  # invocations per second
BEFORE, AFTER = 200, 200  # invocations triggered before and after the member leaves


class Stream:
    """Triggers `rb::work` invocations (void: the caller does not wait) at a steady rate, from a thread."""

    def __init__(self, caller, prefix: str) -> None:  # noqa: ANN001
        self.caller, self.prefix = caller, prefix
        self.sent: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            ident = f"{self.prefix}{n:05d}"
            try:
                self.caller.trigger("rb::work", {"id": ident}, TriggerAction.Void(), invocation_id=ident)
                self.sent.append(ident)
            except Exception as exc:  # the survivor must keep accepting: reported by the test
                self.errors.append(exc)
            n += 1
            pause = start + n / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    def start(self) -> Stream:
        self._thread.start()
        return self

    def wait_sent(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.sent) >= count, f"only {len(self.sent)} of {count} triggered: {self.errors[:3]}"

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(30)
        return list(self.sent)


TAKEOVER_STALL = ("known open bug (docs/faust-notes.md, Rebalancing): after a SIGKILL, the first few records "
                  "after the committed offset of a partition the survivor takes over are sometimes not run "
                  "until the partition is assigned again; seen in about 1 of 6 runs of this case")


@pytest.mark.parametrize("leave", ["sigterm", pytest.param("sigkill", marks=pytest.mark.xfail(
    strict=False, reason=TAKEOVER_STALL))])
def test_survivor_serves_on_and_each_invocation_completes_once(
        leave, start_app, function_caller, effects_topic, kafka_bootstrap_servers):
    w1 = start_app("rb", "svc_rebalance", name="w1")  # two workers of one app
    w2 = start_app("rb", "svc_rebalance", name="w2")
    wait_for_functions(function_caller, "rb::work")

    stream = Stream(function_caller, "x").start()
    stream.wait_sent(BEFORE)
    started = time.monotonic()
    if leave == "sigterm":
        w2.stop()
    else:
        w2.kill()
    left_in = time.monotonic() - started
    stream.wait_sent(BEFORE + AFTER, timeout=120)
    sent = stream.stop()
    assert not stream.errors, f"triggers failed: {stream.errors[:3]}"

    effects = read_topic(kafka_bootstrap_servers, effects_topic, len(sent), timeout=150,
                         identity=lambda m: m.key())
    runs = collections.Counter(READER.decode(m.value())["id"] for m in effects)
    by_pid = collections.Counter(READER.decode(m.value())["pid"] for m in effects)
    missing = sorted(set(sent) - set(runs))
    twice = sorted(ident for ident, count in runs.items() if count > 1)
    print(f"{leave}: {len(sent)} invocations, member left in {left_in:.1f} s, effects by pid {dict(by_pid)}, "
          f"{len(missing)} missing, {len(twice)} twice")
    assert w1.running, f"the survivor stopped (log: {w1.log_path})"
    assert not missing, f"{len(missing)} of {len(sent)} invocation(s) never completed: {missing[:10]}"
    assert not twice, f"{len(twice)} invocation(s) completed more than once: {twice[:10]}"
    assert set(runs) == set(sent)
    assert len(by_pid) == 2, f"both workers ran invocations before the {leave}: {dict(by_pid)}"
    log = w1.log_path.read_text(errors="replace")
    assert "Crashed reason" not in log, "the survivor crashed"
    assert "Invalid state transition" not in log



def _source(message) -> tuple[int, int]:  # noqa: ANN001
    record = READER.decode(message.value())
    return record["partition"], record["offset"]


COUNTER_SHORTFALL = ("open: on the CI machine, 2 of 2 runs left thousands of the backlog's events uncounted "
                     "after the member left (17,212 of 30,000 in 120 s; and with 12,000 in 300 s), while it "
                     "passes locally in 82 s; stall or slowness not yet told apart (docs/faust-notes.md)")


@pytest.mark.xfail(strict=False, reason=COUNTER_SHORTFALL)
def test_partitions_kept_through_a_rebalance_are_not_processed_twice(
        app_topics, worker_factory, kafka_bootstrap_servers, kafka_app_id, avro_codec, record_property):
    """The demo counter (a Faust agent: output, table write and offset in one transaction) on two
    workers of one app, events flowing while the second one leaves: every event is counted once.

    Faust rewinds every partition to its committed offset after a rebalance, also those a worker
    keeps, whose open transaction already holds the output of the events after that offset."""
    w1 = worker_factory("w1")
    w2 = worker_factory("w2")
    events, counted = f"{kafka_app_id}.demo.events", f"{kafka_app_id}.demo.counted"
    total = 12000
    produce(kafka_bootstrap_servers, events,
            [(f"k{i % 13}".encode(), avro_codec.encode({"n": i})) for i in range(total)])
    read_topic(kafka_bootstrap_servers, counted, expected=total // 5, timeout=60)
    w2.stop()  # while the backlog is being counted
    outputs = read_topic(kafka_bootstrap_servers, counted, expected=total, timeout=300, identity=_source)
    sources = collections.Counter(_source(message) for message in outputs)
    assert len(sources) == total, f"{total - len(sources)} event(s) never counted"
    twice = sum(count - 1 for count in sources.values())
    record_property("duplicated_outputs", twice)
    last = {}
    for message in outputs:
        record = READER.decode(message.value())
        last[record["key"]] = max(last.get(record["key"], 0), record["count"])
    per_key = collections.Counter(f"k{i % 13}" for i in range(total))
    assert w1.running, "the survivor stopped"
    print(f"{twice} duplicated output(s); highest count per key minus events per key: "
          f"{ {key: last[key] - per_key[key] for key in sorted(per_key)} }")
    assert twice == 0, f"{twice} event(s) counted more than once"
    assert last == dict(per_key), "a count includes an event twice"
