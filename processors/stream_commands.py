"""`iii-kafka stream ...` and `iii-kafka publish`: streams and pub/sub from the command line.

    iii-kafka stream watch STREAM GROUP [--item ID] [--count N]   print the group's messages as they come
    iii-kafka stream set STREAM GROUP ITEM JSON                   {"old_value": ..., "new_value": ...}
    iii-kafka stream get STREAM GROUP ITEM | list STREAM GROUP | groups STREAM
    iii-kafka stream send STREAM GROUP TYPE JSON                  an ephemeral event to the group
    iii-kafka publish TOPIC JSON [--durable]                      pub/sub, or a durable topic

`watch` prints one JSON line per message (iii's stream message), like kafka-console-consumer,
until Ctrl-C or `--count` messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from .function_commands import bytes_as_text, with_caller
from .functions.errors import InvocationError
from .settings import Settings

__all__ = ["add_stream_commands"]

ACTIONS = [
    ("set", ["stream_name", "group_id", "item_id", "data"], "set an item's value (JSON)"),
    ("get", ["stream_name", "group_id", "item_id"], "print an item's value"),
    ("delete", ["stream_name", "group_id", "item_id"], "delete an item; prints its old value"),
    ("list", ["stream_name", "group_id"], "print a group's values"),
    ("groups", ["stream_name"], "print a stream's groups"),
    ("send", ["stream_name", "group_id", "type", "data"], "send an ephemeral event (JSON data) to a group"),
]


def add_stream_commands(commands: argparse._SubParsersAction,
                        require_cluster: Callable[[Settings], None]) -> None:
    stream = commands.add_parser("stream", help="streams: watch a group live, read and write its items")
    actions = stream.add_subparsers(dest="stream_command", required=True, metavar="ACTION")
    watch = actions.add_parser("watch", help="print a group's messages as they come, in order")
    watch.add_argument("stream_name", metavar="STREAM")
    watch.add_argument("group_id", metavar="GROUP")
    watch.add_argument("--item", help="only this item's messages")
    watch.add_argument("--count", type=int, help="stop after N messages")
    watch.set_defaults(run=lambda args: _run(require_cluster, lambda caller: _watch(caller, args),
                                             print_result=False))
    for name, fields, help_text in ACTIONS:
        action = actions.add_parser(name, help=help_text)
        for field in fields:
            action.add_argument(field, metavar=field.split("_")[0].upper())
        action.set_defaults(run=lambda args, name=name: _run(require_cluster, lambda caller: _call(
            caller, name, args)))
    publish = commands.add_parser("publish", help="publish a message to a pub/sub (or --durable) topic")
    publish.add_argument("topic", metavar="TOPIC")
    publish.add_argument("data", metavar="JSON")
    publish.add_argument("--durable", action="store_true", help="to a durable topic (iii::durable::publish)")
    publish.set_defaults(run=lambda args: _run(require_cluster, lambda caller: caller.trigger(
        "iii::durable::publish" if args.durable else "publish",
        {"topic": args.topic, "data": _json(args.data, "JSON")})))


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvocationError("deserialization_error", f"{what} is not JSON: {exc}") from None


async def _call(caller: Any, name: str, args: argparse.Namespace) -> Any:
    fields = ("stream_name", "group_id", "item_id", "type")
    payload = {k: getattr(args, k) for k in fields if hasattr(args, k)}
    if hasattr(args, "data"):
        payload["data"] = _json(args.data, "JSON")
    function_id = "stream::list_groups" if name == "groups" else f"stream::{name}"
    return await caller.trigger(function_id, payload)


async def _watch(caller: Any, args: argparse.Namespace) -> None:
    seen = 0
    async with caller.streams.subscribe(args.stream_name, args.group_id, args.item) as messages:
        print(f"iii-kafka: watching {args.stream_name}/{args.group_id}; Ctrl-C stops", file=sys.stderr)
        while args.count is None or seen < args.count:
            print(json.dumps(await messages.get(), default=bytes_as_text), flush=True)
            seen += 1


def _run(require_cluster: Callable[[Settings], None], work: Callable[[Any], Any],
         print_result: bool = True) -> int:
    try:
        result = with_caller(require_cluster, work)
    except InvocationError as error:
        print(f"iii-kafka: error: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130
    if print_result:
        print(json.dumps(result, default=bytes_as_text))
    return 0
