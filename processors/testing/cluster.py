"""Chooses where the tests' Kafka comes from, and starts it.

1. `KAFKA_BOOTSTRAP_SERVERS` set: that cluster.
2. Otherwise a container started by testcontainers (`IIIKAFKA_KAFKA_IMAGE`, default the local
   image built by docker/build-images).
3. Where no container engine can run at all, the local broker process, said in one visible line.
   `IIIKAFKA_TEST_BROKER=container` forbids that fallback; `=process` asks for it.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..broker import BrokerConfig, LocalBroker
from ..broker.readiness import free_port

__all__ = ["ClusterSource", "TestCluster", "container_engine_error", "start_test_cluster"]


class ClusterSource(enum.Enum):
    EXISTING = "existing cluster (KAFKA_BOOTSTRAP_SERVERS)"
    CONTAINER = "container started by testcontainers"
    LOCAL_PROCESS = "local broker process"


@dataclass
class TestCluster:
    """A running cluster for tests; `close()` stops what was started for them."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    bootstrap_servers: str
    source: ClusterSource
    description: str
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

    def close(self) -> None:
        self._close()


def start_test_cluster(workdir: Path, say: Callable[[str], None] = print) -> TestCluster:
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if existing:
        return TestCluster(existing, ClusterSource.EXISTING, f"{ClusterSource.EXISTING.value}: {existing}")
    mode = os.environ.get("IIIKAFKA_TEST_BROKER", "auto")
    if mode not in ("auto", "container", "process"):
        raise ValueError(f"IIIKAFKA_TEST_BROKER={mode!r}: use auto, container or process")
    if mode != "process":
        engine_error = container_engine_error()
        if engine_error is None:
            return _start_container()
        if mode == "container":
            raise RuntimeError(f"IIIKAFKA_TEST_BROKER=container but no container engine: {engine_error}")
        say(f"iii-kafka: no container engine ({engine_error}); "
            "falling back to the local Kafka broker process")
    return _start_local_process(workdir)


def container_engine_error() -> str | None:
    """None when Docker answers; else why not, in one line."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.close()
    except Exception as exc:  # docker raises many types here; all mean "no engine"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
    return None


def _start_container() -> TestCluster:
    from .container import KafkaBrokerContainer

    container = KafkaBrokerContainer()
    try:
        container.start()
    except Exception as exc:
        if "No such image" in str(exc) or "not found" in str(exc).lower() and "image" in str(exc).lower():
            raise RuntimeError(f"image {container.image} is missing: build it with docker/build-images, "
                               "or set IIIKAFKA_KAFKA_IMAGE (e.g. apache/kafka:4.1.0)") from exc
        raise
    wrapped = container.get_wrapped_container()
    description = (f"{ClusterSource.CONTAINER.value}: image {container.image}, "
                   f"container {wrapped.short_id}, bootstrap {container.get_bootstrap_server()}")
    return TestCluster(container.get_bootstrap_server(), ClusterSource.CONTAINER, description, container.stop)


def _start_local_process(workdir: Path) -> TestCluster:
    port, controller_port = free_port(), free_port()
    broker = LocalBroker(BrokerConfig(data_dir=workdir, port=port, controller_port=controller_port)).start()
    description = (f"{ClusterSource.LOCAL_PROCESS.value}: pid {broker.pid}, "
                   f"bootstrap {broker.bootstrap_servers}, log {broker.config.server_log}")
    return TestCluster(broker.bootstrap_servers, ClusterSource.LOCAL_PROCESS, description, broker.stop)

