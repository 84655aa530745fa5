"""Test service: pub/sub subscribers (two functions and a conditional one) and durable subscribers
(one that fails on purpose, and a second function on the same topic)."""

import os

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


def _effect(ctx, fn: str, data) -> None:
    ctx.send(EFFECTS, f"{fn}/{data.get('id')}", {"fn": fn, "id": data.get("id"), "pid": os.getpid(),
                                                  "attempt": ctx.attempt})


@functions.function("notes::on_news")
async def on_news(data, ctx):
    _effect(ctx, "on_news", data)


@functions.function("audit::on_news")
async def audit(data, ctx):
    _effect(ctx, "audit", data)


@functions.function("notes::is_loud")
async def is_loud(data):
    return bool(data.get("loud"))


@functions.function("notes::on_loud")
async def on_loud(data, ctx):
    _effect(ctx, "on_loud", data)


@functions.function("orders::ship")
async def ship(data, ctx):
    """Fails its first `fail_times` attempts; a poison order never succeeds."""
    if data.get("poison") or ctx.attempt <= data.get("fail_times", 0):
        raise RuntimeError(f"order {data.get('id')} fails attempt {ctx.attempt} on purpose")
    _effect(ctx, "ship", data)


@functions.function("billing::charge")
async def charge(data, ctx):
    _effect(ctx, "charge", data)


functions.register_trigger("subscribe", "notes::on_news", {"topic": "news"})
functions.register_trigger("subscribe", "audit::on_news", {"topic": "news"})
functions.register_trigger("subscribe", "notes::on_loud",
                           {"topic": "news", "condition_function_id": "notes::is_loud"})
functions.register_trigger("durable:subscriber", "orders::ship",
                           {"topic": "orders", "max_retries": 2, "backoff_ms": 100})
functions.register_trigger("durable:subscriber", "billing::charge", {"topic": "orders"})
