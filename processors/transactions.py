"""Writes an agent's output in the same Kafka transaction as the input it came from.

Faust's exactly-once sends (`topic.send()` inside an agent) pick the transactional producer from
the *destination* partition, and only for topics of the app's own topic groups: a send to any other
topic (a result, an event for another service) silently goes through the non-transactional
producer, so a crash between the send and the commit duplicates it. Here the producer is the one
of the *source* event's partition, the same one that commits that partition's offsets and its
tables' changelog writes, so output, state and progress commit or abort together.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import faust
from faust.types import TP, EventT

from .exactly_once import transactional_id_for

__all__ = ["send_bytes_in_transaction", "send_in_transaction"]


async def send_in_transaction(
    app: faust.App,
    source: EventT | TP,
    topic: str,
    key: Any,
    value: Any,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Sends one record as part of `source`'s transaction (plain send when not exactly-once).

    Keys and values that are not bytes go through the app's serializers (for values, the Avro
    codec), as they would with Faust's own `topic.send`; a value of None stays a tombstone.
    """
    key = None if key is None else app.serializers.dumps_key(None, key)
    value = None if value is None else app.serializers.dumps_value(None, value)  # None: a tombstone
    await send_bytes_in_transaction(app, source, topic, key, value, headers)


async def send_bytes_in_transaction(
    app: faust.App,
    source: EventT | TP,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> Awaitable[Any]:
    """`send_in_transaction` for records already encoded; returns the delivery future."""
    if not app.in_transaction:
        return await app.producer.send(topic, key, value, partition, None, headers)
    tp = source.message.tp if hasattr(source, "message") else source
    # Awaiting the send hands the record to aiokafka, whose commit flushes it before EndTxn.
    return await app.consumer.transactions.producer.send(topic, key, value, partition, None, headers,
                                                         transactional_id=transactional_id_for(app, tp))
