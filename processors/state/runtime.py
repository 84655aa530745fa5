"""KV state in a worker process: its state owner thread, started and stopped with the worker.

Every worker (unless `IIIKAFKA_STATE_OWNER=0`) joins the namespace's state group, owns some state
partitions, keeps their RocksDB view in `<IIIKAFKA_DATA_DIR>/state/view`, and hosts the state
functions in the catalog (their invocations go to `<ns>.state.requests`, not to the app's
executor).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from pathlib import Path

import faust
from iii_kafka.schemas import AvroCodec
from iii_kafka.state.view import StateView
from iii_kafka.topology.messaging import streams_topic
from iii_kafka.topology.state import STATE_FUNCTIONS, StateTopics, state_topics

from ..functions.errors import ErrorCode, InvocationError
from ..functions.registry import FunctionRegistry
from ..functions.runtime import FunctionsRuntime
from ..settings import Settings
from .owner import StateOwner
from .triggers import StateTriggers
from .views import ViewRunner, views

__all__ = ["install", "owner_id_for", "register_state_functions"]

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    "state::set": "Sets a key's value; returns {old_value, new_value}",
    "state::get": "A key's value, or null",
    "state::delete": "Deletes a key; returns its old value",
    "state::update": "Applies ops (set, merge, increment, decrement, append, remove) to a key, all or "
                     "nothing",
    "state::list": "The values of a scope",
    "state::list_groups": "The scopes that hold values",
    "state::digest": "An order-independent digest of each scope",
}


def owner_id_for(state_dir: Path) -> str:
    """This data dir's owner id, kept across restarts: a restarted owner takes over its own
    transactional id, so its predecessor's open transaction is aborted at once."""
    path = state_dir / "owner-id"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    owner_id = uuid.uuid4().hex[:16]
    path.write_text(owner_id + "\n")
    return owner_id


def quieten_garbage_collector() -> None:
    """State owners make and drop many small acyclic objects (decoded commands and values); with
    CPython's default thresholds, collections that scan the worker's whole long-lived heap (Faust,
    aiokafka, every module) take a large share of an owner's time. Its long-lived objects are frozen
    out of collections once started, and young collections run less often."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def register_state_functions(registry: FunctionRegistry, requests_topic: str) -> None:
    def answered_elsewhere(data: object) -> None:
        raise InvocationError(ErrorCode.INVOCATION_FAILED, "state functions are answered by the state "
                              f"owners on {requests_topic}; call them through a Caller")

    for function_id in STATE_FUNCTIONS:
        if registry.get(function_id) is None:
            registry.register_function(function_id, answered_elsewhere, description=DESCRIPTIONS[function_id],
                                       invocation_topic=requests_topic)


def install(app: faust.App, settings: Settings, codec: AvroCodec, functions: FunctionsRuntime) -> None:
    topics = state_topics(settings.namespace, settings.state_partitions, settings.replication_factor)
    _install_views(app, settings, codec, topics.changes.name)
    if settings.state_owner:
        _install_owner(app, settings, codec, functions, topics)


def _install_views(app: faust.App, settings: Settings, codec: AvroCodec, changes_topic: str) -> None:
    runners: list[ViewRunner] = []

    async def start() -> None:
        for name, versions in views.definitions().items():
            runners.append(ViewRunner(settings.bootstrap_servers, changes_topic, codec,
                                      settings.data_dir / "views", name, versions, views).start())

    async def stop(sender: object = None, **kwargs: object) -> None:
        for runner in runners:
            await asyncio.to_thread(runner.stop)

    if views.definitions():
        app.task(start)
        app.on_before_shutdown.connect(stop)


def _install_owner(app: faust.App, settings: Settings, codec: AvroCodec, functions: FunctionsRuntime,
                   topics: StateTopics) -> None:
    register_state_functions(functions.registry, topics.requests.name)
    state_dir = settings.data_dir / "state"
    holder: dict[str, StateOwner] = {}

    async def start() -> None:
        loop = asyncio.get_running_loop()
        quieten_garbage_collector()

        def fatal(exc: BaseException) -> None:
            log.error("the state owner cannot go on (%s); the worker stops", exc)
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(app.crash(exc)))

        view = StateView(state_dir / "view")
        triggers = StateTriggers(functions.catalog, codec, streams_topic(
            settings.namespace, settings.state_partitions, settings.replication_factor).name)
        holder["owner"] = StateOwner(settings, codec, topics, view, owner_id_for(state_dir), triggers,
                                     functions.worker_id, fatal).start()

    async def stop(sender: object = None, **kwargs: object) -> None:
        owner = holder.pop("owner", None)
        if owner is not None:
            await asyncio.to_thread(owner.stop)
            owner.view.close()

    app.task(start)
    app.on_before_shutdown.connect(stop)
