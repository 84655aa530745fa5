"""The cron leader's topic, group and transactional id (docs/cron.md).

| topic | key | value | shape |
| --- | --- | --- | --- |
| `<ns>.cron` | trigger id | `CronTicked`: the last tick the leader accounted for | compacted, 1 partition |

The topic does two jobs. Its one partition is what the namespace's cron group (`<ns>.cron`)
assigns: the member that holds partition 0 is the leader. And it is the leader's progress: the
last tick fired per trigger, written in the same transaction as the tick's invocation, so a new
leader knows exactly which ticks were fired and which were not.
"""

from __future__ import annotations

from types import MappingProxyType

from .topics import TopicSpec

__all__ = ["cron_group", "cron_topic", "cron_transactional_id"]

SEGMENT_MS = 60 * 60 * 1000  # a per-second trigger adds 3,600 records an hour; compaction keeps one


def cron_topic(namespace: str, replication_factor: int = 1) -> TopicSpec:
    """One partition (one leader, one order), compacted: a reader keeps the last record per trigger."""
    return TopicSpec(f"{namespace}.cron", 1, replication_factor,
                     MappingProxyType({"cleanup.policy": "compact", "segment.ms": str(SEGMENT_MS),
                                       "min.cleanable.dirty.ratio": "0.1"}))


def cron_group(namespace: str) -> str:
    """Every worker of the namespace with cron on is a member; partition 0's holder leads."""
    return f"{namespace}.cron"


def cron_transactional_id(namespace: str) -> str:
    """One fixed id for every leader: a new leader's `init_transactions` fences the one before."""
    return f"{namespace}.cron"
