"""Planning: desired state × what was read → the plan (changes, operations, findings, refusals).

Pure: the runner reads, this decides. One loop serves every scope: a scope
names the objects it holds, the host whose read observed them and the host
that changes them (a server's own objects; the organisation's through one
Mailbox server). A kind that ``reads_peers`` (an Edge subscription) is planned
in its host's scope with what the other hosts read of it beside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exconf.modules import Kind, by_kind
from exconf.modules.base import PeerRead, PlanContext

from .desired import DesiredState
from .model import Change, Desired, Finding, FindingStatus, HostPlan, HostStatus, ObservedObject, Plan, Refusal, ServerFacts
from .safety import global_checks


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
    """Every scope of this run, organisation first (its changes go before the servers')."""
    out: list[Scope] = []
    if desired.organization and org_host is not None:
        out.append(Scope("organization", desired.organization, org_host, org_host, "the organisation"))
    for host, read in reads.items():
        if read.facts is not None and read.status is HostStatus.OK:
            out.append(Scope(host, desired.hosts.get(host, ()), host, host, read.facts.name))
    return out


def peers(kind: Kind, reads: dict[str, HostRead], reader: str, desired: DesiredState) -> tuple[PeerRead, ...]:
    """What the other hosts read (and declare) of a kind that ``reads_peers`` (nothing for any other kind)."""
    if not getattr(kind, "reads_peers", False):
        return ()
    return tuple(
        PeerRead(host, read.facts, objects, tuple(d for d in desired.hosts.get(host, ()) if d.kind == kind.kind))
        for host, read in reads.items()
        if host != reader and read.status is HostStatus.OK and read.facts is not None
        and (objects := read.objects.get(kind.kind)) is not None
    )


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
    changes: dict[str, list[Change]] = {h: [] for h in reads}
    findings: dict[str, list[Finding]] = {h: [] for h in reads}
    problems: dict[str, list[str]] = {h: [] for h in reads}
    refusals: list[Refusal] = []
    notes: list[str] = []
    for scope in scopes(desired, reads, org_host):
        facts = reads[scope.reader].facts
        assert facts is not None
        in_scope: list[Change] = []  # a later kind may depend on an earlier one's change (an Edge's new SMTP certificate)
        for kind in kinds:
            wanted = tuple(d for d in scope.desired if d.kind == kind.kind)
            if not wanted:
                continue
            ctx = PlanContext(host=scope.writer, facts=facts, where=scope.where, peers=peers(kind, reads, scope.reader, desired), planned=tuple(in_scope))
            observed = reads[scope.reader].objects.get(kind.kind)
            if observed is None:
                where = wanted[0].source
                problem = f"{where}: {kind.section}: {facts.name} is an {facts.role} server, which has no {kind.title}"
                problems[scope.writer].append(problem)
                findings[scope.writer] += [Finding(scope.writer, kind.kind, d.pattern or kind.title, FindingStatus.ERROR, d.source, message=problem) for d in wanted]
                continue
            result = kind.plan(wanted, observed, ctx)
            in_scope += result.changes
            changes[scope.writer] += result.changes
            findings[scope.writer] += result.findings
            problems[scope.writer] += result.problems
            refusals += result.refusals
            notes += result.warnings

    host_plans: dict[str, HostPlan] = {}
    for host, read in reads.items():
        if read.status is not HostStatus.OK or read.facts is None:
            lost = tuple(
                Finding(host, d.kind, d.pattern or by_kind(d.kind, kinds).title, FindingStatus.ERROR, d.source, message=read.error)
                for d in desired.hosts.get(host, ())
            )
            host_plans[host] = HostPlan(host, read.status, read.facts, (), error=read.error, findings=lost, endpoint=read.endpoint)
        elif problems[host]:
            host_plans[host] = HostPlan(host, HostStatus.FAILED, read.facts, (), error="\n".join(problems[host]), findings=tuple(findings[host]), endpoint=read.endpoint)
        else:
            host_plans[host] = HostPlan(host, HostStatus.OK, read.facts, tuple(changes[host]), findings=tuple(findings[host]), endpoint=read.endpoint)

    warnings = (*warnings, *notes)
    operations = tuple(op for hp in host_plans.values() for c in hp.changes for op in by_kind(c.kind, kinds).operations(c))
    draft = Plan(hosts=host_plans, operations=operations, warnings=warnings, overridden=tuple(overrides))
    refusals += global_checks(draft)
    return mark_refused(Plan(hosts=host_plans, operations=operations, warnings=warnings, refusals=tuple(refusals), overridden=tuple(overrides)))


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
        hosts[name] = HostPlan(hp.host, hp.status, hp.facts, hp.changes, hp.error, marked, hp.endpoint)
    return Plan(hosts=hosts, operations=plan.operations, warnings=plan.warnings, refusals=plan.refusals, overridden=plan.overridden)
