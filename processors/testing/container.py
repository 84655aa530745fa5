"""A single-node Kafka (KRaft) in a container, started by testcontainers.

Works with the project's locally built image and with the official `apache/kafka` image: both read
their configuration from KAFKA_* environment variables and start with /etc/kafka/docker/run.
"""

from __future__ import annotations

import io
import os
import tarfile
import time

from testcontainers.core.container import DockerContainer

from ..broker.readiness import wait_until_ready

__all__ = ["DEFAULT_IMAGE", "KafkaBrokerContainer"]

DEFAULT_IMAGE = "local/iii-kafka-broker:4.4.0"
_CLIENT_PORT = 9092
_START_SCRIPT = "/tc-start.sh"


class KafkaBrokerContainer(DockerContainer):
    """Kafka advertising its mapped port, so clients on the host reach it.

    The mapped port is known only after the container starts, so the container first waits for a
    start script, which `start()` writes with the advertised listener, as testcontainers' own
    Kafka modules do.
    """

    def __init__(self, image: str | None = None, **kwargs: object) -> None:
        super().__init__(image or os.environ.get("IIIKAFKA_KAFKA_IMAGE", DEFAULT_IMAGE), **kwargs)
        self.with_exposed_ports(_CLIENT_PORT)
        for key, value in {
            "CLUSTER_ID": "iii-kafka-testcluster",
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS":
                "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":
                "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
            "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "4",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "4",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        }.items():
            self.with_env(key, value)
        self.with_command(
            f"sh -c 'while [ ! -f {_START_SCRIPT} ]; do sleep 0.1; done; exec sh {_START_SCRIPT}'")

    def get_bootstrap_server(self) -> str:
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(_CLIENT_PORT)}"

    def start(self, timeout: float = 90.0) -> "KafkaBrokerContainer":
        super().start()
        bootstrap = self.get_bootstrap_server()
        self._put_file(_START_SCRIPT, (
            f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{bootstrap},BROKER://localhost:9093\n"
            "exec /etc/kafka/docker/run\n"
        ).encode())
        if not wait_until_ready(bootstrap, timeout, self._running):
            logs = self._log_tail()
            self.stop()
            raise RuntimeError(f"Kafka container ({self.image}) not ready on {bootstrap} after "
                               f"{timeout:.0f}s; its last log lines:\n{logs}")
        return self

    def _running(self) -> bool:
        container = self.get_wrapped_container()
        container.reload()
        return container.status in ("created", "running")

    def _log_tail(self, lines: int = 30) -> str:
        stdout, stderr = self.get_logs()
        text = (stdout + stderr).decode(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def _put_file(self, path: str, content: bytes) -> None:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mtime, info.mode = len(content), int(time.time()), 0o755
            tar.addfile(info, io.BytesIO(content))
        self.get_wrapped_container().put_archive("/", archive.getvalue())
