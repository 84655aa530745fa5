"""The embedded default: `iii-kafka broker` and `iii-kafka dev`, started and stopped as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from iii_kafka.processors.broker import broker_answers
from kafka_helpers import free_port, get_json, wait_for

CLI = [sys.executable, "-m", "iii_kafka.processors.cli"]


def _start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.Popen([*CLI, *args], cwd=cwd, env={**environment, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    pytest.fail(f"no {marker!r} within {timeout}s:\n{''.join(seen)[-3000:]}")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_broker_command_serves_until_ctrl_c_and_leaves_no_process(tmp_path):
    port, controller = free_port(), free_port()
    process = _start(["broker", "--data-dir", "data", "--port", str(port),
                      "--controller-port", str(controller)], cwd=tmp_path)
    _read_until(process, "Kafka broker ready", timeout=90)
    children = _descendants(process.pid)
    assert broker_answers(f"127.0.0.1:{port}")
    assert any("kafka.Kafka" in " ".join(c.cmdline()) for c in children)

    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "broker stopped" in output
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not broker_answers(f"127.0.0.1:{port}")
    assert (tmp_path / "data" / "logs" / "server.log").stat().st_size > 0


def test_dev_runs_a_broker_and_a_worker_that_counts_and_ctrl_c_stops_both(tmp_path):
    port, controller, web = free_port(), free_port(), free_port()
    process = _start(["dev", "--data-dir", "broker", "--port", str(port),
                      "--controller-port", str(controller), "--web-port", str(web)],
                     cwd=tmp_path, env={"IIIKAFKA_SESSION_TIMEOUT": "6"})
    _read_until(process, "worker(s) ready", timeout=150)
    children = _descendants(process.pid)
    assert len(children) >= 2  # the broker and the worker (and their helpers)

    sent = subprocess.run([*CLI, "demo", "send", "ann", "bo", "ann"], capture_output=True, text=True,
                          env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}, timeout=60)
    assert sent.returncode == 0, sent.stderr
    counts = wait_for(lambda: (c := get_json(web, "/demo/counts/")) == {"ann": 2, "bo": 1} and c)
    assert counts == {"ann": 2, "bo": 1}

    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=90)[0]
    assert process.returncode == 0, output[-3000:]
    assert "broker stopped" in output
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
