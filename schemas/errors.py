"""What can go wrong between a record and its bytes. Each error has a stable `code` (dead letters
carry it) and a message of one readable line; `where` names the topic, partition and offset when
the caller knows them."""

from __future__ import annotations

__all__ = ["CodecError", "CorruptMessage", "EncodeError", "NotFramed", "SchemaError",
           "SchemaStoreError", "UnknownSchema"]


class SchemaError(Exception):
    """A schema file or a schema name that cannot be used."""


class SchemaStoreError(Exception):
    """The schema topic could not be read or written."""


class CodecError(Exception):
    code = "codec_error"

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)

    def at(self, topic: str, partition: int, offset: int) -> "CodecError":
        """The same error, naming the record it happened to."""
        return type(self)(self.reason, f"{topic}[{partition}]@{offset}")


class EncodeError(CodecError):
    """A record that does not match the schema it is written with."""

    code = "encode_error"


class NotFramed(CodecError):
    """Bytes that do not start with Avro's single-object marker (C3 01)."""

    code = "not_framed"


class UnknownSchema(CodecError):
    """A fingerprint that neither this process nor the schema topic knows."""

    code = "unknown_schema"


class CorruptMessage(CodecError):
    """Framed bytes that do not decode with the schema their fingerprint names."""

    code = "corrupt"
