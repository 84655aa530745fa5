"""http triggers under load: hey against the gateway, side by side with a bare aiohttp server.

Starts one iii-kafka worker hosting `bench::http_echo` behind an http trigger (POST /bench/echo),
the gateway (`iii-kafka http`) in front of it, and a baseline: a bare aiohttp server on loopback
answering the same JSON body without Kafka. Then alternates rounds of `hey -n N -c C` (POST, a
small JSON body) between the two, so both see the same machine load, and prints requests/s,
p50 and p99 of each and their ratio (medians over the rounds).

    python benchmarks/http_load.py [--requests 1000] [--concurrency 50] [--rounds 3]

Uses KAFKA_BOOTSTRAP_SERVERS, else the local broker on 127.0.0.1:9092 (started here if none runs).
This file is also the worker's services module (IIIKAFKA_SERVICES=http_load) and, with
`--baseline-server PORT`, the baseline server's process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from iii_kafka.processors.functions import functions

HERE = Path(__file__).resolve().parent
ROUTE = "/bench/echo"
BODY = '{"user": "ann", "items": [1, 2, 3]}'


@functions.function("bench::http_echo")
async def http_echo(request):
    return {"status_code": 200, "body": {"echo": request["body"]}}


functions.register_trigger("http", "bench::http_echo", {"api_path": ROUTE, "http_method": "POST"})


def serve_baseline(port: int) -> None:
    """The baseline: the same answer from a bare aiohttp server (uvloop, no access log)."""
    import asyncio

    import uvloop
    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"echo": await request.json()})

    async def main() -> None:
        app = web.Application()
        app.router.add_post(ROUTE, echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        print("baseline ready", flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def hey_binary() -> str:
    for candidate in (Path(sys.executable).parent / "hey", Path.home() / "go/bin/hey"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("hey")
    if not found:
        raise SystemExit("hey is missing: make setup builds it (go install github.com/rakyll/hey@v0.1.5)")
    return found


def run_hey(hey: str, url: str, requests: int, concurrency: int) -> dict:
    out = subprocess.run([hey, "-n", str(requests), "-c", str(concurrency), "-m", "POST",
                          "-T", "application/json", "-d", BODY, url],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"hey failed: {out.stderr}")
    text = out.stdout
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", text)}
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50_ms": float(re.search(r"50%+ in ([\d.]+) secs", text).group(1)) * 1000,
            "p99_ms": float(re.search(r"99%+ in ([\d.]+) secs", text).group(1)) * 1000,
            "status_codes": codes, "errors": "Error distribution" in text}


def post(url: str) -> int:
    request = urllib.request.Request(url, data=BODY.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_until_answers(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while post(url) != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} does not answer 200")
        time.sleep(0.3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        serve_baseline(args.baseline_server)
        return 0

    sys.path.insert(0, str(HERE))
    from harness import broker_for, say, stop_process, write_results
    from iii_kafka.processors.broker.readiness import free_port
    from iii_kafka.processors.http.process import GatewayProcess
    from iii_kafka.processors.settings import Settings
    from iii_kafka.processors.workers import WorkerProcess

    hey = hey_binary()
    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    broker = broker_for(settings, work)
    bootstrap = broker.bootstrap_servers if broker else settings.bootstrap_servers
    suffix = uuid.uuid4().hex[:8]
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "IIIKAFKA_APP_ID": f"bench-http-{suffix}",
           "IIIKAFKA_NAMESPACE": f"bench-http-{suffix}", "IIIKAFKA_SERVICES": "http_load",
           "IIIKAFKA_DATA_DIR": str(work / "worker"), "IIIKAFKA_SESSION_TIMEOUT": "6",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    worker = gateway = baseline = None
    try:
        worker = WorkerProcess(work / "worker.log", env=env).start()
        baseline_port = free_port()
        baseline = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(baseline_port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        worker.wait_ready()
        gateway = GatewayProcess(work / "gateway.log", port=free_port(), env=env).start().wait_ready()
        urls = {"gateway": gateway.url + ROUTE, "baseline": f"http://127.0.0.1:{baseline_port}{ROUTE}"}
        for url in urls.values():
            wait_until_answers(url)
        for url in urls.values():  # warm up both
            run_hey(hey, url, 200, args.concurrency)
        rounds: dict[str, list[dict]] = {name: [] for name in urls}
        for index in range(1, args.rounds + 1):
            for name, url in urls.items():
                result = run_hey(hey, url, args.requests, args.concurrency)
                rounds[name].append(result)
                say(f"round {index} {name}: {result['requests_per_s']:.0f} req/s, "
                    f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, {result['status_codes']}")
        summary = {name: {key: statistics.median(r[key] for r in results)
                          for key in ("requests_per_s", "p50_ms", "p99_ms")}
                   for name, results in rounds.items()}
        gate, base = summary["gateway"], summary["baseline"]
        ratio = {"requests_per_s": base["requests_per_s"] / gate["requests_per_s"],
                 "p50": gate["p50_ms"] / base["p50_ms"], "p99": gate["p99_ms"] / base["p99_ms"]}
        all_ok = all(r["status_codes"] == {200: args.requests} and not r["errors"]
                     for results in rounds.values() for r in results)
        for name, figures in summary.items():
            say(f"{name:>8}: {figures['requests_per_s']:8.0f} req/s   p50 {figures['p50_ms']:7.1f} ms   "
                f"p99 {figures['p99_ms']:7.1f} ms")
        say(f"baseline/gateway req/s {ratio['requests_per_s']:.1f}x; gateway/baseline p50 "
            f"{ratio['p50']:.1f}x, p99 {ratio['p99']:.1f}x; every response 200: {all_ok}")
        write_results(HERE / "results" / "http.json", "http_load",
                      {"requests": args.requests, "concurrency": args.concurrency, "rounds": args.rounds,
                       "body": json.loads(BODY), "tool": "hey v0.1.5", "workers": 1,
                       "broker": "external" if broker is None else "local"},
                      {"summary_medians": summary, "ratios": ratio, "all_responses_200": all_ok,
                       "rounds": rounds})
        return 0 if all_ok else 1
    finally:
        for process in (gateway, worker):
            if process is not None:
                process.stop()
        stop_process(baseline)
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
