"""Function ids and the topics that carry invocations (see docs/functions.md for the routing).

A function id is iii's `service::name`: two or more segments joined by `::` (`math::add`,
`engine::functions::list`), each of letters, digits, `_`, `-` or `.`. Ids never become topic
names: invocations go to the topic of the worker app that hosts the function, found in the
catalog, so ids keep iii's freedom and topics keep Kafka's rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from .topics import TopicSpec

__all__ = ["FunctionId", "FunctionIdError", "catalog_topic", "invocation_topic", "reply_topic"]

_SEGMENT = r"[A-Za-z0-9_.\-]+"
_FUNCTION_ID = re.compile(rf"{_SEGMENT}(?:::{_SEGMENT})+")
MAX_FUNCTION_ID = 255
REPLY_RETENTION_MS = 60 * 60 * 1000  # a caller that has been gone an hour wants no answers


class FunctionIdError(ValueError):
    """A function id that is not `service::name`."""


@dataclass(frozen=True)
class FunctionId:
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _FUNCTION_ID.fullmatch(self.value):
            raise FunctionIdError(f"function id {self.value!r} is not service::name (segments of letters, "
                                  "digits, _ - or ., joined by ::)")
        if len(self.value) > MAX_FUNCTION_ID:
            raise FunctionIdError(f"function id {self.value[:40]!r}... is longer than {MAX_FUNCTION_ID}")

    @property
    def service(self) -> str:
        """Everything before the last `::` (iii groups functions into services by it)."""
        return self.value.rpartition("::")[0]

    @property
    def name(self) -> str:
        return self.value.rpartition("::")[2]

    def __str__(self) -> str:
        return self.value


def invocation_topic(app_id: str, partitions: int, replication_factor: int = 1) -> TopicSpec:
    """The invocations of every function a worker app hosts: `<app id>.invocations`, keyed by
    invocation id. A log (never compacted): invocations are events, and replay needs them."""
    return TopicSpec.log(f"{app_id}.invocations", partitions, replication_factor)


def catalog_topic(namespace: str, replication_factor: int = 1) -> TopicSpec:
    """Registrations of functions and triggers, and worker heartbeats, for a namespace: compacted,
    one record per key (`function/<id>/<worker>`, `trigger/<id>`, `worker/<id>`)."""
    return TopicSpec(f"{namespace}.catalog", 1, replication_factor,
                     MappingProxyType({"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}))


def reply_topic(namespace: str, caller_id: str, replication_factor: int = 1) -> TopicSpec:
    """Results for one caller process (as Faust's own `agent.ask` does): one partition, kept an hour."""
    return TopicSpec(f"{namespace}.reply.{caller_id}", 1, replication_factor,
                     MappingProxyType({"cleanup.policy": "delete", "retention.ms": str(REPLY_RETENTION_MS)}))
