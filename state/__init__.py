"""KV semantics: the pure apply step, the RocksDB view, replay and rebuild. Imports only schemas."""
