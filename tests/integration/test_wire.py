"""Names that would break a naive remote shell arrive and come back exactly, over any console code page,
through either of the program's doors: a WinRM shell, and (door "ssh") Windows OpenSSH's default shell."""

from __future__ import annotations


import pytest
import yaml

from exconf.cli import main
from exconf.connection import settings_for, ssh_settings_for
from exconf.inventory import load
from exconf.remote import Step, decode_answer, encode_stdin
from exconf.transport.ssh import SSHTransport
from exconf.transport.winrm import WinRMTransport

from .conftest import EDGE_PASSWORD, PASSWORD

# Quotes, curly quotes, a subexpression, backticks, a semicolon, non-ASCII (Latin-1 and beyond, and an emoji).
NASTY = 'Out "q" \u2018c\u2019 $(rm C:\\*) `n; exit Z\u00fcrich\u2013\u041c\u043e\u0441\u043a\u0432\u0430 \U0001F4E8'
LOOKALIKE = 'Out "q" \u2018c\u2019 $(rm C:\\*)'
EDGE_DEFAULT = "Default internal receive connector EDGE01"
# A receive connector's name may hold no backslash (Exchange refuses it, as the lab does): the same, with a slash.
EDGE_NASTY = NASTY.replace("\\", "/")

ORG_EXTRA = {
    "send_connectors": [
        {"name": NASTY, "address_spaces": ["SMTP:fabrikam.com;1"], "source_transport_servers": ["EX01"]},
        {"name": LOOKALIKE, "address_spaces": ["SMTP:tailspin.com;1"], "source_transport_servers": ["EX01"]},
    ]
}


def _servers(codepage: int = 437) -> list[dict]:
    return [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "codepage": codepage},
            {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "codepage": codepage}]


def _levels(lab) -> dict[str, str]:
    return {c["Name"]: c["ProtocolLoggingLevel"] for c in lab.exec("EX01", "Get-SendConnector")}


def _edge_levels(lab) -> dict[str, str]:
    return {c["Name"]: c["ProtocolLoggingLevel"] for c in lab.exec("EDGE01", "Get-ReceiveConnector")}


def _nasty_edge(lab) -> None:
    """The Edge's receive connector renamed to the nasty name, as an administrator could."""
    lab.exec("EDGE01", "Set-ReceiveConnector", Identity=f"EDGE01\\{EDGE_DEFAULT}", Name=EDGE_NASTY)


def test_a_nasty_connector_name_is_changed_exactly(make_lab, capsys):
    lab = make_lab(_servers(), **ORG_EXTRA)
    _nasty_edge(lab)
    doc = {
        "all": {
            "vars": {
                "ansible_user": "CONTOSO\\exadmin",
                "ansible_password": PASSWORD,
                "exchange_organization": {"send_connectors": {NASTY: {"protocol_logging_level": "Verbose"}}},
            },
            "hosts": {
                "ex01.contoso.lab": {"ansible_host": "{EX01}"},
                "edge01.contoso.lab": {"ansible_host": "{EDGE01}", "ansible_user": "EDGE01\\Administrator",
                                       "ansible_password": EDGE_PASSWORD,
                                       "exchange": {"receive_connectors": {EDGE_NASTY: {"protocol_logging_level": "Verbose"}}}},
            },
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
    assert _edge_levels(lab) == {EDGE_NASTY: "Verbose"}
    if lab.door == "ssh":
        assert lab.stats()["EDGE01"]["endpoints"]["ssh"]["commands"] == 2  # the Edge went over SSH
    assert main(["plan", str(inv), "--detailed-exitcode"]) == 0


def _program_transport(lab, codepage: int = 437):
    """The program's transport to the host this door runs it on: EX01 in a WinRM shell, or EDGE01 over SSH."""
    if lab.door == "ssh":
        text = 'all:\n  hosts:\n    edge01: {ansible_host: "{EDGE01}", ansible_user: EDGE01\\Administrator, ansible_password: %s}\n'
        inv = load(lab.inventory(text % EDGE_PASSWORD))
        return SSHTransport(ssh_settings_for(inv.hosts[0], inv.path.parent))
    inv = load(lab.inventory('all:\n  hosts:\n    ex01: {ansible_host: "{EX01}", ansible_user: CONTOSO\\exadmin, ansible_password: %s}\n' % PASSWORD))
    return WinRMTransport(settings_for(inv.hosts[0], inv.path.parent), codepage=codepage)


@pytest.mark.parametrize("codepage", [437, 1252, 65001])
def test_the_payload_and_the_answer_survive_the_console_code_page(make_lab, codepage):
    # Over SSH the console's code page is the server's own (no WinRS option sets it): the lab's Edge has this one.
    lab = make_lab(_servers(codepage), **ORG_EXTRA)
    _nasty_edge(lab)
    transport = _program_transport(lab, codepage)
    if lab.door == "ssh":
        change = Step("set", "Set-ReceiveConnector", {"Identity": EDGE_NASTY, "ProtocolLoggingLevel": "Verbose"})
        read = Step("get", "Get-ReceiveConnector", {"Identity": EDGE_NASTY}, select=("Name", "ProtocolLoggingLevel"))
    else:
        change = Step("set", "Set-SendConnector", {"Identity": NASTY, "ProtocolLoggingLevel": "Verbose"})
        read = Step("get", "Get-SendConnector", {"Identity": NASTY}, select=("Name", "ProtocolLoggingLevel"))
    try:
        out = transport.run(encode_stdin([change, read]))
        answer = decode_answer(out.stdout, out.stderr, out.exit_code)
    finally:
        transport.close()
    assert answer.result("set").ok, answer.result("set").error
    name = EDGE_NASTY if lab.door == "ssh" else NASTY
    assert answer.result("get").objects == ({"Name": name, "ProtocolLoggingLevel": "Verbose"},)
    assert _levels(lab)[LOOKALIKE] == "None"


def test_a_cmdlet_outside_the_allowlist_is_refused_by_the_server(make_lab):
    lab = make_lab(_servers())
    transport = _program_transport(lab)
    try:
        # encode_stdin itself refuses it, so build the payload the way a tampered client would.
        import json

        from exconf.remote import frame_stdin, program_text

        payload = json.dumps({"exconf": 3, "halt_on_error": True, "steps": [{"id": "x", "cmdlet": "Remove-SendConnector", "params": {"Identity": "a"}}]})
        out = transport.run(frame_stdin(program_text(), payload).encode("ascii"))
        answer = decode_answer(out.stdout, out.stderr, out.exit_code)
    finally:
        transport.close()
    result = answer.result("x")
    assert result.status == "error" and result.error.error_id == "ExconfCmdletNotAllowed"
