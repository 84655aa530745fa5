"""http triggers: the gateway `iii-kafka http` routes HTTP requests to functions (docs/http.md).

    routing.py  pure: match method and path, build iii's request object, turn results into replies
    server.py   the aiohttp server and its request handling (one invocation per request)
    config.py   its settings (IIIKAFKA_HTTP_PORT, IIIKAFKA_HTTP_HOST, IIIKAFKA_HTTP_TIMEOUT_MS)
    process.py  the gateway as a child process (iii-kafka dev, tests, benchmarks)
"""

from .config import HttpSettings
from .routing import Route, RouteTable

__all__ = ["HttpSettings", "Route", "RouteTable"]
