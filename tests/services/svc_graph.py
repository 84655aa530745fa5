"""Test service: a durable graph whose steps leave countable effects; step `slow` sleeps."""

import asyncio
import os

from iii_kafka.processors.functions import functions, register_graph
from iii_kafka.topology.graphs import Graph, Parallel, Step

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


def _effect(ctx, step, data):
    ctx.send(EFFECTS, f"{data['input']['run']}/{step}", {"step": step, "pid": os.getpid(),
                                                         "invocation_id": ctx.invocation_id})


@functions.function("flow::first")
async def first(data, ctx):
    _effect(ctx, "first", data)
    return {"n": data["input"]["n"] + 1}


@functions.function("flow::left")
async def left(data, ctx):
    _effect(ctx, "left", data)
    return {"n": data["steps"]["first"]["n"] * 2}


@functions.function("flow::slow", timeout_ms=120_000)
async def slow(data, ctx):
    await asyncio.sleep(data["input"].get("slow_seconds", 0))
    _effect(ctx, "slow", data)
    return {"n": data["steps"]["first"]["n"] * 3}


@functions.function("flow::never")
async def never(data, ctx):
    _effect(ctx, "never", data)
    return {}


@functions.function("flow::last")
async def last(data, ctx):
    _effect(ctx, "last", data)
    return {"total": data["steps"]["left"]["n"] + data["steps"]["slow"]["n"]}


@functions.function("flow::is_big")
def is_big(data):
    return data["input"]["n"] > 1000


register_graph(functions, Graph("flow::run", [
    Step("first", "flow::first"),
    Parallel(Step("left", "flow::left"), Step("slow", "flow::slow")),
    Step("never", "flow::never", when="flow::is_big"),
    Step("last", "flow::last"),
]))
