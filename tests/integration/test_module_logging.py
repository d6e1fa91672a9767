"""PowerShell module logging (event 4103) on a lab server: what Windows would record of exconf's program.

The program reads its payload with its own JSON reader and writes its answer with its own writer, so
neither is bound to a cmdlet parameter; a PFX password becomes a SecureString character by character.
So no secret reaches the server's event log, whatever the program does: the log shows the program's
own commands with constants, and each step's cmdlet with the step's values (a SecureString as its
type name). Exchange's Import-ExchangeCertificate takes the PFX itself only as -FileData, a byte[]
Windows PowerShell 5.1 logs as its numbers: the PKCS#12 container, encrypted under the password
that is never logged (docs/certificates.md).
"""

from __future__ import annotations

import base64

import pytest

from .conftest import EDGE_PASSWORD
from .test_certificates import PFX_PASSWORD, SERVERS, inventory_text, run, services, write_pfx
from .test_certificates import ca, pfx_env  # noqa: F401  (fixtures)

IMPORT_EDGE = """\
        certificates:
          - match: {subject: "CN=relay.contoso.lab", issuer: "*Test Public CA*"}
            services: [SMTP]
            import: {pfx: certs/relay.pfx, password_env: SMTP_PFX_PASSWORD}
"""


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def all_events(lab) -> list:
    return [e for events in lab.server.store.event_logs.all().values() for e in events]


def test_no_secret_and_no_payload_reaches_the_event_log_of_an_edge_importing_a_pfx(lab, ca, capsys, pfx_env, tmp_path):
    thumb = write_pfx(lab, ca, "relay.pfx", "relay.contoso.lab", ["relay.contoso.lab", "edge01.contoso.lab"])
    pfx = (lab.dir / "certs" / "relay.pfx").read_bytes()
    inv = lab.inventory(inventory_text({"edge01": IMPORT_EDGE}))
    plan_file = tmp_path / "tonight.plan"
    code, out, err = run(capsys, "plan", str(inv), "--out", str(plan_file))
    assert code == 0, out + err
    code, out2, err2 = run(capsys, "apply", str(plan_file), "--auto-approve")
    assert code == 0, out2 + err2
    assert services(lab, "EDGE01", thumb) == "SMTP"
    if lab.door == "ssh":  # the program reached the Edge through OpenSSH's default shell, not WinRS
        edge = lab.stats()["EDGE01"]["endpoints"]
        assert edge["ssh"]["commands"] >= 2 and edge["/wsman"]["requests"] == 0

    events = all_events(lab)
    assert events, "the program's commands are logged"
    texts = ["\n".join(e.payload) for e in events]
    logged = "\n".join(texts)
    # No secret, in any encoding, and nothing of the payload: it is never bound to a parameter.
    for text in (logged, out, err, out2, err2, plan_file.read_text()):
        assert "Pfx-S3cret" not in text and PFX_PASSWORD.encode("utf-8").hex() not in text
        assert EDGE_PASSWORD not in text  # the logon's password (WinRM's NTLM, or SSH's password request)
        assert "\"exconf_secret\"" not in text  # the wire marker (a plan file names the reference, exconf_secret_ref)
    assert base64.b64encode(pfx).decode()[:40] not in logged
    assert not [e for e in events if e.command in ("ConvertFrom-Json", "ConvertTo-Json", "ConvertTo-SecureString")]

    (imported,) = [e for e in events if e.command == "Import-ExchangeCertificate"]
    assert 'ParameterBinding(Import-ExchangeCertificate): name="Password"; value="System.Security.SecureString"' in imported.payload
    file_data = next(line for line in imported.payload if 'name="FileData"' in line)
    assert file_data.endswith('value="' + ", ".join(str(b) for b in pfx) + '"')  # 5.1 joins a byte[] with ", "
    assert imported.user == "EDGE01\\Administrator" and imported.event_id == 4103

    # What Windows would show for the program's own commands: constants only.
    edge = lab.server.store.event_logs.events("EDGE01")
    assert edge[0].payload == (
        'CommandInvocation(Test-Path): "Test-Path"',
        'ParameterBinding(Test-Path): name="LiteralPath"; value="HKLM:\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\EdgeTransportRole"',
    )
    assert [e.command for e in edge[:6]] == ["Test-Path", "Get-Command", "Join-Path", "Get-PSSnapin", "Add-PSSnapin",
                                            "Get-Command"]


def test_a_mailbox_server_logs_its_snap_in_and_each_step(make_lab, krb5_env, capsys):
    # exconf's program on a Mailbox server, asked for explicitly (remote PowerShell is the default door), with a
    # logon that can make the second hop (test_double_hop.py).
    lab = make_lab(SERVERS, kdc=krb5_env)
    text = inventory_text({"ex01": ""}).replace("ansible_user: CONTOSO\\exadmin", "ansible_user: exadmin@contoso.lab\n"
                                                 "    ansible_connection: winrm\n"
                                                 "    ansible_winrm_transport: kerberos\n"
                                                 "    ansible_winrm_kerberos_delegation: true")
    inv = lab.inventory(text)
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, out + err
    commands = [e.command for e in lab.server.store.event_logs.events("EX01")]
    assert commands[:4] == ["Test-Path", "Get-Command", "Add-PSSnapin", "Get-Command"]
    assert "Get-ExchangeServer" in commands and commands.count("Select-Object") == commands.count("Get-Command") - 2
