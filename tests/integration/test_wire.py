"""Names that would break a naive remote shell arrive and come back exactly, over any console code page."""

from __future__ import annotations


import pytest
import yaml

from exconf.cli import main
from exconf.connection import settings_for
from exconf.inventory import load
from exconf.remote import Step, decode_answer, encode_stdin
from exconf.transport.winrm import WinRMTransport

from .conftest import PASSWORD

# Quotes, curly quotes, a subexpression, backticks, a semicolon, non-ASCII (Latin-1 and beyond, and an emoji).
NASTY = 'Out "q" \u2018c\u2019 $(rm C:\\*) `n; exit Z\u00fcrich\u2013\u041c\u043e\u0441\u043a\u0432\u0430 \U0001F4E8'
LOOKALIKE = 'Out "q" \u2018c\u2019 $(rm C:\\*)'

ORG_EXTRA = {
    "send_connectors": [
        {"name": NASTY, "address_spaces": ["SMTP:fabrikam.com;1"], "source_transport_servers": ["EX01"]},
        {"name": LOOKALIKE, "address_spaces": ["SMTP:tailspin.com;1"], "source_transport_servers": ["EX01"]},
    ]
}


def _levels(lab) -> dict[str, str]:
    return {c["Name"]: c["ProtocolLoggingLevel"] for c in lab.exec("EX01", "Get-SendConnector")}


def test_a_nasty_connector_name_is_changed_exactly(make_lab, capsys):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}], **ORG_EXTRA)
    doc = {
        "all": {
            "vars": {
                "ansible_user": "CONTOSO\\exadmin",
                "ansible_password": PASSWORD,
                "exchange_organization": {"send_connectors": {NASTY: {"protocol_logging_level": "Verbose"}}},
            },
            "hosts": {"ex01.contoso.lab": {"ansible_host": "{EX01}"}},
        }
    }
    inv = lab.inventory(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    assert main(["apply", str(inv), "--auto-approve"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    # Shown as written: quoted, inner quotes escaped, backslashes single (a Windows path reads as one).
    assert '"' + NASTY.replace('"', '\\"') + '"' in out
    levels = _levels(lab)
    assert levels[NASTY] == "Verbose"
    assert levels[LOOKALIKE] == "None"
    assert main(["plan", str(inv), "--detailed-exitcode"]) == 0


@pytest.mark.parametrize("codepage", [437, 1252, 65001])
def test_the_payload_and_the_answer_survive_the_console_code_page(make_lab, codepage):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}], **ORG_EXTRA)
    inv = load(lab.inventory('all:\n  hosts:\n    ex01: {ansible_host: "{EX01}", ansible_user: CONTOSO\\exadmin, ansible_password: %s}\n' % PASSWORD))
    transport = WinRMTransport(settings_for(inv.hosts[0], inv.path.parent), codepage=codepage)
    try:
        change = Step("set", "Set-SendConnector", {"Identity": NASTY, "ProtocolLoggingLevel": "Verbose"})
        read = Step("get", "Get-SendConnector", {"Identity": NASTY}, select=("Name", "ProtocolLoggingLevel"))
        out = transport.run(encode_stdin([change, read]))
        answer = decode_answer(out.stdout, out.stderr, out.exit_code)
    finally:
        transport.close()
    assert answer.result("set").ok, answer.result("set").error
    assert answer.result("get").objects == ({"Name": NASTY, "ProtocolLoggingLevel": "Verbose"},)
    assert _levels(lab)[LOOKALIKE] == "None"


def test_a_cmdlet_outside_the_allowlist_is_refused_by_the_server(make_lab):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    inv = load(lab.inventory('all:\n  hosts:\n    ex01: {ansible_host: "{EX01}", ansible_user: CONTOSO\\exadmin, ansible_password: %s}\n' % PASSWORD))
    transport = WinRMTransport(settings_for(inv.hosts[0], inv.path.parent))
    try:
        # encode_stdin itself refuses it, so build the payload the way a tampered client would.
        import json

        from exconf.remote import frame_stdin, program_text

        payload = json.dumps({"exconf": 2, "halt_on_error": True, "steps": [{"id": "x", "cmdlet": "Remove-SendConnector", "params": {"Identity": "a"}}]})
        out = transport.run(frame_stdin(program_text(), payload).encode("ascii"))
        answer = decode_answer(out.stdout, out.stderr, out.exit_code)
    finally:
        transport.close()
    result = answer.result("x")
    assert result.status == "error" and result.error.error_id == "ExconfCmdletNotAllowed"
