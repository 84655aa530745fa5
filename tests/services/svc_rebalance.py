"""Test service: one function whose every completed run writes one effect (tests/test_rebalance.py).

Each run takes a little while, so a rebalance finds invocations in flight."""

import asyncio
import os
import random

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


@functions.function("rb::work")
async def work(data, ctx):
    await asyncio.sleep(random.uniform(0.0, data.get("max_sleep", 0.3)))
    ctx.send(EFFECTS, data["id"], {"id": data["id"], "invocation_id": ctx.invocation_id,
                                   "pid": os.getpid(), "attempt": ctx.attempt})
    return {"done": data["id"]}
