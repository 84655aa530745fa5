"""Function ids are iii's `service::name`, validated; the routing topics follow Kafka's rules."""

import pytest
from iii_kafka.topology.functions import (
    FunctionId,
    FunctionIdError,
    catalog_topic,
    invocation_topic,
    reply_topic,
)


@pytest.mark.parametrize("value, service, name", [
    ("math::add", "math", "add"),
    ("engine::functions::list", "engine::functions", "list"),
    ("api.v2::get-user_by_id", "api.v2", "get-user_by_id"),
])
def test_service_and_name(value, service, name):
    function = FunctionId(value)
    assert (function.service, function.name, str(function)) == (service, name, value)


@pytest.mark.parametrize("value", ["add", "math::", "::add", "math:add", "math::a b", "math:::add", "",
                                   "math::add\n", "m" * 260 + "::add", None])
def test_ids_that_are_not_service_name_are_refused_by_name(value):
    with pytest.raises(FunctionIdError, match="function id"):
        FunctionId(value)


def test_routing_topics():
    assert invocation_topic("math-worker", 8).name == "math-worker.invocations"
    assert invocation_topic("math-worker", 8).config["retention.ms"] == "-1"
    assert catalog_topic("iii").config["cleanup.policy"] == "compact"
    reply = reply_topic("iii", "c0ffee")
    assert (reply.name, reply.partitions, reply.config["retention.ms"]) == ("iii.reply.c0ffee", 1, "3600000")
