"""Certificate steps of contract v2 over real WinRM (pywinrm, message encryption) against the lab: a
PFX import and its SMTP binding in one round trip per host, on an Edge (NTLM) and a Mailbox server
(Kerberos with a delegated ticket, as its program needs to reach Active Directory: the double hop,
tests/integration/test_double_hop.py), with the PFX password only inside the encrypted request."""

from __future__ import annotations

import pytest

from exconf.connection import settings_for
from exconf.inventory import load
from exconf.remote import OutputRef, Secret, Step, decode_answer, encode_stdin
from exconf.transport.winrm import WinRMTransport

from integration.conftest import EDGE_PASSWORD, PASSWORD, door, make_lab  # noqa: F401  (door and make_lab are fixtures)
from .certificate_helpers import PFX_PASSWORD, PublicCA, every_file_text, thumbprint

INVENTORY = {
    "EX01": f"""
all:
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}", ansible_user: exadmin@contoso.lab, ansible_password: {PASSWORD},
                       ansible_winrm_transport: kerberos, ansible_winrm_kerberos_delegation: true}}
""",
    "EDGE01": f"""
all:
  hosts:
    edge01: {{ansible_host: "{{EDGE01}}", ansible_user: EDGE01\\Administrator, ansible_password: {EDGE_PASSWORD},
              ansible_winrm_transport: ntlm}}
""",
}


@pytest.mark.parametrize("server", ["EDGE01", "EX01"])
@pytest.mark.parametrize("codepage", [437, 65001])
def test_import_and_bind_smtp_in_one_round_trip_on_edge_and_mailbox(make_lab, monkeypatch, request, codepage, server):
    role = "Edge" if server.startswith("EDGE") else "Mailbox"
    kdc = request.getfixturevalue("krb5_env") if role == "Mailbox" else None  # skips where no KDC can run
    lab = make_lab([{"name": server, "role": role, "site": "Amsterdam", "codepage": codepage}], kdc=kdc)
    inventory = load(lab.inventory(INVENTORY[server]))
    ca = PublicCA()
    monkeypatch.setenv("EXCONF_TEST_PFX_PASSWORD", PFX_PASSWORD)
    for host in inventory.hosts:
        pfx, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab", f"{server.lower()}.contoso.lab"])
        steps = [
            Step("import", "Import-ExchangeCertificate",
                 {"FileData": pfx, "Password": Secret.from_env("EXCONF_TEST_PFX_PASSWORD")}, select=("Thumbprint",)),
            Step("enable", "Enable-ExchangeCertificate",
                 {"Thumbprint": OutputRef("import", "Thumbprint"), "Services": "SMTP", "Force": True}),
            Step("read", "Get-ExchangeCertificate", {}, select=("Thumbprint", "Services", "Subject"), always_run=True),
        ]
        before = lab.stats()[server]
        transport = WinRMTransport(settings_for(host, inventory.path.parent), codepage=codepage)
        try:
            out = transport.run(encode_stdin(steps))
        finally:
            transport.close()
        answer = decode_answer(out.stdout, out.stderr, out.exit_code)
        assert answer.result("import").objects == ({"Thumbprint": thumbprint(cert)},)
        assert answer.result("enable").ok, answer.result("enable").error
        services = {o["Thumbprint"]: o["Services"] for o in answer.result("read").objects}
        # On the Mailbox server the certificate carries the server's FQDN, the IMAP4/POP3 X509CertificateName:
        # Exchange shows IMAP and POP on it too, whatever was enabled [SRC UpdateServices].
        assert services[thumbprint(cert)] == ("SMTP" if server == "EDGE01" else "IMAP, POP, SMTP")
        # Only the Edge is told to resubscribe (cmdlets.md §6).
        assert bool(answer.result("enable").warnings) == (server == "EDGE01")
        # One round trip: one shell and one command for the import, the binding and the read-back.
        after = lab.stats()[server]
        assert (after["shells"] - before["shells"], after["commands"] - before["commands"]) == (1, 1)
    assert PFX_PASSWORD not in every_file_text(lab.dir)
