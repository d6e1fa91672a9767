"""Issue 20: one long-lived program per WinRS shell. The program crosses the wire once per shell; every later
round trip is one Send (its payload) and the Receives of its answer, which may arrive over several of them.

Against a scripted endpoint (hostile_winrm.py) the requests and their bodies are seen exactly; against the lab,
an Edge subscribed to its site (waves 1 and 3) applies within the program's budget.
"""

from __future__ import annotations

import base64

from exconf.cli import main
from exconf.remote import ANSWER_END_BYTES, Step, decode_answer, encode_payload, encode_stdin, frame_payload, program_text
from exconf.transport.watchdog import Watchdog
from exconf.transport.winrm import WinRMTransport

from .conftest import EDGE_PASSWORD
from .hostile_winrm import HostileWinRM, envelope, receive_body, reply
from .test_transport_bounds import settings

READ = Step("get", "Get-TransportService", {"Identity": "EX01"}, select=("Name",))
CHANGE = Step("set", "Set-TransportService", {"Identity": "EX01", "IntraOrgConnectorProtocolLoggingLevel": "Verbose"})
ANSWER = b'{"exconf":3,"computer":"EX01","edge":false,"results":[{"id":"get","status":"ok","objects":[{"Name":"EX01"}]}]}'


def test_the_program_crosses_the_wire_once_and_an_answer_may_span_receives():
    framed = ANSWER + ANSWER_END_BYTES
    pieces = {1: framed[:40], 2: framed[40:-3], 3: framed[-3:], 4: framed}  # the first answer in three Receives

    def answer(sock, n):
        data = base64.b64encode(pieces.get(n, b"")).decode()
        sock.sendall(reply("200 OK", envelope("uuid:0", receive_body(data))))  # always Running: the program lives on

    endpoint = HostileWinRM(answer, at="Receive")
    watchdog = Watchdog()
    transport = WinRMTransport(settings(endpoint.address), watchdog=watchdog)
    try:
        first = transport.run(encode_stdin([READ]))
        second = transport.run(encode_stdin([CHANGE, READ]))
    finally:
        transport.close()
        watchdog.close()
        endpoint.stop()
    for out in (first, second):
        assert out.stdout == framed and out.exit_code == 0
        assert decode_answer(out.stdout).result("get").objects == ({"Name": "EX01"},)
    assert endpoint.seen == ["Create", "Command", "Send", "Receive", "Receive", "Receive", "Send", "Receive", "Delete"]
    sends = [body for action, body in endpoint.bodies if action == "Send"]
    program = base64.b64encode(base64.b64encode(program_text().encode())[:3000]).decode()[:2000]  # a stretch of it
    assert program.encode() in sends[0] and program.encode() not in sends[1]
    payload = base64.b64encode(frame_payload(encode_payload([CHANGE, READ])).encode()).decode()
    assert payload.encode() in sends[1]  # the second Send is the payload line and nothing else
    assert len(sends[1]) < 4096 < len(program_text()) < len(sends[0])
    assert b'End="true"' not in sends[0] + sends[1]  # standard input stays open for the next payload
    (command,) = [body for action, body in endpoint.bodies if action == "Command"]
    assert b'Name="WINRS_CONSOLEMODE_STDIN">FALSE<' in command  # standard input a pipe, as Ansible asks for it


def test_a_program_that_writes_past_its_answer_is_not_used_again():
    """The program writes nothing between an answer and its next payload: a host that does is not trusted with
    the next payload; the next round trip signals that command and starts the program anew (sent again)."""
    framed = ANSWER + ANSWER_END_BYTES

    def answer(sock, n):
        data = base64.b64encode(framed + (b"stray" if n == 1 else b"")).decode()
        sock.sendall(reply("200 OK", envelope("uuid:0", receive_body(data))))

    endpoint = HostileWinRM(answer, at="Receive")
    watchdog = Watchdog()
    transport = WinRMTransport(settings(endpoint.address), watchdog=watchdog)
    try:
        first = transport.run(encode_stdin([READ]))
        second = transport.run(encode_stdin([READ]))
    finally:
        transport.close()
        watchdog.close()
        endpoint.stop()
    assert first.stdout == second.stdout == framed
    assert first.notes == ("the program wrote past the end of its answer; the next round trip starts it again",)
    assert endpoint.seen == ["Create", "Command", "Send", "Receive", "Signal", "Command", "Send", "Receive", "Delete"]
    program = base64.b64encode(base64.b64encode(program_text().encode())[:3000]).decode()[:2000]
    assert all(program.encode() in body for action, body in endpoint.bodies if action == "Send")


def test_a_program_that_ends_is_started_again_with_the_program(make_lab):
    """A payload the program cannot run ends its process (exit 1, the fatal answer): the next round trip starts a
    new command in the same shell, with the program again, after signalling the one that ended."""
    lab = make_lab([{"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}])
    from exconf.connection import settings_for
    from exconf.inventory import load

    inv = load(lab.inventory(f'all:\n  hosts:\n    edge01: {{ansible_host: "{{EDGE01}}", ansible_user: EDGE01\\Administrator, '
                             f'ansible_password: {EDGE_PASSWORD}}}\n'))
    transport = WinRMTransport(settings_for(inv.hosts[0], inv.path.parent))
    bad = encode_stdin([]).replace(b'"exconf":3', b'"exconf":1')
    read = Step("get", "Get-TransportService", {"Identity": "EDGE01"}, select=("Name",))
    try:
        fatal = transport.run(bad)
        again = transport.run(encode_stdin([read]))
        third = transport.run(encode_stdin([read]))
    finally:
        transport.close()
    assert fatal.exit_code == 1 and b"Unsupported payload version '1'" in fatal.stdout
    assert decode_answer(again.stdout).result("get").objects == ({"Name": "EDGE01"},)
    assert decode_answer(third.stdout).result("get").ok
    wsman = lab.stats()["EDGE01"]["endpoints"]["/wsman"]
    assert (wsman["shells"], wsman["commands"], wsman["sends"]) == (1, 2, 3)


def test_a_two_wave_apply_of_an_edge_subscription_stays_within_12_requests_on_the_edge(make_lab, capsys):
    """The Edge subscribing to its site takes part in waves 1 (its subscription file) and 3 (AD LDS restarted):
    its read and both waves are one program, so 3 payloads cost Command + 3 Sends + 3 Receives (16 before)."""
    from .test_edge_subscription import AMSTERDAM, SERVERS, inventory

    lab = make_lab(SERVERS)
    inv = str(lab.inventory(inventory(AMSTERDAM, "")))
    before = lab.stats()["EDGE01"]["endpoints"]["/wsman"]
    assert main(["apply", inv, "--auto-approve"]) == 0, capsys.readouterr()
    after = lab.stats()["EDGE01"]["endpoints"]["/wsman"]
    spent = {k: after[k] - before[k] for k in ("requests", "shells", "commands", "sends", "bytes_in")}
    assert spent["requests"] <= 12, spent
    assert (spent["shells"], spent["commands"], spent["sends"]) == (1, 1, 3), spent  # read, wave 1, wave 3
    # The program's bytes (base64 on standard input, base64 again in the Send) crossed the wire once.
    program_on_wire = len(base64.b64encode(base64.b64encode(program_text().encode())))
    assert program_on_wire < spent["bytes_in"] < 2 * program_on_wire, spent
    assert [s["Name"] for s in lab.exec("EX01", "Get-EdgeSubscription")] == ["EDGE01"]
