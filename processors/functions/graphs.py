"""Runs composition graphs (topology/graphs.py) as durable functions.

A graph's function is run by the executor like any other, and it triggers its steps with ids
derived from its own invocation id. Its state is the results of its steps: if the worker dies
mid-run, the run's invocation is still recorded as running, the next owner of its partition runs
it again, and each step that already completed is answered from its executor's stored result
instead of running again (the step's outputs were committed with that result, once). Only the
steps that had not completed run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from iii_kafka.topology.graphs import Graph, Node, Parallel, Step, Then, step_payload

from .context import InvocationContext
from .errors import ErrorCode, InvocationError
from .registry import FunctionRegistry, RegisteredFunction

__all__ = ["GRAPH_TIMEOUT_MS", "register_graph"]

GRAPH_TIMEOUT_MS = 10 * 60 * 1000
STEP_TIMEOUT_MS = 5 * 60 * 1000
HOST_WAIT_S = 30.0


def register_graph(registry: FunctionRegistry, graph: Graph, *, timeout_ms: int = GRAPH_TIMEOUT_MS,
                   step_timeout_ms: int = STEP_TIMEOUT_MS) -> RegisteredFunction:
    async def run(data: Any, ctx: InvocationContext) -> dict[str, Any]:
        results: dict[str, Any] = {}
        skipped: list[str] = []
        await _run_node(graph.body, data, results, skipped, ctx, step_timeout_ms)
        return {"steps": results, "skipped": sorted(skipped)}

    steps = ", ".join(f"{s.name}={s.function_id}" for s in graph.steps())
    return registry.register_function(graph.function_id, run, timeout_ms=timeout_ms,
                                      description=graph.description or f"graph: {steps}",
                                      metadata={"graph_steps": [s.name for s in graph.steps()]})


async def _run_node(node: Node, data: Any, results: dict[str, Any], skipped: list[str],
                    ctx: InvocationContext, timeout_ms: int) -> None:
    if isinstance(node, Then):
        for child in node.nodes:
            await _run_node(child, data, results, skipped, ctx, timeout_ms)
    elif isinstance(node, Parallel):
        # Each branch sees the results from before the block, whatever its siblings finish first,
        # so a re-run asks every step with the same payload.
        branch_results = [dict(results) for _ in node.branches]
        await asyncio.gather(*(_run_node(branch, data, mine, skipped, ctx, timeout_ms)
                               for branch, mine in zip(node.branches, branch_results)))
        for mine in branch_results:
            results.update(mine)
    else:
        await _run_step(node, data, results, skipped, ctx, timeout_ms)


async def _run_step(step: Step, data: Any, results: dict[str, Any], skipped: list[str],
                    ctx: InvocationContext, timeout_ms: int) -> None:
    payload = step_payload(data, results)
    if step.when is not None:
        decision = await _trigger_when_hosted(ctx, step.when, payload, timeout_ms, f"{step.name}.when")
        if not _truthy(decision):
            skipped.append(step.name)
            return
    results[step.name] = await _trigger_when_hosted(ctx, step.function_id, payload, timeout_ms, step.name)


async def _trigger_when_hosted(ctx: InvocationContext, function_id: str, payload: Any, timeout_ms: int,
                               name: str) -> Any:
    """A step whose function has no live host right now (its app restarting) waits for one, up to
    `HOST_WAIT_S`, instead of failing the whole run."""
    waited = 0.0
    while True:
        try:
            return await ctx.trigger(function_id, payload, timeout_ms=timeout_ms, name=name)
        except InvocationError as error:
            if error.code != ErrorCode.FUNCTION_NOT_FOUND or waited >= HOST_WAIT_S:
                raise
        await asyncio.sleep(1.0)
        waited += 1.0


def _truthy(decision: Any) -> bool:
    """A condition returns true, or `{"result": true}` / `{"ok": true}` as some iii handlers do."""
    if isinstance(decision, dict):
        return bool(decision.get("result", decision.get("ok", False)))
    return bool(decision)
