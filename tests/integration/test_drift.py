"""exconf drift over real WinRM against an in-process lab: detection, who changed it, history, exit codes."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import jsonschema
import pytest

from exconf.cli import main

from .conftest import EDGE_PASSWORD, PASSWORD, STANDARD, unique_prefix

HELPDESK_PASSWORD = "Lab-Helpdesk-1"

INVENTORY = """
all:
  vars:
    ansible_user: CONTOSO\\@USER@
    ansible_password: @PASSWORD@
    exchange_organization:
      transport_config:
        tls_send_domain_secure_list: [fabrikam.com]
  children:
    mailbox:
      vars:
        exchange:
          transport_service:
            send_protocol_log_max_age: "14.00:00:00"
          receive_connectors:
            "Default Frontend {server}": {protocol_logging_level: @LEVEL@}
      hosts:
        ex01.contoso.lab: {ansible_host: "{EX01}"}
        ex02.contoso.lab: {ansible_host: "{EX02}"}
    edge:
      hosts:
        edge01.contoso.lab:
          ansible_host: "{EDGE01}"
          ansible_port: 5986
          ansible_winrm_ca_trust_path: "{CA}"
          ansible_user: EDGE01\\Administrator
          ansible_password: @EDGE_PASSWORD@
          exchange:
            receive_connectors:
              "Default internal receive connector {server}": {protocol_logging_level: Verbose}
"""


def inventory_text(level: str = "Verbose", user: str = "exadmin", password: str = PASSWORD) -> str:
    return (INVENTORY.replace("@USER@", user).replace("@PASSWORD@", password).replace("@LEVEL@", level)
            .replace("@EDGE_PASSWORD@", EDGE_PASSWORD))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def lab(make_lab):
    accounts = [{"user": "exadmin", "password": PASSWORD}, {"user": "helpdesk", "password": HELPDESK_PASSWORD}]
    return make_lab(STANDARD, accounts=accounts)


def converge(lab, capsys, inv) -> None:
    code, _, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, err


def by_key(doc: dict) -> dict[tuple[str, str, str], dict]:
    return {(f["host"], f["resource"], f["name"]): f for f in doc["findings"]}


def test_drift_names_the_out_of_band_change_and_its_caller_then_history_says_when_apply_resolved_it(lab, capsys, monkeypatch):
    inv = lab.inventory(inventory_text())
    converge(lab, capsys, inv)
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["changes"] == [] and {f["drift"] for f in doc["findings"]} == {"in_sync"}

    # An administrator changes a connector at the console of EX02 (lab exec), out of band. (RunDate has a
    # precision of one second: a change in the second the in-sync run ended could be before its read, and is not named.)
    time.sleep(1.1)
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default Frontend EX02", ProtocolLoggingLevel="None")
    before = lab.stats()
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 2, err
    doc = json.loads(out)
    after = lab.stats()
    # Read like plan: at most 7 requests per host, the audit log included (6 where the Mailbox servers take
    # the WinRM door: it logs on with Kerberos, one request where NTLM takes two, docs/kerberos.md).
    deltas = {s: after[s]["requests"] - before[s]["requests"] for s in ("EX01", "EX02", "EDGE01")}
    most = 6 if lab.door == "winrm" else 7
    assert deltas["EX01"] == most and max(deltas.values()) == most, deltas  # EX01 carries the organisation and the audit log
    [change] = doc["changes"]
    assert (change["host"], change["resource"], change["name"]) == ("ex02.contoso.lab", "receive_connector", "Default Frontend EX02")
    drifted = by_key(doc)[("ex02.contoso.lab", "receive_connector", "Default Frontend EX02")]
    assert drifted["drift"] == "drift"
    assert drifted["properties"][0] | {"declared_at": ""} == {"property": "protocol_logging_level", "expected": "Verbose", "actual": "None", "declared_at": ""}
    assert drifted["changed_by"]["caller"] == "contoso.lab/Users/exadmin", drifted["changed_by"]
    assert drifted["changed_by"]["cmdlet"] == "Set-ReceiveConnector"
    first_seen = drifted["since"]
    assert by_key(doc)[("ex01.contoso.lab", "receive_connector", "Default Frontend EX01")]["drift"] == "in_sync"

    # Still drifting on the next run: since when stays the first run that saw it.
    code, out, _ = run(capsys, "drift", str(inv), "--json")
    assert code == 2 and by_key(json.loads(out))[("ex02.contoso.lab", "receive_connector", "Default Frontend EX02")]["since"] == first_seen

    converge(lab, capsys, inv)
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 0, err
    [resolved] = json.loads(out)["drift"]["resolved"]
    assert resolved["name"] == "Default Frontend EX02" and resolved["since"] == first_seen and resolved["resolved"] >= first_seen

    code, out, err = run(capsys, "drift", "history", str(inv), "--json")
    assert code == 0, err
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "schemas" / "drift-history.schema.json").read_text())
    jsonschema.validate(json.loads(out), schema)
    assert json.loads(out)["inventory"] == [str(inv)]
    [episode] = json.loads(out)["episodes"]
    assert episode["name"] == "Default Frontend EX02" and episode["since"] == first_seen
    assert episode["resolved"] == resolved["resolved"] and episode["changed_by"]["caller"] == "contoso.lab/Users/exadmin"
    code, out, _ = run(capsys, "drift", "history", str(inv), "--host", "ex01.contoso.lab")
    assert code == 0 and "No drift recorded for ex01.contoso.lab" in out
    monkeypatch.chdir(inv.parent)  # spec §2's form: exconf drift history, the inventory's history found beside it
    code, out, _ = run(capsys, "drift", "history")
    assert code == 0 and "ex02.contoso.lab: receive_connector \"Default Frontend EX02\" [low]: since " in out and "resolved" in out


def test_a_change_made_over_winrm_is_attributed_to_the_account_that_made_it(lab, capsys):
    mine = lab.inventory(inventory_text())
    converge(lab, capsys, mine)
    assert run(capsys, "drift", str(mine))[0] == 0  # seen in sync
    time.sleep(1.1)
    # Someone else applies their own inventory with their own account: drift for ours.
    theirs = lab.inventory(inventory_text(level="None", user="helpdesk", password=HELPDESK_PASSWORD), name="theirs/inventory.yaml")
    converge(lab, capsys, theirs)
    code, out, err = run(capsys, "drift", str(mine), "--json")
    assert code == 2, err
    found = by_key(json.loads(out))
    for host in ("ex01.contoso.lab", "ex02.contoso.lab"):
        who = found[(host, "receive_connector", f"Default Frontend EX0{host[3]}")]["changed_by"]
        assert who["caller"] == "contoso.lab/Users/helpdesk" and who["cmdlet"] == "Set-ReceiveConnector"


def test_an_unreachable_host_is_a_finding_of_its_own_and_the_run_an_error(lab, capsys):
    nobody = f"{unique_prefix()}.250"  # an address of this test net where nothing listens
    text = inventory_text().replace('ex02.contoso.lab: {ansible_host: "{EX02}"}', f'ex02.contoso.lab: {{ansible_host: "{nobody}"}}')
    inv = lab.inventory(text)
    code, out, err = run(capsys, "drift", str(inv), "--json", "--no-history")
    assert code == 1, err
    doc = json.loads(out)
    host = by_key(doc)[("ex02.contoso.lab", "host", "ex02.contoso.lab")]
    assert host["drift"] == "error" and host["message"].startswith("unreachable")
    assert by_key(doc)[("ex02.contoso.lab", "receive_connector", "Default Frontend {server}")]["drift"] == "error"
    assert doc["hosts"]["ex01.contoso.lab"]["status"] == "ok"
    code, out, _ = run(capsys, "drift", str(inv), "--no-history")
    assert code == 1 and "not checked: ex02.contoso.lab: host" in out and "1 read" not in out
    # spec §2: every run ends with a per-host recap line
    assert re.search(r"^ex02\.contoso\.lab\s+: ok=0\s+changed=0\s+unreachable=1\s+failed=0", out, re.MULTILINE)


def test_history_is_recorded_once_per_run_and_survives_a_corrupt_or_locked_database(lab, capsys, tmp_path):
    inv = lab.inventory(inventory_text())
    db = tmp_path / "history.sqlite"
    code, out, err = run(capsys, "drift", str(inv), "--history", str(db), "--json")
    assert code == 2, err  # not converged: drift
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM objects WHERE kind NOT IN ('inventory', 'host')").fetchone()[0]
    assert runs == 1 and rows == len(json.loads(out)["findings"])  # one row per object, none per run

    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        code, out, err = run(capsys, "drift", str(inv), "--history", str(db), "--json")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert code == 1 and "is locked by another process" in err
    assert json.loads(out)["drift"]["exit_code"] == 2  # the check itself completed and reported

    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    code, out, err = run(capsys, "drift", str(inv), "--history", str(bad), "--json")
    assert code == 1 and "is damaged" in err and "move it away" in err
    assert json.loads(out)["drift"]["counts"]["drift"] > 0


EDGE_FIRST = """
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: @PASSWORD@
  children:
    edge:
      hosts:
        edge01.contoso.lab:
          ansible_host: "{EDGE01}"
          ansible_port: 5986
          ansible_winrm_ca_trust_path: "{CA}"
          ansible_user: EDGE01\\Administrator
          ansible_password: @EDGE_PASSWORD@
    mailbox:
      vars:
        exchange:
          receive_connectors:
            "Default Frontend {server}": {protocol_logging_level: Verbose}
      hosts:
        ex01.contoso.lab: {ansible_host: "{EX01}"}
"""


def test_with_an_edge_first_the_audit_log_is_searched_on_a_mailbox_server(lab, capsys):
    inv = lab.inventory(EDGE_FIRST.replace("@PASSWORD@", PASSWORD).replace("@EDGE_PASSWORD@", EDGE_PASSWORD))
    converge(lab, capsys, inv)
    assert run(capsys, "drift", str(inv))[0] == 0
    time.sleep(1.1)
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default Frontend EX01", ProtocolLoggingLevel="None")
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 2, err
    doc = json.loads(out)
    assert doc["drift"]["audit"] == "searched"
    who = by_key(doc)[("ex01.contoso.lab", "receive_connector", "Default Frontend EX01")]["changed_by"]
    assert who["caller"] == "contoso.lab/Users/exadmin"
