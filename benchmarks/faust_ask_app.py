"""The baseline: a bare Faust app (no iii-kafka) with an echo agent, asked by a task in the same
worker, in rounds the benchmark starts by writing `<dir>/go-<round>` and reads from
`<dir>/faust-<round>.json`. Faust's defaults (at-least-once); no transactions.

    BENCH_DIR=... BENCH_APP=... KAFKA_BOOTSTRAP_SERVERS=... faust -A faust_ask_app worker --without-web
"""

import asyncio
import json
import os
import time
from pathlib import Path

import faust

DIR = Path(os.environ["BENCH_DIR"])
CALLS = int(os.environ.get("BENCH_CALLS", "300"))
TICKS = int(os.environ.get("BENCH_TICKS", "5000"))
SERVERS = os.environ["KAFKA_BOOTSTRAP_SERVERS"].split(",")

app = faust.App(os.environ["BENCH_APP"], broker=";".join(f"kafka://{s}" for s in SERVERS),
                store="memory://", topic_partitions=4, broker_session_timeout=6,
                web_enabled=False, consumer_auto_offset_reset="latest", reply_create_topic=True)
requests = app.topic(f"{app.conf.id}.echo", partitions=4)
ticks_topic = app.topic(f"{app.conf.id}.tick", partitions=4)
ticked = {"n": 0}


@app.agent(requests)
async def echo(stream):
    async for value in stream:
        yield value


@app.agent(ticks_topic)
async def tick(stream):
    async for _ in stream:
        ticked["n"] += 1


@app.task
async def rounds():
    round_number = 0
    while True:
        go = DIR / f"go-{round_number}"
        while not go.exists():
            await asyncio.sleep(0.05)
        latencies = []
        for i in range(CALLS):
            started = time.perf_counter()
            await echo.ask({"i": i})
            latencies.append((time.perf_counter() - started) * 1000)
        before, started = ticked["n"], time.perf_counter()
        for i in range(TICKS):
            await tick.send(value={"i": i})
        while ticked["n"] - before < TICKS:
            await asyncio.sleep(0.005)
        rate = TICKS / (time.perf_counter() - started)
        out = DIR / f"faust-{round_number}.json"
        out.with_suffix(".tmp").write_text(json.dumps({"latencies_ms": latencies, "ticks_per_s": rate}))
        out.with_suffix(".tmp").rename(out)
        round_number += 1
