"""Kerberos end to end, through both doors: a real MIT KDC, the lab accepting tickets with each server's
keytab, and exconf's clients obtaining them: pywinrm (with pypsrp's pyspnego auth) to /wsman for the
program, pypsrp to Exchange's /PowerShell.

The inventory names the hosts by FQDN and connects to loopback addresses (``ansible_host``):
the service principal is built from the host name, so no /etc/hosts entry is needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests
import yaml

from exconf.cli import main
from exconf.lab.kdc import faketime_library

from .conftest import IIS_HTTP_PORT, IIS_HTTPS_PORT, PASSWORD

MAILBOX_ONLY = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}]

INVENTORY = """
all:
  vars:
{door}
    ansible_user: exadmin@contoso.lab
    exconf_password_env: EXCONF_TEST_PW
    exchange:
      transport_service: {{intra_org_connector_protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"{extra}}}
"""
# The two doors to a Mailbox server: Exchange's remote PowerShell (the default), and exconf's program
# in a WinRM shell, which reaches Active Directory as the caller and so needs a delegated ticket.
DOORS = {
    "psrp": "    ansible_psrp_auth: kerberos",
    "winrm": "    ansible_connection: winrm\n    ansible_winrm_transport: kerberos\n"
             "    ansible_winrm_kerberos_delegation: true",
}
OVERRIDE = {"psrp": "ansible_psrp_negotiate_hostname_override", "winrm": "ansible_winrm_kerberos_hostname_override"}
HTTPS = {"psrp": f"ansible_psrp_protocol: https\nansible_psrp_port: {IIS_HTTPS_PORT}\nansible_psrp_ca_path: {{CA}}\n",
         "winrm": "ansible_port: 5986\nansible_winrm_ca_trust_path: {CA}\n"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=sorted(DOORS))
def via(request) -> str:
    return request.param


@pytest.fixture
def lab(make_lab, krb5_env, monkeypatch):
    monkeypatch.setenv("EXCONF_TEST_PW", PASSWORD)
    return make_lab(MAILBOX_ONLY, kdc=krb5_env)  # Exchange's default: /PowerShell takes Kerberos only


def inventory(lab, via: str, extra: str = "", replace: tuple[str, str] = ("", "")) -> str:
    text = INVENTORY.format(door=DOORS[via], extra=extra)
    if replace[0]:
        text = text.replace(*replace)
    return str(lab.inventory(text))


def endpoint_stats(lab, via: str) -> dict:
    return lab.stats()["EX01"]["endpoints"]["/PowerShell" if via == "psrp" else "/wsman"]


def test_plan_and_apply_over_kerberos_http_encrypted_by_host_name(lab, via, capsys):
    code, out, err = run(capsys, "plan", inventory(lab, via), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["hosts"]["ex01.contoso.lab"]["status"] == "ok"
    assert any(c["resource"] == "transport_service" for c in doc["changes"])
    stats = endpoint_stats(lab, via)
    assert stats["auth_failures"] == 0
    # Kerberos is one request (the ticket rides on the first request, RFC 4559 4.2: no anonymous 401 first),
    # NTLM two. The program: 1 + Create + 3 + Delete; remote PowerShell: 1 + the pool's Create and Receive + a
    # pipeline's Command and Receive + Delete.
    assert stats["requests"] == 6
    code, out, err = run(capsys, "apply", inventory(lab, via), "--auto-approve")
    assert code == 0, out + err
    # An apply of one change. The program: 1 + Create + 3 (read: Command, Send, Receive) + 2 (change and read
    # back: Send, Receive, to the program still running) + Delete; remote PowerShell: its plan's 6 + 2 for the
    # change's pipeline (docs/remote-powershell.md).
    assert endpoint_stats(lab, via)["requests"] - stats["requests"] == 8
    (service,) = lab.exec("EX01", "Get-TransportService")
    assert service["IntraOrgConnectorProtocolLoggingLevel"] == "Verbose"


def test_plan_over_kerberos_https_with_channel_binding(lab, via, capsys):
    host_vars = {"host_vars/ex01.contoso.lab.yml": HTTPS[via].replace("{CA}", str(lab.ca))}
    path = lab.inventory(INVENTORY.format(door=DOORS[via], extra=""), files=host_vars)
    code, out, err = run(capsys, "plan", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["hosts"]["ex01.contoso.lab"]["status"] == "ok"
    # Over HTTPS the ticket binds the certificate the server presents on this connection, which is known only
    # once it answered: the anonymous 401 comes first (engine/transport/firsttoken.py), 2 requests to log on.
    # No message is sealed over TLS, so the first operation rides on the ticket's leg (no empty authenticating
    # POST). The program: 2 (the second is the Create) + Command, Send, Receive + Delete; remote PowerShell: 2
    # (the second is the pool's Create) + its Receive + Command and Receive + Delete.
    assert endpoint_stats(lab, via)["requests"] == 6


def test_ticket_from_the_credential_cache_without_a_password(lab, via, krb5_env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EXCONF_TEST_PW")
    krb5_env.kinit("exadmin@CONTOSO.LAB", PASSWORD, tmp_path / "krb5cc")
    text = inventory(lab, via, replace=("    exconf_password_env: EXCONF_TEST_PW\n", ""))
    code, out, err = run(capsys, "plan", text, "--json")
    assert code == 0, err


def test_negotiate_to_powershell_takes_kerberos(lab, capsys):
    code, out, err = run(capsys, "plan", inventory(lab, "psrp", replace=("ansible_psrp_auth: kerberos", "ansible_psrp_auth: negotiate")))
    assert code == 0, out + err


def test_ntlm_to_powershell_is_refused_until_windows_authentication_is_set_on_the_directory(lab, capsys):
    text = inventory(lab, "psrp", replace=("ansible_psrp_auth: kerberos\n    ansible_user: exadmin@contoso.lab",
                                           "ansible_psrp_auth: ntlm\n    ansible_user: CONTOSO\\exadmin"))
    code, out, err = run(capsys, "plan", text)
    assert code == 1
    assert "Exchange's /PowerShell takes Kerberos only unless Set-PowerShellVirtualDirectory -WindowsAuthentication" in out + err
    r = requests.post(f"http://{lab.addresses['EX01']}:{IIS_HTTP_PORT}/PowerShell", data=b"")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Negotiate"  # Exchange's Kerberos module
    lab.exec("EX01", "Set-PowerShellVirtualDirectory", Identity="EX01\\PowerShell (Default Web Site)",
             WindowsAuthentication=True)
    r = requests.post(f"http://{lab.addresses['EX01']}:{IIS_HTTP_PORT}/PowerShell", data=b"")
    assert r.headers["WWW-Authenticate"] == "Negotiate, NTLM"  # IIS's Windows authentication, added at once
    code, out, err = run(capsys, "plan", text)
    assert code == 0, out + err


def test_wrong_password_names_the_host_and_what_to_do(lab, via, capsys, monkeypatch):
    monkeypatch.setenv("EXCONF_TEST_PW", "not-the-password")
    code, out, err = run(capsys, "plan", inventory(lab, via))
    assert code == 1
    line = next(l for l in (out + err).splitlines() if "ex01.contoso.lab" in l and "Kerberos" in l)
    assert "refused the password of exadmin@CONTOSO.LAB" in line and "exconf_password_env" in line
    assert "not-the-password" not in out + err
    assert "Traceback" not in out + err


def test_missing_spn_names_the_principal_and_setspn(lab, via, capsys):
    # The inventory calls the server by a name the KDC has no HTTP/ principal for.
    code, out, err = run(capsys, "plan", inventory(lab, via, extra=f", {OVERRIDE[via]}: ex01-alias.contoso.lab"))
    assert code == 1
    assert "knows no service principal HTTP/ex01-alias.contoso.lab" in out + err
    assert "setspn -S HTTP/ex01-alias.contoso.lab" in out + err and OVERRIDE[via] in out + err


def test_expired_ticket_says_kinit_again(lab, via, krb5_env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EXCONF_TEST_PW")
    krb5_env.kinit("exadmin@CONTOSO.LAB", PASSWORD, tmp_path / "krb5cc", lifetime="2s")
    time.sleep(3)  # the ticket's end time passes (not a timing assertion: the ticket must be expired)
    code, out, err = run(capsys, "plan", inventory(lab, via, replace=("    exconf_password_env: EXCONF_TEST_PW\n", "")))
    assert code == 1
    assert re.search(r"ticket of exadmin@CONTOSO\.LAB in the credential cache has expired; run kinit", out + err), out + err


def test_domain_user_name_form_is_refused_for_kerberos_before_anything_is_sent(lab, via, capsys):
    code, out, err = run(capsys, "plan", inventory(lab, via, replace=("exadmin@contoso.lab", "CONTOSO\\\\exadmin")))
    assert code == 1
    assert "Kerberos needs user@REALM" in out + err
    assert lab.stats()["EX01"]["requests"] == 0


def test_lab_offers_kerberos_and_refuses_a_ticket_for_another_server(lab, krb5_env):
    # /wsman offers what Windows' WinRM service offers by default.
    r = requests.post(f"http://{lab.addresses['EX01']}:5985/wsman", data=b"")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Negotiate, Kerberos"
    import base64

    import spnego

    # A ticket for EX02's principal presented to EX01: EX01's keytab cannot decrypt it.
    krb5_env.service("ex02.contoso.lab")
    client = spnego.client("exadmin@CONTOSO.LAB", PASSWORD, hostname="ex02.contoso.lab", service="HTTP",
                           protocol="kerberos")
    r = requests.post(f"http://{lab.addresses['EX01']}:5985/wsman", data=b"",
                      headers={"Authorization": "Negotiate " + base64.b64encode(client.step()).decode()})
    assert r.status_code == 401
    assert lab.stats()["EX01"]["auth_failures"] == 1


@pytest.mark.skipif(faketime_library() is None, reason="libfaketime is not installed (.ci/run installs Debian's faketime)")
def test_server_clock_ten_minutes_ahead_is_clock_skew(lab, via, tmp_path, capsys):
    """The server's clock, not the test's: the lab runs in its own process with libfaketime moving
    its clock 10 minutes ahead; its Kerberos acceptor answers KRB_AP_ERR_SKEW with an error token."""
    doc = yaml.safe_load(lab.org_file.read_text())
    lab.server.stop()  # the same organisation, served by a process with a moved clock
    env = {**os.environ, "LD_PRELOAD": faketime_library(), "FAKETIME": "+10m", "FAKETIME_DONT_RESET": "1",
           "EXCONF_RUNTIME_DIR": str(tmp_path / "rt")}
    state = tmp_path / "skewed.state.json"
    proc = subprocess.Popen([sys.executable, "-m", "exconf.lab.runtime.serve", str(lab.org_file), "--state", str(state)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        address = doc["servers"][0]["address"]
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.post(f"http://{address}:{IIS_HTTP_PORT}/PowerShell", data=b"", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.1)
        code, out, err = run(capsys, "plan", inventory(lab, via))
    finally:
        proc.terminate()
        proc.wait(10)
    assert code == 1
    assert "clocks of 127." in out + err and "differ by more than 5 minutes (Clock skew too great)" in out + err


def test_forbidding_ntlm_refuses_an_ntlm_host_when_the_inventory_loads(lab, capsys):
    text = inventory(lab, "winrm", replace=("ansible_winrm_transport: kerberos",
                                            "ansible_winrm_transport: ntlm\n    exconf_forbid_ntlm: true"))
    code, out, err = run(capsys, "plan", text)
    assert code == 1
    assert "ntlm is forbidden here (exconf_forbid_ntlm: true)" in out + err
    assert lab.stats()["EX01"]["requests"] == 0


def test_forbidding_ntlm_makes_negotiate_kerberos_only(lab, capsys, monkeypatch):
    # negotiate with a name the KDC does not know falls back to NTLM, unless NTLM is forbidden.
    monkeypatch.setenv("EXCONF_TEST_PW", PASSWORD)
    text = inventory(lab, "psrp", replace=("ansible_psrp_auth: kerberos", "ansible_psrp_auth: negotiate\n    exconf_forbid_ntlm: true"))
    code, out, err = run(capsys, "plan", text)
    assert code == 0, out + err
    assert lab.stats()["EX01"]["endpoints"]["/PowerShell"]["auth_failures"] == 0


def test_credssp_is_refused_with_the_reason(lab, capsys):
    text = inventory(lab, "winrm", replace=("ansible_winrm_transport: kerberos", "ansible_winrm_transport: credssp"))
    code, out, err = run(capsys, "plan", text)
    assert code == 1
    assert "CredSSP is refused: it hands your password to the server" in out + err
    assert lab.stats()["EX01"]["requests"] == 0
