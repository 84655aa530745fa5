"""Functions in a worker process: loads the services, runs the executor, keeps the catalog fresh.

`install(app, settings, processing)` is called by the app factory. At start the worker creates
its reply topic, reads the catalog, and registers its functions; every `IIIKAFKA_HEARTBEAT`
seconds it writes a heartbeat and tombstones the registrations of workers that went silent; on a
clean stop it tombstones its own.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import socket
import uuid

import faust
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.functions import catalog_topic
from iii_kafka.topology.topics import dead_letter_topic

from ..admin import delete_topic
from ..processing import EventProcessing
from ..settings import Settings
from . import builtins
from .caller import Caller
from .catalog import CatalogPublisher, CatalogView
from .durable import DurableSubscriptions
from .executor import Executor
from .kafka_io import AsyncProducer
from .registry import FunctionRegistry, functions
from .tracing import configure_tracing

__all__ = ["FunctionsRuntime", "install", "load_services"]

log = logging.getLogger(__name__)


class ServiceLoadError(ImportError):
    """A module named in IIIKAFKA_SERVICES could not be imported."""


def load_services(modules: tuple[str, ...]) -> None:
    """Imports each service module; importing registers its functions in `functions`."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ServiceLoadError(f"IIIKAFKA_SERVICES names {module!r}, which cannot be imported: "
                                   f"{exc}") from exc


def worker_id_for(app_id: str) -> str:
    """Unique per process, and usable in a topic name (the worker's reply topic)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]
    return f"{app_id}.{host}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


class FunctionsRuntime:
    def __init__(self, app: faust.App, settings: Settings, processing: EventProcessing,
                 codec: AvroCodec, registry: FunctionRegistry) -> None:
        self.app = app
        self.settings = settings
        self.codec = codec
        self.registry = registry
        self.worker_id = worker_id_for(settings.app_id)
        self.catalog = CatalogView()
        self.producer = AsyncProducer(settings.bootstrap_servers)
        self.caller = Caller(settings, codec, caller_id=self.worker_id, catalog=self.catalog,
                             producer=self.producer)
        self.registered = asyncio.Event()
        self.executor = Executor(app, settings, processing, registry, self.caller, self.worker_id,
                                 self.registered)
        self.publisher: CatalogPublisher | None = None
        self.durable = DurableSubscriptions(settings, codec, registry, self.executor.topic_name,
                                            dead_letter_topic(settings.app_id, settings.partitions).name)
        app.task(self._start)
        app.timer(settings.heartbeat_s, name="iii.heartbeat")(self._heartbeat)
        app.on_before_shutdown.connect(self._stop)

    async def _start(self) -> None:
        settings = self.settings
        topic = catalog_topic(settings.namespace, settings.replication_factor).name
        await asyncio.to_thread(self.catalog.start, settings.bootstrap_servers, topic, self.codec)
        await asyncio.to_thread(self.catalog.wait_caught_up)
        await self.caller.start()  # handlers wait for this (their ctx.trigger needs the caller)
        self.publisher = CatalogPublisher(
            self.producer, self.codec, topic, worker_id=self.worker_id, app_id=settings.app_id,
            invocation_topic=self.executor.topic_name, reply_topic=self.caller.reply_topic.name,
            registry=self.registry, liveness_s=settings.liveness_s,
            queues=self.executor.queues.describe(), view=self.catalog)
        await self.publisher.register()
        self.registered.set()
        await asyncio.to_thread(self.durable.start)
        log.info("worker %s hosts %d function(s): %s", self.worker_id, len(self.registry),
                 ", ".join(f.function_id for f in self.registry) or "none")

    async def _heartbeat(self) -> None:
        if self.publisher is None:
            return
        await self.publisher.heartbeat()
        if self.catalog.lacks_registrations_of(self.worker_id, [f.function_id for f in self.registry]):
            log.warning("catalog: this worker's registrations were removed; registering again")
            await self.publisher.register()
        if not self.catalog.wait_caught_up(0):
            return  # judge nobody stale from a view that has not read the catalog yet
        stale = self.catalog.stale_keys(int(self.settings.liveness_s * 1000))
        if stale:
            gone = sorted({key.split("/")[1] for key in stale if key.startswith("worker/")})
            log.info("catalog: removing registrations of silent worker(s) %s", ", ".join(gone) or "?")
            await self.publisher.tombstone(stale)
            for worker_id in gone:
                reply = self.catalog.reply_topic_of(worker_id)
                if reply:
                    await asyncio.to_thread(delete_topic, self.settings.bootstrap_servers, reply)

    async def _stop(self, sender: object = None, **kwargs: object) -> None:
        await asyncio.to_thread(self.durable.stop)
        await self.executor.stop()
        if self.publisher is not None:
            await self.publisher.unregister()
        await self.caller.close()
        await asyncio.to_thread(self.catalog.close)
        await asyncio.to_thread(self.producer.close)


def install(app: faust.App, settings: Settings, processing: EventProcessing, codec: AvroCodec,
            registry: FunctionRegistry = functions) -> FunctionsRuntime:
    configure_tracing(settings.app_id)
    load_services(settings.services)
    runtime = FunctionsRuntime(app, settings, processing, codec, registry)
    builtins.bind(registry, runtime.catalog, settings, codec)
    return runtime
