"""LabStore: server lookup, persistence across restarts, atomic writes, no secrets, concurrency."""

import json
import threading
import time
from pathlib import Path

import pytest

from exconf.lab.exchange.store import LabStore, OrgFileError

DATA = Path(__file__).parent / "data"
ORG = DATA / "org.yaml"


def test_servers_and_lookup(tmp_path):
    store = LabStore(ORG, tmp_path / "state.json")
    assert [s.name for s in store.servers] == ["EX01", "EX02", "EX03", "EDGE01", "EDGE02"]
    assert store.server("ex01").address == "127.42.0.11"
    assert store.server("EDGE01.DMZ.contoso.lab").name == "EDGE01"
    assert store.server("127.42.0.2").name == "EX02"  # default address: position in the file
    with pytest.raises(KeyError):
        store.server("EX09")


def test_accounts_per_role(tmp_path):
    store = LabStore(ORG, tmp_path / "state.json")
    assert [(a.domain, a.user) for a in store.server("EX01").accounts] == [("CONTOSO", "exadmin")]
    # an Edge outside the domain: only its local accounts
    assert [(a.domain, a.user) for a in store.server("EDGE01").accounts] == [("EDGE01", "Administrator")]
    assert store.server("EDGE02").accounts == ()
    assert store.server("EDGE02").codepage == 1252 and store.server("EX01").codepage == 437


def test_a_change_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    first = LabStore(ORG, state)
    first.exec_console("EX01", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose",
                                                         "MaxMessageSize": "20MB", "RemoteIPRanges": ["10.0.0.0/8"]})
    first.exec_console("EX01", "Set-SendConnector", {"Identity": "Outbound to Fabrikam", "Name": "To Fabrikam"})
    first.exec_console("EX01", "Set-TransportService", {"Identity": "EX01", "SendProtocolLogMaxAge": "7.00:00:00"})
    before = first.exec_console("EX01", "Get-ReceiveConnector", {"Identity": "EX01\\Default EX01"})
    second = LabStore(ORG, state)
    after = second.exec_console("EX01", "Get-ReceiveConnector", {"Identity": "EX01\\Default EX01"})
    assert after == before
    assert (after[0]["ProtocolLoggingLevel"], after[0]["MaxMessageSize"], after[0]["RemoteIPRanges"]) == (
        "Verbose", "20 MB (20,971,520 bytes)", ["10.0.0.0/8"])
    assert second.exec_console("EX01", "Get-SendConnector", {"Identity": "To Fabrikam"})[0]["AddressSpaces"] == [
        "SMTP:fabrikam.com;1"]
    assert second.exec_console("EX01", "Get-TransportService", {"Identity": "EX01"})[0]["SendProtocolLogMaxAge"] == "7.00:00:00"


def test_a_renamed_org_file_connector_is_not_created_again(tmp_path):
    state = tmp_path / "state.json"
    LabStore(ORG, state).exec_console("EX01", "Set-SendConnector", {"Identity": "Outbound to Fabrikam", "Name": "Renamed"})
    names = [c["Name"] for c in LabStore(ORG, state).exec_console("EX01", "Get-SendConnector", {})]
    assert "Outbound to Fabrikam" not in names and "Renamed" in names


def test_state_is_written_atomically_without_leftovers_or_secrets(tmp_path):
    state = tmp_path / "lab" / "state.json"
    store = LabStore(ORG, state)
    for level in ("Verbose", "None", "Verbose"):
        store.exec_console("EX02", "Set-ReceiveConnector", {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": level})
    # no temporary files left behind: the snapshot and its journal of changes since
    assert sorted(p.name for p in state.parent.iterdir()) == ["state.json", "state.json.journal"]
    text = state.read_text(encoding="utf-8")
    json.loads(text)
    journal = (state.parent / "state.json.journal").read_text(encoding="utf-8")
    assert len(journal.splitlines()) == 3  # one record per change, not a rewrite of the state
    for secret in ("Lab-Passw0rd!", "Edge-Passw0rd!", "password"):
        assert secret not in text and secret not in journal


def test_the_snapshot_is_replaced_not_rewritten_in_place(tmp_path, monkeypatch):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    replaced = []
    import os

    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append((Path(src).parent, Path(dst))), real_replace(src, dst)))
    store.exec_console("EX01", "Set-TransportConfig", {"TLSReceiveDomainSecureList": "fabrikam.com"})
    assert replaced == []  # a change appends to the journal
    store.close()  # stopping folds the journal into the snapshot
    assert replaced == [(tmp_path, state)]
    assert (tmp_path / "state.json.journal").read_bytes() == b""


def test_a_server_added_to_the_org_file_gets_its_defaults_and_joins_edgesync(tmp_path):
    state = tmp_path / "state.json"
    LabStore(ORG, state).exec_console("EX01", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet",
                                                                     "ProtocolLoggingLevel": "Verbose"})
    grown = tmp_path / "org.yaml"
    grown.write_text(ORG.read_text(encoding="utf-8").replace(
        "send_connectors:\n  - {name: \"Outbound",
        "  - {name: EX04, role: Mailbox, site: Amsterdam}\n"
        "  - {name: EDGE03, role: Edge, site: Amsterdam, subscribed: true}\n"
        "send_connectors:\n  - {name: \"Outbound"), encoding="utf-8")
    store = LabStore(grown, state)
    assert len(store.exec_console("EX04", "Get-ReceiveConnector", {"Server": "EX04"})) == 5
    [internet] = store.exec_console("EX01", "Get-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet"})
    assert internet["SourceTransportServers"] == ["EDGE01", "EDGE03"]  # a second Edge joins the site's connector
    assert internet["ProtocolLoggingLevel"] == "Verbose"  # and the earlier change is kept


@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe\x00 not UTF-8", b"[1, 2]"])
def test_a_damaged_state_file_is_reported(tmp_path, damage):
    state = tmp_path / "state.json"
    state.write_bytes(damage)
    with pytest.raises(OrgFileError, match="cannot read the lab state"):
        LabStore(ORG, state)


def test_concurrent_changes_are_all_kept(tmp_path):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    errors = []

    def work(server):
        try:
            for level in ("Verbose", "None", "Verbose"):
                store.exec_console(server, "Set-ReceiveConnector",
                                   {"Identity": f"{server}\\Client Proxy {server}", "ProtocolLoggingLevel": level})
        except Exception as exc:  # pragma: no cover - shown on failure
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in ("EX01", "EX02", "EX03")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reloaded = LabStore(ORG, state)
    for server in ("EX01", "EX02", "EX03"):
        [rc] = reloaded.exec_console(server, "Get-ReceiveConnector", {"Identity": f"{server}\\Client Proxy {server}"})
        assert rc["ProtocolLoggingLevel"] == "Verbose"


def test_fault_counts_persist(tmp_path):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    ident = [("Identity", "Default internal receive connector EDGE02"), ("Enabled", True)]
    from exconf.lab.exchange.errors import CmdletError

    with pytest.raises(CmdletError):
        store.invoke(store.server("EDGE02"), "Set-ReceiveConnector", ident, remote=True)
    restarted = LabStore(ORG, state)  # the one failure was served before the restart
    restarted.invoke(restarted.server("EDGE02"), "Set-ReceiveConnector", ident, remote=True)


def test_a_server_removed_from_the_org_file_leaves_the_state_and_the_connectors(tmp_path):
    state = tmp_path / "state.json"
    LabStore(ORG, state)
    shrunk = tmp_path / "org.yaml"
    shrunk.write_text(ORG.read_text(encoding="utf-8")
                      .replace("  - {name: EX02, role: Mailbox, site: Amsterdam}\n", "")
                      .replace("source_transport_servers: [EX01, EX02]", "source_transport_servers: [EX01]"),
                      encoding="utf-8")
    store = LabStore(shrunk, state)
    assert "EX02" not in {s.name for s in store.servers}
    assert {c["Server"] for c in store.exec_console("EX01", "Get-ReceiveConnector", {})} == {"EX01", "EX03"}
    [fabrikam] = store.exec_console("EX01", "Get-SendConnector", {"Identity": "Outbound to Fabrikam"})
    assert fabrikam["SourceTransportServers"] == ["EX01"]
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert "EX02" not in saved["objects"] and "EX02" not in saved["roles"]


def test_changes_made_during_a_write_are_saved_by_one_more_shared_write(tmp_path, monkeypatch):
    """Group commit: a write in progress does not cover later changes; those share the next write."""
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    real_append, writes = LabStore._append, []
    writing, release = threading.Event(), threading.Event()

    def slow_append(self, line):
        writes.append(line)
        if len(writes) == 1:  # the first writer holds the commit lock until released
            writing.set()
            assert release.wait(10)
        return real_append(self, line)

    monkeypatch.setattr(LabStore, "_append", slow_append)

    def change(server):
        return threading.Thread(target=store.exec_console, args=(server, "Set-ReceiveConnector", {
            "Identity": f"{server}\\Default {server}", "ProtocolLoggingLevel": "Verbose"}))

    first = change("EX01")
    first.start()
    assert writing.wait(10)
    generation = store._generation
    others = [change("EX02"), change("EX03")]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while store._generation < generation + 2 and time.monotonic() < deadline:  # both changed, both wait
        time.sleep(0.01)
    release.set()
    for t in (first, *others):
        t.join(10)
    assert len(writes) == 2  # the two waiting changes shared one write
    reloaded = LabStore(ORG, state)
    for server in ("EX01", "EX02", "EX03"):
        [rc] = reloaded.exec_console(server, "Get-ReceiveConnector", {"Identity": f"{server}\\Default {server}"})
        assert rc["ProtocolLoggingLevel"] == "Verbose"
