"""Every event's Avro schema and the codec. Imports nothing of ours."""
