"""The proof of the stack: one agent counts events per key into one RocksDB table.

For every event on `<app id>.demo.events` (key: a name, value: any Avro-framed message) it adds
one to the name's count and writes `{"key", "count", "offset", "partition"}` (an `iii.kafka.Value`)
to `<app id>.demo.counted`, in the same Kafka transaction as the table's changelog write and the
consumer offset. A value that is not a framed Avro message is dead-lettered, and counting goes on.
The table is a view: delete its RocksDB directory and the worker rebuilds it from the changelog.
"""

from __future__ import annotations

import faust
from faust.types import EventT
from faust.web import Request, Response, View
from iii_kafka.topology.topics import demo_topics

from ..processing import EventProcessing
from ..serialization import AVRO_TOLERANT
from ..settings import Settings
from ..transactions import send_in_transaction

__all__ = ["COUNTS_TABLE", "install"]

COUNTS_TABLE = "demo-counts"


def install(app: faust.App, settings: Settings, processing: EventProcessing) -> None:
    topics = demo_topics(settings.app_id, settings.partitions, settings.replication_factor)
    events = app.topic(topics.events.name, key_type=str, key_serializer="raw", value_serializer=AVRO_TOLERANT)
    counted_topic = topics.counted.name
    counts = processing.table(COUNTS_TABLE, default=int, partitions=topics.events.partitions,
                              options={"driver": "rocksdict"})

    async def count_one(event: EventT) -> None:
        key = _text(event.key)
        counts[key] += 1
        record = {"key": key, "count": counts[key], "offset": event.message.offset,
                  "partition": event.message.partition}
        await send_in_transaction(app, event, counted_topic, key, record)

    @app.agent(events, name="demo.count")
    async def count_events(stream: faust.StreamT) -> None:
        await processing.run(stream, count_one)

    @app.page("/demo/counts/")
    class CountsView(View):
        """The counts this worker holds (the table partitions assigned to it)."""

        async def get(self, request: Request) -> Response:
            return self.json({_text(k): v for k, v in counts.items()})


def _text(key: object) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)
