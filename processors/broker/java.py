"""Finds a Java runtime able to run Kafka 4.x (Java 17 or newer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import BrokerError

__all__ = ["MIN_JAVA", "find_java"]

MIN_JAVA = 17


def find_java() -> str:
    """The java binary to use: $JAVA_HOME/bin/java, else java on PATH; checks its version."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "no java on PATH"
        raise BrokerError(
            f"Java {MIN_JAVA}+ is needed to run the local Kafka broker, but {where} "
            "(on Debian: apt-get install openjdk-17-jre-headless)"
        )
    version = _major_version(java)
    if version < MIN_JAVA:
        raise BrokerError(f"{java} is Java {version}; the Kafka broker needs Java {MIN_JAVA} or newer")
    return java


def _major_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise BrokerError(f"cannot tell the version of {java}: {out.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
