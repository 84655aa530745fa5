"""The pure part of the HTTP gateway: match a request to a route, build iii's request object, and
turn a handler's result or an error into a response. No I/O; unit-tested without a server.

A route is an http binding: `api_path` (path parameters written `:name`, as in iii) and
`http_method`. Matching works on whole segments; where two patterns match one path, the one with
a literal segment at the first place they differ wins (`/users/me` before `/users/:id`), and among
equal patterns the binding with the smallest id.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BodyError", "ErrorReply", "MethodNotAllowed", "NoRoute", "Reply", "Route", "RouteMatch",
           "RouteTable", "build_request", "error_reply", "invocation_error_status", "new_error_id",
           "parse_body", "reply_from_result"]

RESPONSE_KEYS = frozenset({"status_code", "headers", "body"})
JSON_TYPE = "application/json"

# InvocationError codes that are the client's fault or a state of the cluster, not a failure
_ERROR_STATUS = {"invalid_payload": 400, "function_not_found": 503, "TIMEOUT": 504}


@dataclass(frozen=True)
class Route:
    method: str
    api_path: str  # normalized: "/users/:id"
    function_id: str
    condition_function_id: str | None = None
    binding_id: str = ""
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", _segments(self.api_path))

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        """The path parameters when `segments` (of a request path) fit this pattern, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, actual in zip(self.segments, segments):
            if pattern.startswith(":"):
                if not actual:
                    return None
                params[pattern[1:]] = actual
            elif pattern != actual:
                return None
        return params

    @property
    def rank(self) -> tuple:
        """Sorts more specific patterns first: literal segments before parameters, place by place."""
        return tuple(1 if s.startswith(":") else 0 for s in self.segments), self.binding_id


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_params: dict[str, str]


class NoRoute(Exception):
    """No route has this path (404)."""


class MethodNotAllowed(Exception):
    """The path has routes, none for this method (405); `allowed` goes in the Allow header."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = sorted(set(allowed))
        super().__init__(f"allowed: {', '.join(self.allowed)}")


class RouteTable:
    """The routes of the current http bindings, matched by method and path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.rank)

    @classmethod
    def from_bindings(cls, bindings: Iterable[Any]) -> "RouteTable":
        """From `processors.functions.bindings.Binding`s of type http (normalized configs)."""
        return cls(Route(b.config.get("http_method", "GET"), b.config["api_path"], b.function_id,
                         b.condition_function_id, b.id) for b in bindings)

    def match(self, method: str, path: str) -> RouteMatch:
        """The route for `method` and `path`; raises NoRoute or MethodNotAllowed. HEAD falls back to
        a GET route when no HEAD route fits (the server sends no body for HEAD)."""
        segments = _segments(path)
        fitting = [(route, params) for route in self.routes
                   if (params := route.match(segments)) is not None]
        if not fitting:
            raise NoRoute(path)
        method = method.upper()
        for wanted in (method, "GET") if method == "HEAD" else (method,):
            for route, params in fitting:
                if route.method == wanted:
                    return RouteMatch(route, params)
        raise MethodNotAllowed(route.method for route, _ in fitting)

    def __len__(self) -> int:
        return len(self.routes)


def _segments(path: str) -> tuple[str, ...]:
    """`/users/42/` -> ("users", "42"): a trailing slash does not matter, as in iii's router."""
    path = path.split("?", 1)[0].strip("/")
    return tuple(path.split("/")) if path else ()


# -- the request object -------------------------------------------------------------------------


class BodyError(ValueError):
    """A body that says it is JSON and is not (400 INVALID_BODY)."""


def parse_body(content_type: str | None, raw: bytes) -> Any:
    """iii's rule: the body is parsed only when the content type contains application/json;
    otherwise (and for an empty body) the handler gets null. Malformed JSON raises BodyError."""
    if not content_type or JSON_TYPE not in content_type.lower() or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc}") from None


def build_request(match: RouteMatch, method: str, query: Iterable[tuple[str, str]],
                  headers: Iterable[tuple[str, str]], body: Any) -> dict[str, Any]:
    """iii's `HttpRequest`: `path` is the registered api_path, not the URL. A query key given twice
    keeps its last value; a header given twice is joined with ", " (names lower-case)."""
    route = match.route
    joined: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return {
        "query_params": {key: value for key, value in query},
        "path_params": dict(match.path_params),
        "headers": joined,
        "path": route.api_path,
        "method": method.upper(),
        "body": body,
        "trigger": {"type": "http", "path": route.api_path, "method": route.method},
    }


# -- the response -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class ErrorReply(Reply):
    code: str = ""
    message: str = ""
    error_id: str | None = None


def new_error_id() -> str:
    """12 hex digits, as iii's: in the 5xx body and in the gateway's log line."""
    return secrets.token_hex(6)


def error_reply(status: int, code: str, message: str, *, error_id: str | None = None,
                headers: Mapping[str, str] | None = None, **extra: Any) -> ErrorReply:
    """iii's envelope `{"error": {"code", "message", "error_id"?}}`; error_id on 5xx only."""
    if status >= 500 and error_id is None:
        error_id = new_error_id()
    error: dict[str, Any] = {"code": code, "message": message}
    if status >= 500:
        error["error_id"] = error_id
    body = json.dumps({"error": error, **extra}).encode()
    all_headers = (("Content-Type", JSON_TYPE), *(headers or {}).items())
    return ErrorReply(status, tuple(all_headers), body, code, message, error_id if status >= 500 else None)


def invocation_error_status(code: str) -> int:
    """The HTTP status of an `InvocationError` code: 400 invalid_payload, 503 function_not_found
    (no live host), 504 TIMEOUT, 500 for anything else (the handler failed)."""
    return _ERROR_STATUS.get(code, 500)


def is_response(result: Any) -> bool:
    """A handler's result is a response when it is a dict whose keys are some of status_code,
    headers and body (at least one); anything else is the JSON body of a 200."""
    return isinstance(result, dict) and bool(result) and set(result) <= RESPONSE_KEYS


def reply_from_result(result: Any) -> Reply:
    """iii's `HttpResponse::from_function_return`: status_code (200), headers (`{K: v}` or
    `["K: v"]`), body (`{}`). The body is JSON unless a Content-Type says otherwise and the body
    is a string. A malformed response is the handler's fault: 500 invalid_result."""
    if not is_response(result):
        return Reply(200, (("Content-Type", JSON_TYPE),), _json(result))
    status = result.get("status_code", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return error_reply(500, "invalid_result", f"status_code must be an integer 100-599, got {status!r}")
    try:
        headers = _headers(result.get("headers"))
    except ValueError as exc:
        return error_reply(500, "invalid_result", str(exc))
    body = result.get("body", {})
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    if content_type is None:
        headers.append(("Content-Type", JSON_TYPE))
        payload = _json(body)
    elif isinstance(body, str) and JSON_TYPE not in content_type.lower():
        payload = body.encode()
    else:
        payload = _json(body)
    if status in (204, 304) or 100 <= status < 200:
        payload = b""
    return Reply(status, tuple(headers), payload)


def _headers(headers: Any) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, dict):
        return [(str(k), _header_value(v)) for k, v in headers.items()]
    if isinstance(headers, list):
        found = []
        for line in headers:
            name, sep, value = str(line).partition(":")
            if not sep or not name.strip():
                raise ValueError(f"header {line!r} is not 'Name: value'")
            found.append((name.strip(), value.strip()))
        return found
    raise ValueError(f"headers must be an object or a list of 'Name: value', got {type(headers).__name__}")


def _header_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
