"""Who changed it, over real WinRM against the lab: never the administrator (or exconf) who set the right value
before the last in-sync run — the Edge resubscription case —, removals matched by thumbprint and cmdlet, and the
culprit found among more than 1,000 other changes because the search is filtered by time and cmdlets."""

from __future__ import annotations

import json
import time

import pytest

from exconf import remote

from .conftest import EDGE_PASSWORD, PASSWORD
from .test_certificates import TestCA, certs, inventory_text as cert_inventory, write_pfx
from .test_drift import run

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "subscribed": True},
]

EDGESYNC = """
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: @PASSWORD@
    exchange_organization:
      send_connectors:
        "EdgeSync - Amsterdam to Internet": {protocol_logging_level: Verbose}
  children:
    mailbox:
      vars:
        exchange:
          receive_connectors:
            "Default Frontend {server}": {protocol_logging_level: Verbose}
      hosts:
        ex01.contoso.lab: {ansible_host: "{EX01}"}
    edge:
      hosts:
        edge01.contoso.lab:
          ansible_host: "{EDGE01}"
          ansible_port: 5986
          ansible_winrm_ca_trust_path: "{CA}"
          ansible_user: EDGE01\\Administrator
          ansible_password: @EDGE_PASSWORD@
"""


def run_steps(store, server: str, steps: list[remote.Step]) -> remote.Answer:
    """exconf's program on a server's console, as the engine sends it (a step's output file comes back)."""
    command, arguments = remote.command_line()
    result = store.run_command(store.server(server), command, list(arguments), remote.encode_stdin(steps, halt_on_error=True), 437)
    return remote.decode_answer(result.stdout, result.stderr, result.exit_code)


def findings(out: str) -> dict[tuple[str, str], dict]:
    return {(f["resource"], f["name"]): f for f in json.loads(out)["findings"]}


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def test_an_edge_resubscription_is_not_blamed_on_whoever_set_the_right_value(lab, capsys):
    inv = lab.inventory(EDGESYNC.replace("@PASSWORD@", PASSWORD).replace("@EDGE_PASSWORD@", EDGE_PASSWORD))
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0  # exconf (as exadmin) sets Verbose on the connector
    assert run(capsys, "drift", str(inv))[0] == 0
    time.sleep(1.1)
    # The administrator resubscribes the Edge: the EdgeSync connectors are recreated with Exchange's defaults.
    data = run_steps(lab.server.store, "EDGE01", [remote.Step("f", "New-EdgeSubscription", {"Force": True}, output_file="FileName")]).result("f").file
    lab.exec("EX01", "Remove-EdgeSubscription", Identity="EDGE01", Confirm=False)
    lab.exec("EX01", "New-EdgeSubscription", FileData=data, Site="Amsterdam")
    logged = lab.exec("EX01", "Search-AdminAuditLog", ObjectIds=["EdgeSync - Amsterdam to Internet"])
    assert [e["CmdletName"] for e in logged] == ["Set-SendConnector"]  # the only entry about it: the right value
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 2, err
    connector = findings(out)[("send_connector", "EdgeSync - Amsterdam to Internet")]
    assert connector["drift"] == "drift" and connector["properties"][0]["actual"] == "None"
    assert connector["changed_by"]["status"] == "not_in_log" and "caller" not in connector["changed_by"]
    code, out, _ = run(capsys, "drift", str(inv))
    assert "who changed it: not in the admin audit log (searched " in out


IMAP_CERT = """\
        certificates:
          - match: {subject: "CN=imap.contoso.lab", issuer: "*Test Public CA*"}
            services: [IMAP]
            import: {pfx: certs/imap.pfx, password_env: SMTP_PFX_PASSWORD}
"""


def test_a_removed_certificate_is_matched_by_thumbprint_and_cmdlet(make_lab, capsys, monkeypatch):
    from .test_certificates import PFX_PASSWORD

    monkeypatch.setenv("SMTP_PFX_PASSWORD", PFX_PASSWORD)
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    thumb = write_pfx(lab, TestCA(), "imap.pfx", "imap.contoso.lab", ["imap.contoso.lab"])
    inv = lab.inventory(cert_inventory({"ex01": IMAP_CERT}))
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0
    assert thumb in certs(lab, "EX01")
    assert run(capsys, "drift", str(inv))[0] == 0
    time.sleep(1.1)
    lab.exec("EX01", "Remove-ExchangeCertificate", Thumbprint=thumb, Confirm=False)
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 2, err
    [cert] = [f for f in json.loads(out)["findings"] if f["resource"] == "exchange_certificate"]
    who = cert["changed_by"]
    assert who["cmdlet"] == "Remove-ExchangeCertificate" and who["caller"] == "contoso.lab/Users/exadmin"
    assert who["object"].endswith("\\" + thumb)


def test_the_culprit_is_found_after_1001_unrelated_changes(lab, capsys):
    inv = lab.inventory(EDGESYNC.replace("@PASSWORD@", PASSWORD).replace("@EDGE_PASSWORD@", EDGE_PASSWORD))
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0
    assert run(capsys, "drift", str(inv))[0] == 0
    time.sleep(1.1)
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default Frontend EX01", ProtocolLoggingLevel="None")
    # A day's helpdesk work after it: 1,001 changes of another connector by the same cmdlet (newer than the culprit).
    for n in range(1001):
        lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Client Proxy EX01", ProtocolLoggingLevel="Verbose" if n % 2 == 0 else "None")
    assert len(lab.exec("EX01", "Search-AdminAuditLog")) == 1000  # unfiltered, the documented default: the culprit is not in it
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 2, err
    who = findings(out)[("receive_connector", "Default Frontend EX01")]["changed_by"]
    assert who["caller"] == "contoso.lab/Users/exadmin" and who["object"] == "EX01\\Default Frontend EX01"
