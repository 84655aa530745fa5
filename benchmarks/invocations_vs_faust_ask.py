"""Invocation round trips and fire-and-forget throughput, side by side with bare Faust, one run.

Starts one iii-kafka worker (hosting `bench::echo` and `bench::tick`, exactly-once) and one bare
Faust worker (an echo agent asked with `agent.ask`, Faust's defaults: at-least-once) on the same
broker, then alternates rounds between them so both see the same machine load:
  - round trip: CALLS sequential calls, each awaiting its result (p50, p99);
  - fire and forget: TICKS calls without waiting, until the worker has run them all (calls/s).
Targets (issue 4): round trip p50 <= 5 ms, p99 <= 25 ms, and within 1.2x of bare Faust's.

    python benchmarks/invocations_vs_faust_ask.py [--calls 300] [--ticks 3000] [--rounds 5]

Uses KAFKA_BOOTSTRAP_SERVERS, else the local broker on 127.0.0.1:9092 (started here if none runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from iii_kafka.processors.admin import ensure_topics
from iii_kafka.processors.broker import BrokerConfig, LocalBroker, broker_answers
from iii_kafka.processors.functions import TriggerAction
from iii_kafka.processors.functions.blocking import BlockingCaller
from iii_kafka.processors.schema_store import schema_topic_client
from iii_kafka.processors.settings import Settings
from iii_kafka.processors.workers import WorkerProcess
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.topics import TopicSpec

HERE = Path(__file__).resolve().parent
TARGET_P50_MS, TARGET_P99_MS, TARGET_RATIO = 5.0, 25.0, 1.2


def say(line: str) -> None:
    print(f"[bench] {line}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def iii_round(caller: BlockingCaller, calls: int, ticks: int) -> dict:
    latencies = []
    for i in range(calls):
        started = time.perf_counter()
        caller.trigger("bench::echo", {"i": i})
        latencies.append((time.perf_counter() - started) * 1000)
    before = caller.trigger("bench::ticks")
    started = time.perf_counter()

    async def fire() -> None:
        pending = []
        for i in range(ticks):
            pending.append(caller.caller.trigger("bench::tick", {"i": i}, TriggerAction.Void()))
            if len(pending) == 500:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)

    caller._run(fire())
    while caller.trigger("bench::ticks") - before < ticks:
        time.sleep(0.005)
    return {"latencies_ms": latencies, "ticks_per_s": ticks / (time.perf_counter() - started)}


def faust_round(directory: Path, number: int, timeout: float = 300.0) -> dict:
    (directory / f"go-{number}").touch()
    result = directory / f"faust-{number}.json"
    deadline = time.monotonic() + timeout
    while not result.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Faust worker did not finish round {number}; see {directory}/faust.log")
        time.sleep(0.05)
    return json.loads(result.read_text())


def summary(rounds: list[dict]) -> dict:
    return {"p50_ms": statistics.median(percentile(r["latencies_ms"], 0.5) for r in rounds),
            "p99_ms": statistics.median(percentile(r["latencies_ms"], 0.99) for r in rounds),
            "ticks_per_s": statistics.median(r["ticks_per_s"] for r in rounds)}


def start_faust(directory: Path, settings: Settings, app_id: str, calls: int,
                ticks: int) -> subprocess.Popen:
    ensure_topics(settings.bootstrap_servers,
                  [TopicSpec(f"{app_id}.echo", 4), TopicSpec(f"{app_id}.tick", 4)])
    env = {**os.environ, "BENCH_DIR": str(directory), "BENCH_APP": app_id, "BENCH_CALLS": str(calls),
           "BENCH_TICKS": str(ticks), "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    log = open(directory / "faust.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "faust", "-A", "faust_ask_app", "--loop", "uvloop",
                                "worker", "--without-web", "-l", "info"], cwd=directory, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while b"[^Worker]: Ready" not in (directory / "faust.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Faust worker did not start; see {directory}/faust.log")
        time.sleep(0.2)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="round trips per round (default 300)")
    parser.add_argument("--ticks", type=int, default=3000,
                        help="fire-and-forget calls per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side (default 5)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "invocations.json")
    args = parser.parse_args()

    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="iii-bench-"))
    broker = None
    if not broker_answers(settings.bootstrap_servers):
        if not settings.bootstrap_is_embedded_default:
            raise SystemExit(f"no broker answers on KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers}")
        say(f"starting a local broker in {work / 'broker'}")
        broker = LocalBroker(BrokerConfig(data_dir=work / "broker"), 90).start()
    suffix = uuid.uuid4().hex[:6]
    iii_env = {"IIIKAFKA_APP_ID": f"bench-{suffix}", "IIIKAFKA_NAMESPACE": f"bench-{suffix}",
               "IIIKAFKA_SERVICES": "bench_services", "IIIKAFKA_DATA_DIR": str(work / "iii"),
               "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    worker = faust = caller = None
    try:
        say("starting the iii-kafka worker and the bare Faust worker")
        worker = WorkerProcess(work / "iii.log", env=iii_env).start()
        faust = start_faust(work, settings, f"faust-{suffix}", args.calls, args.ticks)
        worker.wait_ready()
        store = schema_topic_client(settings)
        caller = BlockingCaller(Settings.from_env({**os.environ, **iii_env}), AvroCodec(store=store))
        while "bench::echo" not in {f["function_id"] for f in caller.list_functions()}:
            time.sleep(0.2)
        say("warming up")
        iii_round(caller, 100, 100)
        faust_round(work, 0)
        iii_rounds, faust_rounds = [], []
        for number in range(1, args.rounds + 1):
            iii_rounds.append(iii_round(caller, args.calls, args.ticks))
            faust_rounds.append(faust_round(work, number))
            i, f = summary(iii_rounds[-1:]), summary(faust_rounds[-1:])
            say(f"round {number}/{args.rounds}: iii-kafka p50 {i['p50_ms']:.2f} p99 {i['p99_ms']:.2f} ms "
                f"{i['ticks_per_s']:.0f}/s | Faust ask p50 {f['p50_ms']:.2f} p99 {f['p99_ms']:.2f} ms "
                f"{f['ticks_per_s']:.0f}/s")
    finally:
        if caller is not None:
            caller.close()
        if worker is not None:
            worker.stop()
        if faust is not None:
            faust.terminate()
            try:
                faust.wait(30)
            except subprocess.TimeoutExpired:
                faust.kill()
        if broker is not None:
            broker.stop()

    ours, theirs = summary(iii_rounds), summary(faust_rounds)
    ratio_p50, ratio_p99 = ours["p50_ms"] / theirs["p50_ms"], ours["p99_ms"] / theirs["p99_ms"]
    print()
    print(f"{'':28}{'iii-kafka (exactly-once)':>26}{'Faust agent.ask (ALO)':>24}{'ratio':>8}")
    print(f"{'round trip p50 (ms)':28}{ours['p50_ms']:>26.2f}{theirs['p50_ms']:>24.2f}{ratio_p50:>8.2f}")
    print(f"{'round trip p99 (ms)':28}{ours['p99_ms']:>26.2f}{theirs['p99_ms']:>24.2f}{ratio_p99:>8.2f}")
    print(f"{'fire-and-forget (calls/s)':28}{ours['ticks_per_s']:>26.0f}{theirs['ticks_per_s']:>24.0f}"
          f"{ours['ticks_per_s'] / theirs['ticks_per_s']:>8.2f}")
    verdict = {"p50 <= 5 ms": ours["p50_ms"] <= TARGET_P50_MS,
               "p99 <= 25 ms": ours["p99_ms"] <= TARGET_P99_MS,
               "p50 within 1.2x of Faust": ratio_p50 <= TARGET_RATIO}
    print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in verdict.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "invocations_vs_faust_ask",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "parameters": vars(args) | {"out": str(args.out)}, "iii_kafka": ours, "faust_ask": theirs,
        "ratio_p50": ratio_p50, "ratio_p99": ratio_p99, "targets": verdict,
        "rounds": {"iii_kafka": [summary([r]) for r in iii_rounds],
                   "faust_ask": [summary([r]) for r in faust_rounds]},
    }, indent=2) + "\n")
    say(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
