"""KV state in a worker: the owner of state partitions, and state calls from any process."""
