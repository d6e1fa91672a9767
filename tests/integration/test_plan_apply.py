"""exconf plan/apply over real WinRM (stock pywinrm) against an in-process lab."""

from __future__ import annotations

import json

import pytest

from exconf.cli import main
from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer

from .conftest import EDGE_PASSWORD, PASSWORD, STANDARD

INVENTORY = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange_organization:
      send_connectors:
        "EdgeSync - *Amsterdam*": {{protocol_logging_level: Verbose}}
      transport_config:
        tls_send_domain_secure_list: [fabrikam.com]
  children:
    mailbox:
      vars:
        exchange:
          transport_service:
            intra_org_connector_protocol_logging_level: Verbose
            send_protocol_log_max_age: "14.00:00:00"
            send_protocol_log_max_directory_size: 500 MB
          frontend_transport_service: {{intra_org_connector_protocol_logging_level: None}}
          receive_connectors:
            "Default Frontend {{server}}": {{protocol_logging_level: None}}
            "Default {{server}}": {{protocol_logging_level: Verbose}}
      hosts:
        ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
        ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
    edge:
      hosts:
        edge01.contoso.lab:
          ansible_host: "{{EDGE01}}"
          ansible_port: 5986
          ansible_winrm_ca_trust_path: "{{CA}}"
          ansible_user: EDGE01\\Administrator
          ansible_password: {EDGE_PASSWORD}
          exchange:
            receive_connectors:
              "Default internal receive connector {{server}}": {{protocol_logging_level: Verbose}}
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def receive_level(lab, server: str, name: str) -> str:
    (obj,) = lab.exec(server, "Get-ReceiveConnector", Identity=f"{server}\\{name}")
    return obj["ProtocolLoggingLevel"]


@pytest.fixture
def lab(make_lab):
    return make_lab(STANDARD)


def test_plan_shows_every_difference_and_changes_nothing(lab, capsys):
    inv = lab.inventory(INVENTORY)
    before = lab.state_file.read_bytes() if lab.state_file.exists() else b""
    code, out, err = run(capsys, "plan", str(inv), "--json", "--detailed-exitcode")
    assert code == 2, err
    doc = json.loads(out)
    assert doc["format_version"] == "1"
    assert {h: v["status"] for h, v in doc["hosts"].items()} == {"ex01.contoso.lab": "ok", "ex02.contoso.lab": "ok", "edge01.contoso.lab": "ok"}
    assert doc["hosts"]["edge01.contoso.lab"]["role"] == "Edge" and doc["hosts"]["ex01.contoso.lab"]["site"] == "Amsterdam"
    assert doc["hosts"]["ex01.contoso.lab"]["version"].startswith("15.")
    changes = {(c["host"], c["resource"], c["name"]): c for c in doc["changes"]}
    assert ("ex01.contoso.lab", "send_connector", "EdgeSync - Amsterdam to Internet") in changes
    assert ("ex01.contoso.lab", "send_connector", "EdgeSync - Inbound to Amsterdam") in changes
    assert ("ex01.contoso.lab", "transport_config", "Transport Settings") in changes
    frontend = changes[("ex02.contoso.lab", "receive_connector", "Default Frontend EX02")]
    assert frontend["action"] == "update"
    assert frontend["properties"] == {"protocol_logging_level": {"before": "Verbose", "after": "None"}}
    assert frontend["reason"].startswith("declared in ") and "inventory.yaml" in frontend["reason"]
    ts = changes[("ex01.contoso.lab", "transport_service", "EX01")]["properties"]
    assert ts["send_protocol_log_max_age"] == {"before": "30.00:00:00", "after": "14.00:00:00"}
    assert ts["send_protocol_log_max_directory_size"] == {"before": "250 MB", "after": "500 MB"}
    assert ("edge01.contoso.lab", "receive_connector", "Default internal receive connector EDGE01") in changes
    assert doc["summary"] == {"add": 0, "change": len(doc["changes"]), "destroy": 0, "replace": 0, "unreachable": 0, "failed": 0}
    assert len(doc["changes"]) == 12
    # Nothing changed on the servers.
    assert receive_level(lab, "EX02", "Default Frontend EX02") == "Verbose"
    after = lab.state_file.read_bytes() if lab.state_file.exists() else b""
    assert json.loads(after or b"{}") == json.loads(before or b"{}")
    assert PASSWORD not in out + err and EDGE_PASSWORD not in out + err


def test_apply_converges_and_a_second_apply_changes_nothing(lab, capsys):
    inv = lab.inventory(INVENTORY)
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert "Apply complete: 12 of 12 changes made and verified." in out
    assert receive_level(lab, "EX01", "Default Frontend EX01") == "None"
    assert receive_level(lab, "EX01", "Default EX01") == "Verbose"
    assert receive_level(lab, "EX01", "Client Frontend EX01") == "None"  # not declared, untouched
    assert receive_level(lab, "EDGE01", "Default internal receive connector EDGE01") == "Verbose"
    (ts,) = lab.exec("EX02", "Get-TransportService", Identity="EX02")
    assert ts["SendProtocolLogMaxAge"] == "14.00:00:00"
    assert ts["SendProtocolLogMaxDirectorySize"].startswith("500 MB")
    assert ts["ReceiveProtocolLogMaxAge"] == "30.00:00:00"  # not declared, untouched
    connectors = {c["Name"]: c["ProtocolLoggingLevel"] for c in lab.exec("EX01", "Get-SendConnector")}
    assert connectors["EdgeSync - Amsterdam to Internet"] == connectors["EdgeSync - Inbound to Amsterdam"] == "Verbose"
    (cfg,) = lab.exec("EX01", "Get-TransportConfig")
    assert cfg["TLSSendDomainSecureList"] == ["fabrikam.com"]
    for line in ("ex01.contoso.lab", "ex02.contoso.lab", "edge01.contoso.lab"):
        assert any(l.startswith(line) and "unreachable=0" in l and "failed=0" in l for l in out.splitlines()), out

    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0 and "No changes." in out
    assert "changed=0" in out and "changed=1" not in out
    code, out, _ = run(capsys, "plan", str(inv), "--detailed-exitcode")
    assert code == 0 and "No changes." in out


def test_request_budget_per_host(lab, capsys):
    inv = lab.inventory(INVENTORY)
    run(capsys, "plan", str(inv))
    after_plan = lab.stats()
    wsman = {name: s["endpoints"]["/wsman"] for name, s in after_plan.items()}
    powershell = {name: s["endpoints"]["/PowerShell"] for name, s in after_plan.items()}
    # The first token rides on the first request (RFC 4559 4.2, engine/transport/firsttoken.py). The program
    # over WinRM (NTLM over HTTP): 2 to authenticate (NEGOTIATE, AUTHENTICATE) + Create, Command, Send,
    # Receive, Delete; over HTTPS (the Edge) the first operation rides on NTLM's legs, one fewer: 6. Remote
    # PowerShell: 2 to authenticate + Create and a Receive to open the pool, one pipeline (Command, Receive),
    # Delete: 7. The program to a Mailbox server logs on with Kerberos (the double hop needs it,
    # docs/kerberos.md): the ticket with the first request, one request to authenticate: 6.
    # Over SSH (the Edge under door "ssh"): the version exchange, KEXINIT and the key exchange, the ssh-userauth
    # service request and the password: 5 round trips, then a channel, its exec request and its answer.
    plan_cost = 6 if lab.door == "winrm" else 7
    edge_plan = 8 if lab.door == "ssh" else 6
    assert {name: s["requests"] for name, s in after_plan.items()} == {"EX01": plan_cost, "EX02": plan_cost, "EDGE01": edge_plan}
    if lab.door == "ssh":
        ssh = after_plan["EDGE01"]["endpoints"]["ssh"]
        assert (ssh["connections"], ssh["channels"], ssh["commands"]) == (1, 1, 1)
        assert wsman["EDGE01"]["requests"] == 0
    else:
        assert wsman["EDGE01"]["commands"] == 1 and wsman["EDGE01"]["shells"] == 1
    mailbox = wsman if lab.door == "winrm" else powershell
    for name in ("EX01", "EX02"):
        assert mailbox[name]["requests"] == plan_cost
        assert (mailbox[name]["commands"], mailbox[name]["shells"]) == (1, 1) if lab.door == "winrm" else \
            (mailbox[name]["pipelines"], mailbox[name]["runspace_pools"]) == (1, 1)
    run(capsys, "apply", str(inv), "--auto-approve")
    after_apply = lab.stats()
    per_host = {name: after_apply[name]["requests"] - after_plan[name]["requests"] for name in after_apply}
    # An apply is read, change and read back. Over remote PowerShell: 2 to authenticate, Create and a
    # Receive to open the pool, a Command and a Receive for the read and for the changes (one pipeline:
    # each statement under -ErrorAction Stop, so an error Exchange writes ends it; the read-back rides
    # with them), Delete: 9 (docs/remote-powershell.md). EX02 changes 4 objects, EX01 also the
    # organisation's 3: the count does not grow with them. The program: its plan, then the wave's Send and
    # Receive to the program still running in its shell (no Signal, no second Command). Its door to a Mailbox
    # server logs on with Kerberos (1 request to authenticate where NTLM takes 2, conftest.door_vars): 6 + 2;
    # the Edge with NTLM over HTTPS, whose first operation rides on NTLM's last leg: 8.
    if lab.door == "winrm":
        assert per_host == {"EX01": 8, "EX02": 8, "EDGE01": 8}
    else:
        # Over SSH, apply is one connection (5) with two channels, read and change (3 each): 11. Under the
        # remote PowerShell door the Edge keeps the program over WinRM: 8.
        assert per_host == {"EX01": 9, "EX02": 9, "EDGE01": 11 if lab.door == "ssh" else 8}
    if lab.door == "ssh":
        ssh = {k: after_apply["EDGE01"]["endpoints"]["ssh"][k] - after_plan["EDGE01"]["endpoints"]["ssh"][k]
               for k in ("connections", "channels", "commands")}
        assert ssh == {"connections": 1, "channels": 2, "commands": 2}  # one connection for read, apply and verify


def test_state_survives_a_lab_restart(lab, capsys):
    inv = lab.inventory(INVENTORY)
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0
    lab.server.stop()
    restarted = LabServer(LabStore(lab.org_file, lab.state_file), lab.state_file.parent).start()
    try:
        code, out, _ = run(capsys, "plan", str(inv), "--detailed-exitcode")
        assert code == 0, out
    finally:
        restarted.stop()


def test_an_out_of_band_change_shows_up_in_the_next_plan(lab, capsys):
    inv = lab.inventory(INVENTORY)
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default EX02", ProtocolLoggingLevel="None")
    code, out, _ = run(capsys, "plan", str(inv), "--detailed-exitcode", "--limit", "mailbox")
    assert code == 2
    assert '# ex02.contoso.lab: receive_connector "Default EX02" will be updated in-place' in out
    assert 'protocol_logging_level = "None" -> "Verbose"' in out
    assert "Plan: 0 to add, 1 to change, 0 to destroy, 0 to replace." in out


def test_apply_without_a_terminal_needs_auto_approve(lab, capsys, monkeypatch):
    inv = lab.inventory(INVENTORY)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    code, out, err = run(capsys, "apply", str(inv))
    assert code == 1 and "--auto-approve" in err
    assert receive_level(lab, "EX01", "Default Frontend EX01") == "Verbose"


def test_limit_and_forks(lab, capsys):
    inv = lab.inventory(INVENTORY)
    code, out, _ = run(capsys, "plan", str(inv), "--json", "--limit", "edge", "--forks", "1")
    doc = json.loads(out)
    assert list(doc["hosts"]) == ["edge01.contoso.lab"]
    assert [c["resource"] for c in doc["changes"]] == ["receive_connector"]
    # Honest about why: not selected, not "unreachable".
    assert any("were not planned: --limit 'edge' does not select the pseudo-host 'organization'" in w for w in doc["warnings"])
    assert not any("reachable" in w for w in doc["warnings"])
    assert lab.stats()["EX01"]["requests"] == 0


def test_organisation_objects_are_selected_with_the_organization_pseudo_host(lab, capsys):
    inv = lab.inventory(INVENTORY)
    # Piloting on one server leaves the organisation alone.
    doc = json.loads(run(capsys, "plan", str(inv), "--json", "--limit", "ex02.contoso.lab")[1])
    assert {c["resource"] for c in doc["changes"]} == {"receive_connector", "transport_service", "frontend_transport_service"}
    # Named explicitly with an Edge only: a Mailbox server outside --limit carries them, and only them.
    ex02_before = lab.stats()["EX02"]["requests"]
    code, out, _ = run(capsys, "plan", str(inv), "--json", "--limit", "edge,organization")
    doc = json.loads(out)
    assert code == 0
    assert {(c["host"], c["resource"]) for c in doc["changes"]} == {
        ("edge01.contoso.lab", "receive_connector"),
        ("ex01.contoso.lab", "send_connector"),
        ("ex01.contoso.lab", "transport_config"),
    }
    assert any("through ex01.contoso.lab, a Mailbox server outside --limit (only those objects)" in w for w in doc["warnings"])
    assert lab.stats()["EX02"]["requests"] == ex02_before  # one carrier is enough
    # Excluded explicitly.
    doc = json.loads(run(capsys, "plan", str(inv), "--json", "--limit", "all:!organization")[1])
    assert not {"send_connector", "transport_config"} & {c["resource"] for c in doc["changes"]}
    # The organisation alone.
    code, out, _ = run(capsys, "apply", str(inv), "--json", "--limit", "organization", "--auto-approve")
    doc = json.loads(out)
    assert code == 0 and {c["resource"] for c in doc["changes"]} == {"send_connector", "transport_config"}
    assert all(c["outcome"] == "applied" for c in doc["changes"])


def test_organisation_objects_go_through_a_mailbox_server_when_the_first_host_is_an_edge(lab, capsys):
    # Put the Edge first: its read answers not_applicable for the organisation reads, so exconf
    # reads (and changes) them through the first Mailbox server, with one more command there.
    text = INVENTORY.replace("    mailbox:\n", "    zmailbox:\n")
    edge_first = text.split("  children:\n", 1)
    body = edge_first[1]
    mailbox, edge = body.split("    edge:\n")
    inv = lab.inventory(edge_first[0] + "  children:\n    edge:\n" + edge + mailbox)
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve", "--json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert list(doc["hosts"])[0] == "edge01.contoso.lab"
    org = [c for c in doc["changes"] if c["resource"] in ("send_connector", "transport_config")]
    assert {c["host"] for c in org} == {"ex01.contoso.lab"} and len(org) == 3
    assert all(c["outcome"] == "applied" for c in doc["changes"])
    stats = lab.stats()
    if lab.door == "winrm":
        # one program per shell; EX01 had the organisation's read on top: one more payload (a Send)
        assert stats["EX01"]["commands"] == stats["EX02"]["commands"] == 1
        assert stats["EX01"]["endpoints"]["/wsman"]["sends"] == 3 and stats["EX02"]["endpoints"]["/wsman"]["sends"] == 2
    else:  # one runspace pool per host for the whole run; EX01 had the organisation's read on top
        ex01, ex02 = (stats[n]["endpoints"]["/PowerShell"] for n in ("EX01", "EX02"))
        assert ex01["runspace_pools"] == ex02["runspace_pools"] == 1 and ex01["pipelines"] > ex02["pipelines"]


@pytest.mark.parametrize("answer, code, level", [("no", 1, "Verbose"), ("yes", 0, "None")])
def test_apply_asks_and_only_yes_approves(lab, capsys, monkeypatch, answer, code, level):
    inv = lab.inventory(INVENTORY)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("rich.console.Console.input", lambda self, prompt="": answer)
    got, out, _ = run(capsys, "apply", str(inv))
    assert got == code
    assert "Do you want to perform these actions?" in out and "RECAP" in out
    assert receive_level(lab, "EX01", "Default Frontend EX01") == level
