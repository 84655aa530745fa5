"""The local broker's configuration, as pure functions."""

from pathlib import Path

from iii_kafka.processors.broker.config import (
    BrokerConfig,
    new_cluster_id,
    render_log4j2,
    render_server_properties,
)


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_single_node_is_broker_and_controller_on_loopback(tmp_path: Path):
    config = BrokerConfig(data_dir=tmp_path, port=19092, controller_port=19093)
    props = _properties(render_server_properties(config))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str((tmp_path / "kraft").resolve())
    assert config.bootstrap_servers == "127.0.0.1:19092"


def test_internal_topics_fit_one_broker(tmp_path: Path):
    props = _properties(render_server_properties(BrokerConfig(data_dir=tmp_path)))
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_log4j_writes_to_the_server_log(tmp_path: Path):
    config = BrokerConfig(data_dir=tmp_path)
    assert str(config.server_log.resolve()) in render_log4j2(config)


def test_cluster_ids_are_22_urlsafe_characters_and_unique():
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert set(cluster_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
