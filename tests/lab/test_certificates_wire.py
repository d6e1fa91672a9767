"""Certificate steps of contract v2 over real WinRM (pywinrm, NTLM with message encryption) against
the lab: a PFX import and its SMTP binding in one round trip per host, on an Edge and a Mailbox
server, with the PFX password only inside the encrypted request."""

from __future__ import annotations

import pytest

from exconf.connection import settings_for
from exconf.inventory import load
from exconf.remote import OutputRef, Secret, Step, decode_answer, encode_stdin
from exconf.transport.winrm import WinRMTransport

from integration.conftest import EDGE_PASSWORD, PASSWORD, door, make_lab  # noqa: F401  (door and make_lab are fixtures)
from .certificate_helpers import PFX_PASSWORD, PublicCA, every_file_text, thumbprint

INVENTORY = f"""
all:
  hosts:
    ex01: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}
    edge01: {{ansible_host: "{{EDGE01}}", ansible_user: EDGE01\\Administrator, ansible_password: {EDGE_PASSWORD},
              ansible_winrm_transport: ntlm}}
"""


@pytest.mark.parametrize("codepage", [437, 65001])
def test_import_and_bind_smtp_in_one_round_trip_on_edge_and_mailbox(make_lab, monkeypatch, codepage):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "codepage": codepage},
                    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "codepage": codepage}])
    inventory = load(lab.inventory(INVENTORY))
    ca = PublicCA()
    monkeypatch.setenv("EXCONF_TEST_PFX_PASSWORD", PFX_PASSWORD)
    for host, server in zip(inventory.hosts, ("EX01", "EDGE01")):
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
        assert services[thumbprint(cert)] == "SMTP"
        # Only the Edge is told to resubscribe (cmdlets.md §6).
        assert bool(answer.result("enable").warnings) == (server == "EDGE01")
        # One round trip: one shell and one command for the import, the binding and the read-back.
        after = lab.stats()[server]
        assert (after["shells"] - before["shells"], after["commands"] - before["commands"]) == (1, 1)
    assert PFX_PASSWORD not in every_file_text(lab.dir)
