"""Durable subscribers and pub/sub under load, side by side with bare Kafka on the same broker.

Phases, each timed from the first publish to the last delivery seen on the effects topic
(read_committed):
- durable: N `iii::durable::publish` calls (C in flight), one worker whose `durable:subscriber`
  function writes one effect per message (`ctx.send`, in the invocation's transaction);
- pub/sub: N `publish` calls to one `subscribe` function doing the same;
- baseline: N records produced with an idempotent producer, and a bare consume-transform-produce
  loop (confluent-kafka, a transaction per batch of up to 500) writing one output per record: the
  same delivery guarantee (each message turns into one committed output) without the engine.

    python benchmarks/messaging.py [--messages 5000] [--concurrency 200]

Uses KAFKA_BOOTSTRAP_SERVERS, else the local broker on 127.0.0.1:9092 (started here if none runs).
This file is also the worker's services module (IIIKAFKA_SERVICES=messaging).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from iii_kafka.processors.functions import functions  # noqa: E402

EFFECTS = os.environ.get("BENCH_EFFECTS_TOPIC", "")
PHASE = os.environ.get("BENCH_PHASE", "")
PARTITIONS = 4
TRIGGER_TYPES = {"durable": "durable:subscriber", "pubsub": "subscribe"}

if PHASE:  # imported by the worker: one subscriber function, writing one effect per message
    @functions.function("bench::consume")
    async def consume(data, ctx):  # noqa: ANN001
        ctx.send(EFFECTS, str(data["i"]), {"i": data["i"]})

    functions.register_trigger(TRIGGER_TYPES[PHASE], "bench::consume", {"topic": "bench"})


def delivered(servers: str, topic: str, expected: int, timeout: float = 600.0) -> int:
    """Counts the records of `topic` (read_committed) until `expected` are there."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"bench-{uuid.uuid4().hex}",
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen, deadline = 0, time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            seen += sum(1 for m in consumer.consume(1000, 0.2) if m.error() is None)
    finally:
        consumer.close()
    return seen


async def publish_all(function_id: str, messages: int, concurrency: int) -> float:
    from iii_kafka.processors.functions.caller import Caller

    async with Caller.from_env() as caller:
        while not caller.catalog.hosts("bench::consume"):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # the caller's bindings view refreshes once a second
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await caller.trigger(function_id, {"topic": "bench", "data": {"i": i}})

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(messages)))
        return time.monotonic() - started


def engine_phase(name: str, function_id: str, servers: str, effects: str, messages: int,
                 concurrency: int) -> dict:
    from harness import say

    started = time.monotonic()
    publish_s = asyncio.run(publish_all(function_id, messages, concurrency))
    seen = delivered(servers, effects, messages)
    total = time.monotonic() - started
    result = {"messages": messages, "publish_per_s": round(messages / publish_s),
              "delivered": seen, "delivered_per_s": round(seen / total), "seconds": round(total, 2)}
    say(f"  {name}: published {result['publish_per_s']:,}/s; {seen:,} delivered in {total:.1f} s = "
        f"{result['delivered_per_s']:,}/s")
    return result


def baseline_phase(servers: str, messages: int) -> dict:
    """Bare Kafka: produce, then consume-transform-produce in transactions, one output per record."""
    from confluent_kafka import Consumer, Producer
    from harness import say
    from iii_kafka.processors.admin import ensure_topics
    from iii_kafka.topology.topics import TopicSpec

    source, output = f"bench-raw-{uuid.uuid4().hex[:6]}", f"bench-raw-out-{uuid.uuid4().hex[:6]}"
    ensure_topics(servers, [TopicSpec(source, PARTITIONS), TopicSpec(output, PARTITIONS)])
    started = time.monotonic()
    producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True, "linger.ms": 5})
    for i in range(messages):
        producer.produce(source, key=str(i).encode(), value=b'{"i": %d}' % i)
        producer.poll(0)
    producer.flush(60)
    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"bench-raw-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    transactional = Producer({"bootstrap.servers": servers, "transactional.id": f"bench-{uuid.uuid4().hex}",
                              "linger.ms": 5})
    transactional.init_transactions(30)
    consumer.subscribe([source])
    done = 0
    while done < messages:
        batch = [m for m in consumer.consume(500, 0.5) if m.error() is None]
        if not batch:
            continue
        transactional.begin_transaction()
        for message in batch:
            transactional.produce(output, key=message.key(), value=message.value())
        transactional.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                  consumer.consumer_group_metadata())
        transactional.commit_transaction(30)
        done += len(batch)
    consumer.close()
    total = time.monotonic() - started
    result = {"messages": messages, "delivered_per_s": round(messages / total), "seconds": round(total, 2)}
    say(f"  baseline (bare Kafka): {messages:,} delivered in {total:.1f} s = {result['delivered_per_s']:,}/s")
    return result


def main() -> int:
    from harness import broker_for, say, write_results
    from iii_kafka.processors.admin import ensure_topics
    from iii_kafka.processors.settings import Settings
    from iii_kafka.processors.workers import WorkerProcess
    from iii_kafka.topology.topics import TopicSpec

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "messaging.json")
    args = parser.parse_args()

    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="iii-bench-messaging-"))
    broker = broker_for(settings, work)
    servers = settings.bootstrap_servers
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    effects = {phase: f"{namespace}.effects.{phase}" for phase in ("durable", "pubsub")}
    ensure_topics(servers, [TopicSpec(topic, PARTITIONS) for topic in effects.values()])
    base_env = {"KAFKA_BOOTSTRAP_SERVERS": servers, "IIIKAFKA_NAMESPACE": namespace,
                "IIIKAFKA_PARTITIONS": str(PARTITIONS), "IIIKAFKA_SESSION_TIMEOUT": "6"}
    os.environ.update({k: v for k, v in base_env.items() if k != "IIIKAFKA_SERVICES"})
    results: dict = {}
    try:
        for phase, function_id in (("durable", "iii::durable::publish"), ("pubsub", "publish")):
            env = {**base_env, "IIIKAFKA_APP_ID": f"{namespace}-{phase}", "IIIKAFKA_SERVICES": "messaging",
                   "IIIKAFKA_DATA_DIR": str(work / phase), "BENCH_EFFECTS_TOPIC": effects[phase],
                   "BENCH_PHASE": phase,
                   "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
            say(f"{phase}: {args.messages:,} messages, {args.concurrency} in flight, one worker")
            worker = WorkerProcess(work / f"{phase}.log", env=env).start().wait_ready(180)
            try:
                results[phase] = engine_phase(phase, function_id, servers, effects[phase], args.messages,
                                              args.concurrency)
            finally:
                worker.stop()
        say("baseline: the same messages through bare Kafka")
        results["baseline"] = baseline_phase(servers, args.messages)
        base = results["baseline"]["delivered_per_s"]
        results["ratios_to_baseline"] = {phase: round(results[phase]["delivered_per_s"] / base, 3)
                                         for phase in ("durable", "pubsub")}
        say(f"ratios of delivered/s to bare Kafka: {results['ratios_to_baseline']}")
        write_results(args.out, "messaging", {"messages": args.messages, "concurrency": args.concurrency,
                                              "partitions": PARTITIONS, "workers": 1,
                                              "broker": "local" if broker else "external"}, results)
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
