"""The Avro codec against stdlib json on the same logical records, side by side in one run.

For a typical invocation event and a typical state change, times encode and decode with
`AvroCodec` (framed single-object Avro) and with `json.dumps(...).encode()` / `json.loads`,
in interleaved rounds (so both see the same machine load), and reports the median per event.
Target (issue 3): the codec no slower than 1.5x json per event (encode + decode). For reference,
the same records through plain fastavro (`schemaless_writer`/`schemaless_reader`) are timed too.

    python benchmarks/codec_vs_json.py [--events 20000] [--rounds 7] [--out benchmarks/results/codec.json]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

from fastavro import schemaless_reader, schemaless_writer
from iii_kafka.schemas import AvroCodec, Event
from iii_kafka.schemas import value as value_module

TARGET_RATIO = 1.5

TYPICAL = {
    "invocation": Event(
        "iii.kafka.InvocationRequested",
        invocation_id="01JD5Q3W8X9K2M4N6P8R0T2V4X", function_id="orders::place", action="none",
        queue=None, caller="worker-7f3a.replies", parent_invocation_id="01JD5Q3W8X9K2M4N6P8R0T2V4W",
        attempt=1, deadline_ms=1764072000000, requested_at_ms=1764071970000,
        payload={"customer_id": "c-1042", "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
                 "total": 59.9, "express": True},
    ),
    "state change": Event(
        "iii.kafka.StateChanged",
        scope="users", key="u-1042", event_type="updated", version=17, request_id="req-88321",
        cause="01JD5Q3W8X9K2M4N6P8R0T2V4X", timestamp_ms=1764071970123,
        old_value={"name": "Ada", "visits": 16, "tags": ["beta"]},
        new_value={"name": "Ada", "visits": 17, "tags": ["beta"]},
    ),
}


def _per_event_us(action: Callable[[], Any], events: int) -> float:
    start = time.perf_counter()
    for _ in range(events):
        action()
    return (time.perf_counter() - start) / events * 1e6


def _fastavro(codec: AvroCodec, record: Event) -> tuple[Callable[[], bytes], Callable[[bytes], Any]]:
    """Plain fastavro on the same schema and framing: the baseline the compiled codec replaced."""
    schema = codec.catalog[record.schema]

    def encode() -> bytes:
        out = io.BytesIO()
        out.write(schema.header)
        schemaless_writer(out, schema.parsed, record)
        return out.getvalue()

    def decode(data: bytes) -> Any:
        stream = io.BytesIO(data)
        stream.seek(10)
        return Event(schema.name, schemaless_reader(stream, schema.parsed, None))

    return encode, decode


def measure(codec: AvroCodec, record: Event, events: int, rounds: int) -> dict[str, Any]:
    plain = dict(record)
    avro_bytes, json_bytes = codec.encode(record), json.dumps(plain).encode()
    assert codec.decode(avro_bytes) == record and json.loads(json_bytes) == plain
    fastavro_encode, fastavro_decode = _fastavro(codec, record)
    assert fastavro_encode() == avro_bytes and fastavro_decode(avro_bytes) == record
    kinds = ("avro_encode", "avro_decode", "json_encode", "json_decode", "fastavro_encode", "fastavro_decode")
    timings: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):
        timings["json_encode"].append(_per_event_us(lambda: json.dumps(plain).encode(), events))
        timings["avro_encode"].append(_per_event_us(lambda: codec.encode(record), events))
        timings["json_decode"].append(_per_event_us(lambda: json.loads(json_bytes), events))
        timings["avro_decode"].append(_per_event_us(lambda: codec.decode(avro_bytes), events))
        timings["fastavro_encode"].append(_per_event_us(fastavro_encode, events))
        timings["fastavro_decode"].append(_per_event_us(lambda: fastavro_decode(avro_bytes), events))
        print(".", end="", flush=True, file=sys.stderr)
    median = {k: statistics.median(v) for k, v in timings.items()}
    avro = median["avro_encode"] + median["avro_decode"]
    plain_json = median["json_encode"] + median["json_decode"]
    return {
        "schema": record.schema, "avro_bytes": len(avro_bytes), "json_bytes": len(json_bytes),
        **{f"{k}_us": round(v, 3) for k, v in median.items()},
        "avro_events_per_s": round(1e6 / avro), "json_events_per_s": round(1e6 / plain_json),
        "ratio": round(avro / plain_json, 3),
        "fastavro_ratio": round((median["fastavro_encode"] + median["fastavro_decode"]) / plain_json, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000, help="events per timed loop")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (the median counts)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "codec.json")
    args = parser.parse_args(argv)
    codec = AvroCodec()
    compiled = value_module.__file__.endswith((".so", ".pyd"))
    how = "compiled with Cython" if compiled else "plain Python (setup.py found no C compiler)"
    print(f"codec hot path: {how}", file=sys.stderr)
    results = {}
    for label, record in TYPICAL.items():
        print(f"{label}: {args.rounds} rounds of {args.events} events ", end="", flush=True, file=sys.stderr)
        results[label] = measure(codec, record, args.events, args.rounds)
        print(file=sys.stderr)
    print(f"{'record':<14}{'avro B':>7}{'json B':>7}{'avro enc+dec us':>17}{'json enc+dec us':>17}"
          f"{'avro ev/s':>11}{'json ev/s':>11}{'ratio':>7}{'fastavro ratio':>16}")
    for label, r in results.items():
        print(f"{label:<14}{r['avro_bytes']:>7}{r['json_bytes']:>7}"
              f"{r['avro_encode_us']:>8.2f} +{r['avro_decode_us']:>6.2f}  {r['json_encode_us']:>8.2f} +"
              f"{r['json_decode_us']:>6.2f}  {r['avro_events_per_s']:>10}{r['json_events_per_s']:>11}"
              f"{r['ratio']:>7.2f}{r['fastavro_ratio']:>16.2f}")
    worst = max(r["ratio"] for r in results.values())
    verdict = "meets" if worst <= TARGET_RATIO else "misses"
    print(f"worst ratio {worst:.2f}: {verdict} the target of {TARGET_RATIO}x json per event")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "codec_vs_json", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(), "machine": platform.machine(),
        "compiled": compiled, "events_per_loop": args.events, "rounds": args.rounds,
        "target_ratio": TARGET_RATIO,
        "results": results,
    }, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
