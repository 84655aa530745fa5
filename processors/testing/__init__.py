"""The test harness: a real Kafka broker for your tests, and real worker processes.

Installed as a pytest plugin (entry point `iii_kafka`), so a project that depends on iii-kafka gets
the fixtures `kafka_bootstrap_servers`, `kafka_app_id` and `worker_factory` without a conftest.
"""

from .cluster import ClusterSource, TestCluster, start_test_cluster
from .container import DEFAULT_IMAGE, KafkaBrokerContainer

__all__ = ["DEFAULT_IMAGE", "ClusterSource", "KafkaBrokerContainer", "TestCluster", "start_test_cluster"]
