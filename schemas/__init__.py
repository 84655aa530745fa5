"""Every event's Avro schema and the codec. Imports nothing of ours.

`AvroCodec().encode(Event("iii.kafka.StateChanged", {...}))` gives framed bytes (Avro single-object
encoding); `decode` gives the `Event` (or, for `iii.kafka.Value`, the plain value) back.
"""

from .catalog import NAMESPACE, SCHEMA_DIR, NamedSchema, SchemaCatalog, load_directory
from .codec import VALUE_SCHEMA, AvroCodec, Event, SchemaStore
from .errors import (
                     CodecError,
                     CorruptMessage,
                     EncodeError,
                     NotFramed,
                     SchemaError,
                     SchemaStoreError,
                     UnknownSchema,
)

__all__ = ["NAMESPACE", "SCHEMA_DIR", "VALUE_SCHEMA", "AvroCodec", "CodecError", "CorruptMessage",
           "EncodeError", "Event", "NamedSchema", "NotFramed", "SchemaCatalog", "SchemaError",
           "SchemaStore", "SchemaStoreError", "UnknownSchema", "load_directory"]
