"""Issue 14: nothing secret in clear.

``ansible_winrm_message_encryption: never`` over http sends every command in clear. exconf refuses it when
the inventory loads for a host given a secret, and for any host unless ``exconf_accept_cleartext: true``;
an accepted host gets a ``cleartext:`` warning line in the plan, and no command carrying a secret (an Edge
Subscription file, a PFX) is ever sent to it — the lab's counters prove nothing reached it.
"""

from __future__ import annotations

import pytest

from exconf.cli import main
from exconf.inventory import InventoryError, load
from exconf.transport.cleartext import ACCEPT_VAR

from .conftest import EDGE_PASSWORD, PASSWORD

CLEAR = "ansible_winrm_message_encryption: never"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mailbox(extra: str = "") -> str:
    return (f"all:\n  vars: {{ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}\n  hosts:\n"
            f'    ex01: {{ansible_host: "{{EX01}}"{extra}}}\n')


@pytest.fixture
def lab(make_lab):
    return make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "winrm": {"allow_unencrypted": True}}])


def test_never_over_http_is_refused_when_the_inventory_loads(lab):
    with pytest.raises(InventoryError) as exc:
        load(lab.inventory(mailbox(f", {CLEAR}")))
    (problem,) = [str(p) for p in exc.value.issues]
    assert "inventory.yaml:4:" in problem
    assert "ansible_winrm_message_encryption: never over http sends every command and answer in clear" in problem
    assert f"accept it with {ACCEPT_VAR}: true" in problem
    assert lab.stats()["EX01"]["requests"] == 0


def test_https_or_sealed_messages_need_no_acceptance(lab):
    load(lab.inventory(mailbox(f", {CLEAR}, ansible_port: 5986, ansible_winrm_ca_trust_path: {lab.ca}")))
    load(lab.inventory(mailbox(", ansible_winrm_message_encryption: always")))


def test_a_host_given_a_secret_is_refused_even_when_cleartext_is_accepted(lab):
    text = mailbox(f", {CLEAR}, {ACCEPT_VAR}: true") + (
        "      exchange:\n        certificates:\n"
        "          - {match: {subject: CN=mail.contoso.lab}, import: {pfx: mail.pfx, password_env: PFX_PASSWORD}}\n")
    text = text.replace('    ex01: {ansible_host: "{EX01}", ' + CLEAR + f", {ACCEPT_VAR}: true}}\n",
                        f'    ex01:\n      ansible_host: "{{EX01}}"\n      ansible_winrm_message_encryption: never\n      {ACCEPT_VAR}: true\n')
    with pytest.raises(InventoryError) as exc:
        load(lab.inventory(text))
    problems = [str(p) for p in exc.value.issues]
    assert any("never over http would send this host's secrets (exchange.certificates[0].import.password_env) in clear" in p
               and "a host given a secret is never reached in clear" in p for p in problems), problems
    assert lab.stats()["EX01"]["requests"] == 0


def test_an_accepted_host_is_planned_with_a_cleartext_warning(lab, capsys):
    path = lab.inventory(mailbox(f", {CLEAR}, {ACCEPT_VAR}: true") + (
        "  children:\n    mailbox:\n      hosts: {ex01: }\n      vars:\n        exchange:\n"
        '          receive_connectors: {"Default {server}": {protocol_logging_level: Verbose}}\n'))
    code, out, err = run(capsys, "plan", str(path), "--detailed-exitcode")
    assert code == 2, out + err
    assert "cleartext: ex01 is reached over http without message encryption (exconf_accept_cleartext)" in out
    assert "no secret is sent there" in out


SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "winrm": {"allow_unencrypted": True}},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "winrm": {"basic": True, "allow_unencrypted": True}},
]


def edge_inventory(mailbox_clear: bool, edge_clear: bool) -> str:
    def clear(yes: bool) -> str:
        return f"      {CLEAR}\n      {ACCEPT_VAR}: true\n" if yes else ""

    return ("all:\n  hosts:\n"
            f'    ex01:\n      ansible_host: "{{EX01}}"\n      ansible_user: CONTOSO\\exadmin\n      ansible_password: {PASSWORD}\n'
            + clear(mailbox_clear) +
            f'    edge01:\n      ansible_host: "{{EDGE01}}"\n      ansible_user: EDGE01\\Administrator\n'
            f"      ansible_password: {EDGE_PASSWORD}\n      ansible_winrm_transport: ntlm\n" + clear(edge_clear) +
            "      exchange:\n        edge_subscription: {site: Amsterdam}\n")


def test_an_edge_reached_in_clear_is_never_asked_for_its_subscription_file(make_lab, capsys):
    lab = make_lab(SERVERS)
    path = lab.inventory(edge_inventory(mailbox_clear=False, edge_clear=True))
    sends = lab.stats()["EDGE01"]["endpoints"]["/wsman"]["sends"]
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 1, out + err  # nothing at all was sent to change anything
    assert "not sent:" in out
    assert "failed=1" in [line for line in out.splitlines() if line.startswith("edge01")][0]
    assert "the file New-EdgeSubscription writes (-FileName)" in out and "reached in clear" in out
    assert lab.stats()["EDGE01"]["endpoints"]["/wsman"]["sends"] == sends + 1  # its read's round trip, and nothing else
    assert lab.exec("EDGE01", "Get-EdgeSubscription") == [] and lab.exec("EX01", "Get-EdgeSubscription") == []


def test_a_mailbox_reached_in_clear_is_never_sent_the_subscription_file(make_lab, capsys):
    lab = make_lab(SERVERS)
    path = lab.inventory(edge_inventory(mailbox_clear=True, edge_clear=False))
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 2, out + err
    assert "New-EdgeSubscription -FileData" in out and "reached in clear" in out and "not sent:" in out
    assert lab.exec("EX01", "Get-EdgeSubscription") == []  # the import never reached EX01
    # The Edge wrote its file (a change was made), the import was not sent: partly made, on both recap lines.
    assert "partly made (its first operations ran), then not sent:" in out
    assert "failed=1" in [line for line in out.splitlines() if line.startswith("edge01")][0]
    assert "failed=1" in [line for line in out.splitlines() if line.startswith("ex01")][0]
