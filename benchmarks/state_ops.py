"""KV state, side by side on one broker in one run (issue 5's targets):

1. durable state ops/s of one worker: a backlog of `state::set` commands (one per key, KEYS keys),
   then one of `state::update` increments on random keys, then one on 1,000 hot keys (counters),
   each drained by one worker's state owner; each op is committed to the state-changed log and
   answered to its caller's reply topic;
2. the worker's RSS holding KEYS keys;
3. replay (`iii-kafka replay`'s rebuild) of the state-changed log into a fresh RocksDB view, events/s,
   beside the raw confluent-kafka consume rate of the same topic (read_committed, nothing done per
   message: the limit on this machine), alternating rounds;
4. Faust's own changelog recovery of a RocksDB table holding the same keys (the same records,
   copied to the table's changelog), events/s.
Targets: >= 20k durable ops/s per worker; replay >= 50% of the raw rate and >= 3x Faust's recovery;
RSS < 400 MB at 1M keys.

    python benchmarks/state_ops.py [--keys 1000000] [--increments 200000] [--rounds 2]

Uses KAFKA_BOOTSTRAP_SERVERS, else the local broker on 127.0.0.1:9092 (started here if none runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from harness import HERE, broker_for, say, start_faust_worker, stop_process, write_results
from iii_kafka.processors.admin import ensure_topics
from iii_kafka.processors.settings import Settings
from iii_kafka.processors.workers import WorkerProcess
from iii_kafka.schemas import AvroCodec, Event
from iii_kafka.state.keys import state_key
from iii_kafka.state.replay import CONSUMER_TUNING, rebuild
from iii_kafka.topology.state import state_group, state_topics
from iii_kafka.topology.topics import TopicSpec

PARTITIONS = 4
HOT_KEYS = 1_000
TARGETS = {"ops_per_s": 20_000, "replay_vs_raw": 0.5, "replay_vs_faust": 3.0, "rss_mb": 400}


def produce_backlog(servers: str, topic: str, commands, total: int) -> float:
    """Writes the commands (acks=all) before any worker runs; returns the seconds it took."""
    codec = AvroCodec()
    producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True, "linger.ms": 20,
                         "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                         "compression.type": "lz4"})
    started = time.monotonic()
    for index, (key, command) in enumerate(commands):
        data = codec.encode(command)
        while True:
            try:
                producer.produce(topic, data, key)
                break
            except BufferError:
                producer.poll(0.05)
        if index % 50_000 == 0:
            producer.poll(0)
            if index:
                say(f"  backlog: {index:,}/{total:,}")
    assert producer.flush(120) == 0, "backlog not delivered"
    return time.monotonic() - started


def command(function: str, scope: str, key: str, ops: list, caller: str) -> tuple[bytes, Event]:
    return state_key(scope, key), Event("iii.kafka.StateCommand", request_id=uuid.uuid4().hex,
                                        function=function, scope=scope, key=key, ops=ops, caller=caller,
                                        cause=None,
                                        deadline_ms=None, remember=False,
                                        requested_at_ms=int(time.time() * 1000))


def drain_rate(servers: str, group: str, topic: str, end: int, timeout: float = 1800.0) -> dict:
    """Polls the owners' committed offsets until they reach `end` (all partitions together)."""
    probe = Consumer({"bootstrap.servers": servers, "group.id": group, "enable.auto.commit": False})
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    first = None
    last_report = time.monotonic()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done = sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=10))
            now = time.monotonic()
            if first is None and done > 0:
                first = (now, done)
            if done >= end:
                assert first is not None
                return {"ops": end - first[1], "seconds": now - first[0],
                        "ops_per_s": (end - first[1]) / max(now - first[0], 1e-9)}
            if now - last_report > 5:
                say(f"  drained {done:,}/{end:,}")
                last_report = now
            time.sleep(0.25)
    finally:
        probe.close()
    raise TimeoutError(f"the worker did not drain {topic} within {timeout:.0f} s")


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def read_to_end(servers: str, topic: str, on_message, group: str, tuned: bool = False) -> int:  # noqa: ANN001
    """Reads every partition of `topic` from the start to its end (read_committed); returns how
    many records `on_message` got."""
    consumer = Consumer({"bootstrap.servers": servers, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         **(CONSUMER_TUNING if tuned else {})})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    count, at_end = 0, set()
    while len(at_end) < PARTITIONS:
        for message in consumer.consume(20_000, timeout=1.0):
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                continue
            on_message(message)
            count += 1
    consumer.close()
    return count


def raw_consume(servers: str, topic: str) -> dict:
    """The same consumer settings as replay, and nothing done per record: the limit."""
    started = time.monotonic()
    count = read_to_end(servers, topic, Message.value, f"raw-{uuid.uuid4().hex}", tuned=True)
    elapsed = time.monotonic() - started
    return {"events": count, "seconds": elapsed, "events_per_s": count / elapsed}


def replay(servers: str, topic: str, work: Path, number: int) -> dict:
    out = work / f"replay-{number}"
    summary = rebuild(servers, topic, out)
    shutil.rmtree(out, ignore_errors=True)
    return {"events": summary.changes, "seconds": summary.elapsed_s, "events_per_s": summary.rate}


def faust_recovery(servers: str, changes: str, work: Path, limit: int) -> dict:
    """Copies (up to `limit` of) the state-changed records to a Faust table's changelog, then times
    its recovery (a rate: fewer records keep the run short)."""
    app_id = f"faust-{uuid.uuid4().hex[:6]}"
    changelog = f"{app_id}-kv-changelog"
    ensure_topics(servers, [TopicSpec(changelog, PARTITIONS, 1, {"cleanup.policy": "compact"})])
    writer = Producer({"bootstrap.servers": servers, "linger.ms": 20, "batch.size": 1_000_000,
                       "queue.buffering.max.messages": 1_000_000})
    codec = AvroCodec()

    def copy(message: Message) -> None:
        if copied[0] >= limit:
            return
        copied[0] += 1
        event = codec.decode(message.value())  # Faust's table changelog is JSON (its default)
        key = json.dumps(f"{event['scope']}/{event['key']}")
        value = None if event["event_type"] == "deleted" else json.dumps(event["new_value"])
        while True:
            try:
                writer.produce(changelog, value, key, message.partition())
                return
            except BufferError:
                writer.poll(0.05)

    copied = [0]
    read_to_end(servers, changes, copy, f"copy-{app_id}")
    copied = copied[0]
    writer.flush(120)
    say(f"  copied {copied:,} records to {changelog}; starting the Faust worker")
    directory = work / "faust"
    directory.mkdir()
    process = start_faust_worker(directory, "faust_table_app", {
        "BENCH_DIR": str(directory), "BENCH_APP": app_id, "KAFKA_BOOTSTRAP_SERVERS": servers},
        wait_ready=False)
    try:
        stats_file = directory / "faust-recovery.json"
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            stats = json.loads(stats_file.read_text()) if stats_file.exists() else {"events": 0}
            if stats["events"] >= copied:
                wall = stats["last"] - stats["first"]
                return {"events": stats["events"], "seconds": wall, "events_per_s": stats["events"] / wall,
                        "apply_seconds": stats["seconds"]}
            time.sleep(0.5)
        raise TimeoutError("Faust did not recover its table")
    finally:
        stop_process(process)


def start_worker(work: Path, env: dict[str, str], name: str) -> WorkerProcess:
    return WorkerProcess(work / f"{name}.log", env=env).start().wait_ready(180)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys set (default 1,000,000)")
    parser.add_argument("--increments", type=int, default=200_000, help="increments (default 200,000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of replay beside raw consume")
    parser.add_argument("--faust-records", type=int, default=300_000,
                        help="records of the same log Faust recovers (default 300,000)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "state.json")
    args = parser.parse_args()

    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="iii-bench-state-"))
    broker = broker_for(settings, work)
    servers = settings.bootstrap_servers
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    topics = state_topics(namespace, PARTITIONS)
    reply = f"{namespace}.reply.bench"
    ensure_topics(servers, [*topics.all(), TopicSpec(reply, 1)])
    env = {"KAFKA_BOOTSTRAP_SERVERS": servers, "IIIKAFKA_APP_ID": namespace, "IIIKAFKA_NAMESPACE": namespace,
           "IIIKAFKA_PARTITIONS": str(PARTITIONS), "IIIKAFKA_DATA_DIR": str(work / "worker"),
           "IIIKAFKA_SESSION_TIMEOUT": "6"}
    results: dict = {}
    worker = None
    try:
        drained = 0

        def phase(name: str, what: str, commands, count: int) -> dict:  # noqa: ANN001
            nonlocal drained, worker
            say(f"backlog: {count:,} {what} (no worker running)")
            produce_backlog(servers, topics.requests.name, commands, count)
            drained += count
            worker = start_worker(work, env, "worker")
            rate = drain_rate(servers, state_group(namespace), topics.requests.name, drained)
            say(f"  {name}: {rate['ops_per_s']:,.0f} durable ops/s")
            return rate

        rng = random.Random(7)
        results["set"] = phase("set", "state::set commands, one per key", (
            command("set", "memories", f"m{i}", [{"op": "set", "path": [], "value": {
                "text": f"memory number {i}", "n": i, "tags": ["bench"]}}], reply) for i in range(args.keys)),
            args.keys)
        time.sleep(3)
        results["rss_mb_at_keys"] = rss_mb(worker.pid)
        say(f"  worker RSS with {args.keys:,} keys: {results['rss_mb_at_keys']:.0f} MB")
        worker.stop()
        increment = [{"op": "increment", "path": ["n"], "value": 1}]
        results["increment"] = phase("increment", "increments on random keys", (
            command("update", "memories", f"m{rng.randrange(args.keys)}", increment, reply)
            for _ in range(args.increments)), args.increments)
        results["rss_mb_after_increments"] = rss_mb(worker.pid)
        worker.stop()
        results["increment_hot"] = phase("increment, hot keys", f"increments on {HOT_KEYS:,} hot keys", (
            command("update", "counters", f"c{rng.randrange(HOT_KEYS)}", increment, reply)
            for _ in range(args.increments)), args.increments)
        worker.stop()
        worker = None

        raws, replays = [], []
        for number in range(args.rounds):
            raws.append(raw_consume(servers, topics.changes.name))
            replays.append(replay(servers, topics.changes.name, work, number))
            say(f"  round {number + 1}: raw consume {raws[-1]['events_per_s']:,.0f}/s, "
                f"replay {replays[-1]['events_per_s']:,.0f}/s ({replays[-1]['events']:,} changes)")
        results["raw_consume"] = {"events_per_s": statistics.median(r["events_per_s"] for r in raws),
                                  "rounds": raws}
        results["replay"] = {"events_per_s": statistics.median(r["events_per_s"] for r in replays),
                             "rounds": replays}
        say("Faust's changelog recovery of the same records")
        results["faust_recovery"] = faust_recovery(servers, topics.changes.name, work, args.faust_records)
    finally:
        if worker is not None:
            worker.stop()
        if broker is not None:
            broker.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)

    replay_rate = results["replay"]["events_per_s"]
    ratios = {"replay_vs_raw": replay_rate / results["raw_consume"]["events_per_s"],
              "replay_vs_faust": replay_rate / results["faust_recovery"]["events_per_s"]}
    target = TARGETS["ops_per_s"]
    verdict = {"set >= 20k ops/s": results["set"]["ops_per_s"] >= target,
               "increment (random keys) >= 20k ops/s": results["increment"]["ops_per_s"] >= target,
               "increment (hot keys) >= 20k ops/s": results["increment_hot"]["ops_per_s"] >= target,
               "replay >= 50% of raw": ratios["replay_vs_raw"] >= TARGETS["replay_vs_raw"],
               "replay >= 3x Faust": ratios["replay_vs_faust"] >= TARGETS["replay_vs_faust"],
               "RSS < 400 MB": results["rss_mb_at_keys"] < TARGETS["rss_mb"]}
    print()
    print(f"{'durable state::set (ops/s, 1 worker)':44}{results['set']['ops_per_s']:>14,.0f}")
    print(f"{'durable increment, random keys (ops/s)':44}{results['increment']['ops_per_s']:>14,.0f}")
    print(f"{'durable increment, 1,000 hot keys (ops/s)':44}{results['increment_hot']['ops_per_s']:>14,.0f}")
    print(f"{'raw confluent-kafka consume (events/s)':44}{results['raw_consume']['events_per_s']:>14,.0f}")
    print(f"{'replay into a fresh view (events/s)':44}{replay_rate:>14,.0f}"
          f"   {ratios['replay_vs_raw']:.2f}x raw")
    print(f"{'Faust changelog recovery (events/s)':44}{results['faust_recovery']['events_per_s']:>14,.0f}"
          f"   replay is {ratios['replay_vs_faust']:.1f}x")
    print(f"{'worker RSS with %s keys (MB)' % f'{args.keys:,}':44}{results['rss_mb_at_keys']:>14,.0f}")
    print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in verdict.items()))
    write_results(args.out, "state_ops", vars(args) | {"out": str(args.out)},
                  {**results, "ratios": ratios, "targets": verdict})
    return 0


if __name__ == "__main__":
    sys.exit(main())
