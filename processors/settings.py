"""Runtime settings, read once from the environment.

Every command and the test fixture use `KAFKA_BOOTSTRAP_SERVERS` when it is set; otherwise they use
the embedded default, the local broker that `iii-kafka broker` starts on 127.0.0.1:9092.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_BOOTSTRAP", "Settings", "SettingsError"]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class SettingsError(ValueError):
    """A setting has a value that cannot work; the message names the variable."""


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}={value} must be positive")
    return value


@dataclass(frozen=True)
class Settings:
    """What a process of iii-kafka needs to know about its surroundings."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    bootstrap_is_embedded_default: bool = True
    app_id: str = "iii-kafka"
    data_dir: Path = field(default_factory=lambda: Path(".iii-kafka"))
    partitions: int = 4
    replication_factor: int = 1
    session_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> "Settings":
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        return cls(
            bootstrap_servers=servers or DEFAULT_BOOTSTRAP,
            bootstrap_is_embedded_default=not servers,
            app_id=os.environ.get("IIIKAFKA_APP_ID", "iii-kafka"),
            data_dir=Path(os.environ.get("IIIKAFKA_DATA_DIR", ".iii-kafka")),
            partitions=_int_env("IIIKAFKA_PARTITIONS", 4),
            replication_factor=_int_env("IIIKAFKA_REPLICATION_FACTOR", 1),
            session_timeout_s=_float_env("IIIKAFKA_SESSION_TIMEOUT", 10.0),
        )

    @property
    def faust_broker_url(self) -> str:
        """Faust wants `kafka://host:port` and `;` between servers; Kafka uses `,`."""
        hosts = [h.strip() for h in self.bootstrap_servers.split(",") if h.strip()]
        return ";".join(f"kafka://{h}" for h in hosts)

    @property
    def tables_dir(self) -> Path:
        """Where this process keeps its RocksDB tables (Faust's `datadir`)."""
        return self.data_dir / "tables"
