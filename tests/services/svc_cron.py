"""Test service: cron triggers every second. `TEST_CRON=plain` (default): `clock::tick` fires every
tick; `TEST_CRON=condition`: `clock::even_tick` with a condition that is false for odd seconds."""

import os

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")
MODE = os.environ.get("TEST_CRON", "plain")


def _second(event: dict) -> int:
    return int(event["scheduled_time"][17:19])  # 2026-12-01T08:49:53.000Z


@functions.function("clock::tick")
async def tick(event, ctx):
    """One effect per run, keyed by the tick: duplicates and gaps show in the effects topic."""
    ctx.send(EFFECTS, event["scheduled_time"], {**event, "invocation_id": ctx.invocation_id,
                                                "pid": os.getpid()})


@functions.function("clock::is_even")
async def is_even(event):
    return _second(event) % 2 == 0


if MODE == "condition":
    functions.register_trigger("cron", "clock::tick", {"expression": "* * * * * *",
                                                       "condition_function_id": "clock::is_even"})
else:
    functions.register_trigger("cron", "clock::tick", {"expression": "* * * * * *"})
