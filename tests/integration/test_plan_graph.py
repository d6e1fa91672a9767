"""The plan graph over real WinRM: cross-host ordering, failure propagation, findings and safety rails.

The kind used here is made for the test: receive connectors whose change on
one host needs the change on another host first (the shape EdgeSync will
have: Edge first, then a Mailbox server), and that can raise a refusal. The
desired state is built as data, as the engine's own parser would build it.
"""

from __future__ import annotations

from dataclasses import replace

import threading
from dataclasses import dataclass, field

import pytest

from exconf.desired import DesiredState
from exconf.executor import ProgramExecutor
from exconf.inventory import load
from exconf.model import ChangeOutcome, Desired, DesiredValue, FindingStatus, HostStatus, Operation, Refusal
from exconf.modules import RECEIVE_CONNECTOR
from exconf.modules.base import KindPlan, PlanContext
from exconf.modules.settings import SettingsKind
from exconf.runner import Run, default_executor_factory
from exconf.yamlsource import Location

from .conftest import PASSWORD, round_trips

SERVERS = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"}]
HERE = Location("test.yaml", 1, 1)
EX01_CHANGE = "ex01.contoso.lab/receive_connector/Default EX01"


@dataclass(frozen=True)
class PairedKind(SettingsKind):
    """Receive connectors, where a host's change waits for another operation (``after``: host -> operation id)."""

    after: dict[str, str] = field(default_factory=dict)
    refuse: bool = False

    def operations(self, change):
        (op,) = super().operations(change)
        needs = (self.after[change.host],) if change.host in self.after else ()
        return (Operation(op.id, op.host, op.change, op.steps, needs=needs),)

    def plan(self, desired, observed, ctx: PlanContext) -> KindPlan:
        result = super().plan(desired, observed, ctx)
        if not self.refuse:
            return result
        refusals = tuple(Refusal("test-rail", ctx.host, f"{ctx.host}: {c.name} may not change today", change=c.id) for c in result.changes)
        return KindPlan(result.changes, result.findings, result.problems, refusals)


def paired(**kw) -> PairedKind:
    base = {f: getattr(RECEIVE_CONNECTOR, f) for f in RECEIVE_CONNECTOR.__dataclass_fields__}
    return PairedKind(**base, **kw)


def want(levels: dict[str, str]) -> DesiredState:
    return DesiredState(
        hosts={h: (Desired("receive_connector", "Default {server}", (DesiredValue("protocol_logging_level", level, HERE),), HERE),) for h, level in levels.items()},
        organization=(),
    )


class Recorder:
    """Wraps each host's real executor to record the order of round trips across hosts."""

    def __init__(self, factory):
        self.factory = factory
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Lock()

    def __call__(self, host):
        real: ProgramExecutor = self.factory(host)
        recorder = self

        class Recording:
            def execute(self, steps, *, halt_on_error):
                with recorder.lock:
                    recorder.calls.append((host.name, tuple(s.cmdlet for s in steps)))
                return real.execute(steps, halt_on_error=halt_on_error)

            def release(self):
                real.release()

            def close(self):
                real.close()

            def notes(self):
                return real.notes()

            def open_sockets(self):
                return real.open_sockets()

        return Recording()


@pytest.fixture
def setup(make_lab):
    lab = make_lab(SERVERS)
    inv = load(
        lab.inventory(
            f"""
            all:
              vars: {{ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}
              hosts:
                ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
                ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
            """
        )
    )
    return lab, inv


def run_for(inv, kind, desired, recorder=None):
    factory = default_executor_factory(inv.path.parent)
    return Run(inventory=inv, hosts=list(inv.hosts), desired=desired, forks=2, kinds=(kind,), executor_factory=recorder or factory)


def level(lab, server):
    (obj,) = lab.exec(server, "Get-ReceiveConnector", Identity=f"{server}\\Default {server}")
    return obj["ProtocolLoggingLevel"]


def test_a_cross_host_need_runs_in_a_later_wave(setup):
    lab, inv = setup
    kind = paired(after={"ex02.contoso.lab": EX01_CHANGE})
    recorder = Recorder(default_executor_factory(inv.path.parent))
    run = run_for(inv, kind, want({"ex01.contoso.lab": "Verbose", "ex02.contoso.lab": "Verbose"}), recorder)
    try:
        run.read()
        plan = run.plan()
        (dependent,) = [op for op in plan.operations if op.host == "ex02.contoso.lab"]
        assert dependent.needs == ("ex01.contoso.lab/receive_connector/Default EX01",)
        results = run.apply(plan)
    finally:
        run.close()
    applies = [host for host, cmdlets in recorder.calls if "Set-ReceiveConnector" in cmdlets]
    assert applies == ["ex01.contoso.lab", "ex02.contoso.lab"]  # the need is met before the dependant runs
    assert all(r.outcome is ChangeOutcome.APPLIED for res in results.values() for r in res.results)
    assert level(lab, "EX01") == level(lab, "EX02") == "Verbose"


def test_a_failed_operation_stops_its_dependant_on_another_host(setup):
    lab, inv = setup
    kind = paired(after={"ex02.contoso.lab": EX01_CHANGE})
    run = run_for(inv, kind, want({"ex01.contoso.lab": "Verbose", "ex02.contoso.lab": "Verbose"}))
    try:
        run.read()
        plan = run.plan()
        # Make EX01's change fail on the server: a value Exchange refuses (an unknown enum name).
        (first,) = [op for op in plan.operations if op.host == "ex01.contoso.lab"]
        (step,) = first.steps
        broken = replace(first, steps=(replace(step, params={**step.params, "ProtocolLoggingLevel": "Loud"}),))
        plan = replace(plan, operations=tuple(broken if op.id == first.id else op for op in plan.operations))
        before = round_trips(lab)["EX02"]
        results = run.apply(plan)
    finally:
        run.close()
    (r1,) = results["ex01.contoso.lab"].results
    (r2,) = results["ex02.contoso.lab"].results
    assert r1.outcome is ChangeOutcome.FAILED and "Loud" in r1.message
    assert r2.outcome is ChangeOutcome.NOT_RUN
    assert "needs ex01.contoso.lab/receive_connector/Default EX01 on ex01.contoso.lab, which failed" in r2.message
    assert round_trips(lab)["EX02"] == before  # nothing was sent to EX02
    assert level(lab, "EX02") == "None"


def test_every_declared_object_ends_as_a_finding(setup):
    lab, inv = setup
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default EX02", ProtocolLoggingLevel="Verbose")
    desired = want({"ex01.contoso.lab": "Verbose", "ex02.contoso.lab": "Verbose"})
    desired = DesiredState(
        hosts={**desired.hosts, "ex01.contoso.lab": desired.hosts["ex01.contoso.lab"] + (Desired("receive_connector", "Nothing*", (DesiredValue("protocol_logging_level", "None", HERE),), HERE),)},
        organization=(),
    )
    run = run_for(inv, paired(), desired)
    try:
        run.read()
        plan = run.plan()
    finally:
        run.close()
    verdicts = {(f.host, f.name): f.status for f in plan.findings}
    assert verdicts == {
        ("ex01.contoso.lab", "Default EX01"): FindingStatus.CHANGE,
        ("ex01.contoso.lab", "Nothing*"): FindingStatus.ERROR,
        ("ex02.contoso.lab", "Default EX02"): FindingStatus.IN_SYNC,
    }
    assert plan.hosts["ex01.contoso.lab"].status is HostStatus.FAILED


def test_a_refusal_stops_the_plan_until_its_rail_is_overridden(setup):
    lab, inv = setup
    run = run_for(inv, paired(refuse=True), want({"ex01.contoso.lab": "Verbose", "ex02.contoso.lab": "None"}))
    try:
        run.read()
        plan = run.plan()
        assert [r.rail for r in plan.blocking] == ["test-rail"]
        assert {(f.name, f.status) for f in plan.findings} == {("Default EX01", FindingStatus.REFUSED), ("Default EX02", FindingStatus.IN_SYNC)}
        accepted = run.plan(overrides=("test-rail",))
        assert accepted.blocking == () and [r.rail for r in accepted.refusals] == ["test-rail"]
        assert {f.status for f in accepted.findings} == {FindingStatus.CHANGE, FindingStatus.IN_SYNC}
        results = run.apply(accepted)
    finally:
        run.close()
    assert results["ex01.contoso.lab"].changed == 1 and level(lab, "EX01") == "Verbose"
