"""The pure apply step of KV state, against iii's semantics (docs/iii-state-semantics.md)."""

from __future__ import annotations

import pytest
from iii_kafka.state.apply import MISSING, StateInputError, StateOpError, apply_update


def op(kind: str, path=None, **fields):  # noqa: ANN001, ANN201
    return {"type": kind, **({} if path is None else {"path": path}), **fields}


def test_set_replaces_the_root_or_one_key_and_creates_a_new_key_from_an_object():
    assert apply_update(MISSING, [op("set", "a", value=1)]) == {"a": 1}
    assert apply_update({"a": 1, "b": 2}, [op("set", "a", value={"x": [1]})]) == {"a": {"x": [1]}, "b": 2}
    assert apply_update({"a": 1}, [op("set", "", value=[1, 2])]) == [1, 2]
    assert apply_update({"a": 1}, [op("set", "")]) is None
    # a dot is part of the key, not a path separator
    assert apply_update(MISSING, [op("set", "user.name", value="ann")]) == {"user.name": "ann"}


def test_merge_is_shallow_and_creates_the_levels_it_needs():
    assert apply_update({"a": 1, "b": {"c": 1}}, [op("merge", value={"b": {"d": 2}, "e": 3})]) == \
        {"a": 1, "b": {"d": 2}, "e": 3}
    assert apply_update({"p": {"q": {"y": 0}}}, [op("merge", ["p", "q"], value={"x": 1})]) == \
        {"p": {"q": {"y": 0, "x": 1}}}
    assert apply_update(MISSING, [op("merge", ["a", "b"], value={"x": 1})]) == {"a": {"b": {"x": 1}}}


def test_merge_into_a_non_object_is_refused_instead_of_replacing_it():
    # iii ignores a root merge on a non-object and replaces non-objects on a path with {}
    with pytest.raises(StateOpError, match="merge.target_not_object"):
        apply_update([1], [op("merge", value={"x": 1})])
    with pytest.raises(StateOpError) as error:
        apply_update({"p": 5}, [op("merge", ["p", "q"], value={"x": 1})])
    assert error.value.code == "merge.target_not_object"
    assert "Cannot merge at path 'p': target is number, expected object." in str(error.value)


def test_increment_and_decrement_start_a_missing_field_at_by_and_refuse_non_numbers():
    assert apply_update(MISSING, [op("increment", "n", by=1)]) == {"n": 1}
    assert apply_update(MISSING, [op("decrement", "n", by=3)]) == {"n": -3}
    assert apply_update({"n": 1.5}, [op("increment", "n", by=2)]) == {"n": 3.5}
    assert apply_update(7, [op("decrement", "", by=2)]) == 5
    assert apply_update(MISSING, [op("increment", "", by=4)]) == 4
    with pytest.raises(StateOpError) as error:
        apply_update({"n": "ten"}, [op("increment", "n", by=1)])
    assert (error.value.op_index, error.value.code) == (0, "increment.not_number")
    assert "Expected number at path 'n', got string." in str(error.value)
    with pytest.raises(StateOpError, match="decrement.not_number"):
        apply_update({"n": None}, [op("decrement", "n", by=0)])
    with pytest.raises(StateOpError, match="increment.target_not_object"):
        apply_update([1], [op("increment", "n", by=1)])


def test_append_pushes_one_element_joins_strings_and_starts_arrays():
    assert apply_update({"l": [1]}, [op("append", "l", value=[2, 3])]) == {"l": [1, [2, 3]]}
    assert apply_update({"s": "ab"}, [op("append", "s", value="c")]) == {"s": "abc"}
    assert apply_update(MISSING, [op("append", "s", value="x")]) == {"s": "x"}
    assert apply_update(MISSING, [op("append", "l", value=1)]) == {"l": [1]}
    assert apply_update(MISSING, [op("append", ["a", "b"], value="x")]) == {"a": {"b": ["x"]}}
    assert apply_update(MISSING, [op("append", value="hello")]) == "hello"
    with pytest.raises(StateOpError, match="append.type_mismatch"):
        apply_update({"n": 1}, [op("append", "n", value=2)])
    with pytest.raises(StateOpError, match="append.type_mismatch"):
        apply_update({"s": "a"}, [op("append", "s", value=1)])


def test_remove_deletes_a_key_or_nulls_the_root():
    assert apply_update({"a": 1, "b": 2}, [op("remove", "a")]) == {"b": 2}
    assert apply_update({"b": 2}, [op("remove", "zzz")]) == {"b": 2}
    assert apply_update({"a": 1}, [op("remove", "")]) is None
    with pytest.raises(StateOpError, match="remove.target_not_object"):
        apply_update("text", [op("remove", "a")])


def test_an_update_is_all_or_nothing_and_never_changes_its_input():
    old = {"count": 1, "tags": ["a"]}
    ops = [op("increment", "count", by=1), op("append", "tags", value="b"), op("merge", "count", value=1)]
    with pytest.raises(StateOpError) as error:
        apply_update(old, ops)
    assert (error.value.op_index, error.value.code) == (2, "merge.value.not_an_object")
    assert old == {"count": 1, "tags": ["a"]}
    new = apply_update(old, ops[:2])
    assert new == {"count": 2, "tags": ["a", "b"]} and old == {"count": 1, "tags": ["a"]}


def test_paths_are_validated_as_iii_does():
    with pytest.raises(StateOpError, match="set.path.proto_polluted"):
        apply_update({}, [op("set", "__proto__", value=1)])
    with pytest.raises(StateOpError, match="merge.path.too_deep"):
        apply_update({}, [op("merge", ["k"] * 33, value={})])
    with pytest.raises(StateOpError, match="append.path.empty_segment"):
        apply_update({}, [op("append", ["a", ""], value=1)])
    with pytest.raises(StateOpError, match="merge.value.proto_polluted"):
        apply_update({}, [op("merge", value={"constructor": 1})])


@pytest.mark.parametrize("ops, problem", [
    ({"type": "set"}, "ops must be a list"),
    ([{"type": "explode", "path": "a"}], "unknown type 'explode'"),
    ([{"type": "set", "value": 1}], "`path` is required"),
    ([{"type": "increment", "path": "n"}], "`by` is required"),
    ([{"type": "increment", "path": "n", "by": 1.5}], "`by` must be a 64-bit integer"),
    ([{"type": "increment", "path": "n", "by": True}], "`by` must be a 64-bit integer"),
    ([{"type": "set", "path": ["a"], "value": 1}], "`path` must be a key"),
    (["set a 1"], "is not an object"),
])
def test_malformed_ops_are_refused_before_anything_applies(ops, problem):
    with pytest.raises(StateInputError, match=problem) as error:
        apply_update({"a": 0}, ops)
    assert error.value.code == "deserialization_error"


def test_ops_from_the_event_schema_are_validated_like_iii_ops():
    from iii_kafka.state.apply import apply_ops, parse_op_record

    parsed = [parse_op_record(0, "increment", ["n"], 2), parse_op_record(1, "merge", ["a", "b"], {"x": 1})]
    assert apply_ops({"n": 1}, parsed) == {"n": 3, "a": {"b": {"x": 1}}}
    with pytest.raises(StateInputError, match="must be a key"):
        parse_op_record(0, "set", ["a", "b"], 1)
    with pytest.raises(StateInputError, match="64-bit integer"):
        parse_op_record(0, "decrement", ["n"], "1")
    with pytest.raises(StateOpError, match="remove.path.proto_polluted"):
        parse_op_record(0, "remove", ["__proto__"], None)


def test_nested_values_are_copied_on_write_not_shared():
    old = {"a": {"b": {"c": 1}}, "l": [1]}
    new = apply_update(old, [op("merge", ["a", "b"], value={"d": 2}), op("append", "l", value=2)])
    assert new == {"a": {"b": {"c": 1, "d": 2}}, "l": [1, 2]}
    assert old == {"a": {"b": {"c": 1}}, "l": [1]}
