"""Runs `iii-kafka worker` as a child process: start, wait until ready, stop or kill.

Used by `iii-kafka dev` and by the test harness; the worker is a real Faust worker process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from .children import die_with_parent

__all__ = ["READY_LINE", "WorkerError", "WorkerProcess"]

READY_LINE = "[^Worker]: Ready"


class WorkerError(RuntimeError):
    """A worker process did not start, or exited when it should not have."""


class WorkerProcess:
    """One Faust worker process of the iii-kafka app, its output in `log_path`."""

    def __init__(
        self,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        web_port: int | None = None,
        extra_args: Sequence[str] = (),
        echo_prefix: str | None = None,
    ) -> None:
        self.log_path = Path(log_path)
        self.env = {**os.environ, **(env or {})}
        self.web_port = web_port
        self.extra_args = list(extra_args)
        self.echo_prefix = echo_prefix
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        web = ["--web-port", str(self.web_port)] if self.web_port else ["--without-web"]
        return [sys.executable, "-m", "iii_kafka.processors.cli", "worker",
                "--loglevel", "info", *web, *self.extra_args]

    def start(self) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            self.command(), env=self.env,
            stdout=subprocess.PIPE if self.echo_prefix is not None else log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        if self.echo_prefix is not None:
            threading.Thread(target=self._tee, args=(log,), daemon=True).start()
        else:
            log.close()
        return self

    def _tee(self, log: BinaryIO) -> None:
        """Copies the worker's output to its log file and, prefixed, to our stdout."""
        assert self._process is not None and self._process.stdout is not None
        with log:
            for line in self._process.stdout:
                log.write(line)
                log.flush()
                sys.stdout.write(f"{self.echo_prefix}{line.decode(errors='replace')}")
                sys.stdout.flush()

    def wait_ready(self, timeout: float = 90.0) -> "WorkerProcess":
        """Blocks until Faust logs that the worker is ready (assigned, recovered, consuming)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self._new_output():
                return self
            if not self.running:
                raise WorkerError(f"worker exited with code {self._process.returncode} before it was "
                                  f"ready; see {self.log_path}")
            time.sleep(0.2)
        raise WorkerError(f"worker not ready after {timeout:.0f}s; see {self.log_path}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the crash a worker must survive."""
        if self.running:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, Faust's clean shutdown; SIGKILL after `timeout`. Returns the exit code."""
        if self._process is None:
            return None
        if self.running:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._process.returncode

    def _new_output(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
