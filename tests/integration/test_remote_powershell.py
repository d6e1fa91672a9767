"""Which door a host takes, and Exchange's RBAC as a run meets it (docs/remote-powershell.md)."""

from __future__ import annotations

import json

from exconf.cli import main

from .conftest import PASSWORD

VIEWER = "Lab-Viewer-1"
ACCOUNTS = [
    {"user": "exadmin", "password": PASSWORD},
    {"user": "viewer", "password": VIEWER, "role_groups": ["View-Only Organization Management"]},
]
SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"},
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_cmdlet_outside_the_accounts_roles_is_exchanges_refusal_for_that_host_only(make_lab, capsys):
    lab = make_lab(SERVERS[:2], accounts=ACCOUNTS)
    inv = lab.inventory(f"""
        all:
          vars:
            ansible_user: CONTOSO\\exadmin
            ansible_password: {PASSWORD}
            exchange:
              receive_connectors:
                "Default {{server}}": {{protocol_logging_level: Verbose}}
          hosts:
            ex01.contoso.lab: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\viewer, ansible_password: {VIEWER}}}
            ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
        """)
    # View-Only Organization Management reads everything exconf reads: the plan is whole
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, out + err
    assert 'receive_connector "Default EX01" will be updated' in out and 'receive_connector "Default EX02" will be updated' in out

    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 2, out + err
    # Exchange's refusal, as a remote session gives it: the cmdlet is not in the viewer's session
    assert "The term 'Set-ReceiveConnector' is not recognized as the name of a cmdlet" in out
    assert "note: [ex01.contoso.lab] Set-ReceiveConnector is not in the remote PowerShell session of CONTOSO\\viewer" in out
    assert "ex01.contoso.lab           : ok=0    changed=0    unreachable=0    failed=1" in out
    assert "ex02.contoso.lab           : ok=1    changed=1    unreachable=0    failed=0" in out
    (ex01,) = lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    assert ex01["ProtocolLoggingLevel"] == "None"
    # the change that was made is in the admin audit log under the account that made it
    entries = lab.exec("EX01", "Search-AdminAuditLog", Cmdlets=["Set-ReceiveConnector"])
    assert [(e["ObjectModified"], e["Caller"]) for e in entries] == [("EX02\\Default EX02", "contoso.lab/Users/exadmin")]


def test_each_host_takes_its_door_and_the_inventory_says_which_and_why(make_lab, capsys):
    lab = make_lab(SERVERS, accounts=ACCOUNTS)
    text = f"""
        all:
          vars:
            ansible_user: CONTOSO\\exadmin
            ansible_password: {PASSWORD}
            exchange:
              transport_service: {{send_protocol_log_max_age: "20.00:00:00"}}
          hosts:
            ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
            ex02.contoso.lab: {{ansible_host: "{{EX02}}", ansible_connection: winrm}}
            edge01.contoso.lab: {{ansible_host: "{{EDGE01}}", exconf_role: Edge, ansible_user: EDGE01\\Administrator,
                                  ansible_password: Lab-EdgeAdmin-1, ansible_winrm_transport: ntlm}}
        """
    inv = lab.inventory(text)
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    # EX02's program logs on with NTLM: its Exchange cmdlets cannot reach Active Directory (the double
    # hop, test_double_hop.py); that host alone fails, and says why.
    assert code == 2, out + err
    assert "ex02.contoso.lab           : ok=0    changed=0    unreachable=0    failed=1" in out
    assert "The supplied credential for 'CONTOSO\\exadmin' is invalid. This is the double hop" in out
    assert "ex01.contoso.lab           : ok=1    changed=1" in out and "edge01.contoso.lab         : ok=1    changed=1" in out
    stats = lab.stats()
    served = {name: {path for path, e in s["endpoints"].items() if e["requests"]} for name, s in stats.items()}
    assert served == {"EX01": {"/PowerShell"}, "EX02": {"/wsman"}, "EDGE01": {"/wsman"}}

    code, out, err = run(capsys, "inventory", str(inv), "--host", "ex01.contoso.lab")
    assert code == 0 and json.loads(out)["ansible_host"] == lab.addresses["EX01"]  # stdout: the variables only
    assert f"Door: ex01.contoso.lab: Exchange remote PowerShell (http://{lab.addresses['EX01']}:" in err
    assert "it is a Mailbox server" in err
    code, out, err = run(capsys, "inventory", str(inv), "--host", "ex02.contoso.lab")
    assert "Door: ex02.contoso.lab: exconf's program over WinRM" in err and "ansible_connection: winrm" in err
    assert "only a delegated Kerberos ticket allows (the double hop" in err
    code, out, err = run(capsys, "inventory", str(inv), "--host", "edge01.contoso.lab")
    assert "Door: edge01.contoso.lab: exconf's program over WinRM" in err and "exconf_role: Edge" in err
    assert "double hop" not in err  # an Edge's Active Directory is its own (AD LDS)


def test_psrp_on_an_edge_is_refused_when_the_inventory_loads_and_no_host_is_contacted(make_lab, capsys):
    lab = make_lab(SERVERS, accounts=ACCOUNTS)
    inv = lab.inventory(f"""
        all:
          hosts:
            ex01.contoso.lab: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}
            edge01.contoso.lab:
              ansible_host: "{{EDGE01}}"
              ansible_connection: psrp
              ansible_user: EDGE01\\Administrator
              ansible_password: Lab-EdgeAdmin-1
              exchange:
                edge_subscription: {{site: Amsterdam}}
        """)
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 1
    assert "ansible_connection" in err and "an Edge Transport server does not have" in err and "set it to winrm" in err
    assert all(s["requests"] == 0 for s in lab.stats().values())


def test_a_server_that_sends_a_certificates_rawdata_only_leaves_its_services_unknown_and_changes_nothing(make_lab, capsys):
    """Older builds send no SerializationData: the certificate is read from RawData (thumbprint,
    subject, dates) and its services are unknown, never "None" and never a reason for a change."""
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "certificate_serialization": "none"}])
    inv = lab.inventory(f"""
        all:
          hosts:
            ex01.contoso.lab:
              ansible_host: "{{EX01}}"
              ansible_user: CONTOSO\\exadmin
              ansible_password: {PASSWORD}
              exchange:
                certificates:
                  - match: {{subject: "CN=EX01"}}
                    services: [SMTP]
        """)
    code, out, err = run(capsys, "plan", str(inv), "--json")
    doc = json.loads(out)
    # Its Status comes from SerializationData too: unknown, so the match finds no certificate known to
    # be valid, and says what it found (read from RawData: subject, thumbprint, end date)
    (finding,) = [f for f in doc["findings"] if f["resource"] == "exchange_certificate"]
    assert "selects no valid certificate (found: CN=EX01 (" in finding["message"] and " Unknown, until 20" in finding["message"]
    assert not [c for c in doc["changes"] if c["resource"] == "exchange_certificate"]
    before = lab.stats()["EX01"]["endpoints"]["/PowerShell"]["pipelines"]
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert "Enable-ExchangeCertificate" not in out
    (cert,) = [c for c in lab.exec("EX01", "Get-ExchangeCertificate") if c["Subject"] == "CN=EX01"]
    assert cert["Services"] == "IMAP, POP, IIS, SMTP"  # as it was
    assert lab.stats()["EX01"]["endpoints"]["/PowerShell"]["pipelines"] == before + 1  # the read only

    # Named by its thumbprint, the certificate is found, and its services are unknown: no change
    inv = lab.inventory(inv.read_text().replace('match: {subject: "CN=EX01"}', f'thumbprint: {cert["Thumbprint"]}'))
    code, out, err = run(capsys, "plan", str(inv), "--json")
    (finding,) = [f for f in json.loads(out)["findings"] if f["resource"] == "exchange_certificate"]
    assert "could not be read on EX01: unknown, so no change is proposed" in finding["message"], finding
