"""What the benchmarks share: the broker they run on, a bare Faust worker, results files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from iii_kafka.processors.broker import BrokerConfig, LocalBroker, broker_answers
from iii_kafka.processors.settings import Settings

HERE = Path(__file__).resolve().parent


def say(line: str) -> None:
    print(f"[bench] {line}", flush=True)


def broker_for(settings: Settings, work: Path) -> LocalBroker | None:
    """KAFKA_BOOTSTRAP_SERVERS, or the local broker on 127.0.0.1:9092 (started here if none runs)."""
    if broker_answers(settings.bootstrap_servers):
        return None
    if not settings.bootstrap_is_embedded_default:
        raise SystemExit(f"no broker answers on KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers}")
    say(f"starting a local broker in {work / 'broker'}")
    return LocalBroker(BrokerConfig(data_dir=work / "broker"), 90).start()


def start_faust_worker(directory: Path, module: str, env: dict[str, str],
                       wait_ready: bool = True) -> subprocess.Popen:
    """`faust -A <module> worker` (a module of benchmarks/), once it logs that it is ready (Faust
    says so only after recovering its tables: `wait_ready=False` to time a recovery)."""
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    log_path = directory / f"{module}.log"
    log = open(log_path, "ab")
    process = subprocess.Popen([sys.executable, "-m", "faust", "-A", module, "--loop", "uvloop", "worker",
                                "--without-web", "-l", "info"], cwd=directory, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while wait_ready and b"[^Worker]: Ready" not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)  # a stray worker would skew every later run
            raise RuntimeError(f"the Faust worker did not start; see {log_path}")
        time.sleep(0.2)
    return process


def stop_process(process: subprocess.Popen | None, timeout: float = 30.0) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()  # (Faust's shutdown can hang; a stray worker would skew the next run)


def write_results(path: Path, name: str, parameters: dict[str, Any], results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "parameters": parameters, **results}, indent=2, default=str) + "\n")
    say(f"results written to {path}")
