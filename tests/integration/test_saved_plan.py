"""Saved plans over real WinRM against the lab: applied exactly, refused when stale, never holding a secret."""

from __future__ import annotations

import json
import os
import stat

import pytest

from exconf import planfile, plankey
from exconf.cli import main
from exconf.lock import acquire, lock_path

from .conftest import PASSWORD, round_trips

from .conftest import STANDARD as SERVERS  # noqa: E402  (the Edge makes the EdgeSync send connectors exist; it is not in the inventory)

INVENTORY = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange_organization:
      send_connectors:
        "EdgeSync - *Amsterdam*": {{protocol_logging_level: Verbose}}
    exchange:
      receive_connectors:
        "Default {{server}}": {{protocol_logging_level: Verbose}}
        "Client*{{server}}": {{protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
    ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
"""


def resign(plan_file, doc) -> None:
    """Write an edited plan with a valid MAC: what someone holding the plan key could do."""
    doc.pop("mac", None)
    doc["mac"] = plankey.sign(plankey.load(plankey.key_path()), doc)
    plan_file.write_text(json.dumps(doc))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def levels(lab, server: str) -> dict[str, str]:
    return {c["Name"]: c["ProtocolLoggingLevel"] for c in lab.exec(server, "Get-ReceiveConnector", Server=server)}


def everything(lab) -> dict[str, object]:
    """Every value the plan could change, on every server, to prove that nothing moved."""
    return {
        "EX01": levels(lab, "EX01"),
        "EX02": levels(lab, "EX02"),
        "send": {c["Name"]: c["ProtocolLoggingLevel"] for c in lab.exec("EX01", "Get-SendConnector")},
    }


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


@pytest.fixture
def saved(lab, capsys, tmp_path):
    inv = lab.inventory(INVENTORY)
    out_file = tmp_path / "change.plan"
    code, out, err = run(capsys, "plan", str(inv), "--out", str(out_file))
    assert code == 0, out + err
    return inv, out_file


def test_a_saved_plan_is_applied_exactly_without_a_prompt(lab, saved, capsys, monkeypatch):
    inv, plan_file = saved
    doc = json.loads(plan_file.read_text())
    planned = {(c["host"], c["resource"], c["name"]) for c in doc["changes"]}
    assert ("ex01.contoso.lab", "receive_connector", "Default EX01") in planned
    assert ("ex01.contoso.lab", "send_connector", "EdgeSync - Amsterdam to Internet") in planned
    # A terminal is attached: a prompt would block; a saved plan must not ask.
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 0, out + err
    assert "Do you want to perform these actions?" not in out
    assert f"Apply complete: {len(planned)} of {len(planned)} changes made and verified." in out
    assert levels(lab, "EX02")["Default EX02"] == "Verbose"
    assert levels(lab, "EX01")["Client Frontend EX01"] == "Verbose"
    # Applying the same plan again is refused: what it changes is no longer what it planned.
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1
    assert "stale" in err and "no longer needs this change" in err


def test_each_host_is_reread_in_one_command_before_anything_is_sent(lab, saved, capsys):
    _, plan_file = saved
    before = round_trips(lab)
    assert run(capsys, "apply", str(plan_file))[0] == 0
    after = round_trips(lab)
    # The program: one command to re-read, one to apply and verify. Remote PowerShell: the re-read, then one
    # pipeline of all the changes under -ErrorAction Stop, with the read-back (docs/remote-powershell.md): EX01
    # sets 3 receive and 2 send connectors, EX02 3 receive connectors, and neither pays per change.
    assert {name: after[name] - before[name] for name in after} == {"EX01": 2, "EX02": 2, "EDGE01": 0}


def test_a_value_changed_since_the_plan_makes_it_stale_and_nothing_is_changed(lab, saved, capsys):
    _, plan_file = saved
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Client Proxy EX02", ProtocolLoggingLevel="Verbose")
    snapshot = everything(lab)
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1
    assert "the saved plan is stale; nothing was changed on any host" in err
    assert "ex02.contoso.lab: receive_connector 'Client Proxy EX02' no longer needs this change" in err
    assert "exconf plan" in err
    assert everything(lab) == snapshot  # EX01 was not touched either


def test_a_before_value_that_moved_is_named_with_both_values(lab, capsys, tmp_path):
    inv = lab.inventory(INVENTORY.replace('"Default {server}": {protocol_logging_level: Verbose}', '"Default {server}": {protocol_logging_level: None}'))
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default EX01", ProtocolLoggingLevel="Verbose")
    plan_file = tmp_path / "p.plan"
    assert run(capsys, "plan", str(inv), "--out", str(plan_file))[0] == 0
    # Someone else makes a third value: still differs from the declaration, but not from what was planned.
    saved = planfile.load(plan_file)
    (change,) = [c for c in saved.review["changes"] if c["name"] == "Default EX01"]
    assert change["properties"][0]["before"] == "Verbose"
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default EX01", ProtocolLoggingLevel="None")
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Client Proxy EX01", ProtocolLoggingLevel="Verbose")
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "'Default EX01' no longer needs this change" in err


def test_an_object_that_appeared_makes_it_stale(lab, saved, capsys):
    _, plan_file = saved
    # Renaming an undeclared connector into the declared pattern: a new object the plan never saw.
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Outbound Proxy Frontend EX01", Name="Client Outbound EX01")
    snapshot = everything(lab)
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1
    assert "receive_connector 'Client Outbound EX01'" in err and ("appeared" in err or "now differs" in err)
    assert everything(lab) == snapshot


def test_an_object_that_disappeared_makes_it_stale(lab, saved, capsys):
    _, plan_file = saved
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Client Proxy EX01", Name="Proxy Client EX01")
    snapshot = everything(lab)
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1
    assert "'Client Proxy EX01'" in err and ("disappeared" in err or "no longer needs" in err)
    assert everything(lab) == snapshot


def test_a_changed_inventory_makes_it_stale(lab, saved, capsys):
    inv, plan_file = saved
    inv.write_text(inv.read_text() + "\n# a comment is a change too\n")
    snapshot = everything(lab)
    before = round_trips(lab)
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "the inventory" in err and "changed since the plan was made" in err
    assert everything(lab) == snapshot
    assert round_trips(lab) == before  # no host was even read


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("exconf_version", "0.0.1", "was made by exconf 0.0.1"), ("program_hash", "AB" * 32, "made for remote program ABABABABABAB")],
)
def test_another_exconf_or_program_makes_it_stale(lab, saved, capsys, field, value, message):
    _, plan_file = saved
    doc = json.loads(plan_file.read_text())
    doc["saved"][field] = value
    resign(plan_file, doc)  # an old plan of this user, authentic but made by another exconf
    snapshot = everything(lab)
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and message in err
    assert everything(lab) == snapshot


def test_the_plan_file_is_private_and_holds_no_secret(saved):
    _, plan_file = saved
    assert stat.S_IMODE(os.stat(plan_file).st_mode) == 0o600
    text = plan_file.read_text()
    assert PASSWORD not in text
    doc = json.loads(text)
    assert doc["format_version"] == "1" and doc["saved"]["planfile_version"] == planfile.PLANFILE_VERSION
    review = doc["saved"]["review"]
    assert all(set(h) >= {"endpoint", "facts", "status"} for h in review["hosts"].values())
    assert review["hosts"]["ex01.contoso.lab"]["endpoint"].startswith("http://127.")
    assert doc["mac"]["algorithm"] == "HMAC-SHA256" and len(doc["mac"]["value"]) == 64


def test_show_prints_a_saved_plan_as_text_and_json(saved, capsys):
    _, plan_file = saved
    planned = len(json.loads(plan_file.read_text())["changes"])
    assert planned == 8  # two EdgeSync send connectors, three receive connectors on each of two servers
    code, out, _ = run(capsys, "show", str(plan_file))
    assert code == 0
    assert '# ex01.contoso.lab: receive_connector "Default EX01" will be updated in-place' in out
    assert "Plan: 0 to add, 8 to change, 0 to destroy, 0 to replace." in out
    code, out, _ = run(capsys, "show", str(plan_file), "--json")
    doc = json.loads(out)
    assert code == 0 and "saved" not in doc and len(doc["changes"]) == planned


def test_a_file_that_is_not_a_plan_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.plan"
    bad.write_text('{"format_version": "1", "hosts": {}}')
    code, _, err = run(capsys, "apply", str(bad))
    assert code == 1 and "is not a saved plan" in err and "Traceback" not in err
    bad.write_text('{"format_version": "1", "saved": {"planfile_version": 1, "hosts": {"h": {}}}}')
    code, _, err = run(capsys, "show", str(bad))
    assert code == 1 and "a plan file of format 1; this exconf reads format 2" in err
    bad.write_text('{"format_version": "1", "saved": {"planfile_version": 2, "review": {"hosts": []}}}')
    code, _, err = run(capsys, "show", str(bad))
    assert code == 1 and "is damaged" in err


def test_a_second_apply_is_refused_while_one_holds_the_lock(lab, capsys):
    inv = lab.inventory(INVENTORY)
    snapshot = everything(lab)
    with acquire(inv, inv.stem, "exconf apply (test)"):
        code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 1
    assert "another apply holds the lock" in err and f"pid {os.getpid()}" in err and "since" in err
    assert everything(lab) == snapshot


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_warning(lab, capsys):
    inv = lab.inventory(INVENTORY)
    lock_path(inv, inv.stem).write_text(json.dumps({"host": "admin-pc", "pid": 999999, "since": "2026-01-01T00:00:00+00:00", "command": "exconf apply"}))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert "took over a lock left by a process that is gone" in err and "pid 999999" in err
    assert levels(lab, "EX01")["Default EX01"] == "Verbose"


def test_limit_on_a_saved_plan_is_a_usage_error(saved, capsys):
    _, plan_file = saved
    code, _, err = run(capsys, "apply", str(plan_file), "--limit", "ex01.contoso.lab")
    assert code == 64 and "--limit cannot narrow a saved plan" in err
