"""OpenTelemetry for invocations: W3C `traceparent` and `baggage` ride in Kafka headers.

A trigger is a PRODUCER span, the handler's run a CONSUMER span whose parent is the trigger's
context taken from the headers, so a composed call across processes is one trace. Attributes follow
OpenTelemetry's messaging conventions (`messaging.system`, `messaging.destination.name`, ...).

Spans go where the OpenTelemetry SDK is told: `IIIKAFKA_TRACES_FILE` writes one JSON span per line
(what the tests read); without it the global tracer provider is used, so an application that sets
up its own exporter (OTLP, say) gets our spans too.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

__all__ = ["configure_tracing", "context_from_headers", "headers_with_context", "tracer"]

_configured = False


class JsonLinesExporter(SpanExporter):
    """One JSON object per span, appended to a file (several processes may share it)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(json.loads(span.to_json())) + "\n" for span in spans)
        with self._lock, open(self._path, "a") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS


def configure_tracing(service_name: str, env: dict[str, str] | None = None) -> None:
    """Installs a tracer provider exporting to `IIIKAFKA_TRACES_FILE`, if that is set (once)."""
    global _configured
    env = os.environ if env is None else env
    path = env.get("IIIKAFKA_TRACES_FILE")
    if _configured or not path:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("iii_kafka")


def headers_with_context(extra: Iterable[tuple[str, bytes]] = ()) -> list[tuple[str, bytes]]:
    """Kafka headers carrying the current trace context (`traceparent`, `baggage`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [*extra, *((k, v.encode()) for k, v in carrier.items())]


def context_from_headers(headers: Any) -> otel_context.Context:
    """The trace context a message's headers carry (Faust gives a dict or a list of pairs)."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    carrier = {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in pairs}
    return propagate.extract(carrier)
