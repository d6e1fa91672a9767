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
