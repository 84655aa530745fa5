"""Trigger bindings: the trigger types of iii, and what a binding's config may hold.

A binding is `(trigger_type, function_id, config, condition_function_id)`; workers publish theirs
to the catalog (processors/functions/catalog.py) and the engine part of each type fires them:

| type | config | fired by |
| --- | --- | --- |
| `state` | `scope`, `key`? | the state owner, in the change's transaction |
| `stream` | `stream_name`, `group_id`?, `item_id`? | the state owner, for items of stream scopes |
| `subscribe` | `topic` | `publish` (fan-out by the publisher) |
| `durable:subscriber` | `topic`, `max_retries`?, `backoff_ms`? | a group per function on the topic's log |
| `http` | `api_path`, `http_method` (GET) | the HTTP gateway (`iii-kafka http`, port 3111) |
| `cron` | `expression` (6 or 7 fields, seconds first) | the cron leader of the namespace |

`check_trigger_config` is pure: it returns the normalized config or raises `TriggerConfigError`
naming the field.
"""

from __future__ import annotations

from typing import Any

from .cron import CronExpressionError, CronSchedule

__all__ = ["HTTP_METHODS", "TRIGGER_TYPES", "TriggerConfigError", "check_trigger_config"]

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

TRIGGER_TYPES: dict[str, frozenset[str]] = {
    "state": frozenset({"scope", "key"}),
    "stream": frozenset({"stream_name", "group_id", "item_id"}),
    "subscribe": frozenset({"topic"}),
    "durable:subscriber": frozenset({"topic", "max_retries", "backoff_ms"}),
    "http": frozenset({"api_path", "http_method"}),
    "cron": frozenset({"expression"}),
}
"""Each trigger type and the config fields it knows (besides `condition_function_id`)."""

REQUIRED = {"state": ("scope",), "stream": ("stream_name",), "subscribe": ("topic",),
            "durable:subscriber": ("topic",), "http": ("api_path",), "cron": ("expression",)}
OPTIONAL_NAMES = {"state": ("key",), "stream": ("group_id", "item_id")}


class TriggerConfigError(ValueError):
    """A binding that cannot work; the message names the type and the field."""


def check_trigger_config(trigger_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The normalized config of a binding of `trigger_type` (e.g. an upper-case `http_method`)."""
    if trigger_type not in TRIGGER_TYPES:
        raise TriggerConfigError(f"trigger type {trigger_type!r} is not known (known: "
                                 f"{', '.join(sorted(TRIGGER_TYPES))})")
    known = TRIGGER_TYPES[trigger_type]
    unknown = set(config) - known
    if unknown:
        names = ", ".join(sorted(unknown))
        raise TriggerConfigError(f"{trigger_type} trigger config: unknown field(s) {names} "
                                 f"(known: {', '.join(sorted(known))})")
    config = dict(config)
    for field in REQUIRED[trigger_type]:
        _check_text(trigger_type, field, config.get(field), required=True)
    for field in OPTIONAL_NAMES.get(trigger_type, ()):
        if config.get(field) in (None, ""):
            config.pop(field, None)  # iii: empty or missing is a wildcard
        else:
            _check_text(trigger_type, field, config[field], required=False)
    if trigger_type == "http":
        config.update(_http_config(config))
    elif trigger_type == "cron":
        try:
            CronSchedule(config["expression"])
        except CronExpressionError as exc:
            raise TriggerConfigError(f"cron trigger config: {exc}") from None
    elif trigger_type == "durable:subscriber":
        for field in ("max_retries", "backoff_ms"):
            value = config.get(field)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise TriggerConfigError(f"durable:subscriber trigger config: {field} must be an "
                                         f"integer >= 0, got {value!r}")
    return config


def _check_text(trigger_type: str, field: str, value: Any, *, required: bool) -> None:
    if value is None and required:
        raise TriggerConfigError(f"{trigger_type} trigger config: {field} is required")
    if not isinstance(value, str) or not value.strip():
        raise TriggerConfigError(f"{trigger_type} trigger config: {field} must be a non-empty string, "
                                 f"got {value!r}")


def _http_config(config: dict[str, Any]) -> dict[str, Any]:
    method = config.get("http_method") or "GET"
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise TriggerConfigError(f"http trigger config: http_method {method!r} is not one of "
                                 f"{', '.join(HTTP_METHODS)}")
    path = "/" + config["api_path"].strip().strip("/")
    for segment in path.split("/")[1:]:
        if segment.startswith(":") and len(segment) == 1:
            raise TriggerConfigError(f"http trigger config: api_path {config['api_path']!r} has a "
                                     "path parameter without a name")
        if "{" in segment or "}" in segment:
            raise TriggerConfigError(f"http trigger config: api_path {config['api_path']!r}: write path "
                                     "parameters as :name, as iii does (not {name})")
    return {"api_path": path, "http_method": method.upper()}
