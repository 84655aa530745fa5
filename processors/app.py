"""The Faust app: the one composition root of a worker process.

`iii-kafka worker` runs Faust's worker command on `app` below. Settings come from the
environment (see `settings.py`), so every worker process is configured the same way.
"""

from __future__ import annotations

import faust
from iii_kafka.topology.topics import dead_letter_topic

from .cron import runtime as cron_runtime
from .dead_letters import DeadLetters
from .demo import counter
from .functions import runtime as functions_runtime
from .latency import commit_transactions_concurrently, shorten_transaction_backoffs
from .processing import EventProcessing
from .recovery import ask_brokers_for_highwaters
from .serialization import AVRO, install_codecs
from .settings import Settings
from .state import runtime as state_runtime

__all__ = ["app", "create_app"]


def create_app(settings: Settings) -> faust.App:
    """A Faust app with RocksDB tables (rocksdict), exactly-once processing and Avro values."""
    codec = install_codecs(settings)
    shorten_transaction_backoffs(settings.retry_backoff_ms)
    commit_transactions_concurrently()
    ask_brokers_for_highwaters()
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker_url,
        store="rocksdb://",
        datadir=str(settings.tables_dir),
        processing_guarantee="exactly_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer=AVRO,
        autodiscover=False,
        origin="iii_kafka.processors.app",
        web_port=6066,
    )
    dead_letters = DeadLetters(app, dead_letter_topic(settings.app_id, settings.partitions).name)
    processing = EventProcessing(app, dead_letters)
    counter.install(app, settings, processing)
    functions = functions_runtime.install(app, settings, processing, codec)
    state_runtime.install(app, settings, codec, functions)
    cron_runtime.install(app, settings, codec, functions)
    return app


settings = Settings.from_env()
app = create_app(settings)
