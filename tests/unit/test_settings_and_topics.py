"""Settings from the environment and topic specs: bad values get errors that name them."""

import pytest
from iii_kafka.processors.settings import DEFAULT_BOOTSTRAP, Settings, SettingsError
from iii_kafka.topology.topics import TopicSpec, demo_topics


def test_embedded_default_when_no_bootstrap_is_set(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = Settings.from_env()
    assert settings.bootstrap_servers == DEFAULT_BOOTSTRAP
    assert settings.bootstrap_is_embedded_default


def test_bootstrap_servers_become_faust_urls(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9093")
    settings = Settings.from_env()
    assert not settings.bootstrap_is_embedded_default
    assert settings.faust_broker_url == "kafka://k1:9092;kafka://k2:9093"


@pytest.mark.parametrize("name,value,fragment", [
    ("IIIKAFKA_PARTITIONS", "four", "IIIKAFKA_PARTITIONS='four' is not an integer"),
    ("IIIKAFKA_PARTITIONS", "0", "IIIKAFKA_PARTITIONS=0 must be at least 1"),
    ("IIIKAFKA_SESSION_TIMEOUT", "-3", "IIIKAFKA_SESSION_TIMEOUT=-3.0 must be greater than 0.0"),
])
def test_broken_settings_name_the_variable(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(").replace("?", r"\?")):
        Settings.from_env()


def test_log_topics_keep_everything():
    spec = TopicSpec.log("a.b", 3)
    assert spec.config["retention.ms"] == "-1"
    assert spec.config["cleanup.policy"] == "delete"


@pytest.mark.parametrize("name", ["", "has space", "x" * 250, "slash/no"])
def test_invalid_topic_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid topic name"):
        TopicSpec(name, 1)


def test_demo_topics_live_under_the_app_id():
    topics = demo_topics("shop", partitions=6)
    assert [t.name for t in topics.all()] == ["shop.demo.events", "shop.demo.counted"]
    assert {t.partitions for t in topics.all()} == {6}
