"""Pure parts of streams and trigger bindings: stream scopes, a group's partition, iii's stream
messages, and each trigger type's config checks."""

from __future__ import annotations

import pytest
from iii_kafka.processors.state.triggers import stream_binding_matches
from iii_kafka.state.keys import state_key, state_partition
from iii_kafka.state.streams import (
    StreamNameError,
    item_event,
    parse_stream_scope,
    stream_message,
    stream_scope,
)
from iii_kafka.topology.triggers import TriggerConfigError, check_trigger_config


def test_a_stream_group_is_a_scope_and_parses_back() -> None:
    scope = stream_scope("chat", "room::1")  # a group id may hold the separator; a name may not
    assert scope == "stream::chat::room::1"
    assert parse_stream_scope(scope) == ("chat", "room::1")
    assert parse_stream_scope("mem") is None and parse_stream_scope("stream::only") is None
    with pytest.raises(StreamNameError, match="must not contain"):
        stream_scope("a::b", "g")


def test_a_groups_items_share_one_partition_and_other_keys_spread() -> None:
    scope = stream_scope("chat", "room-1")
    assert len({state_partition(state_key(scope, f"item-{i}"), 8) for i in range(200)}) == 1
    assert len({state_partition(state_key("mem", f"item-{i}"), 8) for i in range(200)}) == 8
    assert len({state_partition(state_key(stream_scope("chat", f"g{i}"), "x"), 8) for i in range(200)}) == 8


def test_stream_messages_have_iiis_shape() -> None:
    change = {"event_type": "deleted", "old_value": {"a": 1}, "new_value": None}
    assert item_event(change) == ("delete", {"a": 1})  # a delete carries the old value
    assert item_event({"event_type": "updated", "old_value": 1, "new_value": 2}) == ("update", 2)
    assert stream_message("s", "g", "i", "create", 5, 10) == {
        "type": "stream", "timestamp": 10, "streamName": "s", "groupId": "g", "id": "i",
        "event": {"type": "create", "data": 5}}
    assert stream_message("s", "g", None, "event", {"x": 1}, 10, "typing")["event"] == \
        {"type": "event", "event": {"type": "typing", "data": {"x": 1}}}


def test_stream_bindings_match_by_name_then_optional_group_and_item() -> None:
    assert stream_binding_matches({"stream_name": "s"}, "s", "g", "i")
    assert stream_binding_matches({"stream_name": "s", "group_id": "g"}, "s", "g", None)
    assert not stream_binding_matches({"stream_name": "s", "group_id": "h"}, "s", "g", "i")
    assert not stream_binding_matches({"stream_name": "s", "item_id": "j"}, "s", "g", "i")
    assert not stream_binding_matches({"stream_name": "t"}, "s", "g", "i")


@pytest.mark.parametrize(("trigger_type", "config", "words"), [
    ("http", {}, "api_path is required"),
    ("http", {"api_path": "a", "http_method": "FETCH"}, "http_method 'FETCH' is not one of"),
    ("http", {"api_path": "users/{id}"}, "write path parameters as :name"),
    ("cron", {"expression": "* * * * *"}, "has 5 field(s)"),
    ("subscribe", {"topic": ""}, "topic must be a non-empty string"),
    ("durable:subscriber", {"topic": "t", "max_retries": -1}, "max_retries must be an integer >= 0"),
    ("stream", {"group_id": "g"}, "stream_name is required"),
    ("state", {"scope": "s", "colour": 1}, "unknown field(s) colour"),
    ("webhook", {}, "trigger type 'webhook' is not known"),
])
def test_a_binding_that_cannot_work_is_refused_naming_the_field(trigger_type, config, words) -> None:
    with pytest.raises(TriggerConfigError, match=words.replace("(", r"\(").replace(")", r"\)")
                       .replace("{", r"\{").replace("}", r"\}")):
        check_trigger_config(trigger_type, config)


def test_binding_configs_are_normalized() -> None:
    assert check_trigger_config("http", {"api_path": "users/:id/", "http_method": "post"}) == \
        {"api_path": "/users/:id", "http_method": "POST"}
    assert check_trigger_config("stream", {"stream_name": "s", "group_id": ""}) == {"stream_name": "s"}
