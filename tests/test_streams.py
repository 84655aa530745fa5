"""Streams against the real broker with worker processes: iii's stream functions and results;
live subscribers get a group's create / update / delete / event messages in order; `stream`
triggers fire once per change (with two hosts of the binding), filtered by group and condition."""

from __future__ import annotations

import asyncio
import collections

import pytest
from iii_kafka.processors.functions import InvocationError
from iii_kafka.processors.functions.caller import Caller
from iii_kafka.processors.settings import Settings
from iii_kafka.schemas import AvroCodec
from kafka_helpers import read_topic, wait_for_functions

pytestmark = pytest.mark.kafka

READER = AvroCodec()
ROOM = {"stream_name": "chat", "group_id": "room-1"}


async def _collect(queue: asyncio.Queue, count: int, timeout: float = 60.0) -> list[dict]:
    return [await asyncio.wait_for(queue.get(), timeout) for _ in range(count)]


def test_streams_deliver_in_order_to_subscribers_and_triggers(
    start_app, function_caller, worker_env, effects_topic, kafka_bootstrap_servers
):
    start_app("chat", "svc_streams", name="s1")
    start_app("chat", "svc_streams", name="s2")  # two hosts of each binding: each fires once
    wait_for_functions(function_caller, "chat::on_room", "state::set")

    async def scenario() -> tuple[list[dict], list[dict], dict]:
        async with Caller(Settings.from_env(worker_env), AvroCodec()) as caller:
            async with caller.streams.subscribe("chat", "room-1") as room:
                results = {
                    "set": await caller.trigger(
                        "stream::set", {**ROOM, "item_id": "m1", "data": {"text": "hi"}}
                    ),
                    "set2": await caller.trigger("stream::set", {**ROOM, "item_id": "m2", "data": {"n": 0}}),
                    "update": await caller.trigger(
                        "stream::update",
                        {**ROOM, "item_id": "m2", "ops": [{"type": "increment", "path": "n", "by": 5}]},
                    ),
                    "send": await caller.trigger(
                        "stream::send", {**ROOM, "type": "typing", "data": {"who": "ann"}}
                    ),
                    "other": await caller.trigger(
                        "stream::set",
                        {"stream_name": "chat", "group_id": "room-2", "item_id": "x", "data": 1},
                    ),
                    "get": await caller.trigger("stream::get", {**ROOM, "item_id": "m1"}),
                    "missing": await caller.trigger("stream::get", {**ROOM, "item_id": "nope"}),
                    "list": await caller.trigger("stream::list", ROOM),
                    "groups": await caller.trigger("stream::list_groups", {"stream_name": "chat"}),
                    "delete": await caller.trigger("stream::delete", {**ROOM, "item_id": "m1"}),
                }
                first = await _collect(room, 5)
                # order under concurrency: 60 increments on 3 items, sent at once
                await asyncio.gather(
                    *(
                        caller.trigger(
                            "stream::update",
                            {
                                **ROOM,
                                "item_id": f"c{i % 3}",
                                "ops": [{"type": "increment", "path": "n", "by": 1}],
                            },
                        )
                        for i in range(60)
                    )
                )
                counted = await _collect(room, 60)
        return first, counted, results

    first, counted, results = asyncio.run(scenario())
    assert results["set"] == {"old_value": None, "new_value": {"text": "hi"}}
    assert results["update"] == {"old_value": {"n": 0}, "new_value": {"n": 5}}
    assert results["send"] is None and results["missing"] is None
    assert results["get"] == {"text": "hi"}  # iii: the value itself
    assert sorted(results["list"], key=str) == sorted([{"text": "hi"}, {"n": 5}], key=str)
    assert results["groups"] == ["room-1", "room-2"]
    assert results["delete"] == {"old_value": {"text": "hi"}}

    # the subscriber: room-1 only, in the order the changes and the event happened, iii's shape
    assert [(m["id"], m["event"]["type"]) for m in first] == [
        ("m1", "create"),
        ("m2", "create"),
        ("m2", "update"),
        (None, "event"),
        ("m1", "delete"),
    ]
    assert first[2]["event"]["data"] == {"n": 5} and first[4]["event"]["data"] == {"text": "hi"}
    assert first[3]["event"] == {"type": "event", "event": {"type": "typing", "data": {"who": "ann"}}}
    assert all(
        m["type"] == "stream" and m["streamName"] == "chat" and m["groupId"] == "room-1" for m in first
    )
    per_item = collections.defaultdict(list)
    for message in counted:
        per_item[message["id"]].append(message["event"]["data"]["n"])
    assert per_item == {f"c{i}": list(range(1, 21)) for i in range(3)}  # each item's changes in order

    # triggers: on_room fires for room-1 (5 + 60), on_any for every group except typing events
    expected = {"on_room": 5 + 60, "on_any": 5 + 60}  # on_any: -1 typing, +1 room-2
    effects = [
        READER.decode(m.value())
        for m in read_topic(kafka_bootstrap_servers, effects_topic, sum(expected.values()), timeout=90)
    ]
    by_fn = collections.Counter(e["fn"] for e in effects)
    assert by_fn == expected
    assert {e["group"] for e in effects if e["fn"] == "on_room"} == {"room-1"}
    assert ("room-2", "create") in {(e["group"], e["type"]) for e in effects if e["fn"] == "on_any"}
    assert "typing" not in {e["type"] for e in effects if e["fn"] == "on_any"}  # the condition

    for payload, code, words in [
        (
            {"stream_name": "a::b", "group_id": "g", "item_id": "i"},
            "deserialization_error",
            "must not contain",
        ),
        ({"stream_name": "chat", "item_id": "i"}, "deserialization_error", "group_id"),
        ({**ROOM, "item_id": "i", "colour": "red"}, "deserialization_error", "unknown field(s) colour"),
    ]:
        with pytest.raises(InvocationError) as refused:
            function_caller.trigger("stream::get", payload)
        assert refused.value.code == code and words in refused.value.message, refused.value
