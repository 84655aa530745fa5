"""Errors of the local broker launcher. Each message says what is wrong and what to do."""

from __future__ import annotations

__all__ = ["BrokerError"]


class BrokerError(RuntimeError):
    """The local broker cannot be set up, started or stopped."""
