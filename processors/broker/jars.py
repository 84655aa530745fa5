"""Finds the Kafka broker's jars, resolving them from Maven Central on first use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .errors import BrokerError

__all__ = ["kafka_libs"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_KAFKA_DIR = _REPO_ROOT / "docker" / "kafka"


def kafka_libs() -> Path:
    """The folder of Kafka jars: `IIIKAFKA_KAFKA_LIBS`, or docker/kafka/lib of this checkout."""
    configured = os.environ.get("IIIKAFKA_KAFKA_LIBS")
    if configured:
        libs = Path(configured)
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"IIIKAFKA_KAFKA_LIBS={libs} holds no kafka_2.13-*.jar")
        return libs
    fetch = _KAFKA_DIR / "fetch-jars"
    if not fetch.exists():
        raise BrokerError(
            "cannot find docker/kafka/fetch-jars: run from a checkout of iii-kafka, "
            "or set IIIKAFKA_KAFKA_LIBS to a folder of Kafka 4.x jars"
        )
    done = subprocess.run([str(fetch)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BrokerError((done.stderr.strip() or done.stdout.strip()).removeprefix("error: "))
    return _KAFKA_DIR / "lib"
