"""Functions the invocation benchmark calls (loaded by the benchmark's iii-kafka worker)."""

from iii_kafka.processors.functions import functions

_ticks = {"n": 0}


@functions.function("bench::echo", description="returns its payload")
async def echo(data):
    return data


@functions.function("bench::tick", description="counts fire-and-forget calls")
async def tick(data):
    _ticks["n"] += 1


@functions.function("bench::ticks", description="how many ticks this worker ran")
async def ticks(data):
    return _ticks["n"]
