"""The plan graph: operations with ``needs`` on the same or another host, run in waves.

Pure functions. A wave holds every operation whose needs are met by earlier
waves; a need on the *same* host does not start a new wave, because a host's
operations of one wave travel in one round trip, in order, and stop at the
first failure. So a plan with no cross-host edges is one wave: one round trip
per host, as before the graph existed.

Each wave a host takes part in costs it a round trip (requests: docs/architecture.md),
so an operation that nothing on another host waits for is then moved to the latest
wave its host takes part in anyway, as far as what needs it allows: a Mailbox server
that imports an Edge's subscription in wave 2 sends its own changes with the import,
one round trip instead of two. An operation with a deadline (``within``) is not moved.
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
    ordered = _topological(ops, by_id)
    _gather(ordered, level)
    out: list[list[Operation]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for op in ordered:
        out[level[op.id]].append(op)
    return [wave for wave in out if wave]


def _gather(ordered: list[Operation], level: dict[str, int]) -> None:
    """Move operations to the latest wave their host takes part in anyway, no later than what needs them allows
    (the wave of one on the same host, the wave before one on another host). Those that need an operation are
    placed before it (reverse topological order), so each move sees where they will run."""
    host_waves: dict[str, set[int]] = {}
    for op in ordered:
        host_waves.setdefault(op.host, set()).add(level[op.id])
    needed_by: dict[str, list[Operation]] = {}
    for op in ordered:
        for need in op.needs:
            needed_by.setdefault(need, []).append(op)
    for op in reversed(ordered):
        if op.within is not None:
            continue
        limit = max(host_waves[op.host])
        for later in needed_by.get(op.id, ()):
            limit = min(limit, level[later.id] if later.host == op.host else level[later.id] - 1)
        level[op.id] = max(w for w in host_waves[op.host] if level[op.id] <= w <= limit)


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
