"""The local broker's configuration files, as pure functions of its settings."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BrokerConfig", "new_cluster_id", "render_log4j2", "render_server_properties"]


@dataclass(frozen=True)
class BrokerConfig:
    """One KRaft node that is both broker and controller, listening on loopback."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "1g"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def server_log(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def kraft_dir(self) -> Path:
        return self.data_dir / "kraft"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, url-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


def render_server_properties(config: BrokerConfig) -> str:
    """server.properties for a single node: fast group joins, replication factor 1 everywhere."""
    host, port, cport = config.host, config.port, config.controller_port
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{cport}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(config.kraft_dir.resolve()),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def render_log4j2(config: BrokerConfig) -> str:
    """A log4j2 configuration that writes the broker's log to one file, rolled at 50 MB."""
    log = config.server_log.resolve()
    return f"""Configuration:
  Appenders:
    RollingFile:
      name: FILE
      fileName: "{log}"
      filePattern: "{log}.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      SizeBasedTriggeringPolicy:
        size: 50MB
      DefaultRolloverStrategy:
        max: 3
  Loggers:
    Logger:
      - name: state.change.logger
        level: WARN
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
"""
