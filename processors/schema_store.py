"""The cluster's schema topic as this process's settings name it (see schemas/schema_topic.py)."""

from __future__ import annotations

from iii_kafka.schemas import AvroCodec, NamedSchema, SchemaCatalog
from iii_kafka.schemas.schema_topic import KafkaSchemaTopic

from .settings import Settings

__all__ = ["publish_schemas", "published_schemas", "schema_topic_client"]


def schema_topic_client(settings: Settings) -> KafkaSchemaTopic:
    return KafkaSchemaTopic(settings.bootstrap_servers, settings.schema_topic,
                            replication_factor=settings.replication_factor)


def publish_schemas(settings: Settings) -> int:
    """Publishes every engine schema not yet in the schema topic; returns how many there are."""
    store = schema_topic_client(settings)
    try:
        return AvroCodec(SchemaCatalog.engine(), store).publish_all()
    finally:
        store.close()


def published_schemas(settings: Settings) -> list[NamedSchema]:
    """Every schema version in the schema topic, oldest first."""
    store = schema_topic_client(settings)
    try:
        return store.published()
    finally:
        store.close()
