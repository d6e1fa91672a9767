"""Planning: desired state × what was read → the plan (changes, operations, schedule, findings, refusals).

Pure: the runner reads, this decides. One loop serves every scope: a scope
names the objects it holds, the host whose read observed them and the host
that changes them (a server's own objects; the organisation's through one
Mailbox server).

Two passes. The first plans every kind of every scope. The second plans
again the kinds that ``sees_planned``, each with every change the other kinds
planned in its scope, and with peers only among the hosts that planned
cleanly in the first pass (an Edge Subscription picks its importing Mailbox
server among them). Order between changes comes only from ``Change.after``
and the ``needs`` kinds give their operations: the planner sorts operations
by address and lets ``graph.waves`` move them only as far as needs require,
so an order nobody declared is never relied upon. A host that fails at plan
time takes every operation that needs it out of the plan, and the changes
those belong to fail their own hosts, naming why (never an operation left
needing one that is not there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from exconf.modules.base import Kind, KindPlan, PeerRead, PlanContext

from .desired import DesiredState
from .graph import waves
from .model import Change, Desired, Finding, FindingStatus, HostPlan, HostStatus, ObservedObject, Operation, Plan, Refusal, ServerFacts
from .yamlsource import Location

UNKNOWN = Location("?", 0, 0)
ORGANIZATION_SCOPE = "organization"


@dataclass
class HostRead:
    """What reading one host gave: its facts and, per kind, the objects seen (None = kind absent on its role)."""

    host: str
    status: HostStatus = HostStatus.OK
    error: str = ""
    facts: ServerFacts | None = None
    objects: dict[str, tuple[ObservedObject, ...] | None] = field(default_factory=dict)
    endpoint: str = ""


@dataclass(frozen=True)
class Scope:
    """Objects planned together: declared here, observed by ``reader``, changed by ``writer``."""

    name: str  # the host name, or "organization"
    desired: tuple[Desired, ...]
    reader: str
    writer: str
    where: str  # how messages name it


def scopes(desired: DesiredState, reads: dict[str, HostRead], org_host: str | None) -> list[Scope]:
    """Every scope of this run: the organisation's (through its carrier) and each host read."""
    out: list[Scope] = []
    if desired.organization and org_host is not None:
        out.append(Scope(ORGANIZATION_SCOPE, desired.organization, org_host, org_host, "the organisation"))
    for host, read in reads.items():
        if read.facts is not None and read.status is HostStatus.OK:
            out.append(Scope(host, desired.hosts.get(host, ()), host, host, read.facts.name))
    return out


@dataclass
class Peers:
    """Every host's PeerRead of each kind, made once per pass and handed to each scope without its own reader
    (made per scope, they were hosts × declaring hosts objects per pass)."""

    reads: dict[str, HostRead]
    desired: DesiredState
    clean: set[str] | None = None
    _made: dict[str, tuple[PeerRead, ...]] = field(default_factory=dict)

    def of(self, kind: Kind, reader: str) -> tuple[PeerRead, ...]:
        if not kind.reads_peers:
            return ()
        every = self._made.get(kind.kind)
        if every is None:
            every = self._made[kind.kind] = tuple(
                PeerRead(host, read.facts, objects, tuple(d for d in self.desired.hosts.get(host, ()) if d.kind == kind.kind),
                         self.clean is None or host in self.clean)
                for host, read in self.reads.items()
                if read.status is HostStatus.OK and read.facts is not None and (objects := read.objects.get(kind.kind)) is not None
            )
        return tuple(p for p in every if p.host != reader)


@dataclass
class _Draft:
    """What planning the scopes builds up, per host (the writer of each scope)."""

    changes: dict[str, list[Change]]
    findings: dict[str, list[Finding]]
    problems: dict[str, list[str]]
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, host: str, result: KindPlan) -> None:
        self.changes[host] += result.changes
        self.findings[host] += result.findings
        self.problems[host] += result.problems
        self.refusals += result.refusals
        self.notes += result.warnings


def _plan_scope_kind(kind: Kind, scope: Scope, reads: dict[str, HostRead], desired: DesiredState,
                     planned: tuple[Change, ...], pool: Peers) -> KindPlan | None:
    """One kind's plan of one scope (None when nothing of it is declared there)."""
    wanted = tuple(d for d in scope.desired if d.kind == kind.kind)
    if not wanted:
        return None
    facts = reads[scope.reader].facts
    assert facts is not None
    observed = reads[scope.reader].objects.get(kind.kind)
    if observed is None:
        problem = f"{wanted[0].source}: {kind.section}: {facts.name} is an {facts.role} server, which has no {kind.title}"
        return KindPlan(problems=(problem,), findings=tuple(
            Finding(scope.writer, kind.kind, d.pattern or kind.title, FindingStatus.ERROR, d.source, message=problem) for d in wanted))
    ctx = PlanContext(host=scope.writer, facts=facts, where=scope.where, peers=pool.of(kind, scope.reader), planned=planned)
    return kind.plan(wanted, observed, ctx)


def plan(
    desired: DesiredState,
    reads: dict[str, HostRead],
    kinds: tuple[Kind, ...],
    *,
    org_host: str | None,
    warnings: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
) -> Plan:
    """The plan for every host read (hosts that could not be read keep their status and error)."""
    all_scopes = scopes(desired, reads, org_host)
    first = _Draft({h: [] for h in reads}, {h: [] for h in reads}, {h: [] for h in reads})
    extra_notes: list[str] = []
    by_scope: dict[tuple[str, str], KindPlan] = {}
    unjudged = Peers(reads, desired)
    for scope in all_scopes:
        for kind in kinds:
            result = _plan_scope_kind(kind, scope, reads, desired, (), unjudged)
            if result is not None:
                by_scope[(scope.name, kind.kind)] = result
    writer = {s.name: s.writer for s in all_scopes}
    kind_of = {k.kind: k for k in kinds}
    # A kind that sees_planned is planned again: its first-pass problems may be answered by what the others plan
    # (a connector pattern that matches nothing until the Edge Subscription in this plan makes the connector).
    troubled = {writer[s] for (s, k), r in by_scope.items() if r.problems and not kind_of[k].sees_planned}
    clean = {h for h, r in reads.items() if r.status is HostStatus.OK and r.facts is not None and h not in troubled}
    # The organisation's changes do not fail with their carrier's own mistakes: another Mailbox server that
    # planned cleanly carries them (any Mailbox server can change organisation-wide objects). Cleanly means no
    # problem at all in the first pass: one a kind that sees_planned found may still be there after the second
    # pass, and the organisation's changes would then fail with that server's own mistake.
    org = next((s for s in all_scopes if s.name == ORGANIZATION_SCOPE), None)
    if org is not None and any(r.problems for (s, _), r in by_scope.items() if s == org.writer):
        flawless = clean - {writer[s] for (s, _), r in by_scope.items() if r.problems}
        spare = next((h for h, r in reads.items() if h in flawless and h != org.writer and r.facts is not None and r.facts.role == "Mailbox"), None)
        if spare is not None:
            moved = replace(org, writer=spare)
            all_scopes[all_scopes.index(org)] = moved
            extra_notes.append(f"organisation-wide objects are changed through {spare}: {org.writer}, which read them, failed at plan time")
            for kind in kinds:
                if (org.name, kind.kind) in by_scope:
                    result = _plan_scope_kind(kind, moved, reads, desired, (), unjudged)
                    assert result is not None
                    by_scope[(org.name, kind.kind)] = result
            writer[org.name] = spare
            troubled = {writer[s] for (s, k), r in by_scope.items() if r.problems and not kind_of[k].sees_planned}
            clean = {h for h, r in reads.items() if r.status is HostStatus.OK and r.facts is not None and h not in troubled}
    # Second pass: kinds that see the other kinds' changes of their scope, with clean peers only. The
    # organisation's scope comes last and sees every change of the plan: organisation-wide objects are made by
    # what servers do (an Edge Subscription makes its site's EdgeSync connectors). A host is clean when it has no
    # problem after the second pass; when that differs from what the pass assumed (a kind that sees_planned still
    # finds a problem there), the pass runs again with the hosts now known clean (at most a few times).
    first_pass = dict(by_scope)
    for _ in range(3):
        by_scope = dict(first_pass)
        pool = Peers(reads, desired, clean)
        for scope in sorted(all_scopes, key=lambda sc: sc.name == ORGANIZATION_SCOPE):
            for kind in kinds:
                if not kind.sees_planned or (scope.name, kind.kind) not in by_scope:
                    continue
                if scope.name == ORGANIZATION_SCOPE:
                    others = tuple(c for key, r in by_scope.items() if key != (scope.name, kind.kind) for c in r.changes)
                else:  # this scope's other kinds, in the order the first pass put them (a scan of every scope was O(hosts²))
                    others = tuple(c for k in kinds if k.kind != kind.kind and (scope.name, k.kind) in by_scope
                                   for c in by_scope[(scope.name, k.kind)].changes)
                again = _plan_scope_kind(kind, scope, reads, desired, others, pool)
                assert again is not None
                by_scope[(scope.name, kind.kind)] = again
        failing = {writer[s] for (s, _), r2 in by_scope.items() if r2.problems}
        settled = {h for h, r in reads.items() if r.status is HostStatus.OK and r.facts is not None and h not in failing}
        if settled == clean:
            break
        clean = settled
    for scope in all_scopes:
        for kind in kinds:
            if (scope.name, kind.kind) in by_scope:
                first.add(scope.writer, by_scope[(scope.name, kind.kind)])

    operations = _operations(first, kind_of)
    _fail_what_needs_failed_hosts(first, operations, reads)
    failed = {h for h in reads if reads[h].status is not HostStatus.OK or reads[h].facts is None or first.problems[h]}
    owner = {c.id: h for h, changes in first.changes.items() for c in changes}
    live = [op for op in operations if owner[op.change] not in failed and op.host not in failed]

    host_plans: dict[str, HostPlan] = {}
    for host, read in reads.items():
        if read.status is not HostStatus.OK or read.facts is None:
            lost = tuple(
                Finding(host, d.kind, d.pattern or kind_of[d.kind].title, FindingStatus.ERROR, d.source, message=read.error)
                for d in desired.hosts.get(host, ())
            )
            host_plans[host] = HostPlan(host, read.status, read.facts, (), error=read.error, findings=lost, endpoint=read.endpoint)
        elif first.problems[host]:
            host_plans[host] = HostPlan(host, HostStatus.FAILED, read.facts, (), error="\n".join(dict.fromkeys(first.problems[host])),
                                        findings=tuple(first.findings[host]), endpoint=read.endpoint)
        else:
            host_plans[host] = HostPlan(host, HostStatus.OK, read.facts, tuple(first.changes[host]), findings=tuple(first.findings[host]), endpoint=read.endpoint)

    ordered = tuple(sorted(live, key=lambda op: op.id))
    schedule = tuple(tuple(op.id for op in wave) for wave in waves(ordered))
    draft = Plan(hosts=host_plans, operations=ordered, warnings=(*warnings, *extra_notes, *first.notes), overridden=tuple(overrides), schedule=schedule)
    refusals = [r for r in first.refusals if r.host not in failed]
    for kind in kinds:
        refusals += kind.plan_rails(draft)
    return mark_refused(replace(draft, refusals=tuple(refusals)))


def _operations(draft: _Draft, kind_of: dict[str, Kind]) -> list[Operation]:
    """Every change's operations, each knowing its kind; a change's ``after`` becomes needs of its first operations."""
    out: list[Operation] = []
    by_change: dict[str, list[Operation]] = {}
    for changes in draft.changes.values():
        for change in changes:
            kind = kind_of[change.kind]
            ops = [replace(op, kind=kind) for op in kind.operations(change)]
            by_change[change.id] = ops
    for changes in draft.changes.values():
        for change in changes:
            ops = by_change[change.id]
            own = {op.id for op in ops}
            before = tuple(op.id for after in change.after for op in by_change.get(after, ()))
            missing = [a for a in change.after if a not in by_change]
            if missing:
                draft.problems[change.host].append(f"{change.kind} {change.name!r} must follow {', '.join(missing)}, which is not in the plan")
            for op in ops:
                roots = not any(n in own for n in op.needs)
                out.append(replace(op, needs=tuple(dict.fromkeys((*op.needs, *before)))) if roots and before else op)
    known = {op.id for op in out}
    owner = {c.id: c for changes in draft.changes.values() for c in changes}
    for op in out:
        for need in op.needs:
            if need not in known:
                change = owner[op.change]
                draft.problems[change.host].append(f"{change.kind} {change.name!r}: operation {op.id} needs {need}, which is not in the plan")
    return out


def _fail_what_needs_failed_hosts(draft: _Draft, operations: list[Operation], reads: dict[str, HostRead]) -> None:
    """A change whose operations run on, or need operations on, a host that failed cannot be made:
    it fails its own host too, naming why. Repeated until nothing more falls (a fixed point)."""
    change_host = {c.id: h for h, changes in draft.changes.items() for c in changes}
    by_id = {op.id: op for op in operations}

    def down(host: str) -> bool:
        read = reads.get(host)
        return read is None or read.status is not HostStatus.OK or read.facts is None or bool(draft.problems.get(host))

    moved = True
    while moved:
        moved = False
        for op in operations:
            owner = change_host.get(op.change, "")
            if not owner or down(owner):
                continue
            blocker = op.host if down(op.host) else next(
                (by_id[n].host for n in _all_needs(op, by_id) if down(by_id[n].host)), None)
            if blocker is None:
                continue
            change = next(c for c in draft.changes[owner] if c.id == op.change)
            why = reads[blocker].error.splitlines()[0] if blocker in reads and reads[blocker].error else "; ".join(draft.problems.get(blocker, []))[:300]
            problem = f"{change.kind} {change.name!r} cannot be made: it needs {blocker}, which failed at plan time ({why})"
            draft.problems[owner].append(problem)
            draft.findings[owner].append(Finding(owner, change.kind, change.name, FindingStatus.ERROR, _source_of(change), message=problem))
            moved = True


def _all_needs(op: Operation, by_id: dict[str, Operation]) -> Iterable[str]:
    seen: set[str] = set()
    stack = list(op.needs)
    while stack:
        n = stack.pop()
        if n in seen or n not in by_id:
            continue
        seen.add(n)
        yield n
        stack += by_id[n].needs


def _source_of(change: Change) -> Location:
    return change.properties[0].source if change.properties else UNKNOWN


def mark_refused(plan: Plan) -> Plan:
    """Findings of changes that a blocking refusal stops become ``refused``."""
    stopped = {r.change for r in plan.blocking if r.change}
    if not stopped:
        return plan
    hosts = {}
    for name, hp in plan.hosts.items():
        refused_names = {(c.kind, c.name) for c in hp.changes if c.id in stopped}
        marked = tuple(
            Finding(f.host, f.kind, f.name, FindingStatus.REFUSED, f.source, f.properties, f.message)
            if (f.kind, f.name) in refused_names and f.status is FindingStatus.CHANGE
            else f
            for f in hp.findings
        )
        hosts[name] = replace(hp, findings=marked)
    return replace(plan, hosts=hosts)
