"""Bad input and failing hosts: clear errors, the others go on, nothing half-applied goes unreported."""

from __future__ import annotations

import json
import re

from exconf.cli import main

from .conftest import PASSWORD, unique_prefix

MAILBOX = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"}]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def inventory(password: str = PASSWORD, ex02_host: str = "{EX02}", extra_ex01: str = "") -> str:
    return f"""
    all:
      vars:
        ansible_user: CONTOSO\\exadmin
        ansible_password: {password}
        ansible_winrm_connection_timeout: 5
        exchange:
          transport_service: {{intra_org_connector_protocol_logging_level: Verbose}}
          receive_connectors:
            "Default Frontend {{server}}": {{protocol_logging_level: None}}
            "Default {{server}}": {{protocol_logging_level: Verbose}}
      hosts:
        ex01.contoso.lab: {{ansible_host: "{{EX01}}"{extra_ex01}}}
        ex02.contoso.lab: {{ansible_host: "{ex02_host}"}}
    """


def edge_inventory(*extra: str) -> str:
    """One Edge over HTTPS with its local account; ``extra`` lines go under the host."""
    lines = "".join(f"\n              {line}" for line in extra)
    return f"""
        all:
          hosts:
            edge01.contoso.lab:
              ansible_host: "{{EDGE01}}"
              ansible_port: 5986
              ansible_user: EDGE01\\Administrator
              ansible_password: Lab-EdgeAdmin-1{lines}
        """


def test_a_wrong_password_is_unreachable_for_that_host_only(make_lab, capsys):
    lab = make_lab(MAILBOX)
    inv = lab.inventory(inventory(password="wrong-password"))
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["hosts"]["ex01.contoso.lab"]["status"] == "unreachable"
    error = doc["hosts"]["ex01.contoso.lab"]["error"]
    assert "wrong-password" not in out + err
    if lab.door == "winrm":
        # The program to a Mailbox server logs on with Kerberos (conftest.door_vars): the KDC refuses the
        # password, and the server never sees a logon.
        assert re.fullmatch(r"http://[\d.]+:\d+/wsman: Kerberos: the KDC refused the password of exadmin@CONTOSO\.LAB "
                            r"\(Preauthentication failed\); check the password \(exconf_password_env or ansible_password\)", error), error
        assert lab.stats()["EX01"]["auth_failures"] == 0
        return
    # The endpoint and the account are named (the backslash doubled as repr writes it today, or single); negotiate
    # with a DOMAIN\user name is NTLM (docs/remote-powershell.md), and the error says which was refused.
    assert re.fullmatch(r"http://[\d.]+:\d+/PowerShell: the server refused the credentials of 'CONTOSO\\{1,2}exadmin' "
                        r"\(ntlm\): check the password; .*", error), error
    assert lab.stats()["EX01"]["auth_failures"] >= 1


def test_a_host_that_is_down_does_not_stop_the_others(make_lab, capsys):
    lab = make_lab(MAILBOX)
    down = unique_prefix() + ".9"  # nothing listens there
    inv = lab.inventory(inventory(ex02_host=down))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 4, out + err
    assert "UNREACHABLE: ex02.contoso.lab" in out and "cannot connect" in out and down in out
    recap = {l.split()[0]: l for l in out.splitlines() if " : ok=" in l}
    assert "unreachable=1" in recap["ex02.contoso.lab"]
    assert "changed=3" in recap["ex01.contoso.lab"] and "failed=0" in recap["ex01.contoso.lab"]
    (rc,) = lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    assert rc["ProtocolLoggingLevel"] == "Verbose"


def test_a_failing_cmdlet_stops_that_host_and_the_recap_says_what_was_applied(make_lab, capsys):
    # A host's operations run in address order: its receive connectors, then its transport service.
    lab2 = make_lab([{**MAILBOX[0], "faults": {"cmdlets": [{"cmdlet": "Set-TransportService", "message": "Active Directory operation failed on DC01.contoso.lab."}]}},
                     MAILBOX[1]])
    code, out, err = run(capsys, "apply", str(lab2.inventory(inventory())), "--auto-approve", "--json")
    assert code == 2, out + err
    doc = json.loads(out)
    outcome = {(c["host"], c["resource"], c["name"]): c["outcome"] for c in doc["changes"]}
    assert outcome[("ex01.contoso.lab", "receive_connector", "Default EX01")] == "applied"
    assert outcome[("ex01.contoso.lab", "receive_connector", "Default Frontend EX01")] == "applied"
    assert outcome[("ex01.contoso.lab", "transport_service", "EX01")] == "failed"
    assert all(v == "applied" for (h, _, _), v in outcome.items() if h == "ex02.contoso.lab")
    failed = next(c for c in doc["changes"] if c["outcome"] == "failed")
    assert "Active Directory operation failed" in failed["message"]
    assert doc["recap"]["ex01.contoso.lab"] == {"ok": 2, "changed": 2, "unreachable": 0, "failed": 1}
    (rc,) = lab2.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    assert rc["ProtocolLoggingLevel"] == "Verbose"
    (ts,) = lab2.exec("EX01", "Get-TransportService", Identity="EX01")
    assert ts["IntraOrgConnectorProtocolLoggingLevel"] == "None"


def test_after_a_failure_nothing_else_is_sent_to_that_host(make_lab, capsys):
    faults = {"cmdlets": [{"cmdlet": "Set-ReceiveConnector", "message": "Active Directory operation failed on DC01.contoso.lab."}]}
    lab = make_lab([{**MAILBOX[0], "faults": faults}, MAILBOX[1]])
    code, out, err = run(capsys, "apply", str(lab.inventory(inventory())), "--auto-approve", "--json")
    assert code == 2, out + err
    outcome = {(c["host"], c["resource"], c["name"]): c["outcome"] for c in json.loads(out)["changes"]}
    assert outcome[("ex01.contoso.lab", "receive_connector", "Default EX01")] == "failed"
    assert outcome[("ex01.contoso.lab", "receive_connector", "Default Frontend EX01")] == "not_run"
    assert outcome[("ex01.contoso.lab", "transport_service", "EX01")] == "not_run"
    (ts,) = lab.exec("EX01", "Get-TransportService", Identity="EX01")
    assert ts["IntraOrgConnectorProtocolLoggingLevel"] == "None"


def test_a_pattern_that_matches_nothing_fails_the_host_with_its_location(make_lab, capsys):
    lab = make_lab(MAILBOX)
    inv = lab.inventory(
        """
        all:
          vars:
            ansible_user: CONTOSO\\exadmin
            ansible_password: %s
            exchange:
              receive_connectors:
                "Partner Relay {server}": {protocol_logging_level: Verbose}
          hosts:
            ex01.contoso.lab: {ansible_host: "{EX01}"}
        """
        % PASSWORD
    )
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 2
    assert out.count("FAILED: ex01.contoso.lab") == 1
    assert "inventory.yaml:7:9: receive_connectors: 'Partner Relay EX01' matches no receive connector on EX01" in out


def test_front_end_transport_declared_for_an_edge_is_an_error_for_that_host(make_lab, capsys):
    lab = make_lab([{"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}])
    inv = lab.inventory(
        edge_inventory(
            "ansible_winrm_transport: basic",
            'ansible_winrm_ca_trust_path: "{CA}"',
            "exchange:",
            "  frontend_transport_service: {intra_org_connector_protocol_logging_level: None}",
        )
    )
    code, out, _ = run(capsys, "plan", str(inv))
    assert code == 1
    assert "frontend_transport_service: EDGE01 is an Edge server, which has no front end transport service" in out


def test_https_without_the_lab_ca_fails_certificate_validation(make_lab, capsys):
    lab = make_lab([{"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}])
    inv = lab.inventory(edge_inventory())
    code, out, _ = run(capsys, "plan", str(inv))
    assert code == 1
    assert "UNREACHABLE: edge01.contoso.lab" in out
    # The certificate's problem, in OpenSSL's words, and the variable that fixes it.
    assert "TLS failed: the server's certificate is not trusted (" in out
    assert "ansible_winrm_ca_trust_path (a PEM file of CA certificates)" in out  # whether a CA bundle was set in the environment or not


def test_an_invalid_inventory_contacts_no_host(make_lab, capsys):
    lab = make_lab(MAILBOX)
    inv = lab.inventory(inventory().replace("protocol_logging_level: Verbose", "protocol_logging_level: Loud"))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 1
    assert "is not a valid inventory (2 problems)" in err and "expected one of None, Verbose, found 'Loud'" in err
    assert all(s["requests"] == 0 for s in lab.stats().values())


def test_turning_certificate_validation_off_is_explicit_and_warned_about(make_lab, capsys):
    lab = make_lab([{"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}])
    inv = lab.inventory(edge_inventory("ansible_winrm_server_cert_validation: ignore"))
    code, out, _ = run(capsys, "plan", str(inv))
    assert code == 0
    assert "Warning: HTTPS certificate validation is off" in out and "edge01.contoso.lab" in out


def test_a_host_that_does_not_answer_in_time_is_unreachable_and_the_others_go_on(make_lab, capsys):
    lab = make_lab([MAILBOX[0], {**MAILBOX[1], "faults": {"delay_seconds": 3}}])
    inv = lab.inventory(
        inventory().replace("ansible_winrm_connection_timeout: 5", "ansible_winrm_operation_timeout_sec: 1\n        ansible_winrm_read_timeout_sec: 2\n"
                            "        ansible_psrp_operation_timeout: 1\n        ansible_psrp_read_timeout: 2")
    )
    code, out, _ = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    hosts = json.loads(out)["hosts"]
    assert hosts["ex02.contoso.lab"]["status"] == "unreachable"
    assert "no answer within 2 s" in hosts["ex02.contoso.lab"]["error"]
    assert hosts["ex01.contoso.lab"]["status"] == "ok"
