"""A request whose fate is unknown is reported "result unknown" and never sent again.

A small TCP relay between exconf and the lab counts the WS-Man requests it
forwards and cuts the connection when a chosen one arrives.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import replace

import pytest

from exconf.connection import settings_for
from exconf.inventory import load
from exconf.remote import Step, encode_stdin
from exconf.transport import HostUnreachable
from exconf.transport.winrm import WinRMTransport

from .conftest import EDGE_PASSWORD, unique_prefix

# On an Edge, reached with NTLM as the program path is (a Mailbox server's program would need a delegated
# Kerberos ticket, the double hop: test_double_hop.py), so the request numbers below are NTLM's.
READ = Step("get", "Get-TransportService", {"Identity": "EDGE01"}, select=("Name", "IntraOrgConnectorProtocolLoggingLevel"))
CHANGE = Step("set", "Set-TransportService", {"Identity": "EDGE01", "IntraOrgConnectorProtocolLoggingLevel": "Verbose"})
EDGE = [{"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}]
INVENTORY = ('all:\n  hosts:\n    edge01: {ansible_host: "{EDGE01}", ansible_user: EDGE01\\Administrator, '
             f'ansible_password: {EDGE_PASSWORD}}}\n')


class _Relay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: tuple[str, int], cut_at: int):
        self.target = target
        self.cut_at = cut_at
        self.count = 0
        self.lock = threading.Lock()
        super().__init__((f"{unique_prefix()}.1", 0), _RelayHandler)


class _RelayHandler(socketserver.BaseRequestHandler):
    server: _Relay

    def handle(self) -> None:
        upstream = socket.create_connection(self.server.target)
        back = threading.Thread(target=self._pump, args=(upstream, self.request), daemon=True)
        back.start()
        try:
            while data := self.request.recv(65536):
                if data.startswith(b"POST "):
                    with self.server.lock:
                        self.server.count += 1
                        cut = self.server.count == self.server.cut_at
                    if cut:
                        return  # the request never reaches the server; the client sees the connection die
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (upstream, self.request):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass


def _level(lab) -> str:
    (obj,) = lab.exec("EDGE01", "Get-TransportService", Identity="EDGE01")
    return obj["IntraOrgConnectorProtocolLoggingLevel"]


# Requests of a transport's life: 2 (NTLM, its NEGOTIATE on the first request) + Create + Command + Send +
# Receive for the first round trip (1..6), then Send (7, the payload alone, to the program still running) and
# Receive (8) for the second.
@pytest.mark.parametrize("cut_at, made", [(7, False), (8, True)])
def test_a_connection_lost_after_the_input_was_sent_is_result_unknown_and_not_retried(make_lab, cut_at, made):
    lab = make_lab(EDGE)
    inv = load(lab.inventory(INVENTORY))
    direct = settings_for(inv.hosts[0], inv.path.parent)
    relay = _Relay((direct.host, direct.port), cut_at)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    host, port = relay.server_address
    transport = WinRMTransport(replace(direct, host=host, port=port))
    try:
        transport.run(encode_stdin([READ]))
        with pytest.raises(HostUnreachable) as exc:
            transport.run(encode_stdin([CHANGE, READ]))
    finally:
        transport.close()
        relay.shutdown()
    assert exc.value.result_unknown is True
    assert "result is unknown" in str(exc.value)
    assert relay.count == cut_at  # nothing was sent after the cut, not even the Delete
    stats = lab.stats()["EDGE01"]
    assert stats["commands"] == 1  # one program, never started again: the change ran at most once
    assert _level(lab) == ("Verbose" if made else "None")


def test_a_connection_lost_before_the_input_is_sent_is_reconnected_and_the_change_made_once(make_lab):
    lab = make_lab(EDGE)
    inv = load(lab.inventory(INVENTORY))
    direct = settings_for(inv.hosts[0], inv.path.parent)
    relay = _Relay((direct.host, direct.port), 4)  # the Command (after NTLM's 2 and the Create): it changes nothing
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    host, port = relay.server_address
    transport = WinRMTransport(replace(direct, host=host, port=port))
    try:
        first = transport.run(encode_stdin([READ]))
        out = transport.run(encode_stdin([CHANGE, READ]))
    finally:
        transport.close()
        relay.shutdown()
    assert any(n.startswith("reconnected: the server closed the connection") for n in first.notes), first.notes
    assert out.notes == ()
    assert lab.stats()["EDGE01"]["commands"] == 1
    assert _level(lab) == "Verbose"
    # 2 + Create + the cut Command, 2 again + Command + Send + Receive, Send + Receive, Delete
    assert relay.count == 4 + 5 + 2 + 1
