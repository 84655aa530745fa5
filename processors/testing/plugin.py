"""pytest plugin: a real Kafka broker per test session, and worker processes per test.

Fixtures:
    kafka_bootstrap_servers  the session's cluster (see cluster.py for where it comes from)
    kafka_app_id             a fresh app id per test: its own topics, consumer group and tables
    app_topics               creates the test app's topics up front (before producing to them)
    worker_env               the environment a worker of this test runs with
    worker_factory           starts `iii-kafka worker` processes; stops them after the test
    avro_codec               the engine's codec, publishing to the cluster's schema topic
    function_caller          triggers functions of the test's workers (a BlockingCaller)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# Our fixtures stop their own containers; Ryuk (the reaper) needs an image that may not be
# reachable. Set TESTCONTAINERS_RYUK_DISABLED=false to use it anyway. Must precede the import
# of testcontainers, which reads its configuration once.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import pytest  # noqa: E402
from iii_kafka.schemas import AvroCodec  # noqa: E402

from ..admin import app_topics as topology_topics  # noqa: E402
from ..admin import ensure_topics  # noqa: E402
from ..functions.blocking import BlockingCaller  # noqa: E402
from ..schema_store import schema_topic_client  # noqa: E402
from ..settings import Settings  # noqa: E402
from ..workers import WorkerProcess  # noqa: E402
from .cluster import TestCluster, start_test_cluster  # noqa: E402


@pytest.fixture(scope="session")
def kafka_cluster(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCluster]:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        """Writes past pytest's output capture: where the broker came from must be visible."""
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    cluster = start_test_cluster(tmp_path_factory.mktemp("kafka-broker"), say)
    say(f"iii-kafka: tests' Kafka broker: {cluster.description}")
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(kafka_cluster: TestCluster) -> str:
    return kafka_cluster.bootstrap_servers


@pytest.fixture
def kafka_app_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def worker_env(kafka_bootstrap_servers: str, kafka_app_id: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "IIIKAFKA_APP_ID": kafka_app_id,
        "IIIKAFKA_PARTITIONS": "4",
        "IIIKAFKA_SESSION_TIMEOUT": "6",
        "IIIKAFKA_NAMESPACE": kafka_app_id,  # its own catalog: no other test's functions
    }


@pytest.fixture
def app_topics(worker_env: dict[str, str]) -> list[str]:
    """Creates the test app's topics (as a worker would at start); returns their names."""
    settings = Settings.from_env(worker_env)
    specs = topology_topics(settings)
    ensure_topics(settings.bootstrap_servers, specs)
    return [spec.name for spec in specs]


@pytest.fixture
def worker_factory(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """`worker_factory(name="w1")` starts a worker with its own data dir and waits until ready."""
    started: list[WorkerProcess] = []

    def start(name: str = "w1", ready_timeout: float = 90.0, web_port: int | None = None,
              **env: str) -> WorkerProcess:
        data_dir = tmp_path / name
        worker = WorkerProcess(data_dir / "worker.log", web_port=web_port,
                               env={**worker_env, "IIIKAFKA_DATA_DIR": str(data_dir), **env})
        started.append(worker)
        return worker.start().wait_ready(ready_timeout)

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def avro_codec(worker_env: dict[str, str]) -> Iterator[AvroCodec]:
    """Encodes as the engine does: each schema is published before the first message using it."""
    settings = Settings.from_env(worker_env)
    store = schema_topic_client(settings)
    yield AvroCodec(store=store)
    store.close()


@pytest.fixture
def function_caller(worker_env: dict[str, str], avro_codec: AvroCodec) -> Iterator[BlockingCaller]:
    """Triggers functions in the test's namespace: `function_caller.trigger("math::add", {...})`."""
    caller = BlockingCaller(Settings.from_env(worker_env), avro_codec)
    yield caller
    caller.close()
