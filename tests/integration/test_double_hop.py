"""The double hop, in the lab as on Windows: exconf's program in a WinRM shell on a domain-joined
Mailbox server reaches Active Directory as the caller, which only a delegated Kerberos ticket allows.

Over NTLM, and over Kerberos without delegation, the first Exchange cmdlet fails with Exchange's
ADInvalidCredentialException, and exconf says per host that this is the double hop and what to do.
An Edge reads its local AD LDS: the same program there works over NTLM. Through /PowerShell the same
cmdlets work with the same logon: Exchange runs them in its own process, under RBAC.
"""

from __future__ import annotations

import json

import pytest

from exconf.cli import main

from .conftest import EDGE_PASSWORD, PASSWORD

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"},
]

INVENTORY = """
all:
  vars:
    exconf_password_env: EXCONF_TEST_PW
    exchange:
      transport_service: {{intra_org_connector_protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}", {mailbox}}}
    edge01.contoso.lab:
      ansible_host: "{{EDGE01}}"
      ansible_port: 5986
      ansible_winrm_ca_trust_path: "{{CA}}"
      ansible_user: EDGE01\\Administrator
      exconf_password_env: EXCONF_TEST_EDGE_PW
"""
# exconf's program on the Mailbox server, asked for explicitly (remote PowerShell is its default door).
NTLM = "ansible_connection: winrm, ansible_user: CONTOSO\\exadmin"
KERBEROS = "ansible_connection: winrm, ansible_winrm_transport: kerberos, ansible_user: exadmin@contoso.lab"
POWERSHELL_KERBEROS = "ansible_psrp_auth: kerberos, ansible_user: exadmin@contoso.lab"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def passwords(monkeypatch):
    monkeypatch.setenv("EXCONF_TEST_PW", PASSWORD)
    monkeypatch.setenv("EXCONF_TEST_EDGE_PW", EDGE_PASSWORD)


def hosts(out: str) -> dict:
    return {name: host["status"] for name, host in json.loads(out)["hosts"].items()}


def test_the_program_over_ntlm_fails_on_the_mailbox_server_with_the_double_hop_and_works_on_the_edge(
        make_lab, passwords, capsys):
    lab = make_lab(SERVERS)
    inv = lab.inventory(INVENTORY.format(mailbox=NTLM))
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert hosts(out) == {"ex01.contoso.lab": "failed", "edge01.contoso.lab": "ok"}
    code, out, err = run(capsys, "plan", str(inv))
    text = out + err
    # Exchange's own error, then what it means.
    assert "Active Directory operation failed on DC01.contoso.lab. The supplied credential for 'CONTOSO\\exadmin' is invalid." in text
    assert "This is the double hop" in text and "ansible_winrm_kerberos_delegation: true" in text
    assert "ansible_connection: psrp" in text
    assert "Traceback" not in text


def test_kerberos_without_delegation_is_the_same_double_hop(make_lab, krb5_env, passwords, capsys):
    lab = make_lab(SERVERS, kdc=krb5_env)
    code, out, err = run(capsys, "plan", str(lab.inventory(INVENTORY.format(mailbox=KERBEROS))))
    assert code == 1
    assert "The supplied credential for 'CONTOSO\\exadmin' is invalid." in out + err and "double hop" in out + err


def test_a_delegated_kerberos_ticket_makes_the_second_hop(make_lab, krb5_env, passwords, capsys):
    lab = make_lab(SERVERS, kdc=krb5_env)
    inv = lab.inventory(INVENTORY.format(mailbox=KERBEROS + ", ansible_winrm_kerberos_delegation: true"))
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 0, out + err
    assert hosts(out) == {"ex01.contoso.lab": "ok", "edge01.contoso.lab": "ok"}
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    (service,) = lab.exec("EX01", "Get-TransportService")
    assert service["IntraOrgConnectorProtocolLoggingLevel"] == "Verbose"



@pytest.mark.parametrize("mailbox", [NTLM.replace("ansible_connection: winrm, ", ""), POWERSHELL_KERBEROS],
                         ids=["ntlm", "kerberos"])
def test_the_same_cmdlets_through_powershell_need_no_second_hop(make_lab, krb5_env, passwords, capsys, mailbox):
    lab = make_lab(SERVERS, kdc=krb5_env)
    if "ntlm" in mailbox or "CONTOSO" in mailbox:  # NTLM to /PowerShell: the directory must allow Windows authentication
        lab.exec("EX01", "Set-PowerShellVirtualDirectory", Identity="EX01\\PowerShell (Default Web Site)",
                 WindowsAuthentication=True)
    inv = lab.inventory(INVENTORY.format(mailbox=mailbox))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    (service,) = lab.exec("EX01", "Get-TransportService")
    assert service["IntraOrgConnectorProtocolLoggingLevel"] == "Verbose"


def test_the_programs_windows_commands_reach_no_domain_controller_and_work_over_ntlm(make_lab):
    """What exconf runs through its program beside remote PowerShell on a Mailbox server (an ACME challenge file in
    IIS, the Auth certificate's restarts) is Windows' and IIS's, not Exchange's: it acts on the server itself, so
    the logon remote PowerShell's door gives the program path (NTLM here, no delegation) is enough."""
    from exconf.connection import settings_for
    from exconf.inventory import load
    from exconf.remote import Step, decode_answer, encode_stdin
    from exconf.transport.winrm import WinRMTransport

    lab = make_lab(SERVERS)
    inv = load(lab.inventory('all:\n  hosts:\n    ex01: {ansible_host: "{EX01}", ansible_connection: winrm, '
                             'ansible_user: CONTOSO\\exadmin, ansible_password: %s}\n' % PASSWORD))
    transport = WinRMTransport(settings_for(inv.hosts[0], inv.path.parent))
    try:
        steps = [Step("write", "Set-Content", {"Value": "tok.key-authorization"}, web_file="tok"),
                 Step("pool", "Restart-WebAppPool", {"Name": "MSExchangeOWAAppPool"}),
                 Step("service", "Restart-Service", {"Name": "MSExchangeServiceHost"}),
                 Step("remove", "Remove-Item", {}, web_file="tok"),
                 Step("exchange", "Get-ExchangeCertificate", {})]
        out = transport.run(encode_stdin(steps))
        answer = decode_answer(out.stdout, out.stderr, out.exit_code)
    finally:
        transport.close()
    for step in ("write", "pool", "service", "remove"):
        assert answer.result(step).ok, (step, answer.result(step).error)
    assert answer.result("exchange").error.exception == "ADInvalidCredentialException"  # the same logon, an Exchange cmdlet
