"""``drift --correct KIND…``: put drift back, as PowerShell DSC's ApplyAndAutoCorrect does, opt-in per kind.

Through the same plan, rails and lock as ``apply``: the run's own plan, kept to the drifted objects of the
kinds asked for whose change the kind declares safe to make unattended (``DriftTraits.correctable``: a logging
setting yes; a certificate only when it re-binds a service other than SMTP; an Edge Subscription never); a
refusal by a safety rail stops the correction of what it concerns (a rail of the whole plan stops all of it);
the organisation's apply lock is taken as ``apply`` takes it; each change is applied and read back. A change
made and verified is "corrected" (recorded so in the history); one that is not stays drift, with the reason.
Acknowledged drift is left alone.
"""

from __future__ import annotations

from dataclasses import replace

from .. import inventory as inv
from ..lock import LockError, LockHeld, acquire, organisation_of
from ..model import ChangeOutcome, Plan
from ..runner import Run
from .report import DriftItem, DriftReport, DriftState, traits


def correct(report: DriftReport, run: Run, plan: Plan, inventory: inv.Inventory, kinds: list[str],
            acked: set[tuple[str, str, str]] | frozenset[tuple[str, str, str]] = frozenset()) -> DriftReport:
    wanted = set(kinds)
    items = {(i.finding.host, i.finding.kind, i.finding.name): i for i in report.items}
    why: dict[tuple[str, str, str], str] = {}
    chosen = []
    for change in plan.changes:
        key = (change.host, change.kind, change.name)
        item = items.get(key)
        if change.kind not in wanted or item is None or item.state is not DriftState.DRIFT or item.key in acked:
            continue
        safe = traits(change.kind).correctable
        if safe is None or not safe(change):
            why[key] = f"{change.kind} does not declare a {change.action} of it safe to make unattended; run exconf apply"
            continue
        chosen.append(change)
    blocking = plan.blocking
    if any(not r.change for r in blocking):
        rails = ", ".join(sorted({r.rail for r in blocking if not r.change}))
        for c in chosen:
            why[(c.host, c.kind, c.name)] = f"the plan is refused by a safety rail ({rails}); run exconf plan"
        chosen = []
    stopped = {r.change: r.rail for r in blocking if r.change}
    for c in [c for c in chosen if c.id in stopped]:
        why[(c.host, c.kind, c.name)] = f"refused by the safety rail {stopped[c.id]}"
    chosen = [c for c in chosen if c.id not in stopped]
    ids = {c.id for c in chosen}
    ops = [op for op in plan.operations if op.change in ids]
    op_ids = {op.id for op in ops}
    lonely = {op.change for op in ops if any(n not in op_ids for n in op.needs)}
    for c in [c for c in chosen if c.id in lonely]:
        why[(c.host, c.kind, c.name)] = "it needs a change that is not corrected with it; run exconf apply"
    chosen = [c for c in chosen if c.id not in lonely]
    ids = {c.id for c in chosen}
    ops = [op for op in ops if op.change in ids]
    done: set[tuple[str, str, str]] = set()
    if chosen:
        try:
            lock = acquire(inventory.path, organisation_of(inventory), "exconf drift --correct")
        except LockError as exc:
            lock = None
            held = "is held" if isinstance(exc, LockHeld) else "could not be taken"
            for c in chosen:
                why[(c.host, c.kind, c.name)] = f"the apply lock {held} ({exc})"
        if lock is not None:
            try:
                hosts = {h: replace(hp, changes=tuple(c for c in hp.changes if c.id in ids)) for h, hp in plan.hosts.items()}
                kept = {op.id for op in ops}
                # The plan's own schedule, kept to what is corrected (a subset of a valid order is one).
                schedule = tuple(w for w in (tuple(i for i in wave if i in kept) for wave in plan.schedule) if w)
                ordered = tuple(op for op in plan.operations if op.id in kept)
                results = run.apply(Plan(hosts=hosts, operations=ordered, overridden=plan.overridden, schedule=schedule))
            finally:
                lock.release()
            for res in results.values():
                for r in res.results:
                    key = (r.change.host, r.change.kind, r.change.name)
                    if r.outcome is ChangeOutcome.APPLIED:
                        done.add(key)
                    else:
                        why[key] = f"{r.outcome.value}: {r.message}".strip(": ")
    out: list[DriftItem] = []
    for i in report.items:
        key = (i.finding.host, i.finding.kind, i.finding.name)
        if key in done:
            i = replace(i, corrected=True)
        elif key in why:
            i = replace(i, correction=why[key])
        out.append(i)
    return replace(report, items=tuple(out))
