"""The lab's admin audit log: what is recorded (changes, with the caller), where (not on an Edge),
and Search-AdminAuditLog's filters, defaults and ranges (office-docs-powershell Search-AdminAuditLog.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exconf.lab.exchange.store import ConsoleError, LabStore

ORG = Path(__file__).parent / "data" / "org.yaml"
RC = "Set-ReceiveConnector"


@pytest.fixture
def store(tmp_path):
    return LabStore(ORG, tmp_path / "state.json")


def search(store: LabStore, server: str = "EX01", **params) -> list[dict]:
    return store.exec_console(server, "Search-AdminAuditLog", params)


def test_changes_are_recorded_with_the_caller_object_and_parameter_names_newest_first(store):
    store.exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})
    store.exec_console("EX03", "Set-TransportService", {"Identity": "EX03", "MessageExpirationTimeout": "3.00:00:00"})
    store.exec_console("EX01", "Get-ReceiveConnector", {})  # a read is never logged
    store.exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})  # no change: nothing
    entries = search(store, "EX02")  # one log for the organisation, searched from any Mailbox server
    assert [(e["CmdletName"], e["ObjectModified"]) for e in entries] == [
        ("Set-TransportService", "EX03"), ("Set-ReceiveConnector", "EX02\\Default EX02")]
    newest = entries[0]
    assert newest["Caller"] == "contoso.lab/Users/exadmin" and newest["Succeeded"] is True
    assert newest["CmdletParameters"] == ["Identity", "MessageExpirationTimeout"] and newest["OriginatingServer"] == "EX03"
    assert newest["ModifiedProperties"] == []  # LogLevel None, the default
    assert "3.00:00:00" not in repr(entries)  # parameter values (which may be secrets) are not kept


def test_filters(store):
    store.exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})
    store.exec_console("EX01", "Set-TransportService", {"Identity": "EX01", "MessageExpirationTimeout": "3.00:00:00"})
    assert [e["ObjectModified"] for e in search(store, Cmdlets=["Set-ReceiveConnector"])] == ["EX02\\Default EX02"]
    assert [e["ObjectModified"] for e in search(store, ObjectIds=["EX01"])] == ["EX01"]
    assert search(store, UserIds=["contoso.lab/Users/someone"]) == []
    assert len(search(store, UserIds=["contoso.lab/Users/exadmin"])) == 2
    assert [e["CmdletName"] for e in search(store, Cmdlets=["Set-TransportService"], Parameters=["MessageExpirationTimeout"])] == ["Set-TransportService"]
    assert len(search(store, ResultSize=1)) == 1 and len(search(store, StartIndex=1)) == 1
    assert search(store, StartDate="2000-01-01", EndDate="2000-01-02") == []
    assert len(search(store, StartDate="01/01/2000")) == 2
    with pytest.raises(ConsoleError, match="only be used with the Cmdlets parameter"):
        search(store, Parameters=["Banner"])
    with pytest.raises(ConsoleError, match="between 1 and 250000"):
        search(store, ResultSize=250001)
    with pytest.raises(ConsoleError, match="not recognized as a valid DateTime"):
        search(store, StartDate="yesterday")


def test_an_edge_has_no_admin_audit_log(store):
    store.exec_console("EDGE01", RC, {"Identity": "EDGE01\\Default internal receive connector EDGE01", "ProtocolLoggingLevel": "Verbose"})
    assert search(store) == []
    with pytest.raises(ConsoleError, match="is not recognized as the name of a cmdlet"):
        search(store, "EDGE01")


def test_the_log_survives_a_restart(store, tmp_path):
    store.exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})
    store.close()
    again = LabStore(ORG, tmp_path / "state.json")
    assert [e["ObjectModified"] for e in search(again)] == ["EX02\\Default EX02"]


def test_certificate_cmdlets_name_the_certificate_by_its_identity(store):
    """ObjectModified is the object the cmdlet operated on (Search-AdminAuditLog.md, -ObjectIds); a certificate's
    Identity is ServerFQDN\\Thumbprint (cmdlets.md §2): a removal names the certificate it removed."""
    [cert] = store.exec_console("EX02", "New-ExchangeCertificate", {"SubjectName": "CN=audit.contoso.lab", "DomainName": ["audit.contoso.lab"],
                                                                   "Services": "IMAP"})
    thumb = cert["Thumbprint"]
    store.exec_console("EX02", "Remove-ExchangeCertificate", {"Thumbprint": thumb, "Confirm": False})
    entries = search(store, Cmdlets=["New-ExchangeCertificate", "Remove-ExchangeCertificate"])
    assert [(e["CmdletName"], e["ObjectModified"]) for e in entries] == [
        ("Remove-ExchangeCertificate", cert["Identity"]), ("New-ExchangeCertificate", cert["Identity"])]
    assert cert["Identity"].endswith("\\" + thumb)
    assert [e["CmdletName"] for e in search(store, ObjectIds=[cert["Identity"]])] == ["Remove-ExchangeCertificate", "New-ExchangeCertificate"]


def test_the_time_window_is_inclusive_and_object_ids_take_several_values(store):
    store.exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})
    store.exec_console("EX01", "Set-TransportService", {"Identity": "EX01", "MessageExpirationTimeout": "3.00:00:00"})
    store.advance_clock(120)
    store.exec_console("EX01", "Set-TransportService", {"Identity": "EX01", "MessageExpirationTimeout": "4.00:00:00"})
    newest, middle, oldest = search(store)
    # StartDate: entries on or after it; EndDate: on or before it (New-AdminAuditLogSearch, Exchange 2010 SP2 help).
    assert search(store, StartDate=newest["RunDate"]) == [newest]
    assert [e["ObjectModified"] for e in search(store, EndDate=middle["RunDate"].replace("Z", ".999Z"))] == ["EX01", "EX02\\Default EX02"]
    assert search(store, StartDate=oldest["RunDate"], EndDate=middle["RunDate"].replace("Z", ".999Z")) == [middle, oldest]
    assert len(search(store, ObjectIds=["EX01", "EX02\\Default EX02"])) == 3
    assert search(store, ObjectIds=["ex01"])[0]["ObjectModified"] == "EX01"  # identities compare case-insensitively
