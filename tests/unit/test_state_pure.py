"""The pure parts of KV state: a command against an entry, keys, digests, the derived-view swap rule."""

from __future__ import annotations

import random
import zlib

import pytest
from iii_kafka.schemas import AvroCodec, Event
from iii_kafka.state.commands import NEW_KEY, Answer, Changed, Entry, Refused, entry_of, execute
from iii_kafka.state.derived import choose_active
from iii_kafka.state.digest import add_digests, digest_entries, format_digests
from iii_kafka.state.keys import StateKeyError, check_name, split_state_key, state_key, state_partition

CODEC = AvroCodec()


def command(function: str, ops: list | None = None, **fields) -> Event:  # noqa: ANN003
    return Event("iii.kafka.StateCommand", {"request_id": "r1", "function": function, "scope": "s",
                                            "key": "k", "ops": ops or [], "caller": None, "cause": "parent",
                                            "deadline_ms": None, "remember": True, "requested_at_ms": 1,
                                            **fields})


def run(cmd: Event, entry: Entry = NEW_KEY, max_bytes: int = 1_000_000):  # noqa: ANN201
    return execute(cmd, entry, 1234, CODEC.encode, max_bytes)


def test_a_set_creates_then_updates_with_exact_old_and_new_values_and_versions():
    created = run(command("set", [{"op": "set", "path": [], "value": {"a": 1}}]))
    assert isinstance(created, Changed)
    assert {k: created.event[k] for k in ("event_type", "version", "old_value", "new_value", "cause")} == \
        {"event_type": "created", "version": 1, "old_value": None, "new_value": {"a": 1}, "cause": "parent"}
    assert CODEC.decode(created.data) == created.event  # the bytes are the event
    updated = run(command("update", [{"op": "increment", "path": ["a"], "value": 2}]), created.entry)
    assert (updated.event["event_type"], updated.event["version"], updated.event["old_value"],
            updated.event["new_value"]) == ("updated", 2, {"a": 1}, {"a": 3})
    deleted = run(command("delete"), updated.entry)
    assert (deleted.event["event_type"], deleted.event["version"],
            deleted.event["new_value"]) == ("deleted", 3, None)
    assert not deleted.entry.exists and deleted.entry.version == 3  # the tombstone keeps the version
    again = run(command("set", [{"op": "set", "path": [], "value": 0}]), deleted.entry)
    assert (again.event["event_type"], again.event["version"]) == ("created", 4)


def test_reads_and_deletes_of_missing_keys_change_nothing():
    assert run(command("get")) == Answer(None)
    assert run(command("delete")) == Answer(None)
    stored = run(command("set", [{"op": "set", "path": [], "value": [1]}]))
    assert run(command("get"), entry_of(CODEC.decode(stored.data), stored.data)) == Answer([1])


@pytest.mark.parametrize("ops, code", [
    ([{"op": "merge", "path": [], "value": {"x": 1}}], "merge.target_not_object"),
    ([{"op": "increment", "path": ["s"], "value": 1}], "increment.not_number"),
    ([{"op": "increment", "path": ["n"], "value": "1"}], "deserialization_error"),
    ([{"op": "set", "path": ["a", "b"], "value": 1}], "deserialization_error"),
])
def test_an_update_that_cannot_apply_is_refused_whole(ops, code):
    entry = Entry(5, {"s": "text", "n": 1} if code != "merge.target_not_object" else 7)
    outcome = run(command("update", [{"op": "increment", "path": ["n"], "value": 1}, *ops]) if
                  code == "increment.not_number" else command("update", ops), entry)
    assert isinstance(outcome, Refused) and outcome.code == code, outcome


def test_a_change_over_the_size_limit_is_refused():
    outcome = run(command("set", [{"op": "set", "path": [], "value": "x" * 5000}]), max_bytes=4096)
    assert isinstance(outcome, Refused) and outcome.code == "VALUE_TOO_LARGE" and \
        "4096-byte" in outcome.message


def test_a_set_is_exactly_one_root_set():
    outcome = run(command("set", [{"op": "set", "path": ["a"], "value": 1}]))
    assert isinstance(outcome, Refused) and outcome.code == "deserialization_error"


def test_a_key_is_owned_by_the_partition_librdkafka_would_pick():
    # CRC-32 of the key bytes: what librdkafka's default partitioner picks for the same key (the
    # benchmark produces its backlog that way, and owners refuse commands on another partition)
    assert [state_partition(state_key("s", f"k{i}"), 4) for i in range(6)] == \
        [zlib.crc32(f"s\x00k{i}".encode()) % 4 for i in range(6)]
    assert len({state_partition(state_key("s", f"k{i}"), 4) for i in range(100)}) == 4


def test_state_keys_are_checked_and_round_trip():
    assert split_state_key(state_key("mem/ories", "a\x01b")) == ("mem/ories", "a\x01b")
    for bad, problem in [(None, "missing"), ("", "empty"), ("a\x00b", "NUL"), ("x" * 5000, "longer"),
                         (3, "must be a string")]:
        with pytest.raises(StateKeyError, match=problem):
            check_name("scope", bad)


def test_digests_do_not_depend_on_order_and_add_up_across_parts():
    entries = [("s", f"k{i}", i % 3 + 1, {"v": i, "t": [i, str(i)]}) for i in range(50)] + \
              [("t", "x", 1, None)]
    shuffled = random.Random(3).sample(entries, len(entries))
    assert digest_entries(entries) == digest_entries(shuffled)
    halves = [format_digests(digest_entries(entries[:20])), digest_entries(entries[20:])]
    assert format_digests(add_digests(halves)) == format_digests(digest_entries(entries))
    assert format_digests(digest_entries(entries))["s"]["keys"] == 50
    changed = [*entries[:-2], ("s", "k49", 9, {"v": 49, "t": [49, "49"]}), entries[-1]]  # another version
    assert digest_entries(changed)["s"] != digest_entries(entries)["s"]
    assert digest_entries([("s", "k", 1, {"a": 1, "b": 2})]) == \
        digest_entries([("s", "k", 1, {"b": 2, "a": 1})])


def test_the_newest_derived_view_version_takes_over_only_once_caught_up():
    ends = {0: 100, 1: 50}
    assert choose_active(None, 1, {1: {0: 99, 1: 50}}, ends) is None  # not at the end yet
    assert choose_active(None, 1, {1: {0: 100, 1: 50}}, ends) == 1
    assert choose_active(1, 2, {1: {0: 100, 1: 50}, 2: {0: 100, 1: 49}}, ends) == 1
    assert choose_active(1, 2, {1: {0: 100, 1: 50}, 2: {0: 100, 1: 50}}, ends) == 2
    assert choose_active(1, 2, {1: {0: 10}, 2: {0: 10, 1: 0}}, ends) == 2  # a frozen old version
    assert choose_active(2, 2, {2: {}}, ends) == 2
