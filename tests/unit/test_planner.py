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
    assert [op.id for op in result.operations] == [c.id for c in result.changes]
    assert all(op.host == "ex01" and op.needs == () for op in result.operations)
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
