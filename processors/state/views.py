"""Derived views in a worker: declared in service modules, kept up to date from the state-changed
log by a thread per view, rebuilt beside the active version when their logic changes
(state/derived.py says how a version takes over).

    from iii_kafka.processors.state.views import views

    def index_v1(change, writer):                  # every StateChanged event, in log order
        if change["scope"] == "memories":
            for tag in (change["new_value"] or {}).get("tags", []):
                writer.put(f"{tag}/{change['key']}", True)

    views.register("memories-by-tag", 1, index_v1)
    ...
    views.get("memories-by-tag").items("red/")       # in a handler: the active version's data

Each worker process that registers a view keeps a full copy of it, under
`<IIIKAFKA_DATA_DIR>/views/<name>/v<version>`. To change the logic, register the next version
beside the old one; the new one is built from the start of the log while the old one goes on
answering, and takes over once it has caught up. The old registration can then go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from iii_kafka.schemas import AvroCodec
from iii_kafka.state.derived import (
    DerivedStore,
    DerivedView,
    choose_active,
    read_active,
    remove_version,
    write_active,
)

__all__ = ["ViewNotReady", "ViewRegistry", "ViewRunner", "views"]

log = logging.getLogger(__name__)

READ_BATCH = 5_000
CHECK_EVERY_S = 0.5
SLICE_S = 0.05


class ViewNotReady(LookupError):
    """No version of the view has caught up with the log yet (or the view is not registered)."""


class ViewRegistry:
    def __init__(self) -> None:
        self._views: dict[str, dict[int, DerivedView]] = {}
        self._active: dict[str, tuple[int, DerivedStore]] = {}

    def register(self, name: str, version: int, apply: Callable[[Any, Any], None]) -> DerivedView:
        view = DerivedView(name, version, apply)
        versions = self._views.setdefault(name, {})
        if version in versions:
            raise ValueError(f"derived view {name} v{version} is already registered")
        versions[version] = view
        return view

    def definitions(self) -> dict[str, dict[int, DerivedView]]:
        return {name: dict(versions) for name, versions in self._views.items()}

    def get(self, name: str) -> DerivedStore:
        """The active version's store (reads only)."""
        found = self._active.get(name)
        if found is None:
            known = "is not registered" if name not in self._views else "has not caught up with the log yet"
            raise ViewNotReady(f"derived view {name} {known}")
        return found[1]

    def active_version(self, name: str) -> int | None:
        found = self._active.get(name)
        return None if found is None else found[0]

    def _serve(self, name: str, version: int, store: DerivedStore) -> None:
        self._active[name] = (version, store)


views = ViewRegistry()


class ViewRunner:
    """Keeps one view's versions following `changes_topic`, and swaps in the newest once caught up."""

    def __init__(self, bootstrap_servers: str, changes_topic: str, codec: AvroCodec, root: Path,
                 name: str, versions: dict[int, DerivedView], registry: ViewRegistry) -> None:
        self._servers = bootstrap_servers
        self._topic = changes_topic
        self._codec = codec
        self._root = root
        self.name = name
        self._versions = versions
        self._registry = registry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"iii-view-{name}", daemon=True)

    def start(self) -> "ViewRunner":
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._follow()
        except Exception:  # a view must not take the worker down; it says why and stops
            log.exception("derived view %s stopped", self.name)

    def _follow(self) -> None:
        newest = max(self._versions)
        active = read_active(self._root, self.name)
        stores = {v: DerivedStore(self._root / self.name / f"v{v}")
                  for v in {newest, active} if v is not None}
        readers = {v: self._reader(store) for v, store in stores.items()}
        if active is not None:
            self._registry._serve(self.name, active, stores[active])
            if active != newest:
                log.info("derived view %s: v%d answers while v%d is built beside it", self.name, active,
                         newest)
        probe = Consumer({"bootstrap.servers": self._servers, "group.id": f"{self._topic}.views",
                          "isolation.level": "read_committed", "log_level": 3})
        last_check = 0.0
        pending: dict[int, list] = {}  # read, not yet applied
        try:
            while not self._stop.is_set():
                for version, store in stores.items():
                    self._advance(version, store, readers[version], pending.setdefault(version, []))
                if active != newest and time.monotonic() - last_check > CHECK_EVERY_S:
                    last_check = time.monotonic()
                    chosen = choose_active(active, newest, {v: s.positions() for v, s in stores.items()},
                                           self._ends(probe))
                    if chosen != active:
                        active = self._swap(active, newest, stores, readers)
        finally:
            probe.close()
            for reader in readers.values():
                reader.close()

    def _reader(self, store: DerivedStore) -> Consumer:
        reader = Consumer({"bootstrap.servers": self._servers, "group.id": f"{self._topic}.views",
                           "enable.auto.commit": False, "isolation.level": "read_committed",
                           "enable.partition.eof": True, "log_level": 3})
        metadata = reader.list_topics(self._topic, timeout=30).topics[self._topic]
        positions = store.positions()
        reader.assign([TopicPartition(self._topic, p, positions.get(p, 0))
                       for p in sorted(metadata.partitions)])
        return reader

    def _advance(self, version: int, store: DerivedStore, reader: Consumer, pending: list) -> None:
        """Applies what this version has read, for at most `SLICE_S`: a slow version being built
        never holds up the one that answers."""
        logic = self._versions.get(version)
        if logic is None:  # an active version whose code is gone: it answers, frozen, until replaced
            return
        if not pending:
            for message in reader.consume(READ_BATCH, timeout=0.05):
                error = message.error()
                if error is None:
                    try:
                        change = self._codec.decode(message.value())
                    except Exception as exc:  # noqa: BLE001 - one bad record must not stop the view
                        log.error("derived view %s: %s[%d]@%d does not decode (%s); skipped", self.name,
                                  self._topic, message.partition(), message.offset(), exc)
                        continue
                    pending.append((message.partition(), message.offset(), change))
                elif error.code() == KafkaError._PARTITION_EOF:  # its offset is past any markers
                    pending.append((message.partition(), message.offset(), None))
                else:
                    log.warning("derived view %s: reading %s: %s", self.name, self._topic, error.str())
        if pending:
            done = store.apply(logic, pending, until=time.monotonic() + SLICE_S)
            del pending[:done]

    def _ends(self, probe: Consumer) -> dict[int, int]:
        metadata = probe.list_topics(self._topic, timeout=10).topics[self._topic]
        return {p: probe.get_watermark_offsets(TopicPartition(self._topic, p), timeout=10, cached=False)[1]
                for p in metadata.partitions}

    def _swap(self, old: int | None, new: int, stores: dict[int, DerivedStore],
              readers: dict[int, Consumer]) -> int:
        write_active(self._root, self.name, new)
        self._registry._serve(self.name, new, stores[new])
        log.info("derived view %s: v%d has caught up and answers now%s", self.name, new,
                 f" (v{old} removed)" if old is not None else "")
        if old is not None:
            readers.pop(old).close()
            stale = stores.pop(old)
            threading.Timer(5.0, lambda: (stale.close(), remove_version(self._root, self.name, old))).start()
        return new
