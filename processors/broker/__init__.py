"""The local Kafka broker: the embedded default for running and for tests without containers."""

from .config import BrokerConfig
from .errors import BrokerError
from .process import LocalBroker
from .readiness import broker_answers, wait_until_ready

__all__ = ["BrokerConfig", "BrokerError", "LocalBroker", "broker_answers", "wait_until_ready"]
