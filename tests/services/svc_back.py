"""Test service: the back app (`back::*`), called by the front app from another process."""

import asyncio
import os

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


@functions.function("back::square")
async def square(data, ctx):
    return {"square": data["x"] * data["x"], "trace_id": ctx.trace_id, "pid": os.getpid()}


@functions.function("back::add", request_format={
    "type": "record", "name": "AddRequest", "namespace": "test.back",
    "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "long"}]})
async def add(data):
    return {"sum": data["a"] + data["b"]}


@functions.function("back::fail")
def fail(data):
    raise KeyError(f"no such thing as {data['thing']}")


@functions.function("back::hang", timeout_ms=600_000)
async def hang(data):
    await asyncio.sleep(3600)


@functions.function("back::count")
async def count(data, ctx):
    """One effect per run, written with the result (exactly once per completed invocation)."""
    ctx.send(EFFECTS, data["key"], {"invocation_id": ctx.invocation_id, "pid": os.getpid()})
    return {"counted": data["key"]}


@functions.function("back::too_big")
async def too_big(data):
    return {"blob": "x" * 2_000_000}


@functions.function("back::not_a_value")
async def not_a_value(data):
    return {"when": object()}
