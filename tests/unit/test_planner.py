"""The planner, pure: desired state × what was read → the plan."""

from exconf.desired import DesiredState
from exconf.model import Desired, DesiredValue, FindingStatus, HostStatus, ObservedObject, Refusal, ServerFacts
from exconf.modules import KINDS, RECEIVE_CONNECTOR, SEND_CONNECTOR, TRANSPORT_CONFIG
from exconf.modules.base import KindPlan
from exconf.planner import HostRead, mark_refused, plan, scopes
from exconf.yamlsource import Location

AT = Location("inv.yaml", 4, 9)
EX01 = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
EDGE = ServerFacts("EDGE01", "edge01.contoso.lab", "Edge", "15.2.1544.4", "")


def rc(name, level):
    return ObservedObject("receive_connector", name, "g-" + name, {"Name": name, "ProtocolLoggingLevel": level})


def sc(name, level):
    return ObservedObject("send_connector", name, "s-" + name, {"Name": name, "ProtocolLoggingLevel": level})


def want(kind, pattern, prop, value):
    return Desired(kind, pattern, (DesiredValue(prop, value, AT),), AT)


def read(host, facts, **objects):
    return HostRead(host, facts=facts, objects=dict(objects), endpoint=f"http://{host}:5985/wsman")


def test_the_organisation_is_planned_first_and_through_its_carrier():
    desired = DesiredState(
        hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"),)},
        organization=(want("send_connector", "Out*", "protocol_logging_level", "Verbose"),),
    )
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),), send_connector=(sc("Outbound", "None"),))}
    assert [s.name for s in scopes(desired, reads, "ex01")] == ["organization", "ex01"]
    result = plan(desired, reads, KINDS, org_host="ex01")
    assert [(c.host, c.kind, c.name) for c in result.changes] == [("ex01", "send_connector", "Outbound"), ("ex01", "receive_connector", "Default EX01")]
    # Operations are in address order (no order between kinds unless a need says so), all in one wave.
    assert [op.id for op in result.operations] == sorted(c.id for c in result.changes)
    assert all(op.host == "ex01" and op.needs == () for op in result.operations)
    assert result.schedule == (tuple(sorted(c.id for c in result.changes)),)
    assert result.hosts["ex01"].endpoint == "http://ex01:5985/wsman"


def test_without_a_carrier_the_organisation_is_not_planned():
    desired = DesiredState(hosts={"ex01": ()}, organization=(want("send_connector", "Out*", "protocol_logging_level", "Verbose"),))
    reads = {"ex01": read("ex01", EX01, send_connector=(sc("Outbound", "None"),))}
    assert [s.name for s in scopes(desired, reads, None)] == ["ex01"]
    assert plan(desired, reads, KINDS, org_host=None).changes == []


def test_a_kind_the_role_does_not_have_fails_the_host_with_where_it_was_declared():
    desired = DesiredState(hosts={"edge": (want("transport_config", "", "tls_send_domain_secure_list", ("a.com",)),)}, organization=())
    reads = {"edge": read("edge", EDGE, transport_config=None)}
    result = plan(desired, reads, KINDS, org_host=None)
    hp = result.hosts["edge"]
    assert hp.status is HostStatus.FAILED and hp.changes == ()
    assert hp.error == "inv.yaml:4:9: transport_config: EDGE01 is an Edge server, which has no transport config"
    assert [(f.name, f.status) for f in hp.findings] == [("transport config", FindingStatus.ERROR)]


def test_a_problem_on_a_host_drops_its_changes_but_not_other_hosts():
    desired = DesiredState(
        hosts={
            "ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"), want("receive_connector", "Nothing*", "protocol_logging_level", "None")),
            "ex02": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"),),
        },
        organization=(),
    )
    ex02 = ServerFacts("EX02", "ex02.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),)), "ex02": read("ex02", ex02, receive_connector=(rc("Default EX02", "None"),))}
    result = plan(desired, reads, KINDS, org_host=None)
    assert result.hosts["ex01"].status is HostStatus.FAILED and result.hosts["ex01"].changes == ()
    assert "'Nothing*' matches no receive connector on EX01" in result.hosts["ex01"].error
    assert [c.name for c in result.hosts["ex02"].changes] == ["Default EX02"]
    assert [op.host for op in result.operations] == ["ex02"]
    assert result.summary() == {"add": 0, "change": 1, "destroy": 0, "replace": 0, "unreachable": 0, "failed": 1}


def test_every_declared_object_of_an_unreachable_host_is_an_error_finding():
    desired = DesiredState(
        hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"), want("transport_service", "", "send_protocol_log_max_age", 86400))},
        organization=(),
    )
    reads = {"ex01": HostRead("ex01", status=HostStatus.UNREACHABLE, error="http://x: cannot connect")}
    hp = plan(desired, reads, KINDS, org_host=None).hosts["ex01"]
    assert hp.status is HostStatus.UNREACHABLE and hp.error == "http://x: cannot connect"
    assert [(f.name, f.status, f.message) for f in hp.findings] == [
        ("Default {server}", FindingStatus.ERROR, "http://x: cannot connect"),
        ("transport service", FindingStatus.ERROR, "http://x: cannot connect"),
    ]


def test_refusals_block_until_overridden_and_mark_only_their_changes():
    desired = DesiredState(
        hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"), want("receive_connector", "Client*", "protocol_logging_level", "Verbose"))},
        organization=(),
    )
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"), rc("Client Proxy EX01", "None")))}

    class Refusing:
        """The receive connector kind, refusing changes to one connector."""

        def __getattr__(self, name):
            return getattr(RECEIVE_CONNECTOR, name)

        def plan(self, desired, observed, ctx):
            result = RECEIVE_CONNECTOR.plan(desired, observed, ctx)
            stop = tuple(Refusal("no-default", ctx.host, f"{c.name} is frozen", change=c.id) for c in result.changes if c.name.startswith("Default"))
            return KindPlan(result.changes, result.findings, result.problems, stop)

    kinds = (Refusing(), SEND_CONNECTOR, TRANSPORT_CONFIG)
    blocked = plan(desired, reads, kinds, org_host=None)
    assert [r.rail for r in blocked.blocking] == ["no-default"]
    assert {f.name: f.status for f in blocked.findings} == {"Default EX01": FindingStatus.REFUSED, "Client Proxy EX01": FindingStatus.CHANGE}
    accepted = plan(desired, reads, kinds, org_host=None, overrides=("no-default",))
    assert accepted.blocking == () and accepted.overridden == ("no-default",)
    assert {f.status for f in accepted.findings} == {FindingStatus.CHANGE}
    assert mark_refused(accepted) is accepted


# --- whole values: every field of what the planner hands on -------------------------------------

from dataclasses import replace  # noqa: E402

from exconf.model import HostPlan, Operation  # noqa: E402


class Chained:
    """The receive connector kind whose operations need another host's: proves the planner asks the kind given."""

    def __getattr__(self, name):
        return getattr(RECEIVE_CONNECTOR, name)

    def operations(self, change):
        (op,) = RECEIVE_CONNECTOR.operations(change)
        return (replace(op, role="chained"),)


def test_every_field_of_a_planned_host_and_plan_is_handed_on():
    desired = DesiredState(hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"),)}, organization=())
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),))}
    result = plan(desired, reads, (Chained(),), org_host=None, warnings=("careful",), overrides=("x",))
    (change,) = result.changes
    (finding,) = result.findings
    assert result.hosts["ex01"] == HostPlan("ex01", HostStatus.OK, EX01, (change,), "", (finding,), "http://ex01:5985/wsman")
    assert result.operations == (Operation(change.id, "ex01", change.id, RECEIVE_CONNECTOR.operations(change)[0].steps, role="chained"),)
    assert result.schedule == ((change.id,),)
    assert (result.warnings, result.overridden, result.refusals) == (("careful",), ("x",), ())


class Dangling(Chained):
    """A kind whose operation needs one no kind made: the host fails at plan time, nothing is scheduled."""

    def operations(self, change):
        (op,) = RECEIVE_CONNECTOR.operations(change)
        return (replace(op, needs=("elsewhere",)),)


def test_an_operation_that_needs_one_not_in_the_plan_fails_its_host_never_the_run():
    desired = DesiredState(hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"),)}, organization=())
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),))}
    result = plan(desired, reads, (Dangling(),), org_host=None)
    assert result.hosts["ex01"].status is HostStatus.FAILED
    assert "needs elsewhere, which is not in the plan" in result.hosts["ex01"].error
    assert (result.operations, result.schedule) == ((), ())


def test_every_field_survives_marking_refusals():
    desired = DesiredState(hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"),)}, organization=())
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),))}
    base = plan(desired, reads, KINDS, org_host=None, warnings=("careful",))
    (change,) = base.changes
    stop = Refusal("r", "ex01", "no", change=change.id)
    from exconf.model import Plan

    marked = mark_refused(Plan(base.hosts, base.operations, base.warnings, (stop,), ()))
    (finding,) = base.findings
    assert marked.hosts["ex01"] == replace(base.hosts["ex01"], findings=(replace(finding, status=FindingStatus.REFUSED),))
    assert (marked.operations, marked.warnings, marked.refusals, marked.overridden) == (base.operations, ("careful",), (stop,), ())


def test_a_failed_host_keeps_its_facts_endpoint_findings_and_every_problem():
    desired = DesiredState(
        hosts={"ex01": (want("receive_connector", "A*", "protocol_logging_level", "None"), want("receive_connector", "B*", "protocol_logging_level", "None"))},
        organization=(),
    )
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),))}
    hp = plan(desired, reads, KINDS, org_host=None).hosts["ex01"]
    problems = [
        "inv.yaml:4:9: receive_connectors: 'A*' matches no receive connector on EX01",
        "inv.yaml:4:9: receive_connectors: 'B*' matches no receive connector on EX01",
    ]
    assert hp == HostPlan("ex01", HostStatus.FAILED, EX01, (), "\n".join(problems), hp.findings, "http://ex01:5985/wsman")
    assert [(f.host, f.kind, f.name, f.status, f.source, f.message) for f in hp.findings] == [
        ("ex01", "receive_connector", "A*", FindingStatus.ERROR, AT, problems[0]),
        ("ex01", "receive_connector", "B*", FindingStatus.ERROR, AT, problems[1]),
    ]


def test_a_kind_absent_on_the_role_does_not_stop_the_next_kind():
    desired = DesiredState(
        hosts={"edge": (want("transport_config", "", "tls_send_domain_secure_list", ("a.com",)), want("receive_connector", "Default*", "protocol_logging_level", "Verbose"))},
        organization=(),
    )
    edge_rc = ObservedObject("receive_connector", "Default internal receive connector EDGE01", "g", {"Name": "x", "ProtocolLoggingLevel": "None"})
    reads = {"edge": read("edge", EDGE, transport_config=None, receive_connector=(edge_rc,))}
    hp = plan(desired, reads, KINDS, org_host=None).hosts["edge"]
    assert [(f.host, f.kind, f.name, f.status) for f in hp.findings] == [
        ("edge", "transport_config", "transport config", FindingStatus.ERROR),
        ("edge", "receive_connector", "Default internal receive connector EDGE01", FindingStatus.CHANGE),
    ]
    assert [(f.source, f.message) for f in hp.findings][0] == (AT, hp.error)


def test_the_carrier_keeps_the_organisations_findings_and_its_own():
    desired = DesiredState(
        hosts={"ex01": (want("receive_connector", "Default {server}", "protocol_logging_level", "None"),)},
        organization=(want("send_connector", "Nothing*", "protocol_logging_level", "Verbose"), want("send_connector", "Out*", "protocol_logging_level", "None")),
    )
    reads = {"ex01": read("ex01", EX01, receive_connector=(rc("Default EX01", "None"),), send_connector=(sc("Outbound", "None"),))}
    hp = plan(desired, reads, KINDS, org_host="ex01").hosts["ex01"]
    assert [(f.kind, f.name, f.status) for f in hp.findings] == [
        ("send_connector", "Nothing*", FindingStatus.ERROR),
        ("send_connector", "Outbound", FindingStatus.IN_SYNC),
        ("receive_connector", "Default EX01", FindingStatus.IN_SYNC),
    ]
    assert hp.error == "inv.yaml:4:9: send_connectors: 'Nothing*' matches no send connector on the organisation"


def test_a_host_read_with_facts_but_failed_is_not_planned_and_a_host_without_declarations_is():
    desired = DesiredState(hosts={"ex02": (want("receive_connector", "Default {server}", "protocol_logging_level", "Verbose"),)}, organization=())
    broken = HostRead("ex02", status=HostStatus.FAILED, error="Get-ReceiveConnector failed", facts=EX01, endpoint="e")
    reads = {"ex02": broken, "ex01": read("ex01", EX01, receive_connector=())}
    assert [s.name for s in scopes(desired, reads, None)] == ["ex01"]
    result = plan(desired, reads, KINDS, org_host=None)
    assert result.hosts["ex02"] == HostPlan("ex02", HostStatus.FAILED, EX01, (), "Get-ReceiveConnector failed", result.hosts["ex02"].findings, "e")
    assert [(f.host, f.kind, f.name, f.source, f.message) for f in result.hosts["ex02"].findings] == [
        ("ex02", "receive_connector", "Default {server}", AT, "Get-ReceiveConnector failed")
    ]
    assert result.hosts["ex01"] == HostPlan("ex01", HostStatus.OK, EX01, (), "", (), "http://ex01:5985/wsman")
