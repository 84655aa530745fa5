"""Composition graphs, declared: steps in sequence, parallel branches, and conditions.

    order_flow = Graph("orders::fulfil", [
        Step("reserve", "stock::reserve"),
        Parallel(Step("charge", "payments::charge"),
                 Step("notify", "mail::send", when="orders::wants_mail")),
        Step("ship", "shipping::ship"),
    ])

A graph is a function (its own id); triggering it starts a run. Each step is a trigger of its
function with `{"input": <the run's payload>, "steps": {<earlier step>: <its result>}}`; a step
with `when` runs only if that condition function returns true. The run's result is
`{"steps": {...}, "skipped": [...]}`. Step invocation ids are derived from the run's id and the
step's name, which is what makes a run resumable (processors/functions/graphs.py runs them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

from .functions import FunctionId

__all__ = ["Graph", "GraphError", "Parallel", "Step", "condition_invocation_id", "step_invocation_id",
           "step_payload"]


class GraphError(ValueError):
    """A graph declaration that cannot run; the message names the graph and the step."""


@dataclass(frozen=True)
class Step:
    name: str
    function_id: str
    when: str | None = None  # a condition function's id

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise GraphError(f"step name {self.name!r} must be non-empty and without '/'")
        FunctionId(self.function_id)
        if self.when is not None:
            FunctionId(self.when)


@dataclass(frozen=True)
class Parallel:
    branches: tuple["Node", ...]

    def __init__(self, *branches: "Node | Sequence[Node]") -> None:
        if len(branches) < 2:
            raise GraphError("Parallel needs at least two branches")
        object.__setattr__(self, "branches", tuple(_node(b) for b in branches))


@dataclass(frozen=True)
class Then:
    """Nodes one after another (a list in a declaration is one)."""

    nodes: tuple["Node", ...]


Node = Union[Step, Parallel, Then]


def _node(node: "Node | Sequence[Node]") -> Node:
    if isinstance(node, (Step, Parallel, Then)):
        return node
    if isinstance(node, (list, tuple)):
        return Then(tuple(_node(n) for n in node))
    raise GraphError(f"{node!r} is not a Step, a Parallel or a list of them")


@dataclass(frozen=True)
class Graph:
    function_id: str
    body: Then
    description: str | None = None

    def __init__(self, function_id: str, nodes: Sequence["Node | Sequence[Node]"],
                 description: str | None = None) -> None:
        FunctionId(function_id)
        object.__setattr__(self, "function_id", function_id)
        object.__setattr__(self, "body", Then(tuple(_node(n) for n in nodes)))
        object.__setattr__(self, "description", description)
        names = [step.name for step in self.steps()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise GraphError(f"graph {function_id}: step name(s) used twice: {', '.join(duplicates)}")
        if not names:
            raise GraphError(f"graph {function_id} has no steps")

    def steps(self) -> list[Step]:
        return list(_steps(self.body))


def _steps(node: Node) -> Iterator[Step]:
    if isinstance(node, Step):
        yield node
    else:
        for child in node.nodes if isinstance(node, Then) else node.branches:
            yield from _steps(child)


def step_invocation_id(run_id: str, step: Step) -> str:
    """Stable across re-runs of the same run: a completed step is answered from its stored result."""
    return f"{run_id}/{step.name}"


def condition_invocation_id(run_id: str, step: Step) -> str:
    return f"{run_id}/{step.name}.when"


def step_payload(run_input: Any, results: dict[str, Any]) -> dict[str, Any]:
    return {"input": run_input, "steps": dict(results)}
