"""The lab's WinRM server keeps Windows' limits: idle connections, bodies before logon, shells per user."""

from __future__ import annotations

import socket
import tracemalloc

import pytest
from winrm.exceptions import WSManFaultError
from winrm.protocol import Protocol

from exconf.lab.tlsca import LabCA
from exconf.lab.winrm import WinRMService
from exconf.lab.winrm.shell import MAX_SHELLS_PER_USER

from . import DOMAIN_ADMIN, FakeBackend, make_spec

USER = f"{DOMAIN_ADMIN.domain}\\{DOMAIN_ADMIN.user}"


@pytest.fixture
def serve(tmp_path):
    services = []

    def start(spec):
        service = WinRMService(FakeBackend(), [spec], LabCA.load_or_create(tmp_path)).start()
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop()


def _connect(spec) -> socket.socket:
    sock = socket.create_connection((spec.address, spec.winrm.http_port), timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s pass)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def _request(headers: str, body: bytes = b"") -> bytes:
    return f"POST /wsman HTTP/1.1\r\nHost: lab\r\n{headers}\r\n".encode() + body


def test_an_idle_connection_is_closed_after_the_org_files_idle_timeout(serve):
    spec = make_spec(winrm={"idle_connection_timeout": 0.5})
    serve(spec)
    with _connect(spec) as sock:
        sock.settimeout(10)  # far past the server's 0.5 s: a closed connection reads b"" before
        assert sock.recv(1) == b""


def test_the_default_idle_timeout_is_http_sys_s_120_s():
    assert make_spec().winrm.idle_connection_timeout == 120.0


@pytest.mark.parametrize("size_line", [b"-1", b"ffffffffffffffffffff", b"zz", b""])
def test_a_chunk_size_that_is_not_one_is_refused_with_400(serve, size_line):
    spec = make_spec()
    serve(spec)
    with _connect(spec) as sock:
        sock.sendall(_request("Transfer-Encoding: chunked\r\n") + size_line + b"\r\n" + b"x" * 1000)
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]


def test_a_huge_chunk_is_refused_before_it_is_read(serve):
    spec = make_spec()
    serve(spec)
    with _connect(spec) as sock:
        sock.sendall(_request("Transfer-Encoding: chunked\r\n") + b"7fffffffffffffff\r\n" + b"x" * 1000)
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]


def test_a_body_with_credentials_before_logon_is_limited_to_one_envelope(serve):
    spec = make_spec()
    serve(spec)
    with _connect(spec) as sock:
        sock.sendall(_request("Authorization: Negotiate AAAA\r\nContent-Length: 600000\r\n"))
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]


def test_an_anonymous_body_is_drained_not_kept(serve):
    """20 MB sent before logging on costs the server a read buffer, not 20 MB (tracemalloc's peak)."""
    spec = make_spec()
    serve(spec)
    size = 20 * 1024 * 1024
    tracemalloc.start()
    try:
        with _connect(spec) as sock:
            sock.sendall(_request(f"Content-Length: {size}\r\n"))
            piece = b"x" * 65536
            for _ in range(size // len(piece)):
                sock.sendall(piece)
            sock.shutdown(socket.SHUT_WR)
            answer = _answer(sock)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:80]  # the logon challenge, as for any anonymous request
    assert peak < 4 * 1024 * 1024, peak


def test_the_31st_shell_of_one_user_is_refused_with_winrms_quota_fault(serve):
    spec = make_spec()
    serve(spec)
    p = Protocol(f"http://{spec.address}:{spec.winrm.http_port}/wsman", transport="ntlm", username=USER, password=DOMAIN_ADMIN.password)
    shells = [p.open_shell() for _ in range(MAX_SHELLS_PER_USER)]
    with pytest.raises(WSManFaultError) as exc:
        p.open_shell()
    assert exc.value.wsman_fault_code == 2150859173
    assert "maximum number of concurrent shells a user can remotely open" in str(exc.value.response)
    p.close_shell(shells.pop(), close_session=False)
    shells.append(p.open_shell())  # one deleted: room for one more
    assert MAX_SHELLS_PER_USER == 30 and len(set(shells)) == 30
