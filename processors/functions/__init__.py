"""Functions, triggers and composition over Kafka (docs/functions.md).

    from iii_kafka.processors.functions import functions, TriggerAction, InvocationError

    @functions.function("math::add")
    async def add(data, ctx):
        return {"sum": data["a"] + data["b"]}

A worker process loads the modules named in `IIIKAFKA_SERVICES`; each registers its functions
in `functions`, the process's registry. `Caller` triggers them from anywhere (the CLI, tests,
other programs); inside a handler, `ctx.trigger` does.
"""

from .actions import TriggerAction
from .context import InvocationContext
from .errors import ErrorCode, InvocationError
from .graphs import register_graph
from .registry import FunctionRegistry, QueueConfig, RegisteredFunction, functions

__all__ = ["ErrorCode", "FunctionRegistry", "InvocationContext", "InvocationError", "QueueConfig",
           "RegisteredFunction", "TriggerAction", "functions", "register_graph"]
