"""Runtime settings, read once from the environment.

Every command and the test fixture use `KAFKA_BOOTSTRAP_SERVERS` when it is set; otherwise they use
the embedded default, the local broker that `iii-kafka broker` starts on 127.0.0.1:9092.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_BOOTSTRAP", "Settings", "SettingsError"]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class SettingsError(ValueError):
    """A setting has a value that cannot work; the message names the variable."""


def _number_env(env: Mapping[str, str], name: str, default: float, kind: type, minimum: float,
                strict: bool = False) -> Any:
    """An int or float from the environment, refused with a message naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {noun}") from None
    if value < minimum or (strict and value == minimum):
        bound = f"greater than {minimum}" if strict else f"at least {minimum}"
        raise SettingsError(f"{name}={value} must be {bound}")
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
    schema_topic: str = "_iii_schemas"
    namespace: str = "iii"
    services: tuple[str, ...] = ()
    heartbeat_s: float = 3.0
    liveness_s: float = 10.0
    retry_backoff_ms: int = 2
    max_message_bytes: int = 1_000_000
    results_retention_s: float = 86_400.0
    state_partitions: int = 4
    state_owner: bool = True
    state_dedup_window_s: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """From `env` (default: this process's environment)."""
        env = os.environ if env is None else env
        servers = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        partitions = _number_env(env, "IIIKAFKA_PARTITIONS", 4, int, 1)
        owner = env.get("IIIKAFKA_STATE_OWNER", "1").strip().lower()
        if owner not in ("1", "0", "true", "false", "yes", "no", ""):
            raise SettingsError(f"IIIKAFKA_STATE_OWNER={owner!r}: use 1 or 0")
        return cls(
            bootstrap_servers=servers or DEFAULT_BOOTSTRAP,
            bootstrap_is_embedded_default=not servers,
            app_id=env.get("IIIKAFKA_APP_ID", "iii-kafka"),
            data_dir=Path(env.get("IIIKAFKA_DATA_DIR", ".iii-kafka")),
            partitions=partitions,
            replication_factor=_number_env(env, "IIIKAFKA_REPLICATION_FACTOR", 1, int, 1),
            session_timeout_s=_number_env(env, "IIIKAFKA_SESSION_TIMEOUT", 10.0, float, 0.0, strict=True),
            schema_topic=env.get("IIIKAFKA_SCHEMA_TOPIC", "").strip() or "_iii_schemas",
            namespace=env.get("IIIKAFKA_NAMESPACE", "").strip() or "iii",
            services=tuple(m.strip() for m in env.get("IIIKAFKA_SERVICES", "").split(",") if m.strip()),
            heartbeat_s=_number_env(env, "IIIKAFKA_HEARTBEAT", 3.0, float, 0.0, strict=True),
            liveness_s=_number_env(env, "IIIKAFKA_LIVENESS", 10.0, float, 0.0, strict=True),
            retry_backoff_ms=_number_env(env, "IIIKAFKA_RETRY_BACKOFF_MS", 2, int, 0),
            max_message_bytes=_number_env(env, "IIIKAFKA_MAX_MESSAGE_BYTES", 1_000_000, int, 1024),
            results_retention_s=_number_env(env, "IIIKAFKA_RESULTS_RETENTION", 86_400.0, float, 0.0,
                                            strict=True),
            state_partitions=_number_env(env, "IIIKAFKA_STATE_PARTITIONS", partitions, int, 1),
            state_owner=owner in ("1", "true", "yes", ""),
            state_dedup_window_s=_number_env(env, "IIIKAFKA_STATE_DEDUP_WINDOW", 600.0, float, 0.0),
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
