"""Running exconf against hosts: read (facts), plan (diff), apply and verify.

I/O lives here and in the transports; deciding what to change is pure
(diff.py). Each host gets one shell for the whole run: one command to read,
one to apply its changes and read them back. Hosts run in parallel up to
``forks``; a host that fails or cannot be reached never stops the others.

Organisation-wide objects (send connectors, transport config) are read and
changed through one Mailbox server: the first selected host in inventory
order if it is a Mailbox server (its read carries the organisation reads,
which an Edge answers ``not_applicable``), otherwise the first reachable
Mailbox server, at the cost of one more command on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from exconf.modules import ORGANIZATION, SERVER, Resource, by_kind, by_scope
from exconf.remote import STATUS_ERROR, STATUS_NOT_RUN, Answer, ContractError, RemoteFatal, Step, StepResult, decode_answer, encode_stdin
from exconf.values import same

from . import diff as differ
from .connection import ConnectionConfigError, settings_for
from .facts import FactsError, observed, read_steps, server_facts
from .inventory import Host, Inventory
from .model import Change, ChangeOutcome, ChangeResult, HostPlan, HostResult, HostStatus, ObservedObject, Plan, ServerFacts
from .transport import AuthenticationFailed, HostUnreachable, Transport, TransportError
from .transport.winrm import WinRMTransport

TransportFactory = Callable[[Host], Transport]


def default_transport_factory(inventory_dir: Path) -> TransportFactory:
    def make(host: Host) -> Transport:
        return WinRMTransport(settings_for(host, inventory_dir))

    return make


@dataclass
class Session:
    """Everything known about one host during a run, and its open shell."""

    host: Host
    transport: Transport | None = None
    status: HostStatus = HostStatus.OK
    error: str = ""
    facts: ServerFacts | None = None
    objects: dict[str, tuple[ObservedObject, ...] | None] = field(default_factory=dict)

    def fail(self, status: HostStatus, message: str) -> None:
        self.status, self.error = status, message

    def run(self, steps: list[Step], *, halt_on_error: bool) -> Answer:
        """One round trip: send the steps, parse the answer (errors become host failures by the caller)."""
        assert self.transport is not None
        out = self.transport.run(encode_stdin(steps, halt_on_error=halt_on_error))
        return decode_answer(out.stdout, out.stderr, out.exit_code)


@dataclass
class Run:
    """One exconf run over a selection of hosts."""

    inventory: Inventory
    hosts: list[Host]
    forks: int = 5
    transport_factory: TransportFactory | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    org_host: str | None = None
    org_objects: dict[str, tuple[ObservedObject, ...]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.transport_factory is None:
            self.transport_factory = default_transport_factory(self.inventory.path.parent)
        self.sessions = {h.name: Session(h) for h in self.hosts}
        unchecked = [h.name for h in self.hosts if h.vars.get("ansible_winrm_server_cert_validation") == "ignore"]
        if unchecked:
            self.warnings.append(
                "HTTPS certificate validation is off (ansible_winrm_server_cert_validation: ignore) for "
                + ", ".join(unchecked)
                + ": exconf cannot tell these servers from an impostor; name their CA with ansible_winrm_ca_trust_path instead"
            )

    # --- helpers ------------------------------------------------------------

    def _parallel(self, fn: Callable[[Session], None], sessions: list[Session]) -> None:
        if not sessions:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(self.forks, len(sessions)))) as pool:
            list(pool.map(fn, sessions))

    def _guard(self, session: Session, fn: Callable[[], None]) -> None:
        """Run fn, sorting every failure into unreachable or failed for this host only."""
        try:
            fn()
        except (HostUnreachable, AuthenticationFailed) as exc:
            session.fail(HostStatus.UNREACHABLE, str(exc))
        except (ConnectionConfigError, TransportError, ContractError, FactsError) as exc:
            session.fail(HostStatus.FAILED, str(exc))
        except RemoteFatal as exc:
            session.fail(HostStatus.FAILED, f"the exconf program could not run on {session.host.name}: {exc}")

    def close(self) -> None:
        for s in self.sessions.values():
            if s.transport is not None:
                s.transport.close()
                s.transport = None

    # --- read ---------------------------------------------------------------

    def _server_resources(self, host: Host) -> list[Resource]:
        declared = host.vars.get("exchange") or {}
        return [r for r in by_scope(SERVER) if declared.get(r.section)]

    def _org_resources(self) -> list[Resource]:
        return [r for r in by_scope(ORGANIZATION) if self.inventory.organization.get(r.section)]

    def read(self) -> None:
        """Read every selected host in parallel (one command each)."""
        org = self._org_resources()
        first = self.hosts[0].name if self.hosts and org else None

        def read_one(session: Session) -> None:
            def work() -> None:
                session.transport = self.transport_factory(session.host)
                resources = self._server_resources(session.host)
                if session.host.name == first:
                    resources = org + resources
                answer = session.run(read_steps(resources), halt_on_error=False)
                session.facts = server_facts(answer)
                for r in resources:
                    session.objects[r.kind] = observed(answer, r)

            self._guard(session, work)

        self._parallel(read_one, list(self.sessions.values()))
        if org:
            self._read_organization(org, first)

    def _read_organization(self, org: list[Resource], first: str | None) -> None:
        candidate = self.sessions.get(first) if first else None
        if candidate and candidate.status is HostStatus.OK and all(candidate.objects.get(r.kind) is not None for r in org):
            self.org_host = candidate.host.name
        else:
            others = [s for s in self.sessions.values() if s.status is HostStatus.OK and s.facts and s.facts.role == "Mailbox"]
            if not others:
                self.warnings.append(
                    "organisation-wide objects (exchange_organization) were not checked: no reachable Mailbox server in this run"
                )
                return
            session = others[0]
            self.org_host = session.host.name

            def work() -> None:
                answer = session.run(read_steps(org, with_server=False), halt_on_error=False)
                for r in org:
                    session.objects[r.kind] = observed(answer, r)

            self._guard(session, work)
            if session.status is not HostStatus.OK:
                return
        session = self.sessions[self.org_host]
        for r in org:
            self.org_objects[r.kind] = session.objects.get(r.kind) or ()

    # --- plan ---------------------------------------------------------------

    def plan(self) -> Plan:
        """Diff every readable host (pure, from what read() gathered)."""
        host_plans: dict[str, HostPlan] = {}
        for name, session in self.sessions.items():
            if session.status is not HostStatus.OK or session.facts is None:
                host_plans[name] = HostPlan(name, session.status, session.facts, (), error=session.error)
                continue
            changes, in_sync, problems = self._diff_host(session)
            if name == self.org_host:
                org_changes, org_sync, org_problems = self._diff_org(name, session.facts)
                changes, in_sync, problems = org_changes + changes, in_sync + org_sync, org_problems + problems
            if problems:
                host_plans[name] = HostPlan(name, HostStatus.FAILED, session.facts, (), error="\n".join(problems))
            else:
                host_plans[name] = HostPlan(name, HostStatus.OK, session.facts, tuple(changes), in_sync=in_sync)
        return Plan(hosts=host_plans, warnings=tuple(self.warnings))

    def _diff_host(self, session: Session) -> tuple[list[Change], int, list[str]]:
        facts = session.facts
        assert facts is not None
        declared = session.host.vars.get("exchange") or {}
        changes: list[Change] = []
        problems: list[str] = []
        in_sync = 0
        for resource in self._server_resources(session.host):
            base = ("exchange", resource.section)
            objects = session.objects.get(resource.kind)
            if objects is None or facts.role not in resource.roles:
                where = session.host.source(base)
                problems.append(f"{where}: {resource.section}: {facts.name} is an {facts.role} server, which has no {resource.title}")
                continue
            desired = differ.declared(resource, declared[resource.section], session.host.sources, base, facts.name)
            result = differ.diff(resource, desired, objects, session.host.name, facts.name)
            changes += result.changes
            in_sync += result.in_sync
            problems += result.problems
        return changes, in_sync, problems

    def _diff_org(self, host: str, facts: ServerFacts) -> tuple[list[Change], int, list[str]]:
        changes: list[Change] = []
        problems: list[str] = []
        in_sync = 0
        for resource in self._org_resources():
            desired = differ.declared(resource, self.inventory.organization[resource.section], self.inventory.organization_sources, (resource.section,), facts.name)
            result = differ.diff(resource, desired, self.org_objects.get(resource.kind, ()), host, "the organisation")
            changes += result.changes
            in_sync += result.in_sync
            problems += result.problems
        return changes, in_sync, problems

    # --- apply --------------------------------------------------------------

    def apply(self, plan: Plan) -> dict[str, HostResult]:
        """Apply each host's changes in one round trip that also reads them back."""
        results: dict[str, HostResult] = {}
        lock = threading.Lock()

        def apply_one(session: Session) -> None:
            hp = plan.hosts[session.host.name]
            result = self._apply_host(session, hp)
            with lock:
                results[session.host.name] = result

        todo = [self.sessions[h] for h, hp in plan.hosts.items() if hp.status is HostStatus.OK and hp.changes]
        self._parallel(apply_one, todo)
        for name, hp in plan.hosts.items():
            if name not in results:
                results[name] = HostResult(name, hp.status, (), in_sync=hp.in_sync, error=hp.error)
        return {name: results[name] for name in plan.hosts}

    def _apply_host(self, session: Session, hp: HostPlan) -> HostResult:
        steps: list[Step] = []
        step_of: dict[str, str] = {}
        for i, change in enumerate(hp.changes):
            for step in by_kind(change.kind).change_steps(change, f"apply:{i}"):
                steps.append(step)
                step_of[step.id] = change.id
        kinds = list(dict.fromkeys(c.kind for c in hp.changes))
        steps += [replace(by_kind(k).read_step(f"verify:{k}"), always_run=True) for k in kinds]
        answer: Answer | None = None

        def work() -> None:
            nonlocal answer
            answer = session.run(steps, halt_on_error=True)

        self._guard(session, work)
        if answer is None:
            # Nothing came back: whether the changes were made is unknown; say so.
            outcome = [ChangeResult(c, ChangeOutcome.FAILED, f"result unknown: {session.error}") for c in hp.changes]
            return HostResult(hp.host, session.status, tuple(outcome), in_sync=hp.in_sync, error=session.error)
        return HostResult(hp.host, HostStatus.OK, tuple(_outcomes(hp.changes, steps, step_of, answer)), in_sync=hp.in_sync)


def _outcomes(changes: tuple[Change, ...], steps: list[Step], step_of: dict[str, str], answer: Answer) -> list[ChangeResult]:
    by_change: dict[str, list[StepResult]] = {}
    for step in steps:
        if step.id in step_of:
            by_change.setdefault(step_of[step.id], []).append(answer.result(step.id))
    readback: dict[str, dict[str, ObservedObject]] = {}
    for kind in {c.kind for c in changes}:
        result = answer.result(f"verify:{kind}")
        if result.ok:
            readback[kind] = {o.name: o for o in by_kind(kind).observe(result.objects)}
    out: list[ChangeResult] = []
    for change in changes:
        results = by_change.get(change.id, [])
        failed = next((r for r in results if r.status == STATUS_ERROR), None)
        if failed is not None:
            out.append(ChangeResult(change, ChangeOutcome.FAILED, failed.error.message if failed.error else "failed"))
            continue
        if any(r.status == STATUS_NOT_RUN for r in results):
            out.append(ChangeResult(change, ChangeOutcome.NOT_RUN, "not attempted: an earlier change on this host failed"))
            continue
        seen = readback.get(change.kind, {}).get(change.name)
        if seen is None:
            out.append(ChangeResult(change, ChangeOutcome.UNVERIFIED, "made, but could not be read back"))
            continue
        off = _still_different(change, seen)
        if off:
            out.append(ChangeResult(change, ChangeOutcome.UNVERIFIED, "read back different: " + "; ".join(off)))
        else:
            out.append(ChangeResult(change, ChangeOutcome.APPLIED))
    return out


def _still_different(change: Change, seen: ObservedObject) -> list[str]:
    resource = by_kind(change.kind)
    off = []
    for pc in change.properties:
        t = resource.prop(pc.prop).type
        want = t.parse(pc.wire)
        raw = seen.values.get(pc.param)
        try:
            got = t.parse(raw)
        except ValueError:
            off.append(f"{pc.prop} is {raw!r}, expected {pc.after!r}")
            continue
        if not same(t, got, want):
            off.append(f"{pc.prop} is {t.show(got)!r}, expected {pc.after!r}")
    return off
