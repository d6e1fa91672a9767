"""The lab state: objects keyed by (scope, kind), the journal of changes, the lab clock, hostile names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from exconf.lab import runtime
from exconf.lab.exchange import state as lab_state
from exconf.lab.exchange import stored
from exconf.lab.exchange import store as store_module
from exconf.lab.exchange.kinds import Kind, Prop
from exconf.lab.exchange.store import ConsoleError, LabStore, StateFileError
from exconf.lab.exchange.param_types import STRING
from exconf.lab.program import run_program

from . import wait_for

DATA = Path(__file__).parent / "data"
ORG = DATA / "org.yaml"
RC = "Set-ReceiveConnector"


def level(store: LabStore, server: str) -> str:
    [rc] = store.exec_console(server, "Get-ReceiveConnector", {"Identity": f"{server}\\Default {server}"})
    return rc["ProtocolLoggingLevel"]


# --- the journal ----------------------------------------------------------------------------------------


def test_a_change_costs_one_record_of_what_it_touched(tmp_path):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    snapshot = state.read_bytes()
    store.exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})
    assert state.read_bytes() == snapshot  # the snapshot is not rewritten per change
    [record] = [json.loads(line) for line in (tmp_path / "state.json.journal").read_text().splitlines()]
    # The connector, and the server's slot of the admin audit log (lab/exchange/admin_audit_log.py).
    assert [(scope, kind) for scope, kind, _ in record["set"]] == [("EX02", "ReceiveConnector"), ("EX02", "admin_audit_log")]
    store.exec_console("EX02", "Get-ReceiveConnector", {})  # a read writes nothing
    assert len((tmp_path / "state.json.journal").read_text().splitlines()) == 1


def test_a_restart_replays_the_journal_over_the_snapshot(tmp_path):
    state = tmp_path / "state.json"
    first = LabStore(ORG, state)
    first.exec_console("EX01", RC, {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"})
    first.exec_console("EX01", "Set-TransportConfig", {"MaxSendSize": "20MB"})
    # no close(): as after a crash, the changes are only in the journal
    second = LabStore(ORG, state)
    assert level(second, "EX01") == "Verbose"
    assert second.exec_console("EX01", "Get-TransportConfig", {})[0]["MaxSendSize"].startswith("20 MB")
    assert (tmp_path / "state.json.journal").read_bytes() == b""  # folded into the snapshot at start


def test_a_torn_last_record_is_ignored_and_a_damaged_one_before_it_is_reported(tmp_path):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    store.exec_console("EX01", RC, {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"})
    journal = tmp_path / "state.json.journal"
    good = journal.read_bytes()
    journal.write_bytes(good + b'{"seq": 2, "set": [["EX01", "Recei')  # killed while writing
    assert level(LabStore(ORG, state), "EX01") == "Verbose"

    LabStore(ORG, state).exec_console("EX02", RC, {"Identity": "EX02\\Default EX02", "ProtocolLoggingLevel": "Verbose"})
    journal.write_bytes(b'{"seq": 99, "set": [[broken\n' + journal.read_bytes())
    with pytest.raises(StateFileError) as caught:
        LabStore(ORG, state)
    assert "line 1 is damaged" in str(caught.value) and "broken" not in str(caught.value)


def test_the_journal_is_compacted_when_it_outgrows_the_snapshot(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "JOURNAL_MIN_COMPACT", 0)
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    journal = tmp_path / "state.json.journal"
    sizes = []
    for i in range(40):
        store.exec_console("EX01", RC, {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": ("Verbose", "None")[i % 2]})
        sizes.append(journal.stat().st_size)
    assert max(sizes) <= 2 * state.stat().st_size + max(s2 - s1 for s1, s2 in zip(sizes, sizes[1:]) if s2 > s1)
    assert 0 in sizes[1:]  # it was emptied at least once
    assert level(LabStore(ORG, state), "EX01") == "None"


def _small_org(folder: Path) -> Path:
    """Three servers on addresses of this checkout's test net (EXCONF_TEST_NET + 5) and this process."""
    net = (int(os.environ.get("EXCONF_TEST_NET", "150")) + 5) % 255  # a valid 127.x octet whatever the base
    org = folder / "org.yaml"
    servers = "\n".join(f"  - {{name: EX0{i}, role: Mailbox, address: 127.{net}.{os.getpid() % 250 + 1}.{i}}}" for i in (1, 2, 3))
    org.write_text(f"organization: {{name: Contoso, domain: contoso.lab}}\naccounts: [{{user: exadmin, password: pw}}]\n"
                   f"servers:\n{servers}\n")
    return org


def test_kill_9_loses_nothing_acknowledged_and_the_next_start_cleans_what_the_dead_lab_left(tmp_path, monkeypatch):
    rdir = tmp_path / "run"
    monkeypatch.setenv(runtime.RUNTIME_ENV, str(rdir))
    org = _small_org(tmp_path)
    state = tmp_path / ".lab" / "org.state.json"
    serve = [sys.executable, "-m", "exconf", "lab", "serve", str(org), "--state", str(state)]
    env = {**os.environ, runtime.RUNTIME_ENV: str(rdir)}
    proc = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(runtime.find_running()) == 1, 30), proc.stderr.read1(4096) if proc.poll() is not None else ""
        [lab] = runtime.find_running()
        private = rdir / f"{lab.id}.d"
        assert private.stat().st_mode & 0o777 == 0o700
        secrets = list(private.iterdir())
        assert {p.suffix for p in secrets} == {".ntlm", ".key", ".pem"} and all(p.stat().st_mode & 0o777 == 0o600 for p in secrets)  # NT-hash files, keys
        acknowledged = []
        for i, server in enumerate(("EX01", "EX02", "EX03") * 4):
            value = ("Verbose", "None")[i % 2]
            runtime.exec_on(server, RC, {"Identity": f"{server}\\Default {server}", "ProtocolLoggingLevel": value})
            acknowledged.append((server, value))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
    assert private.exists()  # what a kill -9 leaves behind …
    marker = private / "left-by-the-dead-lab.key"
    marker.write_text("secret")
    (state.parent / f".{state.name}.abc.tmp").write_text("{")  # as if killed while writing a snapshot
    restarted = LabStore(org, state)
    for server, value in dict(acknowledged).items():
        assert level(restarted, server) == value
    # … and a lab that starts again removes it before it serves
    second = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(runtime.find_running()) == 1, 30)
        assert not marker.exists() and private.stat().st_mode & 0o777 == 0o700
        assert not list(state.parent.glob(".*.tmp"))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert not private.exists()  # a clean stop removes its secrets


# --- state keyed by kind ---------------------------------------------------------------------------------


def test_a_new_kind_is_one_entry_in_the_list_and_is_built_persisted_and_reloaded(tmp_path, monkeypatch):
    """What certificates or subscriptions did: one entry in state.KINDS, no other edit of the state module."""
    kind = Kind("Note", (Prop("Text", STRING),))
    note = stored.objects(
        "Note", kind, stored.on_mailbox_servers,
        new=lambda org, entry, now: [kind.new({"Text": f"hello {entry.name}"}, guid=None, created=now)],
        defaults=lambda org, entry, raw: {"Text": ""},
    )
    monkeypatch.setattr(lab_state, "KINDS", (*lab_state.KINDS, note))
    monkeypatch.setitem(lab_state._BY_KEY, "Note", note)
    monkeypatch.setattr(kind, "dump", lambda obj: {"Text": obj["Text"]})
    monkeypatch.setattr(kind, "load", lambda raw, defaults: {"Text": raw["Text"]})
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    assert [n["Text"] for n in store._state.get("EX01", "Note")] == ["hello EX01"]
    assert ("EDGE01", "Note") not in store._state.objects  # only where the kind says it lives
    saved = json.loads(state.read_text())
    assert saved["objects"]["EX03"]["Note"] == [{"Text": "hello EX03"}]
    reloaded = LabStore(ORG, state)
    assert reloaded._state.objects[("EX02", "Note")] == [{"Text": "hello EX02"}]


def test_every_scope_holds_the_kinds_of_its_role(tmp_path):
    store = LabStore(ORG, tmp_path / "state.json")
    kinds = {scope: {k for s, k in store._state.objects if s == scope} for scope, _ in store._state.objects}
    assert kinds[stored.ORG] == {"SendConnector", "TransportConfig", "exchange_certificate_authority", "EdgeSubscriptions", "accepted_domains"}
    assert kinds["EX01"] == {"ReceiveConnector", "TransportService", "FrontendTransportService", "exchange_certificates", "admin_audit_log",
                             "client_access_names", "web_files", "PowerShellVirtualDirectory"}
    assert kinds["EDGE02"] == {"ReceiveConnector", "TransportService", "SendConnector", "TransportConfig", "exchange_certificates",
                               "EdgeSubscriptionEdge"}


# --- the lab clock ---------------------------------------------------------------------------------------


def test_the_lab_clock_moves_forward_survives_a_restart_and_dates_changes(tmp_path):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    before = datetime.now(timezone.utc)
    moved = store.advance_clock(25 * 3600)
    assert moved - before >= timedelta(hours=25) - timedelta(seconds=1)
    store.exec_console("EX01", RC, {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"})
    [rc] = [c for c in store._state.objects[("EX01", "ReceiveConnector")] if c["Name"] == "Default EX01"]
    assert rc["WhenChanged"] >= (before + timedelta(hours=25)).replace(microsecond=0)  # dated by the lab clock
    restarted = LabStore(ORG, state)  # from the journal: no close()
    assert restarted.clock_offset() == 25 * 3600
    with pytest.raises(ValueError):
        restarted.advance_clock(-1)


# --- hostile names (issue 6, item 9) ----------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_at_the_console_and_saving_goes_on(tmp_path):
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    with pytest.raises(ConsoleError) as caught:
        store.exec_console("EX01", "Set-SendConnector", {"Identity": "Outbound to Fabrikam", "Name": "bad\udc80name"})
    text = str(caught.value)
    assert "Cannot process argument transformation on parameter 'Name'" in text
    assert "Unable to translate Unicode character \\uDC80 at index 3" in text
    assert len(text) < 600 and '"format"' not in text and "ReceiveConnector" not in text  # no state echoed
    store.exec_console("EX01", RC, {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"})
    assert level(LabStore(ORG, state), "EX01") == "Verbose"  # the next change is still saved


def test_a_lone_surrogate_is_refused_over_the_remote_program(tmp_path):
    store = LabStore(ORG, tmp_path / "state.json")
    payload = ('{"exconf": 3, "steps": [{"id": "s", "cmdlet": "Set-SendConnector", '
               '"params": {"Identity": "Outbound to Fabrikam", "Name": "x\\ud800"}}]}')
    text, code = run_program(store, store.server("EX01"), payload)
    assert code == 0
    assert "Unable to translate Unicode character" in text and "ParameterArgumentTransformationError" in text
    names = [c["Name"] for c in store.exec_console("EX01", "Get-SendConnector", {})]
    assert "Outbound to Fabrikam" in names
    store.exec_console("EX01", RC, {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"})
    assert level(LabStore(ORG, tmp_path / "state.json"), "EX01") == "Verbose"


def test_servers_are_found_by_index(tmp_path):
    store = LabStore(ORG, tmp_path / "state.json")
    assert store.server(" EDGE01.dmz.CONTOSO.lab ").name == "EDGE01"
    assert store.org.by_name["ex02"][0].name == "EX02"
    with pytest.raises(KeyError):
        store.server("EX0")


def test_a_change_by_guid_journals_only_the_server_that_holds_it(tmp_path):
    """An identity given as a GUID is found through the state's index, not by reading every server."""
    state = tmp_path / "state.json"
    store = LabStore(ORG, state)
    [rc] = store.exec_console("EX03", "Get-ReceiveConnector", {"Identity": "EX03\\Default EX03"})
    store.exec_console("EX01", RC, {"Identity": rc["Guid"], "ProtocolLoggingLevel": "Verbose"})
    [record] = [json.loads(line) for line in (tmp_path / "state.json.journal").read_text().splitlines()]
    # EX03's connector, and the admin audit log of EX01, the server that ran the cmdlet
    assert [(scope, kind) for scope, kind, _ in record["set"]] == [("EX01", "admin_audit_log"), ("EX03", "ReceiveConnector")]
    assert level(LabStore(ORG, state), "EX03") == "Verbose"
    with pytest.raises(ConsoleError, match="couldn't be found"):
        store.exec_console("EX01", RC, {"Identity": "11111111-2222-3333-4444-555555555555", "Enabled": True})


def test_a_state_file_of_the_first_format_is_read_and_rewritten(tmp_path):
    """data/state-format1.json: written by the lab before state was keyed by kind (org.yaml, three changes)."""
    state = tmp_path / "state.json"
    state.write_bytes((DATA / "state-format1.json").read_bytes())
    store = LabStore(ORG, state)
    assert level(store, "EX01") == "Verbose"
    assert "To Fabrikam" in [c["Name"] for c in store.exec_console("EX01", "Get-SendConnector", {})]
    assert store.exec_console("EDGE02", "Get-TransportConfig", {})[0]["MaxSendSize"].startswith("20 MB")
    assert json.loads(state.read_text())["format"] == 2
