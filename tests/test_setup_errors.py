"""Bad setup gets one clear line: no Java, Maven failing, port in use, no broker, broken config,
no container engine, a broker that does not come up in time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from iii_kafka.processors.broker.readiness import free_port
from iii_kafka.processors.testing.cluster import start_test_cluster

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "iii_kafka.processors.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("iii-kafka: error: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    return errors[0]


def test_no_java(tmp_path):
    done = run_cli("broker", "--data-dir", str(tmp_path), env={"JAVA_HOME": str(tmp_path / "nojava")})
    assert "Java 17+ is needed" in one_error_line(done)


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("broker", "--data-dir", str(tmp_path), "--port", str(port))
    assert f"port 127.0.0.1:{port} is in use" in one_error_line(done)


def test_broker_that_does_not_come_up_in_time_names_its_log(tmp_path):
    done = run_cli("broker", "--data-dir", str(tmp_path), "--port", str(free_port()),
                   "--controller-port", str(free_port()), "--start-timeout", "1")
    line = one_error_line(done)
    assert "did not accept clients within 1s" in line
    assert str(tmp_path / "logs" / "server.log") in line


def test_verbose_shows_the_traceback(tmp_path):
    done = run_cli("--verbose", "broker", "--data-dir", str(tmp_path),
                   env={"JAVA_HOME": str(tmp_path / "nojava")})
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_maven_unable_to_resolve(tmp_path):
    shutil.copy(REPO / "docker" / "kafka" / "fetch-jars", tmp_path / "fetch-jars")
    pom = (REPO / "docker" / "kafka" / "pom.xml").read_text()
    (tmp_path / "pom.xml").write_text(pom.replace("<kafka.version>4.4.0</kafka.version>",
                                                  "<kafka.version>0.0.0-nonexistent</kafka.version>"))
    done = subprocess.run([str(tmp_path / "fetch-jars")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Maven could not resolve the Kafka jars" in done.stderr
    assert "full log:" in done.stderr


def test_no_broker_at_the_configured_address():
    done = run_cli("worker", env={"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    assert "no Kafka broker answers on KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:" in one_error_line(done)


def test_broken_config_names_the_variable():
    done = run_cli("worker", env={"IIIKAFKA_PARTITIONS": "many"})
    assert "IIIKAFKA_PARTITIONS='many' is not an integer" in one_error_line(done)


def test_no_container_engine_is_a_clear_error_when_containers_are_required(tmp_path, monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("IIIKAFKA_TEST_BROKER", "container")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(RuntimeError, match="IIIKAFKA_TEST_BROKER=container but no container engine"):
        start_test_cluster(tmp_path)

