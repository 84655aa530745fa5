"""The RocksDB view of KV state (rocksdict): for each key, the last event that changed it.

The view stores each key's last `StateChanged` event exactly as it is in the log, bytes for bytes.
So the view *is* the log compacted by key: rebuilding it is a put per record with no decoding
(replay.py), a rebuilt view holds the same bytes as the live one, and a deleted key keeps its
tombstone event, whose version the key's next write continues from.

Layout (one RocksDB per process; every key starts with a kind byte and a 2-byte partition):

    d <p> scope NUL key        -> StateChanged bytes     the data
    o <p>                      -> next offset, last ms   how far into `changes` partition p the view is
    r <p> request id           -> StateChanged bytes     recent requests, answered again on a repeat
    t <8-byte ms> <p> req id   -> b""                    the same, by time, for pruning

Writes arrive as a `ViewBatch` per committed Kafka transaction (data, offsets and requests in one
atomic RocksDB write), so the view never holds a change its log does not. The WAL is off: a crash
loses the newest writes of the view together with the offsets that cover them, and catching up
from the log brings them back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteOptions,
)

from .keys import SEPARATOR, scope_prefix

__all__ = ["StateView", "ViewBatch", "ViewInUse"]

_DATA, _OFFSET, _REQUEST, _BY_TIME = b"d", b"o", b"r", b"t"
_MEGABYTE = 1024 * 1024


class ViewInUse(RuntimeError):
    """Another process holds the view's RocksDB directory."""


def _p(partition: int) -> bytes:
    return partition.to_bytes(2, "big")


def _options(cache_mb: int, write_buffer_mb: int) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(write_buffer_mb * _MEGABYTE)
    options.set_max_write_buffer_number(2)
    options.set_compression_type(DBCompressionType.lz4())
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)  # a miss (a new key) costs no disk read
    table.set_block_cache(Cache(cache_mb * _MEGABYTE))
    table.set_cache_index_and_filter_blocks(True)  # their memory counts against the cache
    options.set_block_based_table_factory(table)
    return options


class ViewBatch:
    """The view's writes of one committed transaction. Later puts of a key replace earlier ones."""

    __slots__ = ("data", "offsets", "requests", "timestamps")

    def __init__(self) -> None:
        self.data: dict[tuple[int, bytes], bytes] = {}
        self.offsets: dict[int, int] = {}
        self.timestamps: dict[int, int] = {}  # partition -> its last change's time (ms)
        self.requests: list[tuple[int, str, int, bytes]] = []  # (partition, request id, ms, event)

    def put(self, partition: int, skey: bytes, event: bytes) -> None:
        self.data[(partition, skey)] = event

    def remember_request(self, partition: int, request_id: str, at_ms: int, event: bytes) -> None:
        self.requests.append((partition, request_id, at_ms, event))

    def __len__(self) -> int:
        return len(self.data)


class StateView:
    """One process's RocksDB view of the partitions it owns (or, rebuilt by replay, of all)."""

    def __init__(self, path: Path | str, *, cache_mb: int = 32, write_buffer_mb: int = 32) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = Rdict(str(self.path), _options(cache_mb, write_buffer_mb))
        except Exception as exc:  # rocksdict raises a plain Exception for a held lock
            if "lock" in str(exc).lower():
                raise ViewInUse(f"the state view {self.path} is in use by another process (each "
                                "worker needs its own IIIKAFKA_DATA_DIR)") from None
            raise
        unsynced = WriteOptions()
        unsynced.disable_wal = True
        self._db.set_write_options(unsynced)

    # -- reading ---------------------------------------------------------------------------

    def get(self, partition: int, skey: bytes) -> bytes | None:
        return self._db.get(_DATA + _p(partition) + skey)

    def items(self, partition: int, scope: str) -> Iterator[tuple[bytes, bytes]]:
        """(state key, event) of every key of `scope` in `partition`, tombstones included."""
        yield from self._prefixed(_DATA + _p(partition) + scope_prefix(scope), strip=3)

    def entries(self, partition: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        """(partition, state key, event) of every key, of one partition or all."""
        prefix = _DATA if partition is None else _DATA + _p(partition)
        for key, event in self._prefixed(prefix, strip=0):
            yield int.from_bytes(key[1:3], "big"), key[3:], event

    def scopes(self, partition: int, is_live: Callable[[bytes], bool]) -> Iterator[str]:
        """The scopes of `partition` with at least one live key, in order, one seek per scope."""
        prefix = _DATA + _p(partition)
        iterator = self._db.iter()
        iterator.seek(prefix)
        while iterator.valid():
            key = iterator.key()
            if not key.startswith(prefix):
                return
            scope = key[3:].partition(SEPARATOR)[0]
            if any(is_live(event) for _, event in self._prefixed(prefix + scope + SEPARATOR, strip=0)):
                yield scope.decode()
            iterator.seek(prefix + scope + b"\x01")  # past every `scope NUL ...`

    def _prefixed(self, prefix: bytes, strip: int) -> Iterator[tuple[bytes, bytes]]:
        iterator = self._db.iter()
        iterator.seek(prefix)
        while iterator.valid():
            key = iterator.key()
            if not key.startswith(prefix):
                return
            yield key[strip:], iterator.value()
            iterator.next()

    def next_offset(self, partition: int) -> int:
        """The offset of `changes` partition p the view goes on from (0: from the start)."""
        stored = self._db.get(_OFFSET + _p(partition))
        return 0 if stored is None else int.from_bytes(stored[:8], "big")

    def last_timestamp(self, partition: int) -> int:
        """The time (ms) of the last change of partition p the view holds (0: none known): an
        owner never stamps a change earlier, so the log's timestamps only go up."""
        stored = self._db.get(_OFFSET + _p(partition))
        return 0 if stored is None or len(stored) < 16 else int.from_bytes(stored[8:16], "big")

    def request(self, partition: int, request_id: str) -> bytes | None:
        """The change a recent request made, if it made one."""
        return self._db.get(_REQUEST + _p(partition) + request_id.encode())

    # -- writing ---------------------------------------------------------------------------

    def write(self, batch: ViewBatch) -> None:
        """One atomic write: the data, the offsets that cover it, the requests it answered."""
        writes = WriteBatch(raw_mode=True)
        for (partition, skey), event in batch.data.items():
            writes.put(_DATA + _p(partition) + skey, event)
        for partition, offset in batch.offsets.items():
            last = batch.timestamps.get(partition) or self.last_timestamp(partition)
            writes.put(_OFFSET + _p(partition), offset.to_bytes(8, "big") + last.to_bytes(8, "big"))
        for partition, request_id, at_ms, event in batch.requests:
            rid = request_id.encode()
            writes.put(_REQUEST + _p(partition) + rid, event)
            writes.put(_BY_TIME + at_ms.to_bytes(8, "big") + _p(partition) + rid, b"")
        self._db.write(writes)

    def forget_requests_before(self, cutoff_ms: int, limit: int = 10_000) -> int:
        """Forgets up to `limit` remembered requests older than `cutoff_ms`; returns how many."""
        writes = WriteBatch(raw_mode=True)
        count = 0
        for key, _ in self._prefixed(_BY_TIME, strip=0):
            if int.from_bytes(key[1:9], "big") >= cutoff_ms or count >= limit:
                break
            writes.delete(key)
            writes.delete(_REQUEST + key[9:])
            count += 1
        if count:
            self._db.write(writes)
        return count

    def flush(self) -> None:
        self._db.flush()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "StateView":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
