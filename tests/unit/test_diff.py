from exconf.diff import declared, diff, matches
from exconf.model import ObservedObject
from exconf.modules import RECEIVE_CONNECTOR, SEND_CONNECTOR, TRANSPORT_CONFIG, TRANSPORT_SERVICE
from exconf.yamlsource import Location

SRC = {("receive_connectors",): Location("inv.yaml", 3, 5)}


def rc(name, level, guid="g-" ):
    return ObservedObject("receive_connector", name, guid + name, {"Name": name, "ProtocolLoggingLevel": level})


def test_exchange_identity_matching_only_star_is_wild():
    assert matches("EdgeSync - Amsterdam*", "edgesync - amsterdam to Internet")
    assert matches("a[b]c", "a[b]c") and not matches("a[b]c", "abc")
    assert matches("x?", "x?") and not matches("x?", "xy")
    assert not matches("Default", "Default Frontend EX01")


def test_server_placeholder_and_only_differing_properties():
    section = {"Default Frontend {server}": {"protocol_logging_level": "Verbose"}, "Default {server}": {"protocol_logging_level": "None"}}
    desired = declared(RECEIVE_CONNECTOR, section, SRC, ("receive_connectors",), "EX01")
    assert [d.pattern for d in desired] == ["Default Frontend EX01", "Default EX01"]
    observed = (rc("Default Frontend EX01", "None"), rc("Default EX01", "None"), rc("Client Proxy EX01", "None"))
    result = diff(RECEIVE_CONNECTOR, desired, observed, "ex01", "EX01")
    assert result.problems == () and result.in_sync == 1
    (change,) = result.changes
    assert (change.name, change.identity, change.action) == ("Default Frontend EX01", "g-Default Frontend EX01", "update")
    (prop,) = change.properties
    assert (prop.param, prop.before, prop.after, prop.wire) == ("ProtocolLoggingLevel", "None", "Verbose", "Verbose")
    assert change.reason == "declared in inv.yaml:3"


def test_a_pattern_that_matches_nothing_is_a_problem_with_its_location():
    desired = declared(SEND_CONNECTOR, {"EdgeSync - Paris*": {"protocol_logging_level": "Verbose"}}, {("send_connectors", "EdgeSync - Paris*"): Location("inv.yaml", 9, 7)}, ("send_connectors",), "EX01")
    result = diff(SEND_CONNECTOR, desired, (), "ex01", "the organisation")
    assert result.changes == ()
    assert result.problems == ("inv.yaml:9:7: send_connectors: 'EdgeSync - Paris*' matches no send connector on the organisation",)


def test_conflicting_declarations_for_one_object_are_reported():
    section = {"EdgeSync*": {"protocol_logging_level": "Verbose"}, "EdgeSync - A*": {"protocol_logging_level": "None"}}
    desired = declared(SEND_CONNECTOR, section, {}, ("send_connectors",), "EX01")
    observed = (ObservedObject("send_connector", "EdgeSync - A to Internet", "1", {"ProtocolLoggingLevel": "None"}),)
    result = diff(SEND_CONNECTOR, desired, observed, "ex01", "the organisation")
    assert len(result.problems) == 1 and "gets protocol_logging_level 'None' here but 'Verbose'" in result.problems[0]


def test_values_compare_in_canonical_form():
    desired = declared(TRANSPORT_SERVICE, {"send_protocol_log_max_directory_size": "250MB", "send_protocol_log_max_age": "30.00:00:00"}, {}, (), "EX01")
    same = ObservedObject("transport_service", "EX01", "EX01", {"SendProtocolLogMaxDirectorySize": "250 MB (262,144,000 bytes)", "SendProtocolLogMaxAge": "30.00:00:00"})
    assert diff(TRANSPORT_SERVICE, desired, (same,), "ex01", "EX01").in_sync == 1
    other = ObservedObject("transport_service", "EX01", "EX01", {"SendProtocolLogMaxDirectorySize": "Unlimited", "SendProtocolLogMaxAge": "7.00:00:00"})
    (change,) = diff(TRANSPORT_SERVICE, desired, (other,), "ex01", "EX01").changes
    assert {p.prop: (p.before, p.after, p.wire) for p in change.properties} == {
        "send_protocol_log_max_directory_size": ("Unlimited", "250 MB", "250MB"),
        "send_protocol_log_max_age": ("7.00:00:00", "30.00:00:00", "30.00:00:00"),
    }
    assert change.identity == "EX01"


def test_domain_lists_are_sets_and_sent_whole():
    desired = declared(TRANSPORT_CONFIG, {"tls_send_domain_secure_list": ["fabrikam.com", "Contoso.com"]}, {}, (), "EX01")
    cfg = ObservedObject("transport_config", "Transport Settings", "", {"TLSSendDomainSecureList": ["contoso.com", "FABRIKAM.com"]})
    assert diff(TRANSPORT_CONFIG, desired, (cfg,), "ex01", "the organisation").in_sync == 1
    cfg = ObservedObject("transport_config", "Transport Settings", "", {"TLSSendDomainSecureList": []})
    (change,) = diff(TRANSPORT_CONFIG, desired, (cfg,), "ex01", "the organisation").changes
    assert change.properties[0].wire == ["contoso.com", "fabrikam.com"]
    step = TRANSPORT_CONFIG.change_steps(change, "s1")[0]
    assert "Identity" not in step.params and step.cmdlet == "Set-TransportConfig"
