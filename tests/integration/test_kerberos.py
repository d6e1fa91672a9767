"""Kerberos end to end: a real MIT KDC, the lab accepting tickets with each server's keytab, and
exconf's WinRM transport (pywinrm with pypsrp's pyspnego auth) obtaining them.

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

from .conftest import PASSWORD, STANDARD

MAILBOX_ONLY = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}]

INVENTORY = """
all:
  vars:
    ansible_winrm_transport: kerberos
    ansible_winrm_kerberos_delegation: true      # exconf's program on a Mailbox server makes a second hop
    ansible_user: exadmin@contoso.lab
    exconf_password_env: EXCONF_TEST_PW
    exchange:
      transport_service: {{intra_org_connector_protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"{extra}}}
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def lab(make_lab, krb5_env, monkeypatch):
    monkeypatch.setenv("EXCONF_TEST_PW", PASSWORD)
    return make_lab(MAILBOX_ONLY, kdc=krb5_env)


def inventory(lab, extra: str = "", replace: tuple[str, str] = ("", "")) -> str:
    text = INVENTORY.format(extra=extra)
    if replace[0]:
        text = text.replace(*replace)
    return str(lab.inventory(text))


def test_plan_over_kerberos_http_encrypted_by_host_name(lab, capsys):
    code, out, err = run(capsys, "plan", inventory(lab), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["hosts"]["ex01.contoso.lab"]["status"] == "ok"
    assert any(c["resource"] == "transport_service" for c in doc["changes"])
    stats = lab.stats()["EX01"]
    # Kerberos is one round trip (the 401, then the AP-REQ), NTLM two: 2 + Create + 3 + Delete.
    assert stats["requests"] == 7 and stats["auth_failures"] == 0
    code, out, err = run(capsys, "apply", inventory(lab), "--auto-approve")
    assert code == 0, out + err
    # An apply: 2 + Create + 3 (read) + Signal + 3 (change and read back) + Delete.
    assert lab.stats()["EX01"]["requests"] - stats["requests"] == 11


def test_plan_over_kerberos_https_with_channel_binding(lab, capsys):
    text = inventory(lab, extra=', ansible_port: 5986, ansible_winrm_ca_trust_path: "{CA}"')
    code, out, err = run(capsys, "plan", text, "--json")
    assert code == 0, err
    assert json.loads(out)["hosts"]["ex01.contoso.lab"]["status"] == "ok"


def test_ticket_from_the_credential_cache_without_a_password(lab, krb5_env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EXCONF_TEST_PW")
    krb5_env.kinit("exadmin@CONTOSO.LAB", PASSWORD, tmp_path / "krb5cc")
    text = INVENTORY.format(extra="").replace("    exconf_password_env: EXCONF_TEST_PW\n", "")
    code, out, err = run(capsys, "plan", str(lab.inventory(text)), "--json")
    assert code == 0, err


def test_wrong_password_names_the_host_and_what_to_do(lab, capsys, monkeypatch):
    monkeypatch.setenv("EXCONF_TEST_PW", "not-the-password")
    code, out, err = run(capsys, "plan", inventory(lab))
    assert code == 1
    line = next(l for l in (out + err).splitlines() if "ex01.contoso.lab" in l and "Kerberos" in l)
    assert "refused the password of exadmin@CONTOSO.LAB" in line and "exconf_password_env" in line
    assert "not-the-password" not in out + err
    assert "Traceback" not in out + err


def test_missing_spn_names_the_principal_and_setspn(lab, capsys):
    # The inventory calls the server by a name the KDC has no HTTP/ principal for.
    text = inventory(lab, extra=", ansible_winrm_kerberos_hostname_override: ex01-alias.contoso.lab")
    code, out, err = run(capsys, "plan", text)
    assert code == 1
    assert "knows no service principal HTTP/ex01-alias.contoso.lab" in out + err
    assert "setspn -S HTTP/ex01-alias.contoso.lab" in out + err


def test_expired_ticket_says_kinit_again(lab, krb5_env, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EXCONF_TEST_PW")
    krb5_env.kinit("exadmin@CONTOSO.LAB", PASSWORD, tmp_path / "krb5cc", lifetime="2s")
    time.sleep(3)  # the ticket's end time passes (not a timing assertion: the ticket must be expired)
    text = INVENTORY.format(extra="").replace("    exconf_password_env: EXCONF_TEST_PW\n", "")
    code, out, err = run(capsys, "plan", str(lab.inventory(text)))
    assert code == 1
    assert re.search(r"ticket of exadmin@CONTOSO\.LAB in the credential cache has expired; run kinit", out + err), out + err


def test_domain_user_name_form_is_refused_for_kerberos_before_anything_is_sent(lab, capsys):
    text = inventory(lab, replace=("exadmin@contoso.lab", "CONTOSO\\\\exadmin"))
    code, out, err = run(capsys, "plan", text)
    assert code == 1
    assert "Kerberos needs user@REALM" in out + err
    assert lab.stats()["EX01"]["requests"] == 0


def test_lab_offers_kerberos_and_refuses_a_ticket_for_another_server(lab, krb5_env):
    # /wsman offers what Windows' WinRM offers by default.
    r = requests.post(f"http://{lab.addresses['EX01']}:5985/wsman", data=b"")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Negotiate, Kerberos"
    import spnego

    # A ticket for EX02's principal presented to EX01: EX01's keytab cannot decrypt it.
    krb5_env.service("ex02.contoso.lab")
    client = spnego.client("exadmin@CONTOSO.LAB", PASSWORD, hostname="ex02.contoso.lab", service="HTTP",
                           protocol="kerberos")
    token = client.step()
    import base64

    r = requests.post(f"http://{lab.addresses['EX01']}:5985/wsman", data=b"",
                      headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
    assert r.status_code == 401
    assert lab.stats()["EX01"]["auth_failures"] == 1



@pytest.mark.skipif(faketime_library() is None, reason="libfaketime is not installed (.ci/run installs Debian's faketime)")
def test_server_clock_ten_minutes_ahead_is_clock_skew(make_lab, krb5_env, tmp_path, capsys, monkeypatch):
    """The server's clock, not the test's: the lab runs in its own process with libfaketime moving
    its clock 10 minutes ahead; its Kerberos acceptor answers KRB_AP_ERR_SKEW with an error token."""
    monkeypatch.setenv("EXCONF_TEST_PW", PASSWORD)
    lab = make_lab(MAILBOX_ONLY, kdc=krb5_env)
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
                requests.post(f"http://{address}:5985/wsman", data=b"", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.1)
        code, out, err = run(capsys, "plan", inventory(lab))
    finally:
        proc.terminate()
        proc.wait(10)
    assert code == 1
    assert "clocks of 127." in out + err and "differ by more than 5 minutes (Clock skew too great)" in out + err


def test_forbidding_ntlm_refuses_an_ntlm_host_when_the_inventory_loads(lab, capsys):
    text = INVENTORY.format(extra="").replace("ansible_winrm_transport: kerberos", "ansible_winrm_transport: ntlm\n    exconf_forbid_ntlm: true")
    code, out, err = run(capsys, "plan", str(lab.inventory(text)))
    assert code == 1
    assert "ntlm is forbidden here (exconf_forbid_ntlm: true)" in out + err
    assert lab.stats()["EX01"]["requests"] == 0


def test_credssp_is_refused_with_the_reason(lab, capsys):
    text = INVENTORY.format(extra="").replace("ansible_winrm_transport: kerberos", "ansible_winrm_transport: credssp")
    code, out, err = run(capsys, "plan", str(lab.inventory(text)))
    assert code == 1
    assert "CredSSP is refused: it hands your password to the server" in out + err
    assert lab.stats()["EX01"]["requests"] == 0
