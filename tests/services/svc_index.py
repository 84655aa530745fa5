"""Test service: a derived view (memories by tag). With TEST_INDEX_V2=1 the worker also registers
version 2 (tags upper-cased, and slow to build), which must take over only once caught up."""

import os
import time

from iii_kafka.processors.functions import functions
from iii_kafka.processors.state.views import views


def _index(change, writer, tag_of) -> None:  # noqa: ANN001
    if change["scope"] != "memories":
        return
    old = (change["old_value"] or {}).get("tags", []) if isinstance(change["old_value"], dict) else []
    for tag in old:
        writer.delete(f"{tag_of(tag)}/{change['key']}")
    if change["event_type"] != "deleted":
        for tag in change["new_value"].get("tags", []):
            writer.put(f"{tag_of(tag)}/{change['key']}", change["version"])


def index_v1(change, writer) -> None:  # noqa: ANN001
    _index(change, writer, lambda tag: tag)


def index_v2(change, writer) -> None:  # noqa: ANN001
    time.sleep(0.05)  # new logic that takes a while to rebuild (15 s for the test's 300 changes)
    _index(change, writer, str.upper)


views.register("by-tag", 1, index_v1)
if os.environ.get("TEST_INDEX_V2") == "1":
    views.register("by-tag", 2, index_v2)


@functions.function("index::lookup")
def lookup(data):
    store = views.get("by-tag")
    return {"version": views.active_version("by-tag"),
            "keys": sorted(key.partition("/")[2] for key, _ in store.items(f"{data['tag']}/"))}
