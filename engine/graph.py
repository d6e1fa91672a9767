"""The plan graph: operations with ``needs`` on the same or another host, run in waves.

Pure functions. A wave holds every operation whose needs are met by earlier
waves; a need on the *same* host does not start a new wave, because a host's
operations of one wave travel in one round trip, in order, and stop at the
first failure. So a plan with no cross-host edges is one wave: one round trip
per host, as before the graph existed.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Operation


class GraphError(Exception):
    """The operations do not form a graph that can run (an unknown need, a cycle)."""


def waves(operations: Iterable[Operation]) -> list[list[Operation]]:
    """Operations grouped into waves, each wave in a stable order that respects same-host needs."""
    ops = list(operations)
    by_id = {op.id: op for op in ops}
    for op in ops:
        for need in op.needs:
            if need not in by_id:
                raise GraphError(f"operation {op.id} needs {need}, which is not in the plan")
    level: dict[str, int] = {}
    visiting: set[str] = set()  # on the current path; a finished operation answers from ``level`` first

    def of(op: Operation) -> int:
        if op.id in level:
            return level[op.id]
        if op.id in visiting:
            raise GraphError(f"operations depend on each other in a cycle through {op.id}")
        visiting.add(op.id)
        here = 0
        for need in op.needs:
            other = by_id[need]
            here = max(here, of(other) + (0 if other.host == op.host else 1))
        level[op.id] = here
        return here

    for op in ops:
        of(op)
    out: list[list[Operation]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for op in _topological(ops, by_id):
        out[level[op.id]].append(op)
    return out


def _topological(ops: list[Operation], by_id: dict[str, Operation]) -> list[Operation]:
    """Plan order, moved only as far as needs require (depth-first, stable)."""
    done: set[str] = set()
    out: list[Operation] = []

    def visit(op: Operation) -> None:
        if op.id in done:
            return
        done.add(op.id)
        for need in op.needs:
            visit(by_id[need])
        out.append(op)

    for op in ops:
        visit(op)
    return out


def dependants(operations: Iterable[Operation], failed: str) -> list[Operation]:
    """Every operation that needs ``failed``, directly or through others, on any host."""
    ops = list(operations)
    hit: set[str] = {failed}
    out: list[Operation] = []
    changed = True
    while changed:
        changed = False
        for op in ops:
            if op.id not in hit and any(n in hit for n in op.needs):
                hit.add(op.id)
                out.append(op)
                changed = True
    return out
