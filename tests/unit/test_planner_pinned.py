"""The planner's promises an administrator relies on when one host goes wrong (engine/planner.py): a change that
needs a host that failed fails its own host, saying which and why, until nothing more falls; no operation ever needs
one that is not in the plan; the organisation's changes move to a Mailbox server that planned cleanly when their
carrier fails on its own declarations; a kind that sees the plan sees only its scope and only clean peers; every
kind's warnings and refusals are kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from exconf.desired import DesiredState
from exconf.model import (Change, Desired, DesiredValue, Finding, FindingStatus, HostStatus, ObservedObject, Operation, PropertyChange,
                          Refusal, ServerFacts)
from exconf.modules import RECEIVE_CONNECTOR, SEND_CONNECTOR
from exconf.modules.base import SERVER, KindDefaults, KindPlan
from exconf.planner import UNKNOWN, HostRead, plan
from exconf.remote import Step
from exconf.yamlsource import Location

AT = Location("inv.yaml", 4, 9)
AT2 = Location("host_vars/ex01.yaml", 2, 3)


def facts(name: str, role: str = "Mailbox", site: str = "Amsterdam") -> ServerFacts:
    return ServerFacts(name.upper(), f"{name}.contoso.lab", role, "15.2.1544.4", site)


@dataclass(frozen=True)
class RelaySpec:
    target: str = ""  # a host the change also runs an operation on (as an Edge subscription imports on a Mailbox server)
    only_remote: bool = False  # the change's only operation runs on the target
    after: tuple[str, ...] = ()
    shown: bool = True  # the change shows a property (where it was declared)
    message: str = ""
    warning: str = ""
    refuse: str = ""


@dataclass(frozen=True)
class Relay(KindDefaults):
    """A kind made for the test: each declared relay is one change, whose operations may run on another host."""

    kind: str = "relay"
    section: str = "relays"
    scope: str = SERVER
    title: str = "relay"
    roles: frozenset[str] = frozenset({"Mailbox", "Edge"})

    def plan(self, desired, observed, ctx):
        changes, findings, refusals, warnings = [], [], [], []
        for d in desired:
            spec: RelaySpec = d.values[0].value
            props = (PropertyChange("target", "", "", spec.target, None, d.values[0].source),) if spec.shown else ()
            change = Change(f"{ctx.host}/relay/{d.pattern}", ctx.host, self.kind, d.pattern, d.pattern, "update", props, "test",
                            after=spec.after, payload=spec)
            changes.append(change)
            findings.append(Finding(ctx.host, self.kind, d.pattern, FindingStatus.CHANGE, d.source, message=spec.message))
            if spec.warning:
                warnings.append(spec.warning)
            if spec.refuse:
                refusals.append(Refusal(spec.refuse, ctx.host, f"{d.pattern} refused", change.id))
        return KindPlan(tuple(changes), tuple(findings), (), tuple(refusals), tuple(warnings))

    def operations(self, change):
        spec: RelaySpec = change.payload
        remote = Operation(f"{change.id}#remote", spec.target, change.id, (Step(f"{change.id}#remote:s", "Set-TransportService", {}),), role="remote")
        own = Operation(change.id, change.host, change.id, (Step(f"{change.id}:s", "Set-TransportService", {}),),
                        needs=(remote.id,) if spec.target else (), role="own")
        if spec.only_remote:
            return (remote,)
        return (remote, own) if spec.target else (own,)


def relay(name: str, at: Location = AT, **spec) -> Desired:
    return Desired("relay", name, (DesiredValue("relay", RelaySpec(**spec), at),), at)


def typo(pattern: str = "Nothing*") -> Desired:
    return Desired("receive_connector", pattern, (DesiredValue("protocol_logging_level", "Verbose", AT),), AT)


def ok(host: str, role: str = "Mailbox", **objects) -> HostRead:
    return HostRead(host, facts=facts(host, role), objects={"relay": (), "receive_connector": (), "send_connector": (), **objects},
                    endpoint=f"http://{host}:5985/wsman")


def down(host: str, error: str = "cannot connect") -> HostRead:
    return HostRead(host, status=HostStatus.UNREACHABLE, error=error)


KINDS = (Relay(), RECEIVE_CONNECTOR, SEND_CONNECTOR)


def planned(hosts: dict[str, tuple[Desired, ...]], reads: dict[str, HostRead], org=(), org_host=None, kinds=KINDS):
    return plan(DesiredState(hosts=hosts, organization=tuple(org)), reads, kinds, org_host=org_host)


def assert_runnable(result):
    """No operation of the plan needs one that is not in it, and every change of a planned host has its operations."""
    ids = {op.id for op in result.operations}
    assert all(n in ids for op in result.operations for n in op.needs)
    assert {op.id for wave in result.schedule for op in [next(o for o in result.operations if o.id == i) for i in wave]} == ids
    for c in result.changes:
        assert any(op.change == c.id for op in result.operations), c.id


def test_a_change_that_runs_on_a_host_that_could_not_be_read_fails_its_own_host_saying_why():
    reads = {"ex00": ok("ex00"), "ex01": ok("ex01"), "ex02": down("ex02", "http://ex02:5985/wsman: cannot connect\n(after 3 tries)"), "ex03": ok("ex03")}
    result = planned({"ex00": (relay("fine"),), "ex01": (relay("first"), relay("second", at=AT2, target="ex02")), "ex03": (relay("solo"),)}, reads)
    problem = "relay 'second' cannot be made: it needs ex02, which failed at plan time (http://ex02:5985/wsman: cannot connect)"
    ex01 = result.hosts["ex01"]
    assert ex01.status is HostStatus.FAILED and ex01.error == problem and ex01.changes == ()
    assert ex01.findings[-1] == Finding("ex01", "relay", "second", FindingStatus.ERROR, AT2, message=problem)
    assert [h for h, hp in result.hosts.items() if hp.status is HostStatus.OK] == ["ex00", "ex03"]
    assert [op.id for op in result.operations] == ["ex00/relay/fine", "ex03/relay/solo"]
    assert_runnable(result)


def test_a_change_whose_only_operation_runs_on_a_failed_host_fails_too():
    reads = {"ex01": ok("ex01"), "ex02": down("ex02")}
    result = planned({"ex01": (relay("through", target="ex02", only_remote=True, shown=False),)}, reads)
    problem = "relay 'through' cannot be made: it needs ex02, which failed at plan time (cannot connect)"
    assert result.hosts["ex01"].error == problem and result.operations == ()
    assert result.hosts["ex01"].findings[-1] == Finding("ex01", "relay", "through", FindingStatus.ERROR, UNKNOWN, message=problem)


def test_a_host_that_failed_on_its_declarations_is_named_with_its_problems_cut_short():
    long_a, long_b = "A" * 150 + "*", "B" * 150 + "*"
    reads = {"ex01": ok("ex01"), "ex02": ok("ex02")}
    result = planned({"ex01": (relay("r", target="ex02"),), "ex02": (typo(long_a), typo(long_b))}, reads)
    problems = [f"inv.yaml:4:9: receive_connectors: {p!r} matches no receive connector on EX02" for p in (long_a, long_b)]
    assert result.hosts["ex02"].error == "\n".join(problems)
    assert result.hosts["ex01"].error == f"relay 'r' cannot be made: it needs ex02, which failed at plan time ({'; '.join(problems)[:300]})"
    assert result.operations == () and result.schedule == ()


def test_failures_fall_until_nothing_more_falls_and_the_first_host_in_order_is_reached_again():
    reads = {"ex01": ok("ex01"), "ex02": ok("ex02"), "ex03": down("ex03")}
    result = planned({"ex01": (relay("a", target="ex02"),), "ex02": (relay("b", target="ex03"),)}, reads)
    second = "relay 'b' cannot be made: it needs ex03, which failed at plan time (cannot connect)"
    assert result.hosts["ex02"].error == second
    assert result.hosts["ex01"].error == f"relay 'a' cannot be made: it needs ex02, which failed at plan time ({second})"
    assert result.operations == ()


def test_a_failed_host_first_in_order_does_not_stop_the_others_from_being_checked():
    reads = {"ex00": ok("ex00"), "ex01": ok("ex01"), "ex02": down("ex02")}
    reads["ex03"] = ok("ex03")
    result = planned({"ex00": (typo(), relay("mine", target="ex01"), relay("also", target="ex03")), "ex01": (relay("r", target="ex02"),)}, reads)
    assert result.hosts["ex00"].status is HostStatus.FAILED and "matches no receive connector" in result.hosts["ex00"].error
    assert result.hosts["ex01"].error == "relay 'r' cannot be made: it needs ex02, which failed at plan time (cannot connect)"
    # ex00's change also ran an operation on ex01: a failed host's changes leave nothing behind on any host.
    assert result.operations == ()


def test_the_change_named_is_the_one_that_needs_the_failed_host():
    reads = {"ex01": ok("ex01"), "ex02": down("ex02")}
    result = planned({"ex01": (relay("a"), relay("b"), relay("c", target="ex02")),}, reads)
    assert result.hosts["ex01"].error == "relay 'c' cannot be made: it needs ex02, which failed at plan time (cannot connect)"


def test_needs_reach_through_other_changes_operations_and_name_the_host_at_the_root():
    """ex01's change runs its remote part on ex02; that part needs nothing, but ex01's own operation needs it."""
    reads = {"ex01": ok("ex01"), "ex02": ok("ex02"), "ex03": down("ex03")}
    result = planned({"ex02": (relay("b", target="ex03"),), "ex01": (relay("a", target="ex02"),)}, reads)
    assert result.hosts["ex01"].error.startswith("relay 'a' cannot be made: it needs ex02, which failed at plan time (relay 'b' cannot be made")
    assert result.operations == ()


def test_a_change_after_others_gets_needs_on_their_operations_only_in_its_first_operations():
    reads = {"ex01": ok("ex01"), "ex02": ok("ex02")}
    result = planned({"ex01": (relay("base"), relay("next", target="ex02", after=("ex01/relay/base",)))}, reads)
    needs = {op.id: op.needs for op in result.operations}
    assert needs == {"ex01/relay/base": (), "ex01/relay/next#remote": ("ex01/relay/base",), "ex01/relay/next": ("ex01/relay/next#remote",)}
    assert result.schedule == (("ex01/relay/base",), ("ex01/relay/next#remote",), ("ex01/relay/next",))


def test_a_change_that_must_follow_changes_not_in_the_plan_fails_its_host_naming_them():
    result = planned({"ex01": (relay("r", after=("ex01/x/one", "ex02/x/two")),)}, {"ex01": ok("ex01")})
    assert result.hosts["ex01"].error == "relay 'r' must follow ex01/x/one, ex02/x/two, which is not in the plan"
    assert result.operations == ()


def test_a_host_that_could_not_be_read_and_declares_nothing_has_no_findings():
    result = planned({}, {"ex01": ok("ex01"), "ex09": down("ex09")})
    assert result.hosts["ex09"].findings == () and result.hosts["ex09"].status is HostStatus.UNREACHABLE


def test_every_kinds_warnings_and_refusals_are_kept_those_of_failed_hosts_dropped():
    reads = {"ex01": ok("ex01", second=()), "ex02": ok("ex02", second=()), "ex03": ok("ex03", second=())}
    second = lambda name, **kw: Desired("second", name, (DesiredValue("relay", RelaySpec(**kw), AT),), AT)  # noqa: E731
    result = planned({
        "ex01": (relay("a", warning="first kind warns", refuse="rail-a"), second("b", warning="second kind warns", refuse="rail-b")),
        "ex02": (second("c", warning="ex02 warns", refuse="rail-c"),),
        "ex03": (typo(), relay("d", refuse="rail-d")),
    }, reads, kinds=(Relay(), Relay(kind="second"), RECEIVE_CONNECTOR))
    assert result.warnings == ("first kind warns", "second kind warns", "ex02 warns")
    assert [(r.rail, r.host) for r in result.refusals] == [("rail-a", "ex01"), ("rail-b", "ex01"), ("rail-c", "ex02")]


def test_a_refused_change_keeps_its_findings_message():
    result = planned({"ex01": (relay("a", message="why it changes", refuse="rail"),)}, {"ex01": ok("ex01")})
    (finding,) = result.hosts["ex01"].findings
    assert (finding.status, finding.message) == (FindingStatus.REFUSED, "why it changes")


# --- the organisation's carrier -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observer(KindDefaults):
    """A kind that sees the plan: its warning says what it was shown (the changes of its scope, which peers are clean)."""

    kind: str = "observer"
    section: str = "observers"
    scope: str = SERVER
    title: str = "observer"
    roles: frozenset[str] = frozenset({"Mailbox", "Edge"})
    reads_peers: bool = True
    sees_planned: bool = True
    seen: list = field(default_factory=list, compare=False)

    def plan(self, desired, observed, ctx):
        clean = sorted(p.host for p in ctx.peers if p.clean)
        unclean = sorted(p.host for p in ctx.peers if not p.clean)
        return KindPlan(warnings=(f"{ctx.host} sees {[c.id for c in ctx.planned]}, clean {clean}, not clean {unclean}",))


def outbound(level="None"):
    return ObservedObject("send_connector", "Outbound", "s-1", {"Name": "Outbound", "ProtocolLoggingLevel": level})


def org_reads(**extra):
    reads = {
        "edge01": ok("edge01", "Edge", observer=()),
        "ex03": down("ex03"),
        "ex04": ok("ex04", observer=()),
        "ex01": ok("ex01", observer=(), send_connector=(outbound(),)),
        "ex02": ok("ex02", observer=()),
    }
    reads.update(extra)
    return reads


ORG = (Desired("send_connector", "Out*", (DesiredValue("protocol_logging_level", "Verbose", AT),), AT),)
WATCH = Desired("observer", "", (), AT)


def test_the_organisations_changes_move_to_a_mailbox_server_that_planned_cleanly_when_their_carrier_fails():
    hosts = {"ex01": (typo(),), "ex04": (typo("Also*"),), "edge01": (WATCH, relay("e"))}
    result = planned(hosts, org_reads(), ORG, org_host="ex01", kinds=(*KINDS, Observer()))
    (change,) = [c for c in result.changes if c.kind == "send_connector"]
    assert (change.host, change.name) == ("ex02", "Outbound")
    assert [op.host for op in result.operations if op.change == change.id] == ["ex02"]
    assert result.hosts["ex01"].status is HostStatus.FAILED and result.hosts["ex02"].status is HostStatus.OK
    assert result.warnings == (
        "organisation-wide objects are changed through ex02: ex01, which read them, failed at plan time",
        "edge01 sees ['edge01/relay/e'], clean ['ex02'], not clean ['ex01', 'ex04']",
    )


def test_the_organisations_own_mistakes_go_with_it_to_the_new_carrier():
    org = (*ORG, Desired("send_connector", "Nothing*", (DesiredValue("protocol_logging_level", "Verbose", AT),), AT))
    result = planned({"ex01": (typo(),), "edge01": (WATCH,)}, org_reads(), org, org_host="ex01", kinds=(*KINDS, Observer()))
    assert result.hosts["ex04"].status is HostStatus.FAILED and result.hosts["ex02"].status is HostStatus.OK
    assert result.hosts["ex04"].error == "inv.yaml:4:9: send_connectors: 'Nothing*' matches no send connector on the organisation"
    assert result.warnings == ("organisation-wide objects are changed through ex04: ex01, which read them, failed at plan time",
                               "edge01 sees [], clean ['ex02'], not clean ['ex01', 'ex04']")


def test_without_a_clean_mailbox_server_the_organisation_stays_with_its_failed_carrier():
    reads = org_reads(ex02=ok("ex02", "Edge", observer=()))
    result = planned({"ex01": (typo(),), "ex04": (typo(),)}, reads, ORG, org_host="ex01")
    assert result.changes == [] and result.warnings == ()
    assert result.hosts["ex01"].status is HostStatus.FAILED
    assert [f.name for f in result.hosts["ex01"].findings if f.kind == "send_connector"] == ["Outbound"]


def test_the_organisation_stays_with_its_carrier_when_only_another_host_fails():
    result = planned({"ex02": (typo(),)}, org_reads(), ORG, org_host="ex01")
    (change,) = result.changes
    assert change.host == "ex01" and result.warnings == ()


def test_a_kind_that_sees_the_plan_sees_only_its_own_scopes_changes_of_other_kinds():
    hosts = {"edge01": (WATCH, relay("mine")), "ex02": (WATCH, relay("theirs"))}
    result = planned(hosts, org_reads(), ORG, org_host="ex01", kinds=(*KINDS, Observer()))
    assert result.warnings == (
        "edge01 sees ['edge01/relay/mine'], clean ['ex01', 'ex02', 'ex04'], not clean []",
        "ex02 sees ['ex02/relay/theirs'], clean ['edge01', 'ex01', 'ex04'], not clean []",
    )


def test_a_change_that_must_follow_one_that_cannot_be_made_cannot_be_made_either():
    """ex01's change follows ex02's, whose remote part runs on ex03, which could not be read: the need reaches ex03."""
    reads = {"ex01": ok("ex01"), "ex02": ok("ex02"), "ex03": down("ex03")}
    result = planned({"ex01": (relay("a", after=("ex02/relay/b",)),), "ex02": (relay("b", target="ex03"),)}, reads)
    assert result.hosts["ex01"].error == "relay 'a' cannot be made: it needs ex03, which failed at plan time (cannot connect)"
    assert result.operations == ()


def test_a_host_read_with_an_error_after_its_facts_is_a_failed_host_for_what_needs_it():
    broken = HostRead("ex02", status=HostStatus.FAILED, error="Get-ReceiveConnector failed: access denied", facts=facts("ex02"))
    result = planned({"ex01": (relay("r", target="ex02"),)}, {"ex01": ok("ex01"), "ex02": broken})
    assert result.hosts["ex01"].error == "relay 'r' cannot be made: it needs ex02, which failed at plan time (Get-ReceiveConnector failed: access denied)"


def test_a_change_that_needs_a_host_not_read_at_all_cannot_be_made():
    result = planned({"ex01": (relay("r", target="ex09"),)}, {"ex01": ok("ex01")})
    assert result.hosts["ex01"].error.startswith("relay 'r' cannot be made: it needs ex09, which failed at plan time")
    assert result.operations == ()


def test_an_organisation_kind_that_reads_peers_is_planned_again_through_the_new_carrier():
    hosts = {"ex01": (typo(),)}
    result = planned(hosts, org_reads(), (*ORG, WATCH), org_host="ex01", kinds=(*KINDS, Observer()))
    assert result.warnings == (
        "organisation-wide objects are changed through ex04: ex01, which read them, failed at plan time",
        "ex04 sees ['ex04/send_connector/Outbound'], clean ['edge01', 'ex02', 'ex04'], not clean []",
    )
