"""The generic settings kind, what is read, compared, shown and sent (modules/settings.py): the read step and what it
observes, the per-property diff with every finding as drift and the plan show it, conflicts between declarations,
values a server reports that exconf does not understand, the one Set-* step, and its verification."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from exconf.model import (Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Operation, PropertyChange, Refusal,
                          ServerFacts)
from exconf.modules import RECEIVE_CONNECTOR, SEND_CONNECTOR, TRANSPORT_CONFIG, TRANSPORT_SERVICE
from exconf.modules.base import LOCAL_SERVER, PlanContext, ReadError
from exconf.modules.settings import diff
from exconf.remote import STATUS_NOT_APPLICABLE, Answer, Step, StepError, StepResult
from exconf.yamlsource import Location

ROOT = Path(__file__).resolve().parents[2]
A, B = Location("group_vars/all.yaml", 3, 5), Location("host_vars/ex01.yaml", 7, 9)
CTX = PlanContext("ex01", ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam"), "EX01")


def want(kind, pattern, at=A, **values):
    return Desired(kind.kind, pattern, tuple(DesiredValue(k, kind.prop(k).type.parse(v), at) for k, v in values.items()), at)


def rc(name, guid=None, **values):
    return ObservedObject("receive_connector", name, guid or f"g-{name}", {"Name": name, **values})


# --- the schema, as published ----------------------------------------------------------------------------------------


def test_each_kinds_schema_is_the_one_published():
    published = json.loads((ROOT / "docs" / "inventory.schema.json").read_text())["$defs"]["vars"]["properties"]
    assert RECEIVE_CONNECTOR.schema() == published["exchange"]["properties"]["receive_connectors"]
    assert TRANSPORT_SERVICE.schema() == published["exchange"]["properties"]["transport_service"]
    assert TRANSPORT_CONFIG.schema() == published["exchange_organization"]["properties"]["transport_config"]


# --- reading ------------------------------------------------------------------------------------------------------------


def test_the_read_steps_select_what_the_kind_compares_and_the_certificates_it_names_and_skip_where_the_kind_does_not_exist():
    """A kind whose properties name certificates (tls_certificate) also reads the connector's Fqdn and TlsDomain (the
    names its certificate must hold) and the server's certificates, as the certificate kind reads them (readcache)."""
    assert RECEIVE_CONNECTOR.read_steps("r:") == [
        Step("r:receive_connector", "Get-ReceiveConnector", {"Server": LOCAL_SERVER},
             select=("Name", "Identity", "Guid", "ProtocolLoggingLevel", "TlsCertificateName", "RequireTLS", "DomainSecureEnabled", "Fqdn", "TlsDomain"),
             skip_on_edge=False),
        Step("r:receive_connector:certificates", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER},
             select=("Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "Status", "IsSelfSigned",
                     "HasPrivateKey", "PublicKeySize", "SignatureAlgorithm.FriendlyName"), skip_on_edge=False),
    ]
    assert TRANSPORT_CONFIG.read_steps("r:") == [Step("r:transport_config", "Get-TransportConfig", {},
                                                      select=("Name", "Identity", "Guid", "TLSSendDomainSecureList", "TLSReceiveDomainSecureList"),
                                                      skip_on_edge=True)]
    service = TRANSPORT_SERVICE.read_steps("r:")[0]
    assert service.select[:3] == ("Name", "Identity", "Guid") and len(service.select) == len(set(service.select)) == 3 + len(TRANSPORT_SERVICE.props)


def test_what_is_observed_of_each_object_its_name_and_the_identity_set_changes_it():
    objects = ({"Name": "Default EX01", "Guid": "g-1", "Identity": "EX01\\Default EX01"}, {"Identity": "EX01\\Client", "ProtocolLoggingLevel": "None"},
               {"Name": "Relay", "Identity": "EX01\\Relay"}, {})
    got = RECEIVE_CONNECTOR.observe(Answer("EX01", False, {"r:receive_connector": StepResult("r:receive_connector", "ok", objects)}), "r:")
    assert got == (ObservedObject("receive_connector", "Default EX01", "g-1", objects[0]),
                   ObservedObject("receive_connector", "EX01\\Client", "EX01\\Client", objects[1]),
                   ObservedObject("receive_connector", "Relay", "EX01\\Relay", objects[2]),
                   ObservedObject("receive_connector", "", "", {}))
    config = ({"Name": "Transport Settings", "Guid": "g-9"},)
    assert TRANSPORT_CONFIG.observe(Answer("EX01", False, {"r:transport_config": StepResult("r:transport_config", "ok", config)}), "r:") == (
        ObservedObject("transport_config", "Transport Settings", "", config[0]),)
    assert TRANSPORT_CONFIG.observe(Answer("EDGE01", True, {"r:transport_config": StepResult("r:transport_config", STATUS_NOT_APPLICABLE)}), "r:") is None


def test_a_read_that_failed_names_the_cmdlet_and_why():
    with pytest.raises(ReadError) as exc:
        RECEIVE_CONNECTOR.observe(Answer("EX01", False, {"r:receive_connector": StepResult("r:receive_connector", "failed",
                                                                                           error=StepError("The operation couldn't be performed"))}), "r:")
    assert str(exc.value) == "Get-ReceiveConnector failed: The operation couldn't be performed"
    with pytest.raises(ReadError) as exc:
        RECEIVE_CONNECTOR.observe(Answer("EX01", False, {"r:receive_connector": StepResult("r:receive_connector", "not_run")}), "r:")
    assert str(exc.value) == "Get-ReceiveConnector failed: not_run"


# --- the diff -------------------------------------------------------------------------------------------------------------


def test_every_declared_property_is_a_finding_and_only_those_that_differ_are_changed():
    declared = (want(RECEIVE_CONNECTOR, "Default {server}", protocol_logging_level="verbose"),)
    observed = (rc("Default EX01", ProtocolLoggingLevel="None"), rc("Client EX01", ProtocolLoggingLevel="None"))
    result = diff(RECEIVE_CONNECTOR, declared, observed, CTX)
    assert result.changes == (Change("ex01/receive_connector/Default EX01", "ex01", "receive_connector", "Default EX01", "g-Default EX01", "update",
                                     (PropertyChange("protocol_logging_level", "ProtocolLoggingLevel", "None", "Verbose", "Verbose", A),),
                                     "declared in group_vars/all.yaml:3"),)
    assert result.findings == (Finding("ex01", "receive_connector", "Default EX01", FindingStatus.CHANGE, A,
                                       (FindingProperty("protocol_logging_level", "Verbose", "None", A),)),)
    in_sync = diff(RECEIVE_CONNECTOR, declared, (rc("Default EX01", ProtocolLoggingLevel="VERBOSE"),), CTX)
    assert in_sync.changes == () and in_sync.findings == (Finding("ex01", "receive_connector", "Default EX01", FindingStatus.IN_SYNC, A,
                                                                  (FindingProperty("protocol_logging_level", "Verbose", "Verbose", A),)),)


def test_a_change_from_several_files_names_them_all_and_keeps_the_first_declarations_place():
    declared = (want(RECEIVE_CONNECTOR, "Default*", protocol_logging_level="Verbose"),)
    path_kind = TRANSPORT_SERVICE
    service = ObservedObject("transport_service", "EX01", "EX01", {"Name": "EX01", "SendProtocolLogPath": "D:\\Logs\\Send",
                                                                   "ReceiveProtocolLogPath": "D:\\Logs\\Receive"})
    two = Desired("transport_service", "", (DesiredValue("send_protocol_log_path", path_kind.prop("send_protocol_log_path").type.parse("E:\\Send"), B),
                                            DesiredValue("receive_protocol_log_path", path_kind.prop("receive_protocol_log_path").type.parse("E:\\Recv"), A)), B)
    (change,) = diff(path_kind, (two,), (service,), CTX).changes
    assert change.reason == "declared in group_vars/all.yaml:3, host_vars/ex01.yaml:7"
    assert diff(RECEIVE_CONNECTOR, declared, (rc("Default EX01", ProtocolLoggingLevel="None"),), CTX).findings[0].source == A


def test_a_path_that_differs_only_in_case_is_in_sync_and_does_not_conflict():
    service = ObservedObject("transport_service", "EX01", "EX01", {"Name": "EX01", "SendProtocolLogPath": "d:\\logs\\SEND"})
    one = want(TRANSPORT_SERVICE, "", send_protocol_log_path="D:\\Logs\\Send")
    other = want(TRANSPORT_SERVICE, "", at=B, send_protocol_log_path="D:\\LOGS\\send")
    result = diff(TRANSPORT_SERVICE, (one, other), (service,), CTX)
    assert result.changes == () and result.problems == ()


def test_two_declarations_that_disagree_are_a_conflict_naming_both_places_for_each_property():
    first = want(TRANSPORT_SERVICE, "", send_protocol_log_max_age="30.00:00:00", receive_protocol_log_max_age="7.00:00:00")
    second = want(TRANSPORT_SERVICE, "", at=B, send_protocol_log_max_age="10.00:00:00", receive_protocol_log_max_age="1.00:00:00")
    service = ObservedObject("transport_service", "EX01", "EX01", {"Name": "EX01", "SendProtocolLogMaxAge": "30.00:00:00", "ReceiveProtocolLogMaxAge": "7.00:00:00"})
    result = diff(TRANSPORT_SERVICE, (first, second), (service,), CTX)
    assert result.problems == (
        "host_vars/ex01.yaml:7:9: transport_service: 'EX01' gets send_protocol_log_max_age '10.00:00:00' here but '30.00:00:00' at group_vars/all.yaml:3:5",
        "host_vars/ex01.yaml:7:9: transport_service: 'EX01' gets receive_protocol_log_max_age '1.00:00:00' here but '7.00:00:00' at group_vars/all.yaml:3:5",
    )
    assert result.findings[:2] == tuple(Finding("ex01", "transport_service", "EX01", FindingStatus.ERROR, B, message=p) for p in result.problems)


def test_a_single_object_kind_reads_the_first_object_and_says_when_there_is_none():
    declared = (want(TRANSPORT_CONFIG, "", tls_send_domain_secure_list=["contoso.com"]),)
    config = ObservedObject("transport_config", "Transport Settings", "", {"Name": "Transport Settings", "TLSSendDomainSecureList": ["contoso.com"]})
    stray = ObservedObject("transport_config", "Another", "", {"Name": "Another", "TLSSendDomainSecureList": []})
    result = diff(TRANSPORT_CONFIG, declared, (config, stray), CTX)
    assert [(f.name, f.status) for f in result.findings] == [("Transport Settings", FindingStatus.IN_SYNC)]
    missing = diff(TRANSPORT_CONFIG, declared, (), replace(CTX, where="the organisation"))
    assert missing.problems == ("group_vars/all.yaml:3:5: transport_config: the organisation reported no transport config",)
    assert missing.findings == (Finding("ex01", "transport_config", "transport config", FindingStatus.ERROR, A, message=missing.problems[0]),)


def test_a_value_the_server_reports_that_exconf_does_not_understand_is_shown_as_it_is_and_changed():
    declared = (want(TRANSPORT_SERVICE, "", send_protocol_log_max_directory_size="250 MB", send_protocol_log_max_file_size="Unlimited",
                     receive_protocol_log_max_file_size="10 MB", receive_protocol_log_max_directory_size="Unlimited"),)
    service = ObservedObject("transport_service", "EX01", "EX01", {"Name": "EX01", "SendProtocolLogMaxDirectorySize": "a lot",
                                                                   "ReceiveProtocolLogMaxFileSize": None})
    result = diff(TRANSPORT_SERVICE, declared, (service,), CTX)
    (change,) = result.changes
    assert [(p.prop, p.before, p.after) for p in change.properties] == [
        ("send_protocol_log_max_directory_size", "a lot", "250 MB"),
        ("receive_protocol_log_max_file_size", "(not set)", "10 MB"),
    ]
    # Unlimited declared, nothing reported: the same (a size without a limit), so in sync, not changed.
    props = result.findings[0].properties
    assert (props[1], props[3]) == (FindingProperty("send_protocol_log_max_file_size", "Unlimited", "Unlimited", A),
                                    FindingProperty("receive_protocol_log_max_directory_size", "Unlimited", "Unlimited", A))


def test_a_sensitive_value_stays_sensitive_in_the_change_and_the_finding():
    secret = Desired("receive_connector", "Default*", (DesiredValue("protocol_logging_level", "Verbose", A, sensitive=True),), A)
    result = diff(RECEIVE_CONNECTOR, (secret,), (rc("Default EX01", ProtocolLoggingLevel="None"),), CTX)
    assert result.changes[0].properties[0].sensitive is True and result.findings[0].properties[0].sensitive is True
    in_sync = diff(RECEIVE_CONNECTOR, (secret,), (rc("Default EX01", ProtocolLoggingLevel="Verbose"),), CTX)
    assert in_sync.findings[0].properties == (FindingProperty("protocol_logging_level", "Verbose", "Verbose", A, True),)
    unset = Desired("transport_service", "", (DesiredValue("send_protocol_log_max_file_size", None, A, sensitive=True),), A)
    service = ObservedObject("transport_service", "EX01", "EX01", {"Name": "EX01"})
    assert diff(TRANSPORT_SERVICE, (unset,), (service,), CTX).findings[0].properties == (
        FindingProperty("send_protocol_log_max_file_size", "Unlimited", "Unlimited", A, True),)


# --- changing and verifying -----------------------------------------------------------------------------------------------


def test_one_set_step_carries_only_what_differs_with_the_identity_when_the_cmdlet_takes_one():
    change = Change("ex01/receive_connector/Default EX01", "ex01", "receive_connector", "Default EX01", "g-1", "update",
                    (PropertyChange("protocol_logging_level", "ProtocolLoggingLevel", "None", "Verbose", "Verbose", A),), "r")
    assert RECEIVE_CONNECTOR.operations(change) == (Operation(change.id, "ex01", change.id, (
        Step(f"{change.id}:set", "Set-ReceiveConnector", {"Identity": "g-1", "ProtocolLoggingLevel": "Verbose"}),), role="set"),)
    config = Change("ex01/transport_config/Transport Settings", "ex01", "transport_config", "Transport Settings", "", "update",
                    (PropertyChange("tls_send_domain_secure_list", "TLSSendDomainSecureList", [], ["contoso.com"], ["contoso.com"], A),), "r")
    assert TRANSPORT_CONFIG.operations(config)[0].steps == (
        Step(f"{config.id}:set", "Set-TransportConfig", {"TLSSendDomainSecureList": ["contoso.com"]}),)


def test_a_change_is_verified_on_the_object_read_back_and_what_differs_is_named():
    change = Change("ex01/transport_service/EX01", "ex01", "transport_service", "EX01", "EX01", "update", (
        PropertyChange("send_protocol_log_max_age", "SendProtocolLogMaxAge", "30.00:00:00", "10.00:00:00", "10.00:00:00", A),
        PropertyChange("intra_org_connector_protocol_logging_level", "IntraOrgConnectorProtocolLoggingLevel", "None", "Verbose", "Verbose", A),
    ), "r")
    back = lambda **v: (ObservedObject("transport_service", "EX02", "EX02", {}), ObservedObject("transport_service", "EX01", "EX01", v))  # noqa: E731
    assert TRANSPORT_SERVICE.verify(change, back(SendProtocolLogMaxAge="10.00:00:00", IntraOrgConnectorProtocolLoggingLevel="verbose")) is None
    assert TRANSPORT_SERVICE.verify(change, back(SendProtocolLogMaxAge="bogus", IntraOrgConnectorProtocolLoggingLevel="None")) == (
        "read back different: send_protocol_log_max_age is 'bogus', expected '10.00:00:00'; "
        "intra_org_connector_protocol_logging_level is 'None', expected 'Verbose'")
    path = Change("ex01/transport_service/EX01", "ex01", "transport_service", "EX01", "EX01", "update", (
        PropertyChange("send_protocol_log_path", "SendProtocolLogPath", "C:\\x", "D:\\Logs", "D:\\Logs", A),), "r")
    assert TRANSPORT_SERVICE.verify(path, back(SendProtocolLogPath="d:\\logs")) is None  # Windows paths: case-insensitive
    assert TRANSPORT_SERVICE.verify(change, back()[:1]) == "made, but could not be read back"


# --- declarations ---------------------------------------------------------------------------------------------------------


def test_each_declared_value_is_parsed_once_and_located_where_it_was_written():
    where = lambda path: Location("inv.yaml", len(path), sum(len(str(p)) for p in path))  # noqa: E731
    (single,) = TRANSPORT_SERVICE.desired({"send_protocol_log_max_age": "10.00:00:00"}, where)
    assert single == Desired("transport_service", "", (DesiredValue("send_protocol_log_max_age", 864000, Location("inv.yaml", 1, 25)),), Location("inv.yaml", 0, 0))
    (named,) = RECEIVE_CONNECTOR.desired({"Default {server}": {"protocol_logging_level": "verbose"}}, where)
    assert named == Desired("receive_connector", "Default {server}", (DesiredValue("protocol_logging_level", "Verbose", Location("inv.yaml", 2, 38)),),
                            Location("inv.yaml", 1, 16))


def test_what_the_schema_cannot_say_is_found_without_a_traceback_on_any_shape():
    assert RECEIVE_CONNECTOR.inventory_issues({"Default {site}": {"protocol_logging_level": "Loud"}, "Other": None}, ROOT) == [
        (("Default {site}",), "name 'Default {site}': unknown placeholder {site} (known: {server})"),
        (("Default {site}", "protocol_logging_level"), "expected one of None, Verbose, found 'Loud'"),
    ]
    assert TRANSPORT_SERVICE.inventory_issues({"send_protocol_log_max_age": "99999.00:00:00", "unknown_key": 1}, ROOT) == [
        (("send_protocol_log_max_age",), TRANSPORT_SERVICE.inventory_issues({"send_protocol_log_max_age": "99999.00:00:00"}, ROOT)[0][1])]
    assert RECEIVE_CONNECTOR.inventory_issues(["not", "a", "mapping"], ROOT) == []


def test_a_settings_kind_that_follows_other_kinds_gets_their_changes_as_its_order():
    seen = []

    def follows(change, ctx):
        seen.append(change.name)
        return ("ex01/exchange_certificate/A", "ex01/exchange_certificate/A")

    kind = replace(RECEIVE_CONNECTOR, sees_planned=True, follows=follows)
    result = kind.plan((want(RECEIVE_CONNECTOR, "Default*", protocol_logging_level="Verbose"),), (rc("Default EX01", ProtocolLoggingLevel="None"),), CTX)
    assert seen == ["Default EX01"] and result.changes[0].after == ("ex01/exchange_certificate/A",)


def test_a_declaration_that_matches_nothing_does_not_stop_the_next_one():
    declared = (want(RECEIVE_CONNECTOR, "Nothing*", protocol_logging_level="Verbose"), want(RECEIVE_CONNECTOR, "Default*", at=B, protocol_logging_level="Verbose"))
    result = diff(RECEIVE_CONNECTOR, declared, (rc("Default EX01", ProtocolLoggingLevel="None"),), CTX)
    assert result.problems == ("group_vars/all.yaml:3:5: receive_connectors: 'Nothing*' matches no receive connector on EX01",)
    assert [c.name for c in result.changes] == ["Default EX01"]


def test_every_declaration_of_a_kind_the_server_did_not_report_is_named():
    declared = (want(TRANSPORT_CONFIG, "", tls_send_domain_secure_list=["a.example"]), want(TRANSPORT_CONFIG, "", at=B, tls_receive_domain_secure_list=["b.example"]))
    assert diff(TRANSPORT_CONFIG, declared, (), CTX).problems == (
        "group_vars/all.yaml:3:5: transport_config: EX01 reported no transport config",
        "host_vars/ex01.yaml:7:9: transport_config: EX01 reported no transport config",
    )


# --- certificates a connector names, and objects another change makes anew ------------------------------------------------


def test_a_kind_that_names_certificates_observes_the_servers_certificates_and_its_clock():
    connectors = ({"Name": "Default EX01", "Guid": "g-1"},)
    certs = ({"Thumbprint": "AB" * 20, "Subject": "CN=mail"}, {"Subject": "CN=no thumbprint"})
    read = {"r:receive_connector": StepResult("r:receive_connector", "ok", connectors),
            "r:receive_connector:certificates": StepResult("r:receive_connector:certificates", "ok", certs)}
    assert RECEIVE_CONNECTOR.observe(Answer("EX01", False, read, utc_now="2025-03-01T00:00:00Z"), "r:") == (
        ObservedObject("receive_connector", "Default EX01", "g-1", connectors[0]),
        ObservedObject("receive_connector.certificate", "AB" * 20, "", certs[0]),
        ObservedObject("receive_connector.certificate", "", "", certs[1]),
        ObservedObject("receive_connector.clock", "", "", {"UtcNow": "2025-03-01T00:00:00Z"}),
    )
    for certificates in ({}, {"r:receive_connector:certificates": StepResult("r:receive_connector:certificates", STATUS_NOT_APPLICABLE)}):
        only = {"r:receive_connector": read["r:receive_connector"], **certificates}
        assert RECEIVE_CONNECTOR.observe(Answer("EX01", False, only, utc_now="2025-03-01T00:00:00Z"), "r:") == (
            ObservedObject("receive_connector", "Default EX01", "g-1", connectors[0]),)


@pytest.mark.parametrize("result, why", [
    (StepResult("r:receive_connector:certificates", "failed", error=StepError("access denied")), "access denied"),
    (StepResult("r:receive_connector:certificates", "not_run"), "not_run"),
])
def test_a_failed_read_of_the_certificates_names_the_cmdlet_and_why(result, why):
    read = {"r:receive_connector": StepResult("r:receive_connector", "ok", ()), "r:receive_connector:certificates": result}
    with pytest.raises(ReadError) as exc:
        RECEIVE_CONNECTOR.observe(Answer("EX01", False, read), "r:")
    assert str(exc.value) == f"Get-ExchangeCertificate failed: {why}"


MAIL = {"Thumbprint": "11" * 20, "Subject": "CN=mail.contoso.lab", "Issuer": "CN=Unit CA", "CertificateDomains": ["mail.contoso.lab", "ex01.contoso.lab"],
        "NotBefore": "2025-01-01T00:00:00Z", "NotAfter": "2025-06-01T00:00:00Z", "Status": "Valid"}
MAIL_NAME = "<I>CN=Unit CA<S>CN=mail.contoso.lab"


def store(*certs, clock="2025-03-01T00:00:00Z"):
    """The certificates and the clock a kind that names certificates observes beside its connectors."""
    out = tuple(ObservedObject("receive_connector.certificate", c.get("Thumbprint", ""), "", c) for c in certs)
    return out + ((ObservedObject("receive_connector.clock", "", "", {"UtcNow": clock}),) if clock != "(none)" else ())


def named(pattern, at=A, **match):
    return Desired("receive_connector", pattern, (DesiredValue("tls_certificate", RECEIVE_CONNECTOR.prop("tls_certificate").type.parse({"match": match}), at),), at)


@pytest.mark.parametrize("clock", ["2025-03-01T00:00:00Z", "2025-03-01T00:00:00+00:00", "2025-05-31T23:59:59Z"])
def test_a_certificate_is_judged_valid_on_the_servers_clock(clock):
    result = RECEIVE_CONNECTOR.plan((named("Default {server}", subject="CN=mail.contoso.lab"),),
                                    (rc("Default EX01", Fqdn="ex01.contoso.lab"), *store(MAIL, clock=clock)), CTX)
    assert result.problems == () and result.refusals == ()
    assert result.changes == (Change("ex01/receive_connector/Default EX01", "ex01", "receive_connector", "Default EX01", "g-Default EX01", "update",
                                     (PropertyChange("tls_certificate", "TlsCertificateName", None, MAIL_NAME, MAIL_NAME, A),),
                                     "declared in group_vars/all.yaml:3"),)


@pytest.mark.parametrize("clock", ["(none)", "2025-06-02T00:00:00Z", "not a date", None, 1740787200])
def test_without_a_clock_the_server_said_the_controllers_judges_and_an_expired_certificate_selects_nothing(clock):
    result = RECEIVE_CONNECTOR.plan((named("Default {server}", subject="CN=mail.contoso.lab"),),
                                    (rc("Default EX01", Fqdn="ex01.contoso.lab"), *store(MAIL, clock=clock)), CTX)
    problem = ("group_vars/all.yaml:3:5: receive_connectors: 'Default {server}' tls_certificate: match subject 'CN=mail.contoso.lab' selects no valid "
               "certificate on EX01, nor one this plan imports or makes there")
    assert result.problems == (problem,) and result.changes == ()
    assert result.findings == (Finding("ex01", "receive_connector", "Default EX01", FindingStatus.IN_SYNC, A, ()),
                               Finding("ex01", "receive_connector", "Default EX01", FindingStatus.ERROR, A, message=problem))


def test_a_connector_change_follows_the_certificate_change_of_this_plan_that_makes_its_certificate():
    from exconf.modules.certificate_plan import CertWork
    from exconf.modules.certificate_values import cert_from_answer

    new = {**MAIL, "Thumbprint": "22" * 20, "NotAfter": "2026-01-01T00:00:00Z"}
    made = Change("ex01/exchange_certificate/new", "ex01", "exchange_certificate", "CN=mail.contoso.lab (22222222)", "", "create", (), "r",
                  payload=CertWork(cert=cert_from_answer(new)))
    elsewhere = replace(made, id="ex02/exchange_certificate/new", host="ex02")
    other = {**MAIL, "Thumbprint": "33" * 20, "Subject": "CN=relay.contoso.lab", "CertificateDomains": ["relay.contoso.lab"]}
    declared = (named("Default {server}", subject="CN=mail.contoso.lab"), named("Relay*", at=B, subject="CN=relay.contoso.lab"),
                named("Client {server}", at=B, subject="CN=nothing"))
    observed = (rc("Default EX01", Fqdn="ex01.contoso.lab"), rc("Relay EX01", Fqdn="relay.contoso.lab"), rc("Client EX01"), *store(MAIL, other))
    ctx = replace(CTX, planned=(elsewhere, made))
    result = RECEIVE_CONNECTOR.plan(declared, observed, ctx)
    relay_name = "<I>CN=Unit CA<S>CN=relay.contoso.lab"
    assert result.changes == (
        Change("ex01/receive_connector/Default EX01", "ex01", "receive_connector", "Default EX01", "g-Default EX01", "update",
               (PropertyChange("tls_certificate", "TlsCertificateName", None, MAIL_NAME, MAIL_NAME, A),), "declared in group_vars/all.yaml:3",
               after=("ex01/exchange_certificate/new",)),
        Change("ex01/receive_connector/Relay EX01", "ex01", "receive_connector", "Relay EX01", "g-Relay EX01", "update",
               (PropertyChange("tls_certificate", "TlsCertificateName", None, relay_name, relay_name, B),), "declared in host_vars/ex01.yaml:7"),
    )
    problem = ("host_vars/ex01.yaml:7:9: receive_connectors: 'Client {server}' tls_certificate: match subject 'CN=nothing' selects no valid "
               "certificate on EX01, nor one this plan imports or makes there")
    assert result.problems == (problem,) and result.refusals == ()
    assert result.findings[-1] == Finding("ex01", "receive_connector", "Client EX01", FindingStatus.ERROR, B, message=problem)
    assert [(f.name, f.status) for f in result.findings] == [("Default EX01", FindingStatus.CHANGE), ("Relay EX01", FindingStatus.CHANGE),
                                                            ("Client EX01", FindingStatus.IN_SYNC), ("Client EX01", FindingStatus.ERROR)]


def test_a_certificate_whose_names_do_not_cover_the_connectors_fqdn_is_refused():
    declared = (named("Default {server}", subject="CN=mail.contoso.lab"), named("Relay*", at=B, subject="CN=mail.contoso.lab"),
                named("Client*", at=B, subject="CN=mail.contoso.lab"))
    observed = (rc("Default EX01", Fqdn="smtp.contoso.lab"), rc("Relay EX01", TlsDomain="mail.contoso.lab", Fqdn="smtp.contoso.lab"),
                rc("Client EX01"), *store(MAIL))
    far = replace(CTX, facts=replace(CTX.facts, fqdn="ex09.contoso.lab"))
    result = RECEIVE_CONNECTOR.plan(declared, observed, far)
    assert [c.name for c in result.changes] == ["Default EX01", "Relay EX01", "Client EX01"]
    why = ("would present CN=mail.contoso.lab (11111111), whose names (mail.contoso.lab, ex01.contoso.lab) do not cover its FQDN {}; "
           "Exchange offers a connector's certificate for the connector's FQDN")
    assert result.refusals == (
        Refusal("connector-certificate-names", "ex01", "EX01: receive_connector 'Default EX01' " + why.format("smtp.contoso.lab"),
                "ex01/receive_connector/Default EX01"),
        Refusal("connector-certificate-names", "ex01", "EX01: receive_connector 'Client EX01' " + why.format("ex09.contoso.lab"),
                "ex01/receive_connector/Client EX01"),
    )
    assert RECEIVE_CONNECTOR.plan(declared[2:], observed, CTX).refusals == ()  # the server's own FQDN, when the connector has none


def test_settings_of_an_object_another_change_makes_anew_are_set_after_it_on_exchanges_defaults():
    made = Change("edge01/edge_subscription/Site", "edge01", "edge_subscription", "Site", "", "create", (), "r",
                  makes=(("send_connector", "EdgeSync - Site to Internet"), ("receive_connector", "Other")))
    declared = (Desired("send_connector", "edgesync*", (DesiredValue("protocol_logging_level", "Verbose", A),), A),
                Desired("send_connector", "Outbound", (DesiredValue("protocol_logging_level", "Verbose", B),), B))
    observed = (ObservedObject("send_connector", "EDGESYNC - site to internet", "g-old", {"Name": "EDGESYNC - site to internet", "ProtocolLoggingLevel": "Verbose"}),
                ObservedObject("send_connector", "Outbound", "g-out", {"Name": "Outbound", "ProtocolLoggingLevel": "None"}))
    org = PlanContext("ex01", CTX.facts, "the organisation", planned=(made,))
    result = SEND_CONNECTOR.plan(declared, observed, org)
    before = "(made again by edge_subscription 'Site': Exchange's default)"
    assert result.changes == (
        Change("ex01/send_connector/EdgeSync - Site to Internet", "ex01", "send_connector", "EdgeSync - Site to Internet", "EdgeSync - Site to Internet",
               "update", (PropertyChange("protocol_logging_level", "ProtocolLoggingLevel", before, "Verbose", "Verbose", A),),
               "declared in group_vars/all.yaml:3; set again after edge_subscription 'Site' makes it", after=("edge01/edge_subscription/Site",)),
        Change("ex01/send_connector/Outbound", "ex01", "send_connector", "Outbound", "g-out", "update",
               (PropertyChange("protocol_logging_level", "ProtocolLoggingLevel", "None", "Verbose", "Verbose", B),), "declared in host_vars/ex01.yaml:7"),
    )
    assert result.findings == (
        Finding("ex01", "send_connector", "EdgeSync - Site to Internet", FindingStatus.CHANGE, A,
                (FindingProperty("protocol_logging_level", "Verbose", "(made again by edge_subscription 'Site')", A),)),
        Finding("ex01", "send_connector", "Outbound", FindingStatus.CHANGE, B, (FindingProperty("protocol_logging_level", "Verbose", "None", B),)),
    )
    assert [c.name for c in SEND_CONNECTOR.plan(declared, observed, replace(org, planned=())).changes] == ["Outbound"]  # not made again: in sync
    follows = replace(SEND_CONNECTOR, follows=lambda change, ctx: ("edge01/edge_subscription/Site", "x"))
    assert [c.after for c in follows.plan(declared, observed, org).changes] == [("edge01/edge_subscription/Site", "x"), ("edge01/edge_subscription/Site", "x")]
    unseen = replace(SEND_CONNECTOR, sees_planned=False)
    assert [c.name for c in unseen.plan(declared, observed, org).changes] == ["Outbound"]


def test_a_kind_only_mailbox_servers_have_skips_its_certificate_read_on_an_edge():
    assert [(s.id, s.cmdlet, s.params, s.skip_on_edge) for s in SEND_CONNECTOR.read_steps("r:")] == [
        ("r:send_connector", "Get-SendConnector", {}, True), ("r:send_connector:certificates", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER}, True)]
