"""Dead letters: a record no processor can handle goes to `<app id>.dead-letters` with the reason
and its original bytes, in the same transaction as the source offset, and the partition goes on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

import faust
from faust.types import EventT
from iii_kafka.schemas import Event

from .transactions import send_in_transaction

__all__ = ["DeadLetters", "dead_letter"]

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self.topic = topic

    async def send(self, event: EventT, reason: str, error_type: str) -> None:
        """Writes a `DeadLetter` for `event`'s message; `reason` is one readable line."""
        message = event.message
        letter = dead_letter(message.topic, message.partition, message.offset, message.key, message.value,
                             message.headers, reason, error_type, self.topic)
        await send_in_transaction(self._app, event, self.topic, _bytes(message.key), letter)


def dead_letter(topic: str, partition: int, offset: int, key: bytes | str | None, value: bytes | str | None,
                headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None, reason: str,
                error_type: str, destination: str) -> Event:
    """The `DeadLetter` of one source record (and one log line saying so)."""
    where = f"{topic}[{partition}]@{offset}"
    log.error("dead letter %s: %s (%s) -> %s", where, reason, error_type, destination)
    return Event("iii.kafka.DeadLetter", topic=topic, partition=partition, offset=offset,
                 reason=f"{where}: {reason}", error_type=error_type, failed_at_ms=int(time.time() * 1000),
                 key=_bytes(key), value=_bytes(value), headers=_headers(headers))


def _bytes(data: bytes | str | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def _headers(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> list[dict]:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [{"key": key, "value": _bytes(value)} for key, value in pairs]
