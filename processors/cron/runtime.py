"""Cron triggers in a worker process: the cron thread, started and stopped with the worker.

Every worker (unless `IIIKAFKA_CRON=0`) runs one; the one that leads the namespace's cron group
fires every cron trigger of the namespace (docs/cron.md). The thread starts once the worker's own
registrations are in its catalog view, so the first leader sees the triggers it hosts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

import faust
from iii_kafka.schemas import AvroCodec
from iii_kafka.topology.cron_topic import cron_topic

from ..admin import ensure_topics
from ..functions.bindings import Bindings
from ..functions.runtime import FunctionsRuntime
from ..settings import Settings, SettingsError
from .election import CronLeader

__all__ = ["cron_enabled", "install"]

log = logging.getLogger(__name__)


def cron_enabled(env: Mapping[str, str] | None = None) -> bool:
    """`IIIKAFKA_CRON` (default on): whether this worker takes part in firing cron triggers."""
    env = os.environ if env is None else env
    raw = env.get("IIIKAFKA_CRON", "1").strip().lower()
    if raw not in ("1", "0", "true", "false", "yes", "no", ""):
        raise SettingsError(f"IIIKAFKA_CRON={raw!r}: use 1 or 0")
    return raw in ("1", "true", "yes", "")


def install(app: faust.App, settings: Settings, codec: AvroCodec, functions: FunctionsRuntime) -> None:
    if not cron_enabled():
        return
    topic = cron_topic(settings.namespace, settings.replication_factor)
    holder: dict[str, CronLeader] = {}

    async def start() -> None:
        await functions.registered.wait()
        await asyncio.to_thread(ensure_topics, settings.bootstrap_servers, [topic])
        holder["leader"] = CronLeader(settings, codec, topic.name, Bindings(functions.catalog, "cron"),
                                      functions.worker_id).start()

    async def stop(sender: object = None, **kwargs: object) -> None:
        leader = holder.pop("leader", None)
        if leader is not None:
            await asyncio.to_thread(leader.stop)

    app.task(start)
    app.on_before_shutdown.connect(stop)
