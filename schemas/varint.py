"""Avro's variable-length zigzag longs, the one primitive every other encoding is built on."""

from __future__ import annotations

from .errors import CorruptMessage

__all__ = ["read_block_count", "read_long", "read_size", "write_length", "write_long"]

_EMPTY_ITEMS_SLACK = 1 << 16

# The bytes of small non-negative lengths, the common case of strings, arrays and maps.
_SMALL_LENGTHS = [bytes([n << 1]) if n < 64 else bytes([((n << 1) & 0x7F) | 0x80, n >> 6])
                  for n in range(8192)]


def write_long(out: bytearray, n: int) -> None:
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def write_length(out: bytearray, n: int) -> None:
    if n < 8192:
        out += _SMALL_LENGTHS[n]
    else:
        write_long(out, n)


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """The long at `pos` and the position after it. Unrolled: timestamps take six bytes, and a
    loop costs twice as much per byte in Python."""
    byte = data[pos]
    n = byte & 0x7F
    if byte < 0x80:
        return (n >> 1) ^ -(n & 1), pos + 1
    byte = data[pos + 1]
    n |= (byte & 0x7F) << 7
    if byte < 0x80:
        return (n >> 1) ^ -(n & 1), pos + 2
    byte = data[pos + 2]
    n |= (byte & 0x7F) << 14
    if byte < 0x80:
        return (n >> 1) ^ -(n & 1), pos + 3
    byte = data[pos + 3]
    n |= (byte & 0x7F) << 21
    if byte < 0x80:
        return (n >> 1) ^ -(n & 1), pos + 4
    byte = data[pos + 4]
    n |= (byte & 0x7F) << 28
    if byte < 0x80:
        return (n >> 1) ^ -(n & 1), pos + 5
    byte = data[pos + 5]
    n |= (byte & 0x7F) << 35
    if byte < 0x80:
        return (n >> 1) ^ -(n & 1), pos + 6
    pos += 6
    shift = 42
    while byte & 0x80:
        if shift > 63:
            raise CorruptMessage("varint longer than 10 bytes")
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
    if n >> 64:
        raise CorruptMessage("varint does not fit in 64 bits")
    return (n >> 1) ^ -(n & 1), pos


def read_size(data: bytes, pos: int) -> tuple[int, int]:
    """A length or an index: a long that must not be negative."""
    size, pos = read_long(data, pos)
    if size < 0:
        raise CorruptMessage(f"negative length or index {size}")
    return size, pos


def read_block_count(data: bytes, pos: int) -> tuple[int, int]:
    """The item count of an array or map block; a negative count is followed by the block's size
    in bytes, which a reader that decodes every item does not need.

    A count larger than the bytes left (plus some slack for items of zero bytes, like nulls)
    cannot be honest: it is refused before a reader allocates for it.
    """
    count, pos = read_long(data, pos)
    if count < 0:
        _, pos = read_long(data, pos)
        count = -count
    if count > len(data) - pos + _EMPTY_ITEMS_SLACK:
        raise CorruptMessage(f"a block claims {count} items, more than the message can hold")
    return count, pos
