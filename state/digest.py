"""An order-independent digest of KV state, per scope.

Each live key contributes a 128-bit BLAKE2b hash of `[scope, key, version, value]` (the value as
canonical JSON: sorted keys, no spaces, bytes as `{"$bytes": hex}`); a scope's digest is the sum of
its keys' hashes modulo 2**128, with its key count. A sum does not depend on the order the keys
are visited in, and digests of disjoint parts (partitions, owners) add up to the digest of the
whole, so a view rebuilt from the log and the live views of all owners can be compared exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ScopeDigest", "add_digests", "digest_entries", "format_digests", "key_hash"]

MODULUS = 2 ** 128

ScopeDigest = dict[str, list[int]]  # scope -> [key count, sum of key hashes mod 2**128]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True,
                      default=lambda v: {"$bytes": v.hex()} if isinstance(v, (bytes, bytearray)) else str(v))


def key_hash(scope: str, key: str, version: int, value: Any) -> int:
    text = _canonical([scope, key, version, value]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "big")


def digest_entries(entries: Iterable[tuple[str, str, int, Any]]) -> ScopeDigest:
    """Digests of live entries `(scope, key, version, value)`."""
    digests: ScopeDigest = {}
    for scope, key, version, value in entries:
        part = digests.setdefault(scope, [0, 0])
        part[0] += 1
        part[1] = (part[1] + key_hash(scope, key, version, value)) % MODULUS
    return digests


def add_digests(parts: Iterable[Mapping[str, Any]]) -> ScopeDigest:
    """The digest of the union of disjoint parts (each as `digest_entries` or `format_digests` gives)."""
    total: ScopeDigest = {}
    for part in parts:
        for scope, (count, summed) in _as_numbers(part).items():
            entry = total.setdefault(scope, [0, 0])
            entry[0] += count
            entry[1] = (entry[1] + summed) % MODULUS
    return total


def format_digests(digests: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`{scope: {"keys": n, "digest": "<32 hex digits>"}}`, sorted by scope (JSON-friendly)."""
    return {scope: {"keys": count, "digest": format(summed, "032x")}
            for scope, (count, summed) in sorted(_as_numbers(digests).items())}


def _as_numbers(part: Mapping[str, Any]) -> ScopeDigest:
    numbers: ScopeDigest = {}
    for scope, value in part.items():
        if isinstance(value, Mapping):
            numbers[scope] = [int(value["keys"]), int(value["digest"], 16)]
        else:
            numbers[scope] = [int(value[0]), int(value[1])]
    return numbers


def digest_view(view: Any, decode: Any, scope: str | None = None) -> ScopeDigest:
    """The digest of a `StateView` (every partition it holds), decoding each stored event."""
    from .keys import split_state_key

    def live() -> Iterable[tuple[str, str, int, Any]]:
        for _, skey, data in view.entries():
            event = decode(data)
            if event["event_type"] != "deleted" and (scope is None or event["scope"] == scope):
                yield event["scope"], split_state_key(skey)[1], event["version"], event["new_value"]

    return digest_entries(live())
