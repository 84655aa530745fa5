"""The embedded default: one Apache Kafka process (KRaft, broker and controller) on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from ..children import die_with_parent
from .config import BrokerConfig, new_cluster_id, render_log4j2, render_server_properties
from .errors import BrokerError
from .jars import kafka_libs
from .java import find_java
from .readiness import port_is_free, wait_until_ready

__all__ = ["LocalBroker"]


class LocalBroker:
    """Formats storage on first use, starts the broker, waits until it serves, stops it cleanly.

    Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(self, config: BrokerConfig, start_timeout: float = 60.0) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return self.config.bootstrap_servers

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> "LocalBroker":
        java = find_java()
        libs = kafka_libs()
        self._check_ports()
        properties = self._write_config_files()
        classpath = f"{libs}/*"
        self._format_storage(java, classpath, properties)
        out = open(self.config.log_dir / "broker.out", "ab")
        self._process = subprocess.Popen(
            [java, f"-Xmx{self.config.heap}",
             f"-Dlog4j2.configurationFile={self.config.data_dir.resolve() / 'log4j2.yaml'}",
             "-cp", classpath, "kafka.Kafka", str(properties)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the broker in order
            preexec_fn=die_with_parent,
        )
        out.close()
        ready = wait_until_ready(self.bootstrap_servers, self.start_timeout, self._running)
        if not ready:
            exited = not self._running()
            self.stop()
            why = "exited" if exited else f"did not accept clients within {self.start_timeout:.0f}s"
            raise BrokerError(f"the Kafka broker {why}; see its log: {self.config.server_log}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Kafka's controlled shutdown), then SIGKILL if it takes longer than `timeout`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def wait(self) -> int:
        """Blocks until the broker exits; returns its exit code."""
        assert self._process is not None, "the broker is not running"
        return self._process.wait()

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _check_ports(self) -> None:
        for port in (self.config.port, self.config.controller_port):
            if not port_is_free(self.config.host, port):
                raise BrokerError(
                    f"port {self.config.host}:{port} is in use (another broker? stop it, choose "
                    "other ports with --port/--controller-port, or set KAFKA_BOOTSTRAP_SERVERS "
                    "to use a running cluster)"
                )

    def _write_config_files(self) -> Path:
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        properties = self.config.data_dir / "server.properties"
        properties.write_text(render_server_properties(self.config))
        (self.config.data_dir / "log4j2.yaml").write_text(render_log4j2(self.config))
        return properties

    def _format_storage(self, java: str, classpath: str, properties: Path) -> None:
        if (self.config.kraft_dir / "meta.properties").exists():
            return
        done = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={new_cluster_id()}", "-c", str(properties)],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise BrokerError(f"formatting KRaft storage in {self.config.kraft_dir} failed: "
                              f"{detail[-1] if detail else 'no output'}")

