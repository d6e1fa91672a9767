"""The first authentication token rides on the first request (RFC 4559 4.2, engine/transport/firsttoken.py).

NTLM logs a connection on in 2 requests (NEGOTIATE, then AUTHENTICATE), Kerberos in 1 (the ticket), on
both doors: the program over WinRM and remote PowerShell. A server that answers the first token with its
plain 401 (lab fault ``ignores_first_token``) still logs exconf on, with the stock exchange: 3 and 2.
"""

from __future__ import annotations

import time

from exconf.connection import psrp_settings_for, settings_for
from exconf.inventory import load
from exconf.remote import Step, decode_answer, encode_stdin
from exconf.transport.psrp import PSRPTransport
from exconf.transport.winrm import WinRMTransport

from exconf.cli import main

from .conftest import EDGE_PASSWORD, IIS_HTTP_PORT, PASSWORD

IDLE = 2.0
READ = Step("get", "Get-TransportService", {"Identity": "EDGE01"}, select=("Name",))
PS_READ = [("Get-TransportService", [("Identity", "EX01")])]


def _server(idle: float | None = None, role: str = "Mailbox", **faults: bool) -> list[dict]:
    """EX01 (remote PowerShell) or EDGE01 (the program: with NTLM it cannot make a second hop to Active
    Directory, which an Edge does not need)."""
    winrm = {"idle_connection_timeout": idle} if idle else {}
    name = "EX01" if role == "Mailbox" else "EDGE01"
    return [{"name": name, "role": role, "site": "Amsterdam", "faults": faults, "winrm": winrm}]


def _program(lab) -> WinRMTransport:
    inv = load(lab.inventory(f'all:\n  hosts:\n    edge01: {{ansible_host: "{{EDGE01}}", ansible_user: EDGE01\\Administrator, '
                             f'ansible_password: {EDGE_PASSWORD}}}\n', name="winrm/inventory.yaml",
                             files={"host_vars/edge01.yml": "{}\n"}))  # no door variables: NTLM over http
    settings = settings_for(inv.hosts[0], inv.path.parent)
    assert (settings.auth, settings.scheme) == ("ntlm", "http")
    return WinRMTransport(settings)


def _powershell(lab, auth: str = "ntlm") -> PSRPTransport:
    user = "CONTOSO\\exadmin" if auth == "ntlm" else "exadmin@contoso.lab"
    inv = load(lab.inventory(f'all:\n  hosts:\n    ex01.contoso.lab: {{ansible_host: "{{EX01}}", ansible_user: {user}, '
                             f'ansible_password: {PASSWORD}, ansible_connection: psrp, ansible_psrp_auth: {auth}, '
                             f'ansible_psrp_port: {IIS_HTTP_PORT}}}\n', name="psrp/inventory.yaml",
                             files={"host_vars/ex01.contoso.lab.yml": "{}\n"}))
    return PSRPTransport(psrp_settings_for(inv.hosts[0], inv.path.parent))


def _requests(lab, endpoint: str, server: str = "") -> int:
    server = server or ("EDGE01" if endpoint == "/wsman" else "EX01")
    return lab.stats()[server]["endpoints"][endpoint]["requests"]


def test_the_program_logs_on_with_ntlm_in_two_requests_and_again_in_two_after_the_server_closed_the_connection(make_lab):
    lab = make_lab(_server(IDLE, "Edge"))
    transport = _program(lab)
    try:
        first = transport.run(encode_stdin([READ]))
        # NEGOTIATE (401 with the CHALLENGE), AUTHENTICATE (200): 2; then Create, Command, Send, Receive
        assert _requests(lab, "/wsman") == 2 + 4
        time.sleep(IDLE + 1.0)  # the lab closes the idle connection; the client's margin has not passed
        second = transport.run(encode_stdin([READ]))
        # a new connection logs on in 2, then Send and Receive to the program still running in the shell
        assert _requests(lab, "/wsman") == 6 + 2 + 2
    finally:
        transport.close()
    assert decode_answer(first.stdout, first.stderr, first.exit_code).result("get").ok
    assert decode_answer(second.stdout, second.stderr, second.exit_code).result("get").ok
    assert second.notes and "the server had closed the connection" in second.notes[0], second.notes
    stats = lab.stats()["EDGE01"]
    assert (stats["shells"], stats["commands"], stats["auth_failures"]) == (1, 1, 0)


def test_remote_powershell_logs_on_with_ntlm_in_two_requests_and_again_in_two_after_the_server_closed_the_connection(make_lab):
    lab = make_lab(_server(IDLE))
    transport = _powershell(lab)
    try:
        transport.run(PS_READ, changes=False)
        # 2 to log on, the pool's Create and Receive, the pipeline's Command and Receive
        assert _requests(lab, "/PowerShell") == 2 + 2 + 2
        time.sleep(IDLE + 1.0)
        out = transport.run(PS_READ, changes=False)
        assert _requests(lab, "/PowerShell") == 6 + 2 + 2  # the pool was kept: no Create
    finally:
        transport.close()
    assert out.state == 4 and len(out.output) == 1
    powershell = lab.stats()["EX01"]["endpoints"]["/PowerShell"]
    assert (powershell["runspace_pools"], powershell["auth_failures"]) == (1, 0)


def test_a_server_that_does_not_take_the_first_token_still_logs_on_with_the_stock_exchange(make_lab):
    lab = make_lab(_server(ignores_first_token=True) + _server(role="Edge", ignores_first_token=True))
    program, powershell = _program(lab), _powershell(lab)
    try:
        out = program.run(encode_stdin([READ]))
        ps = powershell.run(PS_READ, changes=False)
    finally:
        program.close()
        powershell.close()
    assert decode_answer(out.stdout, out.stderr, out.exit_code).result("get").ok
    assert ps.state == 4 and len(ps.output) == 1
    # the first token answered with the plain 401, then NEGOTIATE and AUTHENTICATE: 3, as before the first token
    assert _requests(lab, "/wsman") == 3 + 4 + 1  # Create, Command, Send, Receive; Delete
    assert _requests(lab, "/PowerShell") == 3 + 2 + 2 + 1  # Create and Receive, Command and Receive; Delete
    assert all(s["auth_failures"] == 0 for s in lab.stats().values())  # a token not taken is not a failed logon


def test_kerberos_logs_on_in_one_request_and_in_two_where_the_first_token_is_not_taken(make_lab, krb5_env, monkeypatch):
    taken = make_lab(_server(), kdc=krb5_env)
    ignored = make_lab(_server(ignores_first_token=True), kdc=krb5_env)
    for lab, logon in ((taken, 1), (ignored, 2)):
        transport = _powershell(lab, "kerberos")
        try:
            out = transport.run(PS_READ, changes=False)
        finally:
            transport.close()
        assert out.state == 4 and len(out.output) == 1
        assert _requests(lab, "/PowerShell") == logon + 2 + 2 + 1, logon


def test_a_plan_over_both_doors_costs_one_request_fewer_per_host(make_lab, capsys):
    """The CLI's figures (docs/architecture.md, "Transport and request budget"): remote PowerShell 7 (NTLM),
    the program to an Edge over HTTPS 6 (its Create rides on NTLM's legs); with the fault, 8 and 7 as before."""
    servers = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}]
    inventory = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange:
      transport_service: {{intra_org_connector_protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
    edge01.contoso.lab:
      ansible_host: "{{EDGE01}}"
      ansible_port: 5986
      ansible_winrm_ca_trust_path: "{{CA}}"
      ansible_user: EDGE01\\Administrator
      ansible_password: {EDGE_PASSWORD}
      exchange: {{}}
"""
    for faults, expected in (({}, {"EX01": 7, "EDGE01": 6}), ({"ignores_first_token": True}, {"EX01": 8, "EDGE01": 7})):
        lab = make_lab([{**s, "faults": faults} for s in servers])
        code = main(["plan", str(lab.inventory(inventory))])
        out, err = capsys.readouterr()
        assert code in (0, 2), out + err
        assert {name: s["requests"] for name, s in lab.stats().items()} == expected, faults
        assert all(s["auth_failures"] == 0 for s in lab.stats().values())
