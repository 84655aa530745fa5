"""The cron leader's pure parts: which ticks a round fires, the catch-up bound, new triggers that
start from now, iii's payload, stable invocation ids, the progress record, the setting, the topic."""

from datetime import datetime

import pytest
from iii_kafka.processors.cron.plan import (
    CATCH_UP_MS,
    IDLE_WAKE_MS,
    Plan,
    catch_up_ms_for,
    cron_invocation_id,
    plan_round,
    rfc3339,
    tick_payload,
    wait_s,
)
from iii_kafka.processors.cron.progress import progress_record
from iii_kafka.processors.cron.runtime import cron_enabled
from iii_kafka.processors.functions.bindings import Binding
from iii_kafka.processors.settings import SettingsError
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.cron_topic import cron_group, cron_topic, cron_transactional_id

NOW = 1_796_000_000_000  # 2026-11-30T00:53:20Z, on a whole second


def binding(expression: str = "* * * * * *", trigger_id: str = "cron:clock::tick:1",
            condition: str | None = None) -> Binding:
    return Binding(trigger_id, "cron", "clock::tick", {"expression": expression}, condition,
                   "app.invocations")


def test_a_new_trigger_starts_from_now_without_back_fill():
    plan = plan_round([binding()], {}, NOW + 400)
    [firing] = plan.firings
    assert firing.first and firing.ticks == [] and firing.last_tick_ms == NOW + 400
    assert plan.next_due_ms == NOW + 1000


def test_due_ticks_fire_once_and_progress_moves_to_the_last():
    b = binding()
    plan = plan_round([b], {b.id: NOW}, NOW + 3200)
    [firing] = plan.firings
    assert firing.ticks == [NOW + 1000, NOW + 2000, NOW + 3000] and firing.last_tick_ms == NOW + 3000
    assert firing.skipped_until_ms is None and not firing.first
    assert plan.next_due_ms == NOW + 4000
    # the next round, with that progress: nothing until the next tick, then only it
    assert plan_round([b], {b.id: NOW + 3000}, NOW + 3900).firings == []
    assert [f.ticks for f in plan_round([b], {b.id: NOW + 3000}, NOW + 4000).firings] == [[NOW + 4000]]


def test_a_tick_at_exactly_now_is_due():
    b = binding()
    assert [f.ticks for f in plan_round([b], {b.id: NOW - 1000}, NOW).firings] == [[NOW]]


def test_ticks_older_than_the_catch_up_bound_are_skipped():
    b = binding()
    now = NOW + 10 * 60_000  # ten minutes after the last fired tick (the cluster was down)
    [firing] = plan_round([b], {b.id: NOW}, now).firings
    assert firing.skipped_until_ms == now - CATCH_UP_MS
    assert firing.ticks[0] == now - CATCH_UP_MS + 1000 and firing.ticks[-1] == now
    assert len(firing.ticks) == CATCH_UP_MS // 1000


def test_a_skip_with_nothing_left_to_fire_still_moves_the_progress():
    b = binding("0 0 * * * *")  # hourly
    now = NOW + 2 * 3_600_000 + 30 * 60_000  # the last fired was 2.5 h ago; the last due one 30 min ago
    [firing] = plan_round([b], {b.id: NOW}, now).firings
    assert firing.ticks == [] and firing.skipped_until_ms == firing.last_tick_ms == now - CATCH_UP_MS


def test_a_late_round_inside_the_bound_catches_up_without_skipping():
    b = binding("0 0 * * * *")
    midnight = NOW - 3_200_000  # 2026-11-30T00:00:00Z; the last fired tick was 23:00, the round is 30 s late
    [firing] = plan_round([b], {b.id: midnight - 3_600_000}, midnight + 30_000).firings
    assert firing.ticks == [midnight] and firing.skipped_until_ms is None


def test_several_triggers_and_the_next_due_time():
    fast, slow = binding("*/2 * * * * *", "a"), binding("0 * * * * *", "b")
    plan = plan_round([fast, slow], {"a": NOW, "b": NOW}, NOW + 1000)
    assert plan.firings == [] and plan.next_due_ms == NOW + 2000
    assert wait_s(plan, NOW + 1000) == IDLE_WAKE_MS / 1000
    assert wait_s(plan, NOW + 1900) == pytest.approx(0.1)
    assert wait_s(plan, NOW + 2500) == 0.0
    assert wait_s(Plan(), NOW) == IDLE_WAKE_MS / 1000


def test_payload_is_iii_s_with_rfc3339_milliseconds_in_utc():
    payload = tick_payload("cron:clock::tick:1", NOW, NOW + 1234)
    assert payload == {"trigger": "cron", "job_id": "cron:clock::tick:1",
                       "scheduled_time": "2026-11-30T00:53:20.000Z",
                       "actual_time": "2026-11-30T00:53:21.234Z"}
    assert datetime.fromisoformat(payload["actual_time"]).timestamp() * 1000 == NOW + 1234
    assert rfc3339(7) == "1970-01-01T00:00:00.007Z"


def test_invocation_ids_name_the_tick():
    assert cron_invocation_id("t", NOW) == cron_invocation_id("t", NOW)
    assert len({cron_invocation_id("t", NOW), cron_invocation_id("t", NOW + 1000),
                cron_invocation_id("u", NOW)}) == 3
    assert cron_invocation_id("t", NOW).startswith("cron-")


def test_the_request_carries_the_condition_and_is_void():
    b = binding(condition="clock::is_even")
    request = b.request(cron_invocation_id(b.id, NOW), tick_payload(b.id, NOW, NOW))
    assert request["action"] == "void" and request["condition_function_id"] == "clock::is_even"
    assert request["payload"]["job_id"] == b.id


def test_progress_records_round_trip():
    b = binding()
    [firing] = plan_round([b], {b.id: NOW}, NOW + 2000).firings
    codec = AvroCodec()
    record = codec.decode(codec.encode(progress_record(firing, "app.host.123.abc")))
    assert record["trigger_id"] == b.id and record["expression"] == "* * * * * *"
    assert record["last_tick_ms"] == NOW + 2000 and record["fired_ticks_ms"] == [NOW + 1000, NOW + 2000]
    assert record["skipped_until_ms"] is None and record["leader"] == "app.host.123.abc"


@pytest.mark.parametrize("raw,expected", [(None, True), ("", True), ("1", True), ("yes", True), ("0", False),
                                          ("false", False), ("No", False)])
def test_the_cron_setting(raw, expected):
    assert cron_enabled({} if raw is None else {"IIIKAFKA_CRON": raw}) is expected


def test_a_bad_cron_setting_names_the_variable():
    with pytest.raises(SettingsError, match="IIIKAFKA_CRON='maybe': use 1 or 0"):
        cron_enabled({"IIIKAFKA_CRON": "maybe"})


def test_the_cron_topic_is_one_compacted_partition():
    spec = cron_topic("ns", 3)
    assert (spec.name, spec.partitions, spec.replication_factor) == ("ns.cron", 1, 3)
    assert spec.config["cleanup.policy"] == "compact"
    assert cron_group("ns") == cron_transactional_id("ns") == "ns.cron"


def test_the_catch_up_bound_covers_a_handover_whatever_the_session_timeout():
    assert catch_up_ms_for(10.0) == CATCH_UP_MS
    assert catch_up_ms_for(45.0) == 135_000  # three session timeouts
