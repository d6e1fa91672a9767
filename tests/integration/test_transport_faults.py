"""Issue 6: every failure of one endpoint ends as a clear exconf.transport error, never a traceback.

Each hostile server here is a few lines of the standard library's socket
server, started by the test on a loopback address of its own.
"""

from __future__ import annotations

import os
import socket
import socketserver
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from exconf.connection import ConnectionConfigError, settings_for
from exconf.inventory import Host, load
from exconf.remote import Step, encode_stdin
from exconf.transport import ConnectionSettings, HostUnreachable, TransportError
from exconf.transport.winrm import WinRMTransport

from .conftest import PASSWORD, unique_prefix

STDIN = encode_stdin([Step("get", "Get-TransportService", {"Identity": "EX01"})])


class _Hostile(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(answer) -> tuple[_Hostile, str]:
    """A server on a fresh loopback address; ``answer(sock, request_bytes)`` writes whatever it likes."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(10)
            try:
                while True:
                    data = _read_request(self.request)
                    if data is None or answer(self.request, data) is False:
                        return
            except OSError:
                return

    server = _Hostile((f"{unique_prefix()}.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address
    return server, f"{host}:{port}"


def _read_request(sock: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        body += sock.recv(65536)
    return head


def _settings(address: str, **changes) -> ConnectionSettings:
    host, port = address.rsplit(":", 1)
    base = ConnectionSettings(
        host=host, port=int(port), scheme="http", path="/wsman", auth="ntlm", user="CONTOSO\\exadmin", password=PASSWORD,
        cert_validation=True, ca_trust_path=None, message_encryption="auto", operation_timeout=1, read_timeout=2,
    )
    return replace(base, **changes)


def _run(settings: ConnectionSettings) -> TransportError:
    transport = WinRMTransport(settings)
    try:
        with pytest.raises(TransportError) as exc:
            transport.run(STDIN)
    finally:
        transport.close()  # must not raise either
    return exc.value


def _reply(status: str, headers: list[str], body: bytes = b"", length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body) if length is None else length}", "", ""]
    return "\r\n".join(lines).encode() + body


def test_a_200_that_is_not_xml_is_a_transport_error_naming_the_endpoint():
    server, address = _serve(lambda sock, _: sock.sendall(_reply("200 OK", ["Content-Type: text/html"], b"<html>hello")))
    try:
        error = _run(_settings(address, message_encryption="never"))
    finally:
        server.shutdown()
    assert type(error) is TransportError
    assert str(error).startswith(f"http://{address}/wsman: the answer to create is not the WS-Management message it should be")


def test_a_server_that_never_asks_to_authenticate_gets_no_sealed_message():
    server, address = _serve(lambda sock, _: sock.sendall(_reply("200 OK", ["Content-Type: text/html"], b"<html>hello")))
    try:
        error = _run(_settings(address))
    finally:
        server.shutdown()
    assert "answered without asking to authenticate" in str(error)


def test_401_negotiate_without_an_ntlm_challenge_says_so():
    server, address = _serve(lambda sock, _: sock.sendall(_reply("401 Unauthorized", ["WWW-Authenticate: Negotiate"])))
    try:
        error = _run(_settings(address))
    finally:
        server.shutdown()
    assert type(error) is TransportError
    assert "sent no NTLM challenge" in str(error) and address in str(error)


def test_a_truncated_body_is_reported_as_cut_short():
    def answer(sock, _):
        sock.sendall(_reply("200 OK", ["Content-Type: application/soap+xml"], b"<s:Envelope", length=1000))
        return False  # and close

    server, address = _serve(answer)
    try:
        error = _run(_settings(address, message_encryption="never"))
    finally:
        server.shutdown()
    assert isinstance(error, HostUnreachable)
    assert "the answer was cut short" in str(error)


def test_a_missing_ca_trust_path_is_a_connection_config_error(tmp_path: Path):
    variables = {"ansible_user": "u", "ansible_password": "p", "ansible_port": 5986, "ansible_winrm_ca_trust_path": "nope/ca.pem"}
    host = Host("ex01", 0, frozenset(), variables, {})
    with pytest.raises(ConnectionConfigError) as exc:
        settings_for(host, tmp_path)
    assert str(exc.value) == f"ex01: ansible_winrm_ca_trust_path: {tmp_path / 'nope' / 'ca.pem'} does not exist"


def test_a_server_trickling_one_byte_a_second_cannot_hold_a_host_past_the_deadline():
    sent = []
    left = threading.Event()

    def answer(sock, _):
        sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 60\r\n\r\n")
        try:
            for _ in range(60):  # 60 s of body, one byte a second: each read is quick, the whole is not
                sock.sendall(b"x")
                sent.append(1)
                time.sleep(1)
        except OSError:
            left.set()
        return False

    server, address = _serve(answer)
    try:
        error = _run(_settings(address, operation_timeout=1, read_timeout=2))
        assert left.wait(5), "the client should have closed the connection"
    finally:
        server.shutdown()
    assert isinstance(error, HostUnreachable) and "no answer within 2 s" in str(error)
    assert len(sent) < 10  # the server was cut off long before its 60 bytes


def test_message_encryption_never_over_http_says_what_to_set(make_lab):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    inv = load(lab.inventory(f'all:\n  hosts:\n    ex01: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}, ansible_winrm_message_encryption: never, exconf_accept_cleartext: true}}\n'))
    error = _run(settings_for(inv.hosts[0], inv.path.parent))
    assert "the server refuses unencrypted messages" in str(error)
    assert "use https, or ansible_winrm_message_encryption: auto" in str(error)


def test_building_sessions_in_many_threads_never_touches_the_environment(monkeypatch):
    """psf/requests#4997: pywinrm's own session set-up sets and deletes os.environ["no_proxy"],
    and urllib's getproxies_environment, iterating os.environ in another thread, then fails."""
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    server, address = _serve(lambda sock, _: sock.sendall(_reply("200 OK", [], b"<not-xml")))
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                for key, _ in os.environ.items():  # what urllib.request.getproxies_environment does
                    if key.lower() == "no_proxy":
                        seen.append(key)
            except (KeyError, RuntimeError) as exc:
                seen.append(repr(exc))

    def build() -> None:
        for _ in range(40):
            transport = WinRMTransport(_settings(address, message_encryption="never"))
            try:
                transport.run(STDIN)
            except TransportError:
                pass
            transport.close()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads finely, as a loaded controller does
    watchers = [threading.Thread(target=watch) for _ in range(2)]
    builders = [threading.Thread(target=build) for _ in range(8)]
    try:
        for t in watchers + builders:
            t.start()
        for t in builders:
            t.join()
    finally:
        stop.set()
        for t in watchers:
            t.join()
        sys.setswitchinterval(interval)
        server.shutdown()
    assert seen == []
