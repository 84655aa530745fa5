"""What one firing round does, decided without Kafka: which ticks of which cron trigger are due.

The leader keeps, per trigger, the last tick it accounted for (its progress, from `<ns>.cron`).
A round at time `now` fires every tick in `(last, now]`, except ticks older than `now -
catch_up_ms`: those are skipped (a cluster that was down for a day does not fire a day of ticks at
once). A trigger without progress starts from `now`: its first record marks where it starts, so a
leader change before its first tick neither skips nor back-fills it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from iii_kafka.topology.cron import CronSchedule

from ..functions.bindings import Binding, derived_invocation_id

__all__ = ["CATCH_UP_MS", "Firing", "Plan", "catch_up_ms_for", "cron_invocation_id", "plan_round", "rfc3339",
           "tick_payload", "wait_s"]

CATCH_UP_MS = 60_000
"""A tick is fired at most this long after its scheduled time; older ones are skipped, logged once.
It covers a leader handover (the group notices a dead leader within its session timeout) and a
short outage of the whole cluster."""

HANDOVERS_COVERED = 3
"""The bound is at least this many session timeouts: a handover after a killed leader (noticed
within one) never skips a tick, whatever `IIIKAFKA_SESSION_TIMEOUT` is."""

IDLE_WAKE_MS = 250
"""Wake at least this often: the catalog may have brought a new trigger."""


@dataclass(frozen=True)
class Firing:
    """One trigger's part of a round: the ticks to fire and its progress after them."""

    binding: Binding
    ticks: list[int]  # scheduled times (ms since the epoch, UTC), oldest first
    last_tick_ms: int
    skipped_until_ms: int | None = None  # ticks after the old progress up to this were too late
    first: bool = False  # the trigger had no progress: it starts here


@dataclass(frozen=True)
class Plan:
    firings: list[Firing] = field(default_factory=list)
    next_due_ms: int | None = None  # when the next round has something to do (None: nothing known)


def catch_up_ms_for(session_timeout_s: float) -> int:
    """The catch-up bound a leader uses: `CATCH_UP_MS`, or more with a long session timeout."""
    return max(CATCH_UP_MS, int(HANDOVERS_COVERED * session_timeout_s * 1000))


@lru_cache(maxsize=1024)
def schedule_of(expression: str) -> CronSchedule:
    return CronSchedule(expression)


def cron_invocation_id(trigger_id: str, scheduled_ms: int) -> str:
    """The same tick of the same trigger always has the same invocation id: written twice, it runs once."""
    return derived_invocation_id("cron", trigger_id, scheduled_ms)


def rfc3339(ms: int) -> str:
    """UTC with milliseconds and `Z`, e.g. `2026-12-01T08:49:53.000Z` (integer arithmetic: exact)."""
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def tick_payload(trigger_id: str, scheduled_ms: int, actual_ms: int) -> dict[str, Any]:
    """iii's cron payload (workers/cron/structs.rs)."""
    return {"trigger": "cron", "job_id": trigger_id, "scheduled_time": rfc3339(scheduled_ms),
            "actual_time": rfc3339(actual_ms)}


def plan_round(bindings: Iterable[Binding], progress: Mapping[str, int], now_ms: int,
               catch_up_ms: int = CATCH_UP_MS) -> Plan:
    """The firings due at `now_ms`, and when the next one is due. Pure."""
    firings: list[Firing] = []
    next_due: int | None = None
    oldest = now_ms - catch_up_ms
    for binding in bindings:
        schedule = schedule_of(binding.config["expression"])
        last = progress.get(binding.id)
        if last is None:
            firings.append(Firing(binding, [], now_ms, first=True))
            last = now_ms
        else:
            skipped_until = None
            start = last
            if last < oldest and schedule.next_after(last) <= oldest:
                skipped_until = start = oldest
            ticks = schedule.ticks(start, now_ms)
            if ticks or skipped_until is not None:
                last = ticks[-1] if ticks else start
                firings.append(Firing(binding, ticks, last, skipped_until))
        upcoming = schedule.next_after(max(last, now_ms))
        next_due = upcoming if next_due is None else min(next_due, upcoming)
    return Plan(firings, next_due)


def wait_s(plan: Plan, now_ms: int) -> float:
    """How long the leader may sleep before its next round."""
    until = IDLE_WAKE_MS if plan.next_due_ms is None else min(IDLE_WAKE_MS, plan.next_due_ms - now_ms)
    return max(0.0, until / 1000)
