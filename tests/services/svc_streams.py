"""Test service: `stream` triggers on one group of the `chat` stream, and on the whole stream."""

import os

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


def _effect(ctx, fn: str, message) -> None:
    event = message["event"]
    kind = event["event"]["type"] if event["type"] == "event" else event["type"]
    ctx.send(
        EFFECTS,
        ctx.invocation_id,
        {
            "fn": fn,
            "group": message["groupId"],
            "id": message["id"],
            "type": kind,
            "stream": message["streamName"],
        },
    )


@functions.function("chat::on_room")
async def on_room(message, ctx):
    _effect(ctx, "on_room", message)


@functions.function("chat::on_any")
async def on_any(message, ctx):
    _effect(ctx, "on_any", message)


@functions.function("chat::not_typing")
async def not_typing(message):
    return message["event"]["type"] != "event" or message["event"]["event"]["type"] != "typing"


functions.register_trigger("stream", "chat::on_room", {"stream_name": "chat", "group_id": "room-1"})
functions.register_trigger(
    "stream", "chat::on_any", {"stream_name": "chat", "condition_function_id": "chat::not_typing"}
)
