"""Test service: the front app, composing the back app's functions (parallel, then sequential)."""

import asyncio
import os

from iii_kafka.processors.functions import functions


@functions.function("front::sum_of_squares")
async def sum_of_squares(data, ctx):
    a, b = await asyncio.gather(ctx.trigger("back::square", {"x": data["a"]}),
                                ctx.trigger("back::square", {"x": data["b"]}))
    total = await ctx.trigger("back::add", {"a": a["square"], "b": b["square"]})
    return {"result": total["sum"], "front_trace_id": ctx.trace_id, "front_pid": os.getpid(),
            "back_trace_ids": [a["trace_id"], b["trace_id"]], "back_pids": [a["pid"], b["pid"]]}


@functions.function("front::maybe")
async def maybe(data, ctx):
    """Conditional composition: a condition function decides whether the trigger fires."""
    if await ctx.trigger("front::is_even", {"n": data["n"]}):
        return {"fired": True, "square": (await ctx.trigger("back::square", {"x": data["n"]}))["square"]}
    return {"fired": False}


@functions.function("front::is_even")
def is_even(data):
    return data["n"] % 2 == 0
