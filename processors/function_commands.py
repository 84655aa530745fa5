"""`iii-kafka trigger|functions|triggers`: call a function by id, and read the catalog.

    iii-kafka trigger math::add '{"a": 2, "b": 3}'     prints the result as JSON, or the error
    iii-kafka trigger mail::send '{...}' --void        fire and forget
    iii-kafka trigger mail::send '{...}' --enqueue q   durable; prints the receipt
    iii-kafka functions                                the functions live workers host
    iii-kafka triggers                                 the triggers live workers registered
    iii-kafka queue redrive QUEUE                      dead letters of QUEUE back on the queue
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from .functions.actions import TriggerAction
from .functions.caller import Caller
from .functions.errors import InvocationError
from .functions.redrive import redrive_queue
from .functions.tracing import configure_tracing
from .schema_store import schema_topic_client
from .settings import Settings

__all__ = ["add_function_commands", "bytes_as_text", "with_caller"]


def add_function_commands(commands: argparse._SubParsersAction,
                          require_cluster: Callable[[Settings], None]) -> None:
    trigger = commands.add_parser("trigger", help="invoke a function by id and print its result")
    trigger.add_argument("function_id", metavar="FUNCTION_ID", help="service::name")
    trigger.add_argument("payload", nargs="?", default="null", metavar="JSON",
                         help="the payload, as JSON (default null)")
    action = trigger.add_mutually_exclusive_group()
    action.add_argument("--void", action="store_true", help="fire and forget")
    action.add_argument("--enqueue", metavar="QUEUE", help="durable, through QUEUE; prints the receipt")
    trigger.add_argument("--timeout-ms", type=int, default=30_000, help="how long to wait (default 30000)")
    trigger.set_defaults(run=lambda args: _trigger(args, require_cluster))

    listing = commands.add_parser("functions", help="list the functions live workers host")
    listing.add_argument("--json", action="store_true", help="print JSON (iii's engine::functions::list)")
    listing.set_defaults(run=lambda args: _list(args, require_cluster, "functions"))

    triggers = commands.add_parser("triggers", help="list the triggers live workers registered")
    triggers.add_argument("--json", action="store_true", help="print JSON")
    triggers.set_defaults(run=lambda args: _list(args, require_cluster, "triggers"))

    queue = commands.add_parser("queue", help="manage the queues of the app (IIIKAFKA_APP_ID)")
    queue_actions = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    redrive = queue_actions.add_parser("redrive", help="put QUEUE's dead letters back on the queue")
    redrive.add_argument("queue", metavar="QUEUE")
    redrive.set_defaults(run=lambda args: _redrive(args, require_cluster))


def _trigger(args: argparse.Namespace, require_cluster: Callable[[Settings], None]) -> int:
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise InvocationError("invalid_payload", f"the payload is not JSON: {exc}") from None
    action = TriggerAction.Void() if args.void else \
        TriggerAction.Enqueue(args.enqueue) if args.enqueue else None

    async def call(caller: Caller) -> Any:
        return await caller.trigger(args.function_id, payload, action, args.timeout_ms)

    try:
        result = with_caller(require_cluster, call)
    except InvocationError as error:
        if args.verbose and error.stacktrace:
            print(error.stacktrace, file=sys.stderr)
        print(f"iii-kafka: error: {error}", file=sys.stderr)
        return 1
    if action is None or action.kind == "enqueue":
        print(json.dumps(result, default=bytes_as_text))
    return 0


def _redrive(args: argparse.Namespace, require_cluster: Callable[[Settings], None]) -> int:
    from iii_kafka.schemas import AvroCodec

    settings = Settings.from_env()
    require_cluster(settings)
    store = schema_topic_client(settings)
    try:
        count = redrive_queue(settings, AvroCodec(store=store), args.queue)
    finally:
        store.close()
    print(f"iii-kafka: redrove {count} message(s) of queue {args.queue} (app {settings.app_id})")
    return 0


def _list(args: argparse.Namespace, require_cluster: Callable[[Settings], None], what: str) -> int:
    async def read(caller: Caller) -> list[dict[str, Any]]:
        return caller.list_functions() if what == "functions" else caller.list_triggers()

    entries = with_caller(require_cluster, read)
    if args.json:
        key = "functions" if what == "functions" else "registered_triggers"
        print(json.dumps({key: entries}, indent=2, default=bytes_as_text))
    elif what == "functions":
        _table(["FUNCTION", "WORKER", "DESCRIPTION"],
               [[e["function_id"], e["worker_name"], e["description"] or ""] for e in entries])
    else:
        _table(["TRIGGER", "TYPE", "FUNCTION", "WORKER"],
               [[e["id"], e["trigger_type"], e["function_id"], e["worker_name"]] for e in entries])
    return 0


def with_caller(require_cluster: Callable[[Settings], None], work: Callable[[Caller], Any]) -> Any:
    require_cluster(Settings.from_env())
    configure_tracing("iii-kafka-cli")
    logging.getLogger("iii_kafka.processors.admin").setLevel(logging.WARNING)  # its reply topic

    async def run() -> Any:
        async with Caller.from_env() as caller:
            return await work(caller)

    return asyncio.run(run())


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def bytes_as_text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
