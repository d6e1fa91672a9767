"""The simulated Exchange cmdlets: defaults per role, identities, Edge rules, formats, faults."""

from pathlib import Path

import pytest

from exconf.lab.exchange.store import ConsoleError, LabStore

DATA = Path(__file__).parent / "data"


@pytest.fixture
def store(tmp_path):
    return LabStore(DATA / "org.yaml", tmp_path / "state.json")


def run(store, server, cmdlet, **params):
    return store.exec_console(server, cmdlet, params)


def warned(store, server, cmdlet, **params):
    warnings: list[str] = []
    store.exec_console(server, cmdlet, params, warnings)
    return warnings


def fail(store, server, cmdlet, **params):
    with pytest.raises(ConsoleError) as err:
        store.exec_console(server, cmdlet, params)
    return err.value.record


def remote_fail(store, server, cmdlet, **params):
    """The error exconf's remote program would see (faults apply, binding ids name the .NET type)."""
    from exconf.lab.exchange.errors import CmdletError

    with pytest.raises(CmdletError) as err:
        store.invoke(store.server(server), cmdlet, list(params.items()), remote=True)
    return err.value


# --- receive connectors ------------------------------------------------------------------------------


def test_mailbox_default_receive_connectors(store):
    rcs = {c["Name"]: c for c in run(store, "EX01", "Get-ReceiveConnector", Server="EX01")}
    assert set(rcs) == {"Default EX01", "Client Proxy EX01", "Default Frontend EX01", "Outbound Proxy Frontend EX01",
                        "Client Frontend EX01"}
    # cmdlets.md §4: transport role, port, auth, permission groups, protocol log
    expected = {
        "Default Frontend EX01": ("FrontendTransport", "25", "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
                                  "AnonymousUsers, ExchangeServers, ExchangeLegacyServers", "Verbose"),
        "Client Frontend EX01": ("FrontendTransport", "587", "Tls, Integrated, BasicAuth, BasicAuthRequireTLS",
                                 "ExchangeUsers", "None"),
        "Outbound Proxy Frontend EX01": ("FrontendTransport", "717", "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
                                         "ExchangeServers", "None"),
        "Default EX01": ("HubTransport", "2525", "Tls, Integrated, BasicAuth, ExchangeServer",
                         "ExchangeUsers, ExchangeServers, ExchangeLegacyServers", "None"),
        "Client Proxy EX01": ("HubTransport", "465", "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
                              "ExchangeUsers, ExchangeServers", "None"),
    }
    for name, (role, port, auth, groups, logging) in expected.items():
        rc = rcs[name]
        assert (rc["TransportRole"], rc["AuthMechanism"], rc["PermissionGroups"], rc["ProtocolLoggingLevel"]) == (
            role, auth, groups, logging)
        assert sorted(rc["Bindings"]) == sorted([f"0.0.0.0:{port}", f"[::]:{port}"])
        assert rc["Identity"] == f"EX01\\{name}" and rc["Server"] == "EX01"
        assert rc["RemoteIPRanges"] == ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "0.0.0.0-255.255.255.255"]
        assert rc["MaxMessageSize"] == "36 MB (37,748,736 bytes)"
        assert rc["Fqdn"] == "ex01.contoso.lab"


def test_edge_has_its_one_default_receive_connector(store):
    [rc] = run(store, "EDGE01", "Get-ReceiveConnector")
    assert rc["Identity"] == "EDGE01\\Default internal receive connector EDGE01"
    assert rc["Bindings"] == ["0.0.0.0:25"]
    assert rc["AuthMechanism"] == "Tls, ExchangeServer"
    assert rc["PermissionGroups"] == "AnonymousUsers, ExchangeServers, Partners"
    assert rc["Fqdn"] == "edge01.dmz.contoso.lab"


def test_mailbox_lists_the_receive_connectors_of_every_mailbox_server(store):
    servers = {c["Server"] for c in run(store, "EX01", "Get-ReceiveConnector")}
    assert servers == {"EX01", "EX02", "EX03"}  # never an Edge's: EdgeSync does not replicate them
    assert {c["Server"] for c in run(store, "EX01", "Get-ReceiveConnector", Server="ex02.contoso.lab")} == {"EX02"}
    err = fail(store, "EX01", "Get-ReceiveConnector", Server="EX09")
    assert err.message == 'Exchange server "EX09" was not found. Please make sure you typed the name correctly.'
    assert (err.exception, err.category) == ("ManagementObjectNotFoundException", "1003")
    err = fail(store, "EX01", "Get-ReceiveConnector", Server="EX0*")
    assert err.message == "The value you specified, 'EX0*', matches more than one Exchange server. Specify a unique value."


def test_receive_connector_identities(store):
    [by_path] = run(store, "EX01", "Get-ReceiveConnector", Identity="ex02\\client proxy ex02")
    [by_guid] = run(store, "EX01", "Get-ReceiveConnector", Identity=by_path["Guid"])
    [by_name] = run(store, "EX02", "Get-ReceiveConnector", Identity="Client Proxy EX02")
    assert by_path["Identity"] == by_guid["Identity"] == by_name["Identity"] == "EX02\\Client Proxy EX02"
    wild = run(store, "EX01", "Get-ReceiveConnector", Identity="EX01\\*Frontend*")
    assert {c["Name"] for c in wild} == {"Default Frontend EX01", "Client Frontend EX01", "Outbound Proxy Frontend EX01"}


def test_a_bare_name_means_the_local_server(store):
    err = fail(store, "EX01", "Get-ReceiveConnector", Identity="Client Proxy EX02")
    assert err.message == (
        "The operation couldn't be performed because object 'ex01.contoso.lab\\Client Proxy EX02' couldn't be found "
        "on 'DC01.contoso.lab'."
    )
    assert (err.exception, err.category) == ("ManagementObjectNotFoundException", "1003")
    assert err.error_id.startswith("[Server=EX01,RequestId=")
    assert "[FailureCategory=Cmdlet-ManagementObjectNotFoundException]" in err.error_id
    assert err.error_id.endswith(",Microsoft.Exchange.Management.SystemConfigurationTasks.GetReceiveConnector")


def test_set_receive_connector_changes_it_and_a_repeat_is_a_no_op_with_exchanges_warning(store):
    ident = "EX01\\Default EX01"
    assert warned(store, "EX01", "Set-ReceiveConnector", Identity=ident, ProtocolLoggingLevel="Verbose") == []
    [rc] = run(store, "EX01", "Get-ReceiveConnector", Identity=ident)
    assert rc["ProtocolLoggingLevel"] == "Verbose"
    assert warned(store, "EX01", "Set-ReceiveConnector", Identity=ident, ProtocolLoggingLevel="verbose") == [
        "The command completed successfully but no settings of 'EX01\\Default EX01' have been modified."
    ]


def test_what_if_changes_nothing(store):
    run(store, "EX01", "Set-ReceiveConnector", Identity="EX01\\Default EX01", ProtocolLoggingLevel="Verbose", WhatIf=True)
    assert run(store, "EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")[0]["ProtocolLoggingLevel"] == "None"


def test_receive_connector_rules(store):
    err = fail(store, "EX01", "Set-ReceiveConnector", Identity="EX01\\Client Frontend EX01", RequireTLS=True,
               AuthMechanism="Integrated")
    assert err.message == "If RequireTLS is set, TLS must also be set as an authentication mechanism. Property Name: SecurityFlags"
    assert err.exception == "DataValidationException"
    err = fail(store, "EDGE01", "Set-ReceiveConnector", Identity="Default internal receive connector EDGE01",
               TransportRole="HubTransport")
    assert err.message == "A parameter was specified that isn't valid on an Edge Transport server."
    err = fail(store, "EDGE01", "Set-ReceiveConnector", Identity="Default internal receive connector EDGE01",
               PermissionGroups="ExchangeLegacyServers,ExchangeServers")
    assert err.exception == "UnSupportedPermissionGroupsForEdgeException"
    # a failed Set leaves the connector as it was
    [rc] = run(store, "EX01", "Get-ReceiveConnector", Identity="EX01\\Client Frontend EX01")
    assert rc["RequireTLS"] is False and rc["AuthMechanism"] == "Tls, Integrated, BasicAuth, BasicAuthRequireTLS"


def test_receive_connectors_on_a_subscribed_edge_stay_editable(store):
    ident = "EDGE01\\Default internal receive connector EDGE01"
    run(store, "EDGE01", "Set-ReceiveConnector", Identity=ident, ProtocolLoggingLevel="Verbose", DomainSecureEnabled=True)
    [rc] = run(store, "EDGE01", "Get-ReceiveConnector", Identity=ident)
    assert (rc["ProtocolLoggingLevel"], rc["DomainSecureEnabled"]) == ("Verbose", True)


def test_rename_to_an_existing_name_fails(store):
    err = fail(store, "EX01", "Set-ReceiveConnector", Identity="EX01\\Default EX01", Name="Client Proxy EX01")
    assert "already exists" in err.message


# --- send connectors -------------------------------------------------------------------------------


def test_edgesync_connectors_exist_for_the_subscribed_site(store):
    connectors = {c["Name"]: c for c in run(store, "EX01", "Get-SendConnector")}
    assert set(connectors) == {"EdgeSync - Amsterdam to Internet", "EdgeSync - Inbound to Amsterdam", "Outbound to Fabrikam"}
    internet, inbound = connectors["EdgeSync - Amsterdam to Internet"], connectors["EdgeSync - Inbound to Amsterdam"]
    assert (internet["AddressSpaces"], internet["SourceTransportServers"], internet["DNSRoutingEnabled"],
            internet["DomainSecureEnabled"]) == (["SMTP:*;100"], ["EDGE01"], True, True)
    assert (inbound["AddressSpaces"], inbound["SmartHosts"], inbound["DNSRoutingEnabled"]) == (["SMTP:--;1"], ["--"], False)
    assert internet["Identity"] == internet["Name"] and internet["MaxMessageSize"] == "35 MB (36,700,160 bytes)"


def test_send_connector_wildcards_and_guid(store):
    found = run(store, "EX01", "Get-SendConnector", Identity="EdgeSync - Amsterdam*")
    assert {c["Name"] for c in found} == {"EdgeSync - Amsterdam to Internet"}
    [same] = run(store, "EX01", "Get-SendConnector", Identity=found[0]["Guid"])
    assert same["Name"] == "EdgeSync - Amsterdam to Internet"


def test_send_connector_identity_may_name_the_server(store):
    # "You can also include the server name by using the format ServerName\\ConnectorName" [Get-SendConnector.md]
    [c] = run(store, "EX01", "Get-SendConnector", Identity="EX01\\Outbound to Fabrikam")
    assert c["Name"] == "Outbound to Fabrikam"
    run(store, "EX01", "Set-SendConnector", Identity="ex02.contoso.lab\\Outbound to Fabrikam", Port=2525)
    assert run(store, "EX01", "Get-SendConnector", Identity="Outbound to Fabrikam")[0]["Port"] == 2525
    err = fail(store, "EX01", "Get-SendConnector", Identity="EX09\\Outbound to Fabrikam")
    assert err.exception == "ManagementObjectNotFoundException"


def test_address_spaces_keep_the_type_as_typed(store):
    # AddressSpace keeps its type's case and prints "{type}:{space};{cost}" (AddressSpace.cs)
    run(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", AddressSpaces=["smtp:*;1", "tailspin.com"])
    [c] = run(store, "EX01", "Get-SendConnector", Identity="Outbound to Fabrikam")
    assert c["AddressSpaces"] == ["smtp:*;1", "smtp:tailspin.com;1"]


def test_a_send_connector_identity_that_matches_nothing(store):
    err = fail(store, "EX01", "Get-SendConnector", Identity="Nothing")
    assert err.message == "The operation couldn't be performed because object 'Nothing' couldn't be found on 'DC01.contoso.lab'."
    # Exchange's Get tasks write the same error when a wildcard finds nothing (GetObjectWithIdentityTaskBase).
    assert fail(store, "EX01", "Get-SendConnector", Identity="Nothing*").exception == "ManagementObjectNotFoundException"


def test_set_send_connector_on_mailbox_is_seen_by_the_subscribed_edge(store):
    run(store, "EX02", "Set-SendConnector", Identity="EdgeSync - Amsterdam to Internet", ProtocolLoggingLevel="Verbose")
    on_edge = {c["Name"]: c for c in run(store, "EDGE01", "Get-SendConnector")}
    # The Edge holds replicas of the connectors it is a source of, and only those.
    assert set(on_edge) == {"EdgeSync - Amsterdam to Internet", "EdgeSync - Inbound to Amsterdam"}
    assert on_edge["EdgeSync - Amsterdam to Internet"]["ProtocolLoggingLevel"] == "Verbose"
    assert on_edge["EdgeSync - Amsterdam to Internet"]["DistinguishedName"].endswith(
        "CN=First Organization,CN=Microsoft Exchange,CN=Services,CN=Configuration,CN={"
        + on_edge["EdgeSync - Amsterdam to Internet"]["DistinguishedName"].split("CN={")[1])


def test_a_subscribed_edge_refuses_send_connector_changes(store):
    err = fail(store, "EDGE01", "Set-SendConnector", Identity="EdgeSync - Amsterdam to Internet", ProtocolLoggingLevel="Verbose")
    assert err.message.startswith("You can't run this task on an Edge Transport server that is subscribed to an Active "
                                  "Directory site.")
    assert (err.exception, err.category) == ("CannotRunOnSubscribedEdgeException", "InvalidOperation")
    assert run(store, "EX01", "Get-SendConnector", Identity="EdgeSync - Amsterdam to Internet")[0]["ProtocolLoggingLevel"] == "None"


def test_an_unsubscribed_edge_manages_its_own_send_connectors(store):
    [own] = run(store, "EDGE02", "Get-SendConnector")
    assert own["Name"] == "Internet" and own["SourceTransportServers"] == []
    run(store, "EDGE02", "Set-SendConnector", Identity="Internet", ProtocolLoggingLevel="Verbose", MaxMessageSize="unlimited")
    [own] = run(store, "EDGE02", "Get-SendConnector")
    assert (own["ProtocolLoggingLevel"], own["MaxMessageSize"]) == ("Verbose", "Unlimited")
    err = fail(store, "EDGE02", "Set-SendConnector", Identity="Internet", SourceTransportServers="EDGE02")
    assert err.message == "You can't specify a value for the SourceTransportServers parameter for Send connectors configured on Edge Transport servers."


def test_send_connector_rules(store):
    err = fail(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", RequireTLS=True, IgnoreSTARTTLS=True)
    assert err.message == "RequireTLS and IgnoreTLS can't both be set."
    err = fail(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", TlsAuthLevel="DomainValidation")
    assert err.message.startswith("The TLSAuthLevel parameter can't be set if the RequireTLS parameter is set to $false.")
    err = fail(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", SmartHosts="relay.contoso.lab")
    assert err.message == "You must not set the DNSRoutingEnabled parameter to $true if smart hosts are used."
    run(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", SmartHosts=["relay.contoso.lab", "192.0.2.7"],
        DNSRoutingEnabled=False)
    [c] = run(store, "EX01", "Get-SendConnector", Identity="Outbound to Fabrikam")
    assert (c["SmartHosts"], c["SmartHostsString"]) == (["relay.contoso.lab", "[192.0.2.7]"], "relay.contoso.lab,[192.0.2.7]")
    run(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", DNSRoutingEnabled=True)
    assert run(store, "EX01", "Get-SendConnector", Identity="Outbound to Fabrikam")[0]["SmartHosts"] == []


def test_source_transport_servers_resolve_to_server_names(store):
    run(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", SourceTransportServers=["ex03.contoso.lab", "EX01"])
    [c] = run(store, "EX01", "Get-SendConnector", Identity="Outbound to Fabrikam")
    assert c["SourceTransportServers"] == ["EX03", "EX01"] and c["HomeMtaServerId"] == "EX03"
    err = fail(store, "EX01", "Set-SendConnector", Identity="Outbound to Fabrikam", SourceTransportServers="EX09")
    assert err.message == 'Exchange server "EX09" was not found. Please make sure you typed the name correctly.'


def test_the_edgesync_inbound_connector_needs_force_to_change_its_address_spaces(store):
    ident = "EdgeSync - Inbound to Amsterdam"
    err = fail(store, "EX01", "Set-SendConnector", Identity=ident, AddressSpaces="contoso.lab")
    assert err.message == "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."


# --- transport services -------------------------------------------------------------------------------


def test_transport_service_defaults_and_formats(store):
    [mbx] = run(store, "EX01", "Get-TransportService", Identity="EX01")
    [edge] = run(store, "EDGE01", "Get-TransportService")
    assert mbx["IntraOrgConnectorProtocolLoggingLevel"] == "None"
    assert mbx["SendProtocolLogPath"] == r"C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\Logs\Hub\ProtocolLog\SmtpSend"
    assert edge["ReceiveProtocolLogPath"] == r"C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\Logs\Edge\ProtocolLog\SmtpReceive"
    assert mbx["SendProtocolLogMaxAge"] == "30.00:00:00"
    assert mbx["SendProtocolLogMaxDirectorySize"] == "250 MB (262,144,000 bytes)"
    assert mbx["SendProtocolLogMaxFileSize"] == "10 MB (10,485,760 bytes)"
    assert mbx["ExternalDNSProtocolOption"] == "Any"
    assert (mbx["AntispamAgentsEnabled"], edge["AntispamAgentsEnabled"]) == (False, True)


def test_frontend_transport_service_defaults_to_verbose(store):
    services = run(store, "EX01", "Get-FrontendTransportService")
    assert [s["Name"] for s in services] == ["EX01", "EX02", "EX03"]
    assert {s["IntraOrgConnectorProtocolLoggingLevel"] for s in services} == {"Verbose"}
    assert services[0]["ReceiveProtocolLogPath"].endswith(r"\Logs\FrontEnd\ProtocolLog\SmtpReceive")


def test_frontend_cmdlets_do_not_exist_on_edge(store):
    err = fail(store, "EDGE01", "Get-FrontendTransportService")
    assert err.message == (
        "The term 'Get-FrontendTransportService' is not recognized as the name of a cmdlet, function, script file, or "
        "operable program. Check the spelling of the name, or if a path was included, verify that the path is correct "
        "and try again."
    )
    assert (err.error_id, err.category, err.exception) == ("CommandNotFoundException", "ObjectNotFound", "CommandNotFoundException")


@pytest.mark.parametrize(
    "given, printed",
    [("7.00:00:00", "7.00:00:00"), ("12:00:00", "12:00:00"), ("00:00:00", "00:00:00"), ("24855.03:14:07", "24855.03:14:07")],
)
def test_log_age_round_trips(store, given, printed):
    run(store, "EX01", "Set-TransportService", Identity="EX01", ReceiveProtocolLogMaxAge=given)
    assert run(store, "EX01", "Get-TransportService", Identity="EX01")[0]["ReceiveProtocolLogMaxAge"] == printed


@pytest.mark.parametrize(
    "given, printed",
    [("250MB", "250 MB (262,144,000 bytes)"), ("250 MB", "250 MB (262,144,000 bytes)"),
     ("262144000", "250 MB (262,144,000 bytes)"), ("unlimited", "Unlimited"), ("1GB", "1 GB (1,073,741,824 bytes)")],
)
def test_log_directory_size_round_trips(store, given, printed):
    run(store, "EX01", "Set-FrontendTransportService", Identity="EX01", SendProtocolLogMaxDirectorySize=given)
    assert run(store, "EX01", "Get-FrontendTransportService", Identity="EX01")[0]["SendProtocolLogMaxDirectorySize"] == printed


@pytest.mark.parametrize("cmdlet", ["Set-TransportService", "Set-FrontendTransportService"])
def test_protocol_log_sizes_stop_at_the_documented_909_5_tb(store, cmdlet):
    run(store, "EX01", cmdlet, Identity="EX01", ReceiveProtocolLogMaxDirectorySize="999999999999999")
    err = fail(store, "EX01", cmdlet, Identity="EX01", ReceiveProtocolLogMaxDirectorySize="1000TB")
    assert err.message == (
        "Cannot bind parameter 'ReceiveProtocolLogMaxDirectorySize' to the target. Exception setting "
        '"ReceiveProtocolLogMaxDirectorySize": "The property, (1000 TB (1,099,511,627,776,000 bytes)), is out of range. '
        'The valid range is from 1 B (1 bytes) to 909.5 TB (999,999,999,999,999 bytes)."'
    )


def test_transport_config_defaults_of_exchange_2019(store):
    [config] = run(store, "EX01", "Get-TransportConfig")
    assert config["AgentGeneratedMessageLoopDetectionInSmtpEnabled"] is False
    assert config["AgentGeneratedMessageLoopDetectionInSubmissionEnabled"] is False
    assert config["DSNConversionMode"] == "PreserveDSNBody"


def test_log_directory_must_hold_a_log_file(store):
    err = fail(store, "EX01", "Set-TransportService", Identity="EX01", SendProtocolLogMaxDirectorySize="5MB")
    assert err.message == ("The maximum file size for SMTP send protocol logs should be less than the maximum directory "
                           "size. Property Name: SendProtocolLogMaxFileSize")


def test_set_transport_service_by_local_computer_name_on_edge(store):
    run(store, "EDGE01", "Set-TransportService", Identity="EDGE01", IntraOrgConnectorProtocolLoggingLevel="Verbose")
    assert run(store, "EDGE01", "Get-TransportService")[0]["IntraOrgConnectorProtocolLoggingLevel"] == "Verbose"
    err = fail(store, "EDGE01", "Set-TransportService", Identity="EDGE01", UseDowngradedExchangeServerAuth=True)
    assert err.message == "You can't use the UseDowngradedExchangeServerAuth parameter on an Edge Transport server."


# --- transport config --------------------------------------------------------------------------------


def test_domain_secure_lists_replace_and_clear(store):
    assert run(store, "EX01", "Get-TransportConfig")[0]["TLSSendDomainSecureList"] == ["fabrikam.com"]
    run(store, "EX01", "Set-TransportConfig", TLSSendDomainSecureList=["woodgrove.com", "contoso.com"])
    assert run(store, "EX01", "Get-TransportConfig")[0]["TLSSendDomainSecureList"] == ["woodgrove.com", "contoso.com"]
    run(store, "EX01", "Set-TransportConfig", TLSSendDomainSecureList=None)
    assert run(store, "EX01", "Get-TransportConfig")[0]["TLSSendDomainSecureList"] == []
    err = fail(store, "EX01", "Set-TransportConfig", TLSReceiveDomainSecureList="*.fabrikam.com")
    assert "isn't a valid SMTP domain." in err.message  # no wildcards


def test_edgesync_copies_the_lists_to_a_subscribed_edge_which_refuses_to_change_them(store):
    run(store, "EX01", "Set-TransportConfig", TLSReceiveDomainSecureList="fabrikam.com", InternalSMTPServers="10.0.0.0/8")
    [edge] = run(store, "EDGE01", "Get-TransportConfig")
    assert (edge["TLSReceiveDomainSecureList"], edge["InternalSMTPServers"]) == (["fabrikam.com"], ["10.0.0.0/8"])
    err = fail(store, "EDGE01", "Set-TransportConfig", TLSSendDomainSecureList="woodgrove.com")
    assert err.message.startswith("You can't configure the 'TLSSendDomainSecureList' property on a subscribed Edge")
    # ... but an Edge that is not subscribed keeps its own copy
    run(store, "EDGE02", "Set-TransportConfig", TLSSendDomainSecureList="woodgrove.com")
    assert run(store, "EDGE02", "Get-TransportConfig")[0]["TLSSendDomainSecureList"] == ["woodgrove.com"]
    assert run(store, "EX01", "Get-TransportConfig")[0]["TLSSendDomainSecureList"] == ["fabrikam.com"]


# --- Get-ExchangeServer -------------------------------------------------------------------------------


def test_exchange_server_views(store):
    org = {s["Name"]: s for s in run(store, "EX01", "Get-ExchangeServer")}
    assert set(org) == {"EX01", "EX02", "EX03", "EDGE01"}  # EDGE02 is not subscribed, so not in AD
    ex01 = org["EX01"]
    assert ex01["AdminDisplayVersion"] == "Version 15.2 (Build 1544.4)"
    assert org["EX03"]["AdminDisplayVersion"] == "Version 15.1 (Build 2507.6)"
    assert ex01["Site"] == "contoso.lab/Configuration/Sites/Amsterdam"
    assert (ex01["ServerRole"], ex01["IsMailboxServer"], ex01["IsEdgeServer"], ex01["IsHubTransportServer"]) == (
        "Mailbox", True, False, True)
    assert ex01["Fqdn"] == "ex01.contoso.lab"
    [edge] = run(store, "EDGE01", "Get-ExchangeServer")
    assert (edge["Name"], edge["ServerRole"], edge["IsEdgeServer"], edge["IsFrontendTransportServer"]) == (
        "EDGE01", "Edge", True, False)
    [same] = run(store, "EDGE01", "Get-ExchangeServer", Identity="edge01.dmz.contoso.lab")
    assert same["Guid"] == edge["Guid"]
    assert fail(store, "EDGE01", "Get-ExchangeServer", Identity="EX01").message.endswith("couldn't be found on 'localhost'.")


# --- injected faults ------------------------------------------------------------------------------------


def test_an_injected_fault_fails_the_given_number_of_times(store):
    err = remote_fail(store, "EDGE02", "Set-ReceiveConnector", Identity="Default internal receive connector EDGE02",
                      ProtocolLoggingLevel="Verbose")
    assert (err.message, err.exception) == ("The Active Directory server is busy.", "InvalidOperationException")
    outcome = store.invoke(store.server("EDGE02"), "Set-ReceiveConnector",
                           [("Identity", "Default internal receive connector EDGE02"), ("ProtocolLoggingLevel", "Verbose")],
                           remote=True)
    assert outcome.changed


def test_an_injected_fault_without_times_always_fails(store):
    for _ in range(3):
        err = remote_fail(store, "EDGE02", "Get-TransportConfig")
        assert (err.message, err.exception) == ("AD LDS is not running.", "ADTransientException")


def test_binding_errors_come_before_injected_faults_and_the_console_is_not_faulted(store):
    assert remote_fail(store, "EDGE02", "Get-TransportConfig", Bogus=1).exception == "ParameterBindingException"
    assert run(store, "EDGE02", "Get-TransportConfig")[0]["Name"] == "Transport Settings"


def test_remote_binding_errors_name_the_cmdlets_dotnet_type(store):
    err = remote_fail(store, "EX01", "Set-SendConnector", Identity="x", Bogus=1)
    assert err.error_id == "NamedParameterNotFound,Microsoft.Exchange.Management.SystemConfigurationTasks.SetSendConnector"
    # the console of a Mailbox server is remote PowerShell: its proxy functions name the cmdlet
    assert fail(store, "EX01", "Set-SendConnector", Identity="x", Bogus=1).error_id == "NamedParameterNotFound,Set-SendConnector"


def test_a_subscribed_edge_keeps_its_own_transport_settings(store):
    run(store, "EDGE01", "Set-TransportConfig", ExternalPostmasterAddress="postmaster@contoso.lab")
    [edge] = run(store, "EDGE01", "Get-TransportConfig")
    assert edge["ExternalPostmasterAddress"] == "postmaster@contoso.lab"
    assert run(store, "EX01", "Get-TransportConfig")[0]["ExternalPostmasterAddress"] is None


def test_diagnostics_aggregation_port_takes_any_int32(store):
    # No range documented; SetTransportConfig declares a plain Int32 parameter and the schema's
    # ConfigXmlProperty has no constraint (decompiled Exchange 2013), so only Int32 limits it.
    run(store, "EX01", "Set-TransportConfig", DiagnosticsAggregationServicePort=70000)
    assert run(store, "EX01", "Get-TransportConfig")[0]["DiagnosticsAggregationServicePort"] == 70000
    err = fail(store, "EX01", "Set-TransportConfig", DiagnosticsAggregationServicePort=2**31)
    assert "Value was either too large or too small for an Int32." in err.message
