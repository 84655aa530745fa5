"""The Avro codec, registered with Faust once, so agents and tables get records, not bytes.

`iii-avro` is the app's default value serializer: tables (and their changelogs) and every send
use it. Agents read their source topics with `iii-avro-tolerant`, which hands a message it cannot
decode to the agent as `Undecodable` instead of raising: Faust would otherwise ack the message
before anyone could dead-letter it, and a crash in between would lose it (see processing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.serializers import codecs
from iii_kafka.schemas import AvroCodec, CodecError, SchemaCatalog

from .schema_store import schema_topic_client
from .settings import Settings

__all__ = ["AVRO", "AVRO_TOLERANT", "FaustAvroCodec", "Undecodable", "install_codecs"]

AVRO = "iii-avro"
AVRO_TOLERANT = "iii-avro-tolerant"


@dataclass(frozen=True)
class Undecodable:
    """Stands in for a value that did not decode; `error` says why (and has a stable `code`)."""

    error: CodecError


class FaustAvroCodec(codecs.Codec):
    """A Faust codec over `AvroCodec`: records and plain values in, framed Avro out."""

    def __init__(self, children: tuple = (), *, codec: AvroCodec, tolerant: bool = False) -> None:
        super().__init__(children=children, codec=codec, tolerant=tolerant)
        self.codec = codec
        self.tolerant = tolerant

    def _dumps(self, obj: Any) -> bytes:
        return self.codec.encode(obj)

    def _loads(self, data: bytes) -> Any:
        try:
            return self.codec.decode(data)
        except CodecError as error:
            if self.tolerant:
                return Undecodable(error)
            raise


def install_codecs(settings: Settings) -> AvroCodec:
    """Registers both codecs for this process; schemas are published to the cluster's schema topic."""
    codec = AvroCodec(SchemaCatalog.engine(), schema_topic_client(settings))
    codecs.register(AVRO, FaustAvroCodec(codec=codec))
    codecs.register(AVRO_TOLERANT, FaustAvroCodec(codec=codec, tolerant=True))
    return codec
