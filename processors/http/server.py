"""The HTTP gateway of http triggers: an aiohttp server that routes each request by method and path
to the function of an http binding, awaits its result through a `Caller`, and answers with it.

Stateless: the routes are the catalog's http bindings (refreshed once a second), each request is
one invocation with its own id (action none), so a request never runs twice, and every request is
its own task, so a slow or failing handler holds up no other request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web
from confluent_kafka import KafkaException
from iii_kafka.schemas import AvroCodec

from ..functions.bindings import Bindings
from ..functions.caller import Caller
from ..functions.errors import InvocationError
from ..schema_store import schema_topic_client
from ..settings import Settings
from .config import HttpSettings
from .routing import (
    BodyError,
    ErrorReply,
    MethodNotAllowed,
    NoRoute,
    Reply,
    RouteMatch,
    RouteTable,
    build_request,
    error_reply,
    invocation_error_status,
    parse_body,
    reply_from_result,
)

__all__ = ["READY_LINE", "Gateway", "GatewayError", "run_gateway"]

log = logging.getLogger("iii_kafka.http")

READY_LINE = "iii-kafka: http gateway ready on"


class GatewayError(RuntimeError):
    """The gateway cannot serve (its port is taken, say); the message says why in one line."""


class Gateway:
    """Answers HTTP requests with the functions of the catalog's http bindings."""

    def __init__(self, caller: Caller, settings: HttpSettings) -> None:
        self.caller = caller
        self.settings = settings
        self._bindings = Bindings(caller.catalog, "http")
        self._source: list | None = None
        self._table = RouteTable(())

    def routes(self) -> RouteTable:
        current = self._bindings.current()
        if current is not self._source:  # a new list once a second at most; rebuild only then
            self._table = RouteTable.from_bindings(b for b in current if "api_path" in b.config)
            self._source = current
        return self._table

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            reply = await self._answer(request, started)
        except Exception as exc:  # a bug of ours: one line for the client, the detail in the log
            reply = error_reply(500, "INTERNAL_ERROR", "internal server error")
            log.error("%s %s -> 500 INTERNAL_ERROR error_id=%s: %s: %s", request.method, request.path,
                      reply.error_id, type(exc).__name__, exc)
            log.debug("traceback of error_id=%s", reply.error_id, exc_info=True)
        try:
            response = web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        except ValueError as exc:  # a header aiohttp will not send (a newline in its value, say)
            reply = error_reply(500, "invalid_result", f"the handler's headers cannot be sent: {exc}")
            self._log(request, reply, "")
            response = web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return response

    async def _answer(self, request: web.Request, started: float) -> Reply:
        try:
            match = self.routes().match(request.method, request.path)
        except NoRoute:
            return self._log(request, error_reply(404, "NOT_FOUND", "Not Found"))
        except MethodNotAllowed as exc:
            return self._log(request, error_reply(
                405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path} "
                f"(allowed: {', '.join(exc.allowed)})", headers={"Allow": ", ".join(exc.allowed)}))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._log(request, error_reply(
                413, "PAYLOAD_TOO_LARGE", f"the body is over the {self.settings.max_body_bytes}-byte "
                "limit (IIIKAFKA_MAX_MESSAGE_BYTES)"))
        try:
            body = parse_body(request.headers.get("Content-Type"), raw)
        except BodyError as exc:
            return self._log(request, error_reply(400, "INVALID_BODY", str(exc)))
        payload = build_request(match, request.method, request.query.items(), request.headers.items(), body)
        deadline = started + self.settings.timeout_ms / 1000
        route = match.route
        if route.condition_function_id:
            refused = await self._condition(request, match, payload, deadline)
            if refused is not None:
                return refused
        invocation_id = uuid.uuid4().hex
        try:
            result = await self.caller.trigger(route.function_id, payload, timeout_ms=_left_ms(deadline),
                                               invocation_id=invocation_id)
        except InvocationError as exc:
            status = invocation_error_status(exc.code)
            return self._log(request, error_reply(status, exc.code, exc.message), invocation_id)
        reply = reply_from_result(result)
        if isinstance(reply, ErrorReply):
            self._log(request, reply, invocation_id)
        return reply

    async def _condition(self, request: web.Request, match: RouteMatch, payload: dict[str, Any],
                         deadline: float) -> Reply | None:
        """iii's condition: the handler runs unless the condition returns exactly false (422)."""
        condition = match.route.condition_function_id
        try:
            verdict = await self.caller.trigger(condition, payload, timeout_ms=_left_ms(deadline))
        except InvocationError as exc:
            status = invocation_error_status(exc.code)
            status = 500 if status == 400 else status  # a condition refusing the request is its fault
            return self._log(request, error_reply(status, exc.code, f"condition {condition}: {exc.message}"))
        if verdict is False:
            return self._log(request, error_reply(422, "CONDITION_NOT_MET", "Request condition not met",
                                                  skipped=True))
        return None

    def _log(self, request: web.Request, reply: ErrorReply, invocation_id: str = "") -> ErrorReply:
        """One line per error: 5xx as warnings (with the error_id the client got), 4xx as info."""
        where = f" invocation={invocation_id}" if invocation_id else ""
        ident = f" error_id={reply.error_id}" if reply.error_id else ""
        level = logging.WARNING if reply.status >= 500 else logging.INFO
        log.log(level, "%s %s -> %d %s%s%s: %s", request.method, request.path, reply.status, reply.code,
                ident, where, reply.message)
        return reply


def _left_ms(deadline: float) -> int:
    return max(1, int((deadline - time.monotonic()) * 1000))


def caller_for(settings: Settings) -> Caller:
    """A caller configured like every command's (as `Caller.from_env`, for these settings)."""
    store = schema_topic_client(settings)
    caller = Caller(settings, AvroCodec(store=store))
    caller._closables.append(store)
    return caller


async def serve(settings: Settings, http: HttpSettings, *, stop: asyncio.Event | None = None,
                ready: Callable[[str], None] | None = None) -> None:
    """Serves until `stop` is set (or SIGINT/SIGTERM when no event is given)."""
    stop = stop or _stop_on_signals()
    _check_address(http)  # before the caller creates its reply topic
    caller = await _started_caller(settings)
    try:
        gateway = Gateway(caller, http)
        runner = web.AppRunner(gateway.application(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, http.host, http.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise GatewayError(f"cannot listen on {http.host}:{http.port}: {reason}") from None
        try:
            host, port = runner.addresses[0][:2]
            routes = len(gateway.routes())
            (ready or _say)(f"{READY_LINE} http://{host}:{port} ({routes} route(s) now, namespace "
                            f"{settings.namespace}, timeout {http.timeout_ms} ms); Ctrl-C stops it")
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await caller.close()


async def _started_caller(settings: Settings, attempts: int = 3) -> Caller:
    """A started caller; a reply topic just created may not be in the metadata yet: try again."""
    for attempt in range(1, attempts + 1):
        caller = caller_for(settings)
        try:
            return await caller.start()
        except KafkaException as exc:
            await caller.close()
            if attempt == attempts:
                raise
            log.info("the gateway's caller did not start (%s); trying again", exc)
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _check_address(http: HttpSettings) -> None:
    """Refuses at once an address the server could not listen on (a taken port, say)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in http.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((http.host, http.port))
    except OSError as exc:
        raise GatewayError(f"cannot listen on {http.host}:{http.port}: {exc.strerror or exc}") from None


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _say(message: str) -> None:
    print(message, flush=True)


def run_gateway(settings: Settings, http: HttpSettings) -> int:
    """`iii-kafka http`: serve in the foreground on uvloop until Ctrl-C or SIGTERM."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(settings, http))
    _say("iii-kafka: http gateway stopped")
    return 0
