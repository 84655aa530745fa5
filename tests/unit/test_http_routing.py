"""The gateway's pure part: path patterns, iii's request object, results and errors as responses."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from iii_kafka.processors.http.config import HttpSettings
from iii_kafka.processors.http.routing import (
    BodyError,
    ErrorReply,
    MethodNotAllowed,
    NoRoute,
    Route,
    RouteTable,
    build_request,
    error_reply,
    invocation_error_status,
    parse_body,
    reply_from_result,
)
from iii_kafka.processors.settings import SettingsError


def table(*routes: tuple[str, str, str]) -> RouteTable:
    return RouteTable(Route(method, path, fn, binding_id=fn) for method, path, fn in routes)


def test_path_parameters_and_literal_segments():
    routes = table(("GET", "/users/:id", "users::get"), ("GET", "/users/me", "users::me"),
                   ("GET", "/users/:id/posts/:post", "posts::get"), ("GET", "/", "root::get"))
    match = routes.match("GET", "/users/42")
    assert (match.route.function_id, match.path_params) == ("users::get", {"id": "42"})
    assert routes.match("GET", "/users/me").route.function_id == "users::me"  # literal first
    assert routes.match("GET", "/users/42/posts/7").path_params == {"id": "42", "post": "7"}
    assert routes.match("GET", "/users/42/").route.function_id == "users::get"  # trailing slash
    assert routes.match("GET", "/").route.function_id == "root::get"
    for path in ("/users", "/users/42/posts", "/other", "/users//posts/1"):
        with pytest.raises(NoRoute):
            routes.match("GET", path)


def test_the_literal_wins_wherever_the_patterns_first_differ():
    routes = table(("GET", "/:a/b", "x::ab"), ("GET", "/a/:b", "x::a_b"))
    assert routes.match("GET", "/a/b").route.function_id == "x::a_b"
    assert routes.match("GET", "/z/b").route.function_id == "x::ab"


def test_wrong_method_lists_the_allowed_ones_and_head_falls_back_to_get():
    routes = table(("POST", "/users", "users::create"), ("PUT", "/users", "users::replace"),
                   ("GET", "/users/:id", "users::get"))
    with pytest.raises(MethodNotAllowed) as refused:
        routes.match("DELETE", "/users")
    assert refused.value.allowed == ["POST", "PUT"]
    assert routes.match("post", "/users").route.function_id == "users::create"
    assert routes.match("HEAD", "/users/1").route.function_id == "users::get"
    with pytest.raises(MethodNotAllowed):
        routes.match("HEAD", "/users")


def test_routes_from_bindings_use_their_normalized_config():
    binding = SimpleNamespace(id="t1", function_id="users::get", condition_function_id="users::ok",
                              config={"api_path": "/users/:id", "http_method": "GET"})
    route = RouteTable.from_bindings([binding]).match("GET", "/users/1").route
    assert (route.function_id, route.condition_function_id, route.binding_id) == \
        ("users::get", "users::ok", "t1")


def test_the_request_object_is_iiis():
    match = table(("GET", "/users/:id", "users::get")).match("GET", "/users/42")
    request = build_request(match, "get", [("a", "1"), ("a", "2"), ("b", "")],
                            [("X-One", "1"), ("Accept", "a"), ("accept", "b")], {"k": 1})
    assert request == {
        "query_params": {"a": "2", "b": ""},  # the last value of a repeated key
        "path_params": {"id": "42"},
        "headers": {"x-one": "1", "accept": "a, b"},
        "path": "/users/:id",
        "method": "GET",
        "body": {"k": 1},
        "trigger": {"type": "http", "path": "/users/:id", "method": "GET"},
    }


def test_bodies_are_parsed_only_when_they_say_json():
    assert parse_body("application/json", b'{"a": [1, null]}') == {"a": [1, None]}
    assert parse_body("application/json; charset=utf-8", b"3") == 3
    assert parse_body("Application/JSON", b"  ") is None  # empty: null, not an error
    assert parse_body("text/plain", b"{nope") is None  # iii: only JSON content types are parsed
    assert parse_body(None, b'{"a": 1}') is None
    with pytest.raises(BodyError, match="not valid JSON"):
        parse_body("application/json", b'{"a": ')
    with pytest.raises(BodyError, match="not UTF-8"):
        parse_body("application/json", b'"\xff"')


def test_a_response_shaped_result_sets_status_headers_and_body():
    reply = reply_from_result({"status_code": 201, "headers": {"Location": "/x", "X-N": 3}, "body": {"a": 1}})
    assert reply.status == 201
    assert dict(reply.headers) == {"Location": "/x", "X-N": "3", "Content-Type": "application/json"}
    assert json.loads(reply.body) == {"a": 1}
    assert reply_from_result({"status_code": 204}).body == b""
    assert json.loads(reply_from_result({"status_code": 200}).body) == {}  # iii's default body
    listed = reply_from_result({"headers": ["Content-Type: text/plain", "X-A: b: c"], "body": "hi"})
    assert (listed.status, listed.headers, listed.body) == (200, (("Content-Type", "text/plain"),
                                                                  ("X-A", "b: c")), b"hi")
    # a JSON content type, or a body that is not a string, is sent as JSON
    assert reply_from_result({"headers": {"content-type": "text/plain"}, "body": [1]}).body == b"[1]"


def test_a_result_that_is_not_a_response_is_the_json_body_of_a_200():
    for result in ({"name": "ann"}, [1, 2], "text", 7, None, {}, {"body": 1, "extra": 2}):
        reply = reply_from_result(result)
        assert (reply.status, json.loads(reply.body)) == (200, result)


def test_a_malformed_response_is_a_500_invalid_result():
    for result in ({"status_code": "200"}, {"status_code": 42}, {"status_code": True},
                   {"headers": "X: y"}, {"headers": ["no colon"]}):
        reply = reply_from_result(result)
        assert isinstance(reply, ErrorReply) and reply.status == 500 and reply.code == "invalid_result"


def test_the_error_envelope_carries_an_error_id_on_5xx_only():
    client = error_reply(404, "NOT_FOUND", "Not Found")
    assert json.loads(client.body) == {"error": {"code": "NOT_FOUND", "message": "Not Found"}}
    assert client.error_id is None
    server = error_reply(500, "invocation_failed", "boom")
    body = json.loads(server.body)
    assert body["error"]["error_id"] == server.error_id and len(server.error_id) == 12
    int(server.error_id, 16)
    refused = error_reply(422, "CONDITION_NOT_MET", "Request condition not met", skipped=True)
    assert json.loads(refused.body) == {"error": {"code": "CONDITION_NOT_MET",
                                                  "message": "Request condition not met"}, "skipped": True}
    allow = error_reply(405, "METHOD_NOT_ALLOWED", "no", headers={"Allow": "GET, POST"})
    assert ("Allow", "GET, POST") in allow.headers


def test_invocation_errors_map_to_statuses():
    codes = ("invalid_payload", "function_not_found", "TIMEOUT", "invocation_failed", "anything_else")
    assert [invocation_error_status(c) for c in codes] == [400, 503, 504, 500, 500]


def test_settings_from_the_environment():
    assert HttpSettings.from_env({}) == HttpSettings("0.0.0.0", 3111, 30_000, 1_000_000)
    custom = HttpSettings.from_env({"IIIKAFKA_HTTP_PORT": "8080", "IIIKAFKA_HTTP_HOST": "127.0.0.1",
                                    "IIIKAFKA_HTTP_TIMEOUT_MS": "500"}, max_message_bytes=2048)
    assert custom == HttpSettings("127.0.0.1", 8080, 500, 2048)
    for env in ({"IIIKAFKA_HTTP_PORT": "x"}, {"IIIKAFKA_HTTP_PORT": "70000"},
                {"IIIKAFKA_HTTP_TIMEOUT_MS": "0"}):
        with pytest.raises(SettingsError, match=next(iter(env))):
            HttpSettings.from_env(env)
