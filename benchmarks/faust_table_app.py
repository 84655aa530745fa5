"""The baseline for replay: a bare Faust app whose RocksDB table (rocksdict) recovers from its
changelog, which the benchmark fills with the same keys and values as the state-changed log.

Every call of the store's `apply_changelog_batch` (the whole of Faust's recovery work for a
table) is timed; a timer writes `{events, seconds, first, last}` to `$BENCH_DIR/faust-recovery.json`.

    BENCH_DIR=... BENCH_APP=... KAFKA_BOOTSTRAP_SERVERS=... faust -A faust_table_app worker --without-web
"""

import json
import os
import time
from pathlib import Path

import faust
from faust.stores import rocksdb as faust_rocksdb

DIR = Path(os.environ["BENCH_DIR"])
SERVERS = os.environ["KAFKA_BOOTSTRAP_SERVERS"].split(",")
stats = {"events": 0, "seconds": 0.0, "first": None, "last": None}

apply_batch = faust_rocksdb.Store.apply_changelog_batch


def timed_apply(self, batch, to_key, to_value):  # noqa: ANN001, ANN201
    events = list(batch)
    started = time.time()
    apply_batch(self, events, to_key, to_value)
    ended = time.time()
    stats["events"] += len(events)
    stats["seconds"] += ended - started
    stats["first"] = stats["first"] or started
    stats["last"] = ended


faust_rocksdb.Store.apply_changelog_batch = timed_apply

app = faust.App(os.environ["BENCH_APP"], broker=";".join(f"kafka://{s}" for s in SERVERS),
                store="rocksdb://", datadir=str(DIR / "faust-tables"), topic_partitions=4,
                broker_session_timeout=6, web_enabled=False)
table = app.Table("kv", partitions=4, options={"driver": "rocksdict"})


@app.timer(0.5)
async def report() -> None:
    (DIR / "faust-recovery.json").write_text(json.dumps(stats))
