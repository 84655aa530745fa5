"""The proof of the stack: one agent counts events per key into one RocksDB table.

For every event on `<app id>.demo.events` (key: a name, value: anything) it adds one to the
name's count and writes `{"key", "count", "offset"}` to `<app id>.demo.counted`, in the same
Kafka transaction as the table's changelog write and the consumer offset. The table is a view:
delete its RocksDB directory and the worker rebuilds it from the changelog.
"""

from __future__ import annotations

import faust
from faust.web import Request, Response, View
from iii_kafka.topology.topics import demo_topics

from ..settings import Settings

__all__ = ["COUNTS_TABLE", "install"]

COUNTS_TABLE = "demo-counts"


def install(app: faust.App, settings: Settings) -> None:
    topics = demo_topics(settings.app_id, settings.partitions, settings.replication_factor)
    events = app.topic(topics.events.name, key_type=str, key_serializer="raw", value_serializer="raw")
    counted = app.topic(topics.counted.name, key_type=str, key_serializer="raw", value_serializer="json")
    counts = app.Table(
        COUNTS_TABLE,
        default=int,
        partitions=topics.events.partitions,
        options={"driver": "rocksdict"},
    )

    @app.agent(events, name="demo.count")
    async def count_events(stream: faust.StreamT) -> None:
        async for event in stream.events():
            key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
            counts[key] += 1
            await counted.send(
                key=key,
                value={"key": key, "count": counts[key], "offset": event.message.offset,
                       "partition": event.message.partition},
            )

    @app.page("/demo/counts/")
    class CountsView(View):
        """The counts this worker holds (the table partitions assigned to it)."""

        async def get(self, request: Request) -> Response:
            return self.json({_text(k): v for k, v in counts.items()})


def _text(key: object) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)
