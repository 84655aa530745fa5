"""What a trigger does once the invocation is written: iii's `TriggerAction`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TriggerAction"]


@dataclass(frozen=True)
class TriggerAction:
    """`None` (no action) awaits the result; `Void()` fires and forgets; `Enqueue(queue)` is durable
    and returns `{"messageReceiptId": ...}`."""

    kind: str
    queue: str | None = None

    @classmethod
    def Void(cls) -> "TriggerAction":  # noqa: N802 - iii's name
        return cls("void")

    @classmethod
    def Enqueue(cls, queue: str) -> "TriggerAction":  # noqa: N802 - iii's name
        if not queue:
            raise ValueError("Enqueue needs a queue name")
        return cls("enqueue", queue)

    @classmethod
    def parse(cls, action: "TriggerAction | dict | str | None") -> "TriggerAction | None":
        """Accepts iii's dict form (`{"type": "enqueue", "queue": "q"}`) and plain names too."""
        if action is None or isinstance(action, TriggerAction):
            return action
        if isinstance(action, str):
            kind, _, queue = action.partition(":")
            return cls.Enqueue(queue) if kind == "enqueue" else cls.parse({"type": kind})
        kind = action.get("type")
        if kind == "void":
            return cls.Void()
        if kind == "enqueue":
            return cls.Enqueue(action.get("queue", ""))
        if kind in (None, "none"):
            return None
        raise ValueError(f"unknown trigger action {kind!r}: use none, void or enqueue")
