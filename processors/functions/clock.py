"""Event times: milliseconds since the Unix epoch (UTC), as every `*_ms` field holds them."""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)
