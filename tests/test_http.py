"""http triggers against the real broker, with a worker process and the gateway (`iii-kafka http`)
as its own process: requests reach handlers with iii's request object, results become responses,
errors get proper status codes and stall nothing, a condition that refuses runs no handler, and
1,000 requests from a load tool (hey) are served with none lost and none run twice."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from iii_kafka.processors.http.process import GatewayProcess
from iii_kafka.schemas import AvroCodec
from kafka_helpers import free_port, read_topic, wait_for

pytestmark = pytest.mark.kafka

READER = AvroCodec()
# make setup builds hey into .venv/bin
HEY = next((str(p) for p in (Path(sys.executable).parent / "hey", Path.home() / "go/bin/hey") if p.exists()),
           shutil.which("hey"))


def call(base: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def call_json(base: str, method: str, path: str, payload: object = None, **kw) -> tuple[int, dict, object]:
    body = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, head, raw = call(base, method, path, body, {**headers, **kw.pop("headers", {})}, **kw)
    return status, head, json.loads(raw) if raw else None


@pytest.fixture
def http_app(start_app, worker_env, tmp_path):
    """A worker hosting svc_http and a gateway on a free port; waits until its routes answer."""
    def start(**gateway_env: str) -> GatewayProcess:
        start_app("web", "svc_http")
        gateway = GatewayProcess(tmp_path / "gateway.log", port=free_port(),
                                 env={**worker_env, **gateway_env})
        started.append(gateway)
        gateway.start().wait_ready()
        routed = wait_for(lambda: call(gateway.url, "GET", "/users/1")[0] != 404, timeout=30)
        assert routed, f"the gateway never routed /users/:id; see {gateway.log_path}"
        return gateway

    started: list[GatewayProcess] = []
    yield start
    for gateway in started:
        gateway.stop()


def effects_of(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[dict]:
    return [READER.decode(m.value()) for m in read_topic(bootstrap, topic, expected, timeout=timeout)]


def test_requests_reach_handlers_and_results_become_responses(http_app, kafka_bootstrap_servers,
                                                              effects_topic):
    base = http_app().url

    # GET: path params, query (strings), lower-case headers, the registered path, no body
    status, headers, body = call_json(base, "GET", "/users/42?page=2&q=a%20b",
                                      headers={"X-Test-Agent": "pytest"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {"id": "42", "query": {"page": "2", "q": "a b"}, "agent": "pytest", "method": "GET",
                    "path": "/users/:id", "trigger": {"type": "http", "path": "/users/:id", "method": "GET"},
                    "body": None}
    assert call_json(base, "GET", "/users/42/")[2]["id"] == "42"  # a trailing slash does not matter
    # a literal segment wins over a parameter; a result that is not a response is the JSON body
    assert call_json(base, "GET", "/users/me")[::2] == (200, {"me": True})

    # POST JSON: the parsed body reaches the handler; its status, headers and body are the response
    status, headers, body = call_json(base, "POST", "/users", {"name": "ann", "tags": [1, 2.5, None]})
    assert status == 201
    assert headers["Location"] == "/users/ann" and headers["X-Created"] == "yes"
    assert body == {"created": {"name": "ann", "tags": [1, 2.5, None]}}
    # headers as a list of "Name: value", a text body sent as it is
    status, headers, raw = call(base, "GET", "/text")
    assert (status, headers["Content-Type"], raw) == (200, "text/plain; charset=utf-8", b"hello")
    # a body that is not JSON by its content type: the handler gets null (iii's rule)
    status, _, raw = call(base, "GET", "/users/7", b'{"a": 1}', {"Content-Type": "text/plain"})
    assert status == 200 and json.loads(raw)["body"] is None

    # errors: iii's envelope and proper status codes
    not_found = {"error": {"code": "NOT_FOUND", "message": "Not Found"}}
    assert call_json(base, "GET", "/nope")[::2] == (404, not_found)
    status, headers, body = call_json(base, "DELETE", "/users")
    assert status == 405 and headers["Allow"] == "POST" and body["error"]["code"] == "METHOD_NOT_ALLOWED"
    status, _, raw = call(base, "POST", "/users", b'{"name": ', {"Content-Type": "application/json"})
    error = json.loads(raw)["error"]
    assert status == 400 and error["code"] == "INVALID_BODY" and "not valid JSON" in error["message"]
    assert "error_id" not in error  # only on 5xx
    status, _, body = call_json(base, "POST", "/fail", {})
    assert status == 500 and body["error"]["code"] == "invocation_failed"
    assert body["error"]["message"] == "RuntimeError: the handler fails on purpose"
    assert re.fullmatch(r"[0-9a-f]{12}", body["error"]["error_id"])
    assert "Traceback" not in json.dumps(body)  # no tracebacks to clients
    status, _, raw = call(base, "POST", "/users", b"x" * 1_100_000, {"Content-Type": "application/json"})
    assert status == 413 and json.loads(raw)["error"]["code"] == "PAYLOAD_TOO_LARGE"

    # a condition that returns false: 422, and the handler does not run
    assert call_json(base, "POST", "/admin", {}, headers={"X-Admin": "no"})[::2] == (422, {
        "error": {"code": "CONDITION_NOT_MET", "message": "Request condition not met"}, "skipped": True})
    assert call_json(base, "POST", "/admin", {}, headers={"X-Admin": "yes"})[::2] == (200, {"done": True})
    # a condition that fails: 500 with its code, and the handler does not run either
    status, _, body = call_json(base, "POST", "/guarded", {})
    assert status == 500 and body["error"]["code"] == "invocation_failed"
    assert body["error"]["message"].startswith("condition admin::broken: ValueError: the condition fails")
    admin = [e for e in effects_of(kafka_bootstrap_servers, effects_topic, 1) if e.get("admin")]
    assert len(admin) == 1  # the refused requests ran nothing


def test_slow_and_failing_routes_stall_nothing(http_app):
    gateway = http_app(IIIKAFKA_HTTP_TIMEOUT_MS="3000")
    base = gateway.url
    with ThreadPoolExecutor(24) as pool:
        slow = [pool.submit(call_json, base, "GET", "/slow?s=8") for _ in range(4)]
        failing = [pool.submit(call_json, base, "POST", "/fail", {}) for _ in range(8)]
        malformed = [pool.submit(call, base, "POST", "/users", b"{", {"Content-Type": "application/json"})
                     for _ in range(8)]
        time.sleep(0.5)  # the slow ones are in their handlers now
        started = time.monotonic()
        fast = [call_json(base, "GET", f"/users/{i}")[::2] for i in range(10)]
        fast_took = time.monotonic() - started
        assert [(status, body["id"]) for status, body in fast] == [(200, str(i)) for i in range(10)]
        assert all(f.result()[0] == 500 for f in failing)
        assert all(f.result()[0] == 400 for f in malformed)
        timed_out = [f.result() for f in slow]
    assert fast_took < 3.0, f"10 plain requests took {fast_took:.1f}s while slow ones were running"
    # the slow handler outlives the gateway's 3 s timeout: 504 with iii's code
    assert [(status, body["error"]["code"]) for status, _, body in timed_out] == [(504, "TIMEOUT")] * 4
    log = gateway.log_path.read_text()
    assert re.search(r"POST /fail -> 500 invocation_failed error_id=[0-9a-f]{12} invocation=", log)
    assert "Traceback" not in log  # one line per error


def test_the_gateway_reports_a_taken_port_in_one_line(worker_env, tmp_path):
    port = free_port()
    first = GatewayProcess(tmp_path / "first.log", port=port, env=worker_env).start().wait_ready()
    try:
        done = subprocess.run([*first.command()], env=first.env, capture_output=True, text=True, timeout=60)
    finally:
        first.stop()
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"iii-kafka: error: cannot listen on 127.0.0.1:{port}: Address already in use", done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(HEY is None, reason="the load tool hey is not installed (make setup builds it into "
                    ".venv/bin: go install github.com/rakyll/hey@v0.1.5)")
def test_a_thousand_requests_from_hey_none_lost_none_duplicated(http_app, kafka_bootstrap_servers,
                                                                effects_topic):
    base = http_app().url
    out = subprocess.run([HEY, "-n", "1000", "-c", "50", "-m", "POST", "-T", "application/json",
                          "-d", '{"load": true}', f"{base}/events?run=load"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    codes = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out.stdout)}
    assert codes == {202: 1000}, out.stdout
    assert "Error distribution" not in out.stdout, out.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1)
    p99 = re.search(r"99%+ in ([\d.]+) secs", out.stdout).group(1)
    print(f"hey: {rate} requests/s, p99 {float(p99) * 1000:.0f} ms")

    records = read_topic(kafka_bootstrap_servers, effects_topic, 1000, timeout=120,
                         identity=lambda m: m.key())
    ids = [READER.decode(m.value())["invocation_id"] for m in records]
    assert len(ids) == 1000, f"{len(ids)} effects for 1000 requests"
    assert len(set(ids)) == 1000, "an invocation ran twice"
