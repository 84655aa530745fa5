"""How an agent handles its events: one at a time, between commits, with dead letters.

    processing = EventProcessing(app, dead_letters)

    @app.agent(topic)                       # topic read with value_serializer=AVRO_TOLERANT
    async def agent(stream):
        await processing.run(stream, handle_one)

`run` holds the commit barrier (exactly_once.py) while `handle_one(event)` runs, so the event's
outputs, table writes and offset commit together; a value that did not decode never reaches the
handler: it is dead-lettered in that same transaction, and the stream goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import faust
from faust.types import EventT

from .dead_letters import DeadLetters
from .exactly_once import EventBoundaryCommits
from .serialization import Undecodable

__all__ = ["EventProcessing"]

Handler = Callable[[EventT], Awaitable[None]]


class EventProcessing:
    def __init__(self, app: faust.App, dead_letters: DeadLetters) -> None:
        self.boundary = EventBoundaryCommits(app)
        self.dead_letters = dead_letters

    def table(self, name: str, **kwargs: object) -> faust.Table:
        """A table whose changelog writes commit with the events that made them."""
        return self.boundary.table(name, **kwargs)

    async def run(self, stream: faust.StreamT, handle: Handler) -> None:
        async for event in stream.events():
            async with self.boundary.processing():
                if isinstance(event.value, Undecodable):
                    error = event.value.error
                    await self.dead_letters.send(event, error.reason, error.code)
                    continue
                await handle(event)
