"""Test service: functions behind http triggers (the gateway routes requests to them)."""

import asyncio
import os

from iii_kafka.processors.functions import functions

EFFECTS = os.environ.get("TEST_EFFECTS_TOPIC", "")


@functions.function("users::get")
async def get_user(request):
    """Echoes what reached the handler: path params, query, headers, method, path, body."""
    return {"status_code": 200, "body": {
        "id": request["path_params"].get("id"), "query": request["query_params"],
        "agent": request["headers"].get("x-test-agent"), "method": request["method"],
        "path": request["path"], "trigger": request["trigger"], "body": request["body"]}}


@functions.function("users::me")
async def me(request):
    return {"me": True}  # not a response shape: the gateway sends it as the JSON body of a 200


@functions.function("users::create")
async def create_user(request):
    body = request["body"]
    return {"status_code": 201, "headers": {"Location": f"/users/{body['name']}", "X-Created": "yes"},
            "body": {"created": body}}


@functions.function("pages::text")
async def text(request):
    return {"status_code": 200, "headers": ["Content-Type: text/plain; charset=utf-8"], "body": "hello"}


@functions.function("jobs::fail")
async def fail(request):
    raise RuntimeError("the handler fails on purpose")


@functions.function("jobs::slow", timeout_ms=60_000)
async def slow(request):
    await asyncio.sleep(float(request["query_params"].get("s", "5")))
    return {"slept": True}


@functions.function("admin::allowed")
async def allowed(request):
    """The condition: only requests that carry `x-admin: yes`."""
    return request["headers"].get("x-admin") == "yes"


@functions.function("admin::broken")
async def broken(request):
    raise ValueError("the condition fails on purpose")


@functions.function("admin::act")
async def act(request, ctx):
    ctx.send(EFFECTS, f"admin-{ctx.invocation_id}", {"admin": True, "invocation_id": ctx.invocation_id})
    return {"done": True}


@functions.function("events::record")
async def record(request, ctx):
    """One effect per invocation, in the invocation's transaction: counts requests served."""
    ctx.send(EFFECTS, ctx.invocation_id, {"invocation_id": ctx.invocation_id, "run": request["query_params"]})
    return {"status_code": 202, "body": {"ok": True}}


functions.register_trigger("http", "users::get", {"api_path": "users/:id", "http_method": "GET"})
functions.register_trigger("http", "users::me", {"api_path": "/users/me"})
functions.register_trigger("http", "users::create", {"api_path": "/users", "http_method": "post"})
functions.register_trigger("http", "pages::text", {"api_path": "/text"})
functions.register_trigger("http", "jobs::fail", {"api_path": "/fail", "http_method": "POST"})
functions.register_trigger("http", "jobs::slow", {"api_path": "/slow"})
functions.register_trigger("http", "admin::act", {"api_path": "/admin", "http_method": "POST",
                                                  "condition_function_id": "admin::allowed"})
functions.register_trigger("http", "admin::act", {"api_path": "/guarded", "http_method": "POST",
                                                  "condition_function_id": "admin::broken"})
functions.register_trigger("http", "events::record", {"api_path": "/events", "http_method": "POST"})
