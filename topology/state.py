"""KV state's topics and functions (docs/state.md).

State belongs to a namespace (the apps that call each other), not to one app: every worker of the
namespace may own some of its partitions, and every caller reaches every key.

| topic | key | value | shape |
| --- | --- | --- | --- |
| `<ns>.state.requests` | the state key (`scope NUL key`) | `StateCommand` | log, kept 7 days |
| `<ns>.state.changes` | the state key | `StateChanged` | log, never compacted or expired (the truth) |
| `<ns>.state.dead-letters` | the source key | `DeadLetter` | log |

A change is written to the same partition number of `changes` as its command came from, so the
owner of request partition p is the only writer of change partition p.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .topics import TopicSpec

__all__ = ["SCOPE_WIDE_FUNCTIONS", "STATE_FUNCTIONS", "StateTopics", "state_group", "state_topics"]

REQUESTS_RETENTION_MS = 7 * 24 * 60 * 60 * 1000

STATE_FUNCTIONS = ("state::set", "state::get", "state::delete", "state::update", "state::list",
                   "state::list_groups", "state::digest")
"""iii's six state functions, and `state::digest` (ours: an order-independent digest per scope)."""

SCOPE_WIDE_FUNCTIONS = ("state::list", "state::list_groups", "state::digest")
"""Functions that read every partition: the caller asks each owner and merges the answers."""


@dataclass(frozen=True)
class StateTopics:
    requests: TopicSpec
    changes: TopicSpec
    dead_letters: TopicSpec

    def all(self) -> list[TopicSpec]:
        return [self.requests, self.changes, self.dead_letters]


def state_topics(namespace: str, partitions: int, replication_factor: int = 1) -> StateTopics:
    requests = TopicSpec(f"{namespace}.state.requests", partitions, replication_factor,
                         MappingProxyType({"cleanup.policy": "delete",
                                           "retention.ms": str(REQUESTS_RETENTION_MS)}))
    return StateTopics(
        requests=requests,
        changes=TopicSpec.log(f"{namespace}.state.changes", partitions, replication_factor),
        dead_letters=TopicSpec.log(f"{namespace}.state.dead-letters", partitions, replication_factor),
    )


def state_group(namespace: str) -> str:
    """The consumer group of the namespace's state owners: every worker process is a member."""
    return f"{namespace}.state"
