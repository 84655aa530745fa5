"""A broker of a test's own that keeps its address and its data across a restart.

For tests of what survives the broker going away. It is a container started by testcontainers
with a fixed host port (so a restart keeps the address clients know) when a container engine
runs, else the local broker process on fixed ports; either way real Apache Kafka.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..broker import BrokerConfig, LocalBroker
from ..broker.readiness import free_port, wait_until_ready
from .cluster import container_engine_error

__all__ = ["RestartableBroker"]


class RestartableBroker:
    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._port = free_port()
        self._container = None
        self._process: LocalBroker | None = None
        self.kind = "container" if container_engine_error() is None else "local process"

    @property
    def bootstrap_servers(self) -> str:
        if self._container is not None:
            return self._container.get_bootstrap_server()
        return f"127.0.0.1:{self._port}"

    def start(self) -> "RestartableBroker":
        if self.kind == "container":
            from .container import KafkaBrokerContainer

            self._container = KafkaBrokerContainer().with_bind_ports(9092, self._port)
            self._container.start()
        else:
            self._process = LocalBroker(BrokerConfig(data_dir=self._workdir, port=self._port,
                                                     controller_port=free_port())).start()
        return self

    def restart(self, down_s: float = 3.0, timeout: float = 90.0) -> None:
        """Stops the broker (cleanly), waits `down_s`, starts it again on the same data."""
        if self._container is not None:
            wrapped = self._container.get_wrapped_container()
            wrapped.stop(timeout=30)
            time.sleep(down_s)
            wrapped.start()
            if not wait_until_ready(self.bootstrap_servers, timeout, lambda: True):
                raise RuntimeError(f"the restarted broker did not answer on {self.bootstrap_servers}")
        else:
            assert self._process is not None
            self._process.stop()
            time.sleep(down_s)
            self._process.start()

    def stop(self) -> None:
        if self._container is not None:
            self._container.stop()
        if self._process is not None:
            self._process.stop()
