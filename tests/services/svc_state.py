"""Test service: handlers that use state, and a state trigger with a condition."""

import asyncio
import os

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


@functions.function("ledger::on_change")
async def on_change(event, ctx):
    """Fires for every change of scope `watched` whose condition holds; one effect per run."""
    ctx.send(EFFECTS, event["key"], {**event, "invocation_id": ctx.invocation_id})


@functions.function("ledger::wanted")
async def wanted(event):
    return not event["key"].startswith("skip")


functions.register_trigger("state", "ledger::on_change",
                           {"scope": "watched", "condition_function_id": "ledger::wanted"})


@functions.function("ledger::bump", timeout_ms=120_000)
async def bump(data, ctx):
    """Increments a counter, then waits: killed while waiting and run again, its increment must
    not be applied twice (the rerun's increment is answered with the change the first run made)."""
    changed = await ctx.state.update(data["scope"], data["key"],
                                     [{"type": "increment", "path": "n", "by": 1}])
    await asyncio.sleep(data.get("pause_s", 0))
    ctx.send(EFFECTS, data["key"], {"pid": os.getpid(), "n": changed["new_value"]["n"]})
    return changed
