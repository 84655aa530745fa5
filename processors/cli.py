"""`iii-kafka`: the command line.

    iii-kafka broker            run the local Kafka broker in the foreground (the embedded default)
    iii-kafka worker [...]      run a Faust worker of the app (Faust's own worker command and options)
    iii-kafka dev               a local broker plus workers, for development; Ctrl-C stops all
    iii-kafka demo send NAME..  send events to the demo counter
    iii-kafka topics            create the topology's topics (workers do this too)
    iii-kafka schemas ACTION    check, publish, list or freeze the event schemas
    iii-kafka trigger ID [JSON] invoke a function by id and print its result (or its error)
    iii-kafka functions         list the functions live workers host (`triggers`: their triggers)
    iii-kafka state ACTION      get, set, delete, update, list KV state; groups; digest
    iii-kafka replay DIR        rebuild the KV view from the state-changed log (to a point in time)
    iii-kafka http              serve http triggers: route HTTP requests to functions (port 3111)

Errors are one line; `--verbose` shows the detail.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from confluent_kafka import KafkaException
from iii_kafka.schemas import CodecError, SchemaError, SchemaStoreError

from .admin import TopicError, app_topics, ensure_topics
from .broker import BrokerConfig, BrokerError, LocalBroker, broker_answers
from .children import stop_on_signals
from .function_commands import add_function_commands
from .schema_commands import add_schema_commands
from .schema_store import publish_schemas
from .settings import Settings, SettingsError
from .state_commands import EXPECTED_STATE_ERRORS, add_state_commands
from .stream_commands import add_stream_commands
from .workers import WorkerError

__all__ = ["main"]

APP_MODULE = "iii_kafka.processors.app:app"
EXPECTED_ERRORS = (BrokerError, SettingsError, TopicError, WorkerError, KafkaException, SchemaError,
                   SchemaStoreError, CodecError, *EXPECTED_STATE_ERRORS)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "worker":
        args.faust_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        return args.run(args) or 0
    except EXPECTED_ERRORS as exc:
        if args.verbose:
            raise
        print(f"iii-kafka: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iii-kafka", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    broker = commands.add_parser("broker", help="run the local Kafka broker in the foreground")
    _broker_options(broker)
    broker.set_defaults(run=_run_broker)

    worker = commands.add_parser(
        "worker", help="run a Faust worker (all of `faust worker`'s options apply)", add_help=False)
    worker.set_defaults(run=_run_worker)

    dev = commands.add_parser("dev", help="start a local broker and workers; Ctrl-C stops them all")
    _broker_options(dev)
    dev.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    dev.add_argument("--web-port", type=int, default=6066, help="first worker's web port (default 6066)")
    dev.set_defaults(run=_run_dev)

    demo = commands.add_parser("demo", help="talk to the demo counter service")
    demo_commands = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    send = demo_commands.add_parser("send", help="send one event per NAME; the workers count them")
    send.add_argument("names", nargs="+", metavar="NAME")
    send.set_defaults(run=_run_demo_send)

    topics = commands.add_parser("topics", help="create the topology's topics if they are missing")
    topics.set_defaults(run=_run_topics)

    http = commands.add_parser("http", help="serve http triggers: route HTTP requests to functions")
    http.add_argument("--host", help="listen address (default IIIKAFKA_HTTP_HOST, else 0.0.0.0)")
    http.add_argument("--port", type=int, help="port (default IIIKAFKA_HTTP_PORT, else 3111)")
    http.set_defaults(run=_run_http)

    add_schema_commands(commands, _require_cluster)
    add_function_commands(commands, _require_cluster)
    add_state_commands(commands, _require_cluster)
    add_stream_commands(commands, _require_cluster)
    return parser


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path(".iii-kafka/broker"),
                        help="broker data and logs (default .iii-kafka/broker)")
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    parser.add_argument("--controller-port", type=int, default=9093,
                        help="KRaft controller port (default 9093)")
    parser.add_argument("--heap", default="1g", help="JVM heap (default 1g)")
    parser.add_argument("--start-timeout", type=float, default=60.0, help="seconds to wait for the broker")


def _broker_config(args: argparse.Namespace) -> BrokerConfig:
    return BrokerConfig(data_dir=args.data_dir, port=args.port,
                        controller_port=args.controller_port, heap=args.heap)


def _run_broker(args: argparse.Namespace) -> int:
    stop_on_signals()
    broker = LocalBroker(_broker_config(args), start_timeout=args.start_timeout)
    broker.start()
    print(f"iii-kafka: Kafka broker ready on {broker.bootstrap_servers} "
          f"(data {args.data_dir}, log {broker.config.server_log}); Ctrl-C stops it", flush=True)
    try:
        code = broker.wait()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("iii-kafka: stopping the broker", flush=True)
        broker.stop()
        print("iii-kafka: broker stopped", flush=True)
        return 0
    raise BrokerError(f"the Kafka broker exited with code {code}; see {broker.config.server_log}")


def _require_cluster(settings: Settings) -> None:
    if broker_answers(settings.bootstrap_servers):
        return
    if settings.bootstrap_is_embedded_default:
        raise BrokerError(f"no Kafka broker answers on {settings.bootstrap_servers}: start one with "
                          "`iii-kafka broker`, or set KAFKA_BOOTSTRAP_SERVERS")
    raise BrokerError(f"no Kafka broker answers on KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers}")


def _run_topics(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _require_cluster(settings)
    created = ensure_topics(settings.bootstrap_servers, app_topics(settings))
    print(f"iii-kafka: created {', '.join(created)}" if created else "iii-kafka: all topics exist")
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _require_cluster(settings)
    # Faust subscribes once at start and ignores topics that do not exist yet: create them first.
    ensure_topics(settings.bootstrap_servers, app_topics(settings))
    publish_schemas(settings)  # before any message that uses them
    settings.tables_dir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    from .functions.executor import forget_local_views

    forget_local_views(settings.tables_dir)  # rebuilt from their committed changelogs
    from faust.cli.faust import cli

    faust_args = list(args.faust_args)
    if "--help" in faust_args or "-h" in faust_args:
        faust_args = ["--help"]
    cli.main(args=["--app", APP_MODULE, "--loop", "uvloop", "worker", *faust_args],
             prog_name="iii-kafka worker", standalone_mode=True)
    return 0


def _run_http(args: argparse.Namespace) -> int:
    from .http.config import HttpSettings
    from .http.server import GatewayError, run_gateway

    settings = Settings.from_env()
    http = HttpSettings.from_env(max_message_bytes=settings.max_message_bytes)
    http = HttpSettings(host=args.host or http.host, port=http.port if args.port is None else args.port,
                        timeout_ms=http.timeout_ms, max_body_bytes=http.max_body_bytes)
    _require_cluster(settings)
    try:
        return run_gateway(settings, http)
    except GatewayError as exc:
        if args.verbose:
            raise
        print(f"iii-kafka: error: {exc}", file=sys.stderr)
        return 1


def _run_demo_send(args: argparse.Namespace) -> int:
    from .demo.client import send_events

    settings = Settings.from_env()
    _require_cluster(settings)
    topic = send_events(settings, args.names)
    print(f"iii-kafka: sent {len(args.names)} event(s) to {topic}")
    return 0


def _run_dev(args: argparse.Namespace) -> int:
    from .devstack import DevStack

    return DevStack(Settings.from_env(), _broker_config(args), args.start_timeout,
                    workers=args.workers, first_web_port=args.web_port).run()


if __name__ == "__main__":
    sys.exit(main())
