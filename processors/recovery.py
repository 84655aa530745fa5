"""Faust's recovery under exactly-once asks the wrong question for a partition's end.

`AIOKafkaConsumerThread._highwaters` returns each changelog partition's last stable offset as the
consumer last saw it in a fetch response; for a partition this consumer has not fetched yet (one
it just took over from a worker that died), that is None, which recovery turns into -1. Two things
then go wrong: the consistency check raises `ConsistencyError` ("persisted offset ... is higher than
the last offset (highwater) (44 > -1)") whenever the local RocksDB already holds some of the
partition (a standby copy, or a partition this worker owned before), and the worker crashes; and
with the check off, recovery would stop at the local copy's offset and miss the changelog after it.
Seen here with two workers of one app, one SIGKILLed (tests/test_messaging.py).

`ask_brokers_for_highwaters` makes it a ListOffsets request instead: the consumer reads
`read_committed`, so the broker answers each partition's last stable offset, known or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["ask_brokers_for_highwaters"]


def ask_brokers_for_highwaters() -> None:
    thread = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread._highwaters, "asks_brokers", False):
        return

    async def _highwaters(self: Any, partitions: Iterable[Any]) -> Mapping[Any, int]:
        return cast(Mapping[Any, int], await self._ensure_consumer().end_offsets(list(partitions)))

    _highwaters.asks_brokers = True  # type: ignore[attr-defined]
    thread._highwaters = _highwaters
