"""Tells when a Kafka cluster accepts clients."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from confluent_kafka.admin import AdminClient

__all__ = ["broker_answers", "free_port", "port_is_free", "wait_until_ready"]

_quiet = logging.getLogger("iii_kafka.readiness.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel has just handed out as free (for tests and side-by-side brokers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tcp_open(bootstrap_servers: str) -> bool:
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=1):
                return True
        except (OSError, ValueError):
            continue
    return False


def broker_answers(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True when a broker at this address answers a metadata request."""
    if not _tcp_open(bootstrap_servers):
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "logger": _quiet})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(metadata.brokers)


def wait_until_ready(
    bootstrap_servers: str,
    timeout: float,
    still_starting: Callable[[], bool] = lambda: True,
) -> bool:
    """Polls until the cluster answers (True), the timeout passes or `still_starting` says no (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not still_starting():
            return False
        if broker_answers(bootstrap_servers, timeout=1.0):
            return True
        time.sleep(0.2)
    return False
