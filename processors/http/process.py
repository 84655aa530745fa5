"""Runs `iii-kafka http` as a child process (for `iii-kafka dev`, the tests and the benchmark)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path

from ..workers import WorkerError, WorkerProcess
from .server import READY_LINE

__all__ = ["GatewayProcess"]


class GatewayProcess(WorkerProcess):
    """One gateway process, its output in `log_path`; `start()`, `wait_ready()`, `stop()`."""

    def __init__(self, log_path: Path, port: int, host: str = "127.0.0.1",
                 env: Mapping[str, str] | None = None, echo_prefix: str | None = None) -> None:
        super().__init__(log_path, env=env, echo_prefix=echo_prefix)
        self.port = port
        self.host = host

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "iii_kafka.processors.cli", "http", "--host", self.host,
                "--port", str(self.port)]

    def wait_ready(self, timeout: float = 60.0) -> "GatewayProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self._new_output():
                return self
            if not self.running:
                raise WorkerError(f"the http gateway exited with code {self._process.returncode} before "
                                  f"it was ready; see {self.log_path}")
            time.sleep(0.1)
        raise WorkerError(f"the http gateway was not ready after {timeout:.0f}s; see {self.log_path}")
