"""The gateway's settings, read once from the environment (flags of `iii-kafka http` override)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..settings import SettingsError, _number_env

__all__ = ["DEFAULT_PORT", "HttpSettings"]

DEFAULT_PORT = 3111  # iii's
DEFAULT_TIMEOUT_MS = 30_000  # iii's default_timeout


@dataclass(frozen=True)
class HttpSettings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    timeout_ms: int = DEFAULT_TIMEOUT_MS  # per request: condition plus handler
    max_body_bytes: int = 1_000_000  # the invocation must fit in a Kafka message

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, max_message_bytes: int = 1_000_000
                 ) -> "HttpSettings":
        env = os.environ if env is None else env
        port = _number_env(env, "IIIKAFKA_HTTP_PORT", DEFAULT_PORT, int, 0)
        if port > 65535:
            raise SettingsError(f"IIIKAFKA_HTTP_PORT={port} is not a port (0-65535)")
        return cls(host=env.get("IIIKAFKA_HTTP_HOST", "").strip() or "0.0.0.0", port=port,
                   timeout_ms=_number_env(env, "IIIKAFKA_HTTP_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, int, 1),
                   max_body_bytes=max_message_bytes)
