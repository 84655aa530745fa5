"""Errors as iii reports them to a caller: `{code, message, stacktrace}`."""

from __future__ import annotations

import traceback
from typing import Any

__all__ = ["ErrorCode", "InvocationError"]


class ErrorCode:
    """The stable codes a caller can branch on (iii's, plus ours for what iii does not check)."""

    FUNCTION_NOT_FOUND = "function_not_found"
    INVOCATION_FAILED = "invocation_failed"
    TIMEOUT = "TIMEOUT"
    ENQUEUE_ERROR = "enqueue_error"
    INVALID_PAYLOAD = "invalid_payload"
    INVALID_RESULT = "invalid_result"
    INVALID_FUNCTION_ID = "invalid_function_id"


class InvocationError(Exception):
    """A trigger that did not produce a result. `code` is one of `ErrorCode`'s."""

    def __init__(self, code: str, message: str, *, function_id: str | None = None,
                 invocation_id: str | None = None, stacktrace: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.function_id = function_id
        self.invocation_id = invocation_id
        self.stacktrace = stacktrace

    def __str__(self) -> str:
        where = f" ({self.function_id})" if self.function_id else ""
        return f"{self.code}{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The `ErrorInfo` record's fields, iii's error shape."""
        return {"code": self.code, "message": self.message, "stacktrace": self.stacktrace}

    @classmethod
    def from_dict(cls, error: dict[str, Any], *, function_id: str | None = None,
                  invocation_id: str | None = None) -> "InvocationError":
        return cls(error["code"], error["message"], stacktrace=error.get("stacktrace"),
                   function_id=function_id, invocation_id=invocation_id)

    @classmethod
    def from_handler_exception(cls, exc: BaseException) -> "InvocationError":
        """A handler raised: `invocation_failed` (or the code of an InvocationError it let through)."""
        stack = "".join(traceback.format_exception(exc))
        if isinstance(exc, InvocationError):
            return cls(exc.code, exc.message, stacktrace=exc.stacktrace or stack)
        return cls(ErrorCode.INVOCATION_FAILED, f"{type(exc).__name__}: {exc}", stacktrace=stack)
