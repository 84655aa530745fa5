import os
import sys
from pathlib import Path

import pytest
from iii_kafka.processors.admin import ensure_topics
from iii_kafka.topology.topics import TopicSpec

# tests import their helpers as plain modules
sys.path.insert(0, str(Path(__file__).parent))

SERVICES = str(Path(__file__).parent / "services")


@pytest.fixture
def effects_topic(kafka_bootstrap_servers: str, kafka_app_id: str) -> str:
    name = f"{kafka_app_id}.effects"
    ensure_topics(kafka_bootstrap_servers, [TopicSpec.log(name, 2)])
    return name


@pytest.fixture
def start_app(worker_factory, kafka_app_id, effects_topic, tmp_path):
    """`start_app("back", "svc_back")`: a worker of app `<test app>-back` hosting that module."""
    def start(role: str, *modules: str, name: str | None = None, **env: str):
        return worker_factory(name or role, IIIKAFKA_APP_ID=f"{kafka_app_id}-{role}",
                              IIIKAFKA_SERVICES=",".join(modules), TEST_EFFECTS_TOPIC=effects_topic,
                              PYTHONPATH=os.pathsep.join([SERVICES, os.environ.get("PYTHONPATH", "")]),
                              IIIKAFKA_TRACES_FILE=str(tmp_path / f"traces-{name or role}.jsonl"), **env)
    return start


