from exconf.modules.settings import matches
from exconf.model import FindingStatus, ObservedObject, ServerFacts
from exconf.modules import RECEIVE_CONNECTOR, SEND_CONNECTOR, TRANSPORT_CONFIG, TRANSPORT_SERVICE
from exconf.modules.base import PlanContext
from exconf.yamlsource import Location

SRC = {("Default Frontend {server}",): Location("inv.yaml", 3, 5)}


def where(sources=None):
    sources = sources or {}

    def at(path):
        p = tuple(path)
        while p and p not in sources:
            p = p[:-1]
        return sources.get(p, Location("?", 0, 0))

    return at


def ctx(where_name="EX01", server="EX01"):
    return PlanContext(host="ex01", facts=ServerFacts(server, f"{server.lower()}.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam"), where=where_name)


def rc(name, level, guid="g-"):
    return ObservedObject("receive_connector", name, guid + name, {"Name": name, "ProtocolLoggingLevel": level})


def test_exchange_identity_matching_only_star_is_wild():
    assert matches("EdgeSync - Amsterdam*", "edgesync - amsterdam to Internet")
    assert matches("a[b]c", "a[b]c") and not matches("a[b]c", "abc")
    assert matches("x?", "x?") and not matches("x?", "xy")
    assert not matches("Default", "Default Frontend EX01")


def test_server_placeholder_and_only_differing_properties():
    section = {"Default Frontend {server}": {"protocol_logging_level": "Verbose"}, "Default {server}": {"protocol_logging_level": "None"}}
    desired = RECEIVE_CONNECTOR.desired(section, where(SRC))
    assert [d.pattern for d in desired] == ["Default Frontend {server}", "Default {server}"]
    observed = (rc("Default Frontend EX01", "None"), rc("Default EX01", "None"), rc("Client Proxy EX01", "None"))
    result = RECEIVE_CONNECTOR.plan(desired, observed, ctx())
    assert result.problems == ()
    assert {(f.name, f.status) for f in result.findings} == {("Default Frontend EX01", FindingStatus.CHANGE), ("Default EX01", FindingStatus.IN_SYNC)}
    (change,) = result.changes
    assert (change.name, change.identity, change.action) == ("Default Frontend EX01", "g-Default Frontend EX01", "update")
    (prop,) = change.properties
    assert (prop.param, prop.before, prop.after, prop.wire) == ("ProtocolLoggingLevel", "None", "Verbose", "Verbose")
    assert change.reason == "declared in inv.yaml:3"


def test_an_object_in_sync_does_not_hide_a_later_one_that_differs():
    section = {"Default {server}": {"protocol_logging_level": "None"}, "Default Frontend {server}": {"protocol_logging_level": "Verbose"}}
    observed = (rc("Default EX01", "None"), rc("Default Frontend EX01", "None"))
    result = RECEIVE_CONNECTOR.plan(RECEIVE_CONNECTOR.desired(section, where()), observed, ctx())
    assert [c.name for c in result.changes] == ["Default Frontend EX01"]


def test_a_property_in_sync_does_not_hide_a_later_one_that_differs():
    desired = TRANSPORT_SERVICE.desired({"send_protocol_log_max_age": "30.00:00:00", "receive_protocol_log_max_age": "7.00:00:00"}, where())
    ts = ObservedObject("transport_service", "EX01", "EX01", {"SendProtocolLogMaxAge": "30.00:00:00", "ReceiveProtocolLogMaxAge": "30.00:00:00"})
    (change,) = TRANSPORT_SERVICE.plan(desired, (ts,), ctx()).changes
    assert [p.prop for p in change.properties] == ["receive_protocol_log_max_age"]
    (finding,) = TRANSPORT_SERVICE.plan(desired, (ts,), ctx()).findings
    assert [(p.prop, p.expected, p.actual) for p in finding.properties] == [
        ("send_protocol_log_max_age", "30.00:00:00", "30.00:00:00"),
        ("receive_protocol_log_max_age", "7.00:00:00", "30.00:00:00"),
    ]


def test_a_pattern_that_matches_nothing_is_a_problem_with_its_location():
    desired = SEND_CONNECTOR.desired({"EdgeSync - Paris*": {"protocol_logging_level": "Verbose"}}, where({("EdgeSync - Paris*",): Location("inv.yaml", 9, 7)}))
    result = SEND_CONNECTOR.plan(desired, (), ctx("the organisation"))
    assert result.changes == ()
    assert result.problems == ("inv.yaml:9:7: send_connectors: 'EdgeSync - Paris*' matches no send connector on the organisation",)
    (finding,) = result.findings
    assert finding.status is FindingStatus.ERROR and finding.message == result.problems[0]


def test_conflicting_declarations_for_one_object_are_reported():
    section = {"EdgeSync*": {"protocol_logging_level": "Verbose"}, "EdgeSync - A*": {"protocol_logging_level": "None"}}
    desired = SEND_CONNECTOR.desired(section, where())
    observed = (ObservedObject("send_connector", "EdgeSync - A to Internet", "1", {"ProtocolLoggingLevel": "None"}),)
    result = SEND_CONNECTOR.plan(desired, observed, ctx("the organisation"))
    assert len(result.problems) == 1 and "gets protocol_logging_level 'None' here but 'Verbose'" in result.problems[0]


def test_values_compare_in_canonical_form():
    desired = TRANSPORT_SERVICE.desired({"send_protocol_log_max_directory_size": "250MB", "send_protocol_log_max_age": "30.00:00:00"}, where())
    same = ObservedObject("transport_service", "EX01", "EX01", {"SendProtocolLogMaxDirectorySize": "250 MB (262,144,000 bytes)", "SendProtocolLogMaxAge": "30.00:00:00"})
    result = TRANSPORT_SERVICE.plan(desired, (same,), ctx())
    assert result.changes == () and [f.status for f in result.findings] == [FindingStatus.IN_SYNC]
    other = ObservedObject("transport_service", "EX01", "EX01", {"SendProtocolLogMaxDirectorySize": "Unlimited", "SendProtocolLogMaxAge": "7.00:00:00"})
    (change,) = TRANSPORT_SERVICE.plan(desired, (other,), ctx()).changes
    assert {p.prop: (p.before, p.after, p.wire) for p in change.properties} == {
        "send_protocol_log_max_directory_size": ("Unlimited", "250 MB", "250MB"),
        "send_protocol_log_max_age": ("7.00:00:00", "30.00:00:00", "30.00:00:00"),
    }
    assert change.identity == "EX01"


def test_domain_lists_are_sets_shown_as_lists_and_sent_whole():
    desired = TRANSPORT_CONFIG.desired({"tls_send_domain_secure_list": ["fabrikam.com", "Contoso.com"]}, where())
    cfg = ObservedObject("transport_config", "Transport Settings", "", {"TLSSendDomainSecureList": ["contoso.com", "FABRIKAM.com"]})
    assert TRANSPORT_CONFIG.plan(desired, (cfg,), ctx("the organisation")).changes == ()
    cfg = ObservedObject("transport_config", "Transport Settings", "", {"TLSSendDomainSecureList": []})
    (change,) = TRANSPORT_CONFIG.plan(desired, (cfg,), ctx("the organisation")).changes
    assert change.properties[0].wire == ["contoso.com", "fabrikam.com"]
    assert (change.properties[0].before, change.properties[0].after) == ([], ["contoso.com", "fabrikam.com"])
    (op,) = TRANSPORT_CONFIG.operations(change)
    (step,) = op.steps
    assert "Identity" not in step.params and step.cmdlet == "Set-TransportConfig" and op.host == "ex01"
