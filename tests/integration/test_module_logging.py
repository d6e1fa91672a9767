"""PowerShell module logging (event 4103) on a lab server: what Windows would record of exconf's program.

The program reads its payload with its own JSON reader and writes its answer with its own writer, so
neither is bound to a cmdlet parameter; a PFX password becomes a SecureString character by character.
Exchange's Import-ExchangeCertificate takes the PFX only as -FileData, a byte[] Windows PowerShell 5.1
logs as its numbers: so the program does not run it. It puts the PFX into LocalMachine\\My with .NET
(Import-Pfx, what the cmdlet's own server side does), and only the thumbprint reaches a cmdlet
(Get-ExchangeCertificate, then Enable-ExchangeCertificate). No secret and no PFX byte reaches the
server's event log, whatever the program does.
"""

from __future__ import annotations

import base64
import json

import pytest

from .conftest import EDGE_PASSWORD
from .test_certificates import PFX_PASSWORD, SERVERS, certs, inventory_text, run, services, write_pfx
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


def pfx_traces(pfx: bytes) -> list[str]:
    """Pieces of the PFX in every form a log line could hold it: the numbers Windows PowerShell 5.1 writes
    for a byte[] (", "-joined), base64 (at each of the three alignments), hex (either case). Windows of
    16 bytes every 61 bytes: any copy of the file, or of a sizable part of it, contains some of them."""
    traces = []
    for start in range(0, len(pfx) - 16, 61):
        piece = pfx[start:start + 16]
        traces += [", ".join(str(b) for b in piece), piece.hex(), piece.hex().upper(), piece.hex(" "), piece.hex("-").upper()]
    for shift in range(3):
        encoded = base64.b64encode(pfx[shift:]).decode("ascii")
        traces += [encoded[i:i + 24] for i in range(0, len(encoded) - 24, 80)]
    return traces


def test_no_pfx_byte_and_no_secret_reaches_the_event_log_of_an_edge_importing_a_pfx(lab, ca, capsys, pfx_env, tmp_path):
    thumb = write_pfx(lab, ca, "relay.pfx", "relay.contoso.lab", ["relay.contoso.lab", "edge01.contoso.lab"])
    pfx = (lab.dir / "certs" / "relay.pfx").read_bytes()
    inv = lab.inventory(inventory_text({"edge01": IMPORT_EDGE}))
    plan_file = tmp_path / "tonight.plan"
    code, out, err = run(capsys, "plan", str(inv), "--out", str(plan_file))
    assert code == 0, out + err
    requests = lab.stats()["EDGE01"]["requests"]
    code, out2, err2 = run(capsys, "apply", str(plan_file), "--auto-approve")
    assert code == 0, out2 + err2
    # The end state Exchange shows is Import-ExchangeCertificate's: the certificate in the store, its key not
    # exportable (-PrivateKeyExportable's default), bound to the declared services, within the request budget.
    assert services(lab, "EDGE01", thumb) == "SMTP"
    assert certs(lab, "EDGE01")[thumb]["PrivateKeyExportable"] is False
    assert lab.stats()["EDGE01"]["requests"] - requests <= 12  # the program's apply budget per host (WinRM)
    if lab.door == "ssh":  # the program reached the Edge through OpenSSH's default shell, not WinRS
        edge = lab.stats()["EDGE01"]["endpoints"]
        assert edge["ssh"]["commands"] >= 2 and edge["/wsman"]["requests"] == 0

    events = all_events(lab)
    assert events, "the program's commands are logged"
    # What `exconf lab events SERVER --json` prints, and the event texts themselves.
    served = json.dumps([e.to_json() for e in events], ensure_ascii=False)
    logged = "\n".join("\n".join(e.payload) for e in events)
    traces = pfx_traces(pfx)
    assert traces and not [t for t in traces if t in served or t in logged]
    for text in (served, logged, out, err, out2, err2, plan_file.read_text()):
        assert PFX_PASSWORD not in text and PFX_PASSWORD.encode("utf-8").hex() not in text
        assert base64.b64encode(PFX_PASSWORD.encode("utf-16-le")).decode() not in text
        assert EDGE_PASSWORD not in text  # the logon's password (WinRM's NTLM, or SSH's password request)
        assert "\"exconf_secret\"" not in text  # the wire marker (a plan file names the reference, exconf_secret_ref)
    assert not [e for e in events if e.command in ("Import-ExchangeCertificate", "ConvertFrom-Json", "ConvertTo-Json",
                                                  "ConvertTo-SecureString")]
    assert not [line for line in logged.splitlines() if 'name="FileData"' in line or 'name="Password"' in line]

    # Only the thumbprint reaches a cmdlet: the import's output read back, then the binding.
    edge = lab.server.store.event_logs.events("EDGE01")
    read = [e for e in edge if e.command == "Get-ExchangeCertificate" and
            f'ParameterBinding(Get-ExchangeCertificate): name="Thumbprint"; value="{thumb}"' in e.payload]
    assert len(read) == 1 and 'ParameterBinding(Get-ExchangeCertificate): name="Server"; value="EDGE01"' in read[0].payload
    (enabled,) = [e for e in edge if e.command == "Enable-ExchangeCertificate"]
    assert f'ParameterBinding(Enable-ExchangeCertificate): name="Thumbprint"; value="{thumb}"' in enabled.payload
    assert edge.index(read[0]) < edge.index(enabled) and enabled.user == "EDGE01\\Administrator"
    assert enabled.event_id == 4103

    # What Windows would show for the program's own commands: constants only.
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
