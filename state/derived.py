"""Derived views: state computed from the state-changed log by your own logic (a memory index, a
count by tag, ...), rebuilt from the log whenever the logic changes.

A derived view is `(name, version, apply)`: `apply(change, writer)` is called for every
`StateChanged` event in log order (per partition) and writes the view through `writer.put(key,
value)` / `writer.delete(key)`; values are JSON. Each version has its own RocksDB directory,
`<root>/<name>/v<version>`, and `<root>/<name>/ACTIVE` names the version that answers reads.

New logic is a new version. It is built from the start of the log **beside** the active one
(which keeps following the log and answering), and becomes active only once it has caught up:
when it has read every partition as far as the active version has. Then the old version's
directory is removed. `choose_active` is that rule, as a pure function.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

__all__ = ["DerivedStore", "DerivedView", "ViewWriter", "choose_active", "read_active", "remove_version",
           "write_active"]

log = logging.getLogger(__name__)

_DATA, _POSITION = b"d", b"p"


@dataclass(frozen=True)
class DerivedView:
    name: str
    version: int
    apply: Callable[[Any, "ViewWriter"], None]

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "._-" for c in self.name):
            raise ValueError(f"derived view name {self.name!r}: use letters, digits, . _ -")
        if not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"derived view {self.name}: version must be a positive integer")


class ViewWriter:
    """What `apply` writes with; the writes of one read batch land in RocksDB together."""

    __slots__ = ("_batch",)

    def __init__(self, batch: WriteBatch) -> None:
        self._batch = batch

    def put(self, key: str, value: Any) -> None:
        self._batch.put(_DATA + key.encode(), json.dumps(value).encode())

    def delete(self, key: str) -> None:
        self._batch.delete(_DATA + key.encode())


class DerivedStore:
    """One version of a derived view on disk: its data, and how far into each partition it is."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)
        unsynced = WriteOptions()
        unsynced.disable_wal = True  # rebuilt from the log anyway
        self._db.set_write_options(unsynced)

    def get(self, key: str, default: Any = None) -> Any:
        data = self._db.get(_DATA + key.encode())
        return default if data is None else json.loads(data)

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        start = _DATA + prefix.encode()
        iterator = self._db.iter()
        iterator.seek(start)
        while iterator.valid() and iterator.key().startswith(start):
            yield iterator.key()[1:].decode(), json.loads(iterator.value())
            iterator.next()

    def positions(self) -> dict[int, int]:
        """Partition -> the next offset of the log to read."""
        found = {}
        iterator = self._db.iter()
        iterator.seek(_POSITION)
        while iterator.valid() and iterator.key().startswith(_POSITION):
            found[int(iterator.key()[1:])] = int(iterator.value())
            iterator.next()
        return found

    def apply(self, view: DerivedView, changes: list[tuple[int, int, Any]],
              until: float | None = None) -> int:
        """Runs `view.apply` on `(partition, offset, change)`s, in order, until `until`
        (`time.monotonic()`) if given; one atomic write with the positions. A change of None marks
        the end of a partition at `offset`. Returns how many it took."""
        batch = WriteBatch(raw_mode=True)
        writer = ViewWriter(batch)
        positions: dict[int, int] = {}
        done = 0
        for partition, offset, change in changes:
            done += 1
            if change is None:  # the reader reached the partition's end here (past any markers)
                positions[partition] = offset
                continue
            try:
                view.apply(change, writer)
            except Exception:  # your logic failed on one change: say which, and go on
                log.exception("derived view %s v%d: apply failed on partition %d offset %d; skipped",
                              view.name, view.version, partition, offset)
            positions[partition] = offset + 1
            if until is not None and time.monotonic() >= until:
                break
        self.advance(batch, positions)
        return done

    def advance(self, batch: WriteBatch, positions: Mapping[int, int]) -> None:
        for partition, offset in positions.items():
            batch.put(_POSITION + str(partition).encode(), str(offset).encode())
        self._db.write(batch)

    def close(self) -> None:
        self._db.close()


def read_active(root: Path, name: str) -> int | None:
    path = root / name / "ACTIVE"
    return int(path.read_text()) if path.exists() else None


def write_active(root: Path, name: str, version: int) -> None:
    path = root / name / "ACTIVE"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".new")
    temporary.write_text(f"{version}\n")
    temporary.replace(path)  # atomic: readers see the old version or the new one


def remove_version(root: Path, name: str, version: int) -> None:
    shutil.rmtree(root / name / f"v{version}", ignore_errors=True)


def choose_active(active: int | None, newest: int, positions: Mapping[int, Mapping[int, int]],
                  ends: Mapping[int, int]) -> int | None:
    """The version that should answer now.

    `positions[v]` is how far version v has read each partition, `ends` where the log ends. The
    newest version takes over once it has read as far as the active one (or, with none active, to
    the end of the log); until then the active one stays.
    """
    newest_at = positions.get(newest, {})
    if active == newest:
        return newest
    target = positions.get(active, {}) if active is not None else ends
    if all(newest_at.get(p, 0) >= offset for p, offset in target.items()):
        return newest
    return active
