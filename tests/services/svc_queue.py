"""Test service: queued functions that fail on purpose, and a FIFO queue."""

import asyncio
import json
import os
import random
import time
from pathlib import Path

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")

functions.configure_queue("retrying", max_retries=3, backoff_ms=200)
functions.configure_queue("short", max_retries=1, backoff_ms=50)
functions.configure_queue("ordered", type="fifo", message_group_field="group", max_retries=0)


def _note(path, **fields):
    with open(path, "a") as out:
        out.write(json.dumps({"at": time.time(), "pid": os.getpid(), **fields}) + "\n")


@functions.function("jobs::flaky")
async def flaky(data, ctx):
    """Fails until attempt `succeed_on`, noting every attempt in the file `log`."""
    _note(data["log"], attempt=ctx.attempt)
    if ctx.attempt < data["succeed_on"]:
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    ctx.send(EFFECTS, data["id"], {"attempt": ctx.attempt})
    return {"attempt": ctx.attempt}


@functions.function("jobs::needs_file")
async def needs_file(data, ctx):
    """Fails while the file `flag` does not exist."""
    if not Path(data["flag"]).exists():
        raise FileNotFoundError(f"{data['flag']} is missing")
    ctx.send(EFFECTS, data["id"], {"done": True})
    return {"ok": True}


@functions.function("jobs::ordered")
async def ordered(data, ctx):
    await asyncio.sleep(random.uniform(0, 0.02))
    ctx.send(EFFECTS, data["group"], {"group": data["group"], "seq": data["seq"]})
    return {}
