"""`iii-kafka schemas ...`: publish, list, check and freeze the event schemas.

    iii-kafka schemas check [--baseline DIR]   refuse a change that cannot read events already written
    iii-kafka schemas publish                  publish the tree's schemas to the schema topic
    iii-kafka schemas list                     what the schema topic holds
    iii-kafka schemas freeze [DIR]             record the tree's schemas as released (the CI baseline)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iii_kafka.schemas import SCHEMA_DIR, NamedSchema, SchemaError, load_directory
from iii_kafka.schemas.compatibility import check_history

from .schema_store import publish_schemas, published_schemas
from .settings import Settings

__all__ = ["RELEASED_DIR", "add_schema_commands"]

RELEASED_DIR = SCHEMA_DIR / "released"


def add_schema_commands(commands: argparse._SubParsersAction, require_cluster) -> None:  # noqa: ANN001
    schemas = commands.add_parser("schemas", help="check, publish, list and freeze the event schemas")
    actions = schemas.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")

    check = actions.add_parser("check", help="refuse schema changes that cannot read events already written")
    check.add_argument("--baseline", type=Path, metavar="DIR",
                       help="compare with the .avsc files in DIR (e.g. schemas/released) instead of the "
                            "schema topic")
    check.add_argument("--schemas", type=Path, default=SCHEMA_DIR, metavar="DIR",
                       help="the schemas to check (default: the tree's)")
    check.set_defaults(run=lambda args: _check(args, require_cluster))

    publish = actions.add_parser("publish", help="publish the tree's schemas to the schema topic")
    publish.set_defaults(run=lambda args: _publish(require_cluster))

    listing = actions.add_parser("list", help="list the schemas in the schema topic")
    listing.set_defaults(run=lambda args: _list(require_cluster))

    freeze = actions.add_parser("freeze", help="record the tree's schemas as released versions")
    freeze.add_argument("into", type=Path, nargs="?", default=RELEASED_DIR, metavar="DIR",
                        help=f"where released versions are kept (default {RELEASED_DIR})")
    freeze.set_defaults(run=_freeze)


def _cluster_settings(require_cluster) -> Settings:  # noqa: ANN001
    settings = Settings.from_env()
    require_cluster(settings)
    return settings


def load_versions(directory: Path) -> list[NamedSchema]:
    """Every `.avsc` in `directory` as a self-contained schema, whatever the file is called."""
    if not directory.is_dir():
        raise SchemaError(f"baseline {directory} is not a directory")
    return [NamedSchema.from_json(path.read_text()) for path in sorted(directory.glob("*.avsc"))]


def _check(args: argparse.Namespace, require_cluster) -> int:  # noqa: ANN001
    current = load_directory(args.schemas)
    if args.baseline is not None:
        history, source = load_versions(args.baseline), str(args.baseline)
    else:
        settings = _cluster_settings(require_cluster)
        history, source = published_schemas(settings), f"schema topic {settings.schema_topic}"
    problems = check_history(current, history)
    for problem in problems:
        print(f"iii-kafka: incompatible: {problem}")
    names = {schema.name for schema in current}
    compared = sum(1 for old in history if old.name in names)
    if problems:
        print(f"iii-kafka: {len(problems)} breaking change(s) against {source}; keep old events readable "
              "(add fields with defaults, keep enum symbols and union branches) or use a new name")
        return 1
    print(f"iii-kafka: {len(current)} schemas read all {compared} earlier version(s) in {source}")
    return 0


def _publish(require_cluster) -> int:  # noqa: ANN001
    settings = _cluster_settings(require_cluster)
    count = publish_schemas(settings)
    print(f"iii-kafka: {count} schemas are in schema topic {settings.schema_topic}")
    return 0


def _list(require_cluster) -> int:  # noqa: ANN001
    settings = _cluster_settings(require_cluster)
    published = published_schemas(settings)
    for schema in sorted(published, key=lambda s: s.name):
        print(f"{schema.fingerprint_hex}  {schema.name}")
    print(f"iii-kafka: {len(published)} schema version(s) in {settings.schema_topic}")
    return 0


def _freeze(args: argparse.Namespace) -> int:
    args.into.mkdir(parents=True, exist_ok=True)
    written = 0
    for schema in load_directory(SCHEMA_DIR):
        path = args.into / f"{schema.name}.{schema.fingerprint_hex}.avsc"
        if not path.exists():
            path.write_text(schema.to_json() + "\n")
            written += 1
    print(f"iii-kafka: {written} new released version(s) in {args.into}")
    return 0
