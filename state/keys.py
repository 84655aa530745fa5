"""What names a piece of state: `{scope, key}`, and its bytes (`scope NUL key`).

The same bytes are the Kafka message key of a state command and of its change (so one partition
owns the key) and, behind a partition prefix, the key of the RocksDB view (so a scope's items are
one prefix scan).
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["MAX_NAME_BYTES", "SEPARATOR", "StateKeyError", "check_name", "scope_prefix", "split_state_key",
           "state_key", "state_partition"]

SEPARATOR = b"\x00"
STREAM_PREFIX = b"stream::"  # state/streams.py
MAX_NAME_BYTES = 4096


class StateKeyError(ValueError):
    """A scope or key that cannot name state (iii: `deserialization_error`)."""

    code = "deserialization_error"


def check_name(what: str, value: Any) -> str:
    """`value` if it can be a scope or key: a non-empty string without NUL, at most 4 KiB."""
    if not isinstance(value, str):
        raise StateKeyError(f"`{what}` must be a string, got {type(value).__name__}"
                            + ("" if value is not None else " (it is missing)"))
    if not value:
        raise StateKeyError(f"`{what}` must not be empty")
    if "\x00" in value:
        raise StateKeyError(f"`{what}` must not contain NUL")
    if len(value.encode()) > MAX_NAME_BYTES:
        raise StateKeyError(f"`{what}` is longer than {MAX_NAME_BYTES} bytes")
    return value


def state_key(scope: str, key: str) -> bytes:
    return scope.encode() + SEPARATOR + key.encode()


def scope_prefix(scope: str) -> bytes:
    return scope.encode() + SEPARATOR


def split_state_key(data: bytes) -> tuple[str, str]:
    scope, _, key = data.partition(SEPARATOR)
    return scope.decode(), key.decode()


def state_partition(skey: bytes, partitions: int) -> int:
    """The partition that owns a key: CRC-32 of its bytes, modulo the partition count. It is what
    librdkafka's default partitioner picks for the same message key, so any producer keyed this
    way agrees; an owner refuses a keyed command that arrives on another partition.

    The items of a stream's group are owned together: for a stream scope (`stream::...`) only the
    scope picks the partition, so a group's changes and events are in one order."""
    if skey.startswith(STREAM_PREFIX):
        return zlib.crc32(skey[:skey.index(SEPARATOR) + 1]) % partitions
    return zlib.crc32(skey) % partitions
