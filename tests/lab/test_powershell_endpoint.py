"""A lab Mailbox server's /PowerShell (configuration Microsoft.Exchange), driven by stock pypsrp.

What a client of Exchange's remote PowerShell meets: a NoLanguage runspace, RBAC by role group,
deserialised property bags, certificates as RawData + SerializationData, the admin audit log, and
per-endpoint counts in `lab stats`."""

from __future__ import annotations

import hashlib

import pytest
from pypsrp.complex_objects import ObjectMeta
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from exconf.remote import clixml, nrbf
from exconf.remote.certificate_data import decode

from integration.conftest import IIS_HTTP_PORT, PASSWORD, door, make_lab  # noqa: F401  (door and make_lab are fixtures)

VIEWER = "Lab-Viewer-1"
SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam", "certificate_serialization": "none"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "subscribed": True},
]
ACCOUNTS = [
    {"user": "exadmin", "password": PASSWORD},
    {"user": "viewer", "password": VIEWER, "role_groups": ["View-Only Organization Management"]},
    {"user": "servers", "password": VIEWER, "role_groups": ["Server Management"]},
    {"user": "nobody", "password": VIEWER, "role_groups": []},
]


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS, accounts=ACCOUNTS)


def pool(lab, server: str = "EX01", user: str = "exadmin", password: str = PASSWORD, **kwargs) -> RunspacePool:
    wsman = WSMan(lab.addresses[server], port=IIS_HTTP_PORT, path="PowerShell", ssl=False, auth="ntlm",
                  username=f"CONTOSO\\{user}", password=password, **kwargs)
    return RunspacePool(wsman, configuration_name="Microsoft.Exchange")


def run(rp: RunspacePool, *statements: tuple[str, dict]) -> PowerShell:
    ps = PowerShell(rp)
    for i, (cmdlet, params) in enumerate(statements):
        ps.add_cmdlet(cmdlet)
        for name, value in params.items():
            ps.add_parameter(name, value)
        if i < len(statements) - 1:
            ps.add_statement()
    ps.invoke()
    return ps


def obj(output) -> clixml.PSObj:
    return clixml.parse(output._xml)


def test_stock_pypsrp_reads_deserialized_property_bags(lab):
    with pool(lab) as rp:
        ps = run(rp, ("Get-ExchangeServer", {"Identity": "ex01.contoso.lab"}))
    assert not ps.had_errors
    (server,) = [obj(o) for o in ps.output]
    assert server.types[0] == "Deserialized.Microsoft.Exchange.Data.Directory.Management.ExchangeServer"
    assert server.to_string == "EX01"
    # Exchange-typed values travel as strings, booleans stay typed, session notes are extended properties
    assert clixml.select(server, ("Name", "ServerRole", "AdminDisplayVersion", "Site", "IsEdgeServer", "PSComputerName")) == {
        "Name": "EX01", "ServerRole": "Mailbox", "AdminDisplayVersion": "Version 15.2 (Build 1544.4)",
        "Site": "contoso.lab/Configuration/Sites/Amsterdam", "IsEdgeServer": False, "PSComputerName": "ex01.contoso.lab",
    }


def test_statements_of_one_pipeline_run_in_turn_and_measure_object_separates_them(lab):
    with pool(lab) as rp:
        ps = run(rp, ("Get-TransportService", {"Identity": "EX01"}), ("Measure-Object", {}),
                 ("Get-ReceiveConnector", {"Server": "EX01"}), ("Measure-Object", {}))
    kinds = [obj(o).type_names()[0].rsplit(".", 1)[-1] for o in ps.output]
    assert kinds[0] == "TransportServer" and kinds[1] == "GenericMeasureInfo"
    assert kinds[-1] == "GenericMeasureInfo" and set(kinds[2:-1]) == {"ReceiveConnector"} and len(kinds[2:-1]) == 5


def test_no_language_refuses_a_script_with_powershells_own_error(lab):
    with pool(lab) as rp:
        ps = PowerShell(rp)
        ps.add_script("Get-ExchangeServer | ForEach-Object { $_.Name }")
        ps.invoke()
    assert ps.state == 5  # Failed
    (error,) = ps.streams.error
    assert str(error) == ("The syntax is not supported by this runspace. This can occur if the runspace is in "
                          "no-language mode.")
    assert error.fq_error == "ScriptsNotAllowed" and error.reason == "ParseException"


def test_unknown_cmdlet_and_unknown_parameter_fail_as_powershell_fails_them(lab):
    with pool(lab) as rp:
        missing = run(rp, ("Get-Mailboxx", {}))
        bad = run(rp, ("Get-ReceiveConnector", {"Bogus": 1}))
        batch = run(rp, ("Remove-Item", {"Path": "C:\\"}), ("Get-ExchangeServer", {"Identity": "EX01"}))
    assert str(missing.streams.error[0]).startswith("The term 'Get-Mailboxx' is not recognized as the name of a cmdlet")
    assert missing.streams.error[0].reason == "CommandNotFoundException" and missing.state == 5
    assert str(bad.streams.error[0]) == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert bad.streams.error[0].fq_error == \
        "NamedParameterNotFound,Microsoft.Exchange.Management.SystemConfigurationTasks.GetReceiveConnector"
    # in a batch the statement after a command that is not found still runs (PowerShell's batch rules)
    assert batch.state == 4 and len(batch.output) == 1
    assert batch.streams.error[0].target_name == "Remove-Item"


def test_an_exchange_task_error_is_non_terminating_so_error_action_stop_ends_the_batch(lab):
    """Exchange's Task.ProcessError writes the errors of its record's work with WriteError (PiratesRE/exchange_diff
    Task.cs); PowerShell's BatchInvocationWorkItem ends a batch on ActionPreferenceStopException only."""
    bad = {"Identity": "EX01\\No Such Connector", "ProtocolLoggingLevel": "Verbose"}
    good = {"Identity": "EX01", "IntraOrgConnectorProtocolLoggingLevel": "Verbose"}
    with pool(lab) as rp:
        alone = run(rp, ("Set-ReceiveConnector", bad))
        going_on = run(rp, ("Set-ReceiveConnector", bad), ("Set-TransportService", good))
        stopped = run(rp, ("Set-ReceiveConnector", {**bad, "ErrorAction": "Stop"}),
                      ("Set-FrontendTransportService", {"Identity": "EX01", "ReceiveProtocolLogMaxAge": "9.00:00:00", "ErrorAction": "Stop"}))
        binding = run(rp, ("Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "Bogus": 1, "ErrorAction": "Stop"}),
                      ("Get-ExchangeServer", {"Identity": "EX01", "ErrorAction": "Stop"}))
    # without -ErrorAction Stop the error is written and the pipeline completes
    assert alone.state == 4 and alone.streams.error[0].reason == "ManagementObjectNotFoundException"
    assert going_on.state == 4 and len(going_on.streams.error) == 1
    # with it, the pipeline fails with that error and the next statement never runs
    assert stopped.state == 5 and stopped.streams.error[-1].reason == "ManagementObjectNotFoundException"
    front = lab.exec("EX01", "Get-FrontendTransportService", Identity="EX01")[0]
    assert front["ReceiveProtocolLogMaxAge"] != "9.00:00:00"
    transport = lab.exec("EX01", "Get-TransportService", Identity="EX01")[0]
    assert transport["IntraOrgConnectorProtocolLoggingLevel"] == "Verbose"  # the statement after the error ran
    # a parameter that does not bind is terminating: under -ErrorAction Stop too, the next statement runs
    assert binding.state == 4 and binding.streams.error[0].reason == "ParameterBindingException" and len(binding.output) == 1


def test_rbac_view_only_reads_but_does_not_find_the_set_cmdlets(lab):
    with pool(lab, user="viewer", password=VIEWER) as rp:
        read = run(rp, ("Get-SendConnector", {}))
        change = run(rp, ("Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"}))
        audit = run(rp, ("Search-AdminAuditLog", {}))
    assert not read.had_errors and read.output
    # a cmdlet outside the caller's roles is not in the session at all
    assert str(change.streams.error[0]).startswith("The term 'Set-ReceiveConnector' is not recognized")
    assert str(audit.streams.error[0]).startswith("The term 'Search-AdminAuditLog' is not recognized")
    (level,) = lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    assert level["ProtocolLoggingLevel"] == "None"  # unchanged: the Set never ran


def test_rbac_server_management_changes_receive_connectors_not_send_connectors(lab):
    with pool(lab, user="servers", password=VIEWER) as rp:
        receive = run(rp, ("Set-ReceiveConnector", {"Identity": "EX01\\Client Frontend EX01", "ProtocolLoggingLevel": "Verbose"}))
        send = run(rp, ("Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet", "ProtocolLoggingLevel": "Verbose"}))
    assert not receive.had_errors
    assert str(send.streams.error[0]).startswith("The term 'Set-SendConnector' is not recognized")


def test_an_account_without_roles_cannot_open_the_session(lab):
    with pytest.raises(WSManFaultError) as raised:
        with pool(lab, user="nobody", password=VIEWER):
            pass
    assert 'The user "contoso.lab/Users/nobody" isn\'t assigned to any management roles.' in str(raised.value)


def test_changes_land_in_the_admin_audit_log_with_the_callers_identity(lab):
    with pool(lab) as rp:
        ps = run(rp, ("Set-ReceiveConnector", {"Identity": "EX01\\Client Frontend EX01", "ProtocolLoggingLevel": "Verbose"}))
    assert not ps.had_errors
    entries = lab.exec("EX01", "Search-AdminAuditLog", Cmdlets=["Set-ReceiveConnector"])
    assert entries[0]["Caller"] == "contoso.lab/Users/exadmin"
    assert entries[0]["ObjectModified"] == "EX01\\Client Frontend EX01"


def test_lab_exec_as_an_account_runs_within_its_roles_and_is_audited_as_it(lab):
    """`exconf lab exec --as ACCOUNT`: what that account's remote PowerShell session would allow."""
    from exconf.lab.exchange.store import ConsoleError

    store = lab.server.store
    with pytest.raises(ConsoleError) as refused:
        store.exec_console("EX01", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"},
                           account="viewer")
    assert "The term 'Set-ReceiveConnector' is not recognized" in str(refused.value)
    assert store.exec_console("EX01", "Get-SendConnector", {}, account="CONTOSO\\viewer")
    with pytest.raises(ConsoleError, match="isn't assigned to any management roles"):
        store.exec_console("EX01", "Get-SendConnector", {}, account="nobody")
    with pytest.raises(ConsoleError, match="cannot log on to EX01"):
        store.exec_console("EX01", "Get-SendConnector", {}, account="CONTOSO\\stranger")
    store.exec_console("EX01", "Set-ReceiveConnector", {"Identity": "EX01\\Client Frontend EX01", "ProtocolLoggingLevel": "Verbose"},
                       account="servers")
    (entry, *_) = lab.exec("EX01", "Search-AdminAuditLog", Cmdlets=["Set-ReceiveConnector"])
    assert entry["Caller"] == "contoso.lab/Users/servers"
    # An Edge has no RBAC: its own local accounts only
    with pytest.raises(ConsoleError, match="cannot log on to EDGE01"):
        store.exec_console("EDGE01", "Get-TransportService", {}, account="exadmin")


def test_typed_values_bytes_secure_string_and_switch(lab):
    from lab.certificate_helpers import PFX_PASSWORD, PublicCA  # a real PKCS#12 from a CA outside the lab

    data, cert_object = PublicCA().pfx("mail.contoso.lab", ["mail.contoso.lab"])
    thumbprint = hashlib.sha1(cert_object.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                                  fromlist=["Encoding"]).Encoding.DER)).hexdigest().upper()
    with pool(lab) as rp:
        rp.exchange_keys()  # PSRP's session key: the password travels encrypted
        ps = PowerShell(rp)
        ps.add_cmdlet("Import-ExchangeCertificate").add_parameter("FileData", data)
        ps.add_parameter("Password", rp.serialize(PFX_PASSWORD, ObjectMeta("SS")))
        ps.add_parameter("Server", "EX01")
        ps.invoke()
        assert not ps.had_errors, [str(e) for e in ps.streams.error]
        enable = run(rp, ("Enable-ExchangeCertificate", {"Thumbprint": thumbprint, "Services": "SMTP", "Force": True}))
    assert not enable.had_errors, [str(e) for e in enable.streams.error]
    (cert,) = [obj(o) for o in ps.output]
    assert clixml.select(decode(cert), ("Thumbprint",)) == {"Thumbprint": thumbprint}
    (stored,) = lab.exec("EX01", "Get-ExchangeCertificate", Thumbprint=thumbprint)
    assert "SMTP" in stored["Services"]


def test_a_certificate_travels_as_rawdata_and_signed_serializationdata(lab):
    with pool(lab) as rp:
        ps = run(rp, ("Get-ExchangeCertificate", {"Server": "EX01"}))
    certs = [obj(o) for o in ps.output]
    assert certs and all(sorted(c.props) == ["PSComputerName", "PSShowComputerName", "RawData", "RunspaceId",
                                              "SerializationData"] for c in certs)
    blob = certs[0].get("SerializationData")
    assert blob.startswith(b"#sig#")
    assert nrbf.parse(blob).class_name.endswith(".ExchangeCertificate")
    console = {c["Thumbprint"]: c for c in lab.exec("EX01", "Get-ExchangeCertificate")}
    for cert in certs:
        seen = clixml.select(decode(cert), ("Thumbprint", "Subject", "Services", "Status"))
        truth = console[seen["Thumbprint"]]
        assert seen["Thumbprint"] == hashlib.sha1(cert.get("RawData")).hexdigest().upper()
        assert (seen["Subject"], seen["Services"], seen["Status"]) == (truth["Subject"], truth["Services"], truth["Status"])


def test_a_server_that_sends_rawdata_only_leaves_the_services_unknown(lab):
    with pool(lab, server="EX02") as rp:
        ps = run(rp, ("Get-ExchangeCertificate", {"Server": "EX02"}))
    for cert in (decode(obj(o)) for o in ps.output):
        assert not cert.has("SerializationData")
        seen = clixml.select(cert, ("Thumbprint", "Subject", "Services"))
        assert seen["Thumbprint"] and seen["Subject"] and "Services" not in seen


def test_stats_count_requests_per_endpoint_and_paths_belong_to_their_service(lab):
    import requests

    with pool(lab) as rp:
        run(rp, ("Get-ExchangeServer", {"Identity": "EX01"}))
    stats = lab.stats()["EX01"]
    powershell = stats["endpoints"]["/PowerShell"]
    # NTLM 3 + Create + Receive (open) + Command + Receive + Delete
    assert powershell["requests"] == 8 and powershell["runspace_pools"] == 1 and powershell["pipelines"] == 1
    assert stats["endpoints"]["/wsman"]["requests"] == 0 and stats["requests"] == 8
    address = lab.addresses["EX01"]
    assert requests.post(f"http://{address}:{IIS_HTTP_PORT}/wsman", timeout=10).status_code == 404
    assert requests.post(f"http://{address}:5985/PowerShell", timeout=10).status_code == 404
    with pytest.raises(requests.ConnectionError):  # an Edge runs no IIS
        requests.post(f"http://{lab.addresses['EDGE01']}:{IIS_HTTP_PORT}/PowerShell", timeout=10)


def test_a_message_that_is_not_xml_gets_a_fault_not_a_crash(lab):
    """Stock pypsrp writes a lone surrogate as an XML character reference no reader accepts; the lab
    answers with a WS-Management fault, and the pool's next pipeline still runs."""
    with pool(lab) as rp:
        with pytest.raises(WSManFaultError) as raised:
            run(rp, ("Get-SendConnector", {"Identity": "x\ud800"}))
        assert "not well-formed XML" in str(raised.value)
        after = run(rp, ("Get-TransportService", {"Identity": "EX01"}))
        assert not after.had_errors and after.output


def test_a_finished_pipeline_lets_go_of_what_it_read_while_its_pool_stays_open(lab):
    """A long run keeps many pools open between a host's read and its apply: a finished pipeline keeps no
    psrpcore pipeline (the CreatePipeline read into objects) in the lab, and still answers a Signal."""
    from pypsrp.shell import SignalCode

    resource = lab.server.winrm.endpoint("EX01").powershell
    with pool(lab) as rp:
        first = run(rp, ("Get-TransportService", {"Identity": "EX01"}), ("Measure-Object", {}))
        second = run(rp, ("Get-ReceiveConnector", {"Server": "EX01"}))
        assert first.output and second.output and not first.had_errors and not second.had_errors
        (held,) = resource._pools.values()
        assert held.core.pipeline_table == {}
        assert set(held.pipelines) == {str(first.id).upper(), str(second.id).upper()}
        assert all(p.core is None and p.done.is_set() for p in held.pipelines.values())
        rp.shell.signal(SignalCode.TERMINATE, str(first.id).upper())  # still known: no fault
        assert set(held.pipelines) == {str(second.id).upper()}
        third = run(rp, ("Get-TransportService", {"Identity": "EX01"}))
        assert not third.had_errors and third.output


def test_a_pipeline_is_read_into_psrpcores_powershell_once(lab, monkeypatch):
    """psrpcore builds the pipeline's PowerShell from the CreatePipeline's objects as it processes the
    message; the lab runs that one (CreatePipelineEvent.pipeline would build it again on each read)."""
    import psrpcore

    built = []
    original = psrpcore.PowerShell.FromPSObjectForRemoting.__func__

    def counted(cls, obj, *args, **kwargs):
        built.append(cls)
        return original(cls, obj, *args, **kwargs)

    monkeypatch.setattr(psrpcore.PowerShell, "FromPSObjectForRemoting", classmethod(counted))
    with pool(lab) as rp:
        ps = run(rp, ("Get-TransportService", {"Identity": "EX01"}), ("Measure-Object", {}))
    assert ps.output and not ps.had_errors
    assert len(built) == 1
