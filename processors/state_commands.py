"""`iii-kafka state ...` and `iii-kafka replay`: KV state from the command line.

    iii-kafka state set SCOPE KEY JSON            {"old_value": ..., "new_value": ...}
    iii-kafka state get SCOPE KEY                 the value (null when missing)
    iii-kafka state delete SCOPE KEY              the old value
    iii-kafka state update SCOPE KEY OPS_JSON     ops: [{"type": "increment", "path": "n", "by": 1}, ...]
    iii-kafka state list SCOPE                    the scope's values
    iii-kafka state groups                        the scopes (iii's state::list_groups)
    iii-kafka state digest [--view DIR]           digest per scope: of the live state, or of a rebuilt view
    iii-kafka replay DIR [--until TIME] [--until-offset P:O,...]   rebuild the view from the log
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from iii_kafka.schemas import AvroCodec
from iii_kafka.state.digest import digest_view, format_digests
from iii_kafka.state.replay import ReplayError, rebuild
from iii_kafka.state.view import StateView
from iii_kafka.topology.state import state_topics

from .broker import broker_answers
from .function_commands import bytes_as_text, with_caller
from .functions.errors import InvocationError
from .schema_store import schema_topic_client
from .settings import Settings

__all__ = ["EXPECTED_STATE_ERRORS", "add_state_commands"]

EXPECTED_STATE_ERRORS = (ReplayError,)


def add_state_commands(commands: argparse._SubParsersAction,
                       require_cluster: Callable[[Settings], None]) -> None:
    state = commands.add_parser("state", help="read and write KV state (iii's state::* functions)")
    actions = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    for name, fields, help_text in [
        ("set", ["scope", "key", "value"], "set a key's value (JSON)"),
        ("get", ["scope", "key"], "print a key's value"),
        ("delete", ["scope", "key"], "delete a key; prints its old value"),
        ("update", ["scope", "key", "ops"], "apply ops (a JSON list) to a key, all or nothing"),
        ("list", ["scope"], "print a scope's values"),
        ("groups", [], "print the scopes that hold values"),
    ]:
        action = actions.add_parser(name, help=help_text)
        for field in fields:
            action.add_argument(field, metavar=field.upper())
        action.set_defaults(run=lambda args, name=name: _call(args, name, require_cluster))
    digest = actions.add_parser("digest", help="an order-independent digest per scope")
    digest.add_argument("--view", metavar="DIR", help="of a view rebuilt by `iii-kafka replay` (default: "
                        "of the live state, asked of the owners)")
    digest.add_argument("--scope", help="only this scope")
    digest.set_defaults(run=lambda args: _digest(args, require_cluster))

    replay = commands.add_parser("replay", help="rebuild the KV view from the state-changed log")
    replay.add_argument("out", metavar="DIR", help="a new directory for the rebuilt RocksDB view")
    replay.add_argument("--until", metavar="TIME", help="as of this time: ISO 8601 (UTC unless it says) "
                        "or milliseconds since the epoch")
    replay.add_argument("--until-offset", metavar="P:O[,P:O...]",
                        help="stop each partition P before offset O")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(run=lambda args: _replay(args, require_cluster))


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvocationError("deserialization_error", f"{what} is not JSON: {exc}") from None


def _call(args: argparse.Namespace, name: str, require_cluster: Callable[[Settings], None]) -> int:
    payload: dict[str, Any] = {k: getattr(args, k) for k in ("scope", "key") if hasattr(args, k)}
    if name == "set":
        payload["value"] = _json_argument(args.value, "VALUE")
    if name == "update":
        payload["ops"] = _json_argument(args.ops, "OPS")
    function_id = "state::list_groups" if name == "groups" else f"state::{name}"

    async def call(caller: Any) -> Any:
        return await caller.trigger(function_id, payload)

    return _print_result(lambda: with_caller(require_cluster, call))


def _digest(args: argparse.Namespace, require_cluster: Callable[[Settings], None]) -> int:
    if args.view:
        settings = Settings.from_env()
        # older schema versions in the view are looked up in the schema topic, when it answers
        store = schema_topic_client(settings) if broker_answers(settings.bootstrap_servers) else None
        try:
            with StateView(args.view) as view:
                digests = format_digests(digest_view(view, AvroCodec(store=store).decode, args.scope))
        finally:
            if store is not None:
                store.close()
        print(json.dumps(digests, indent=2))
        return 0
    payload = {} if args.scope is None else {"scope": args.scope}

    async def call(caller: Any) -> Any:
        return await caller.trigger("state::digest", payload)

    return _print_result(lambda: with_caller(require_cluster, call), indent=2)


def _print_result(call: Callable[[], Any], indent: int | None = None) -> int:
    try:
        result = call()
    except InvocationError as error:
        print(f"iii-kafka: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=indent, default=bytes_as_text))
    return 0


def _replay(args: argparse.Namespace, require_cluster: Callable[[Settings], None]) -> int:
    settings = Settings.from_env()
    require_cluster(settings)
    topics = state_topics(settings.namespace, settings.state_partitions, settings.replication_factor)
    topic = topics.changes.name
    until_ms = _parse_time(args.until) if args.until else None
    until_offsets = _parse_offsets(args.until_offset) if args.until_offset else None
    bars: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            from tqdm import tqdm

            bars.append(tqdm(total=total, unit=" changes", unit_scale=True, desc=f"replay {topic}",
                             file=sys.stderr))
        bars[0].total = max(total, done)
        bars[0].n = done
        bars[0].refresh()

    try:
        summary = rebuild(settings.bootstrap_servers, topic, args.out, until_ms=until_ms,
                          until_offsets=until_offsets, progress=None if args.no_progress else progress)
    finally:
        for bar in bars:
            bar.close()
    bound = ""
    if until_ms is not None:
        bound = f", as of {datetime.fromtimestamp(until_ms / 1000, timezone.utc).isoformat()}"
    print(f"iii-kafka: replayed {summary.changes} change(s) of {summary.partitions} partition(s) of {topic} "
          f"into {args.out} in {summary.elapsed_s:.1f} s ({summary.rate:,.0f} changes/s){bound}; "
          f"stopped before offsets {', '.join(f'{p}:{o}' for p, o in sorted(summary.ends.items()))}")
    return 0


def _parse_time(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(f"--until {text!r} is neither ISO 8601 nor milliseconds since the epoch") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _parse_offsets(text: str) -> dict[int, int]:
    offsets = {}
    for part in text.split(","):
        partition, _, offset = part.strip().partition(":")
        if not partition.isdigit() or not offset.isdigit():
            raise ReplayError(f"--until-offset {text!r}: use PARTITION:OFFSET[,PARTITION:OFFSET...]")
        offsets[int(partition)] = int(offset)
    return offsets
