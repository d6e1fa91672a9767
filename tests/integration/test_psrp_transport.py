"""Exchange remote PowerShell's transport under faults: what exconf says when /PowerShell is not
there, redirects, floods or drips its answer, or goes away (docs/faults.md, docs/remote-powershell.md).

A small HTTP server stands in for a hostile or misconfigured IIS; the lab serves the rest."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from exconf.transport import HostUnreachable, TransportError
from exconf.transport.psrp import MAX_ANSWER, PSRPSettings, PSRPTransport

from .conftest import IIS_HTTP_PORT, PASSWORD, unique_prefix


def settings(host: str, port: int, **extra) -> PSRPSettings:
    base = dict(host=host, port=port, scheme="http", path="PowerShell", auth="ntlm", user="CONTOSO\\exadmin",
                password=PASSWORD, cert_validation=True, ca_trust_path=None, message_encryption="auto",
                configuration_name="Microsoft.Exchange", operation_timeout=2, read_timeout=3, connection_timeout=3,
                server_name="ex01.contoso.lab")
    base.update(extra)
    return PSRPSettings(**base)


READ = [("Get-ExchangeServer", [("Identity", "ex01.contoso.lab")])]


@pytest.fixture
def hostile() -> Iterator[Callable[[Callable[[http.server.BaseHTTPRequestHandler], None]], tuple[str, int]]]:
    """hostile(answer) -> (address, port): an HTTP server whose every POST is answered by ``answer``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Callable[[http.server.BaseHTTPRequestHandler], None]) -> tuple[str, int]:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer(self)

            def log_message(self, *args) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a client that hangs up mid-answer is what these tests make happen: no traceback on stderr

        address = unique_prefix() + ".1"
        server = Server((address, 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return address, server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def fail(transport: PSRPTransport) -> Exception:
    try:
        with pytest.raises((TransportError, HostUnreachable)) as raised:
            transport.run(READ, changes=False)
    finally:
        transport.close()
    return raised.value


def test_a_redirect_is_not_followed_and_the_error_names_where_it_pointed(hostile):
    def redirect(h):
        h.send_response(302)
        h.send_header("Location", "https://owa.contoso.lab/owa/auth/logon.aspx")
        h.send_header("Content-Length", "0")
        h.end_headers()

    address, port = hostile(redirect)
    error = fail(PSRPTransport(settings(address, port)))
    assert "redirect to 'https://owa.contoso.lab/owa/auth/logon.aspx'" in str(error) and "follows no redirect" in str(error)
    assert f"http://{address}:{port}/PowerShell" in str(error)


def test_an_answer_larger_than_the_bound_is_cut_off(hostile):
    def flood(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(MAX_ANSWER // len(chunk) + 2):
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client stopped reading, as it should

    address, port = hostile(flood)
    error = fail(PSRPTransport(settings(address, port)))
    assert "exconf stopped reading it" in str(error)


def test_an_answer_that_drips_is_given_up_on_at_the_read_timeout(hostile):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(100):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass

    address, port = hostile(drip)
    started = time.monotonic()
    error = fail(PSRPTransport(settings(address, port, read_timeout=2)))
    assert isinstance(error, HostUnreachable) and "no answer within 2 s" in str(error)
    assert time.monotonic() - started < 10


def test_nothing_listening_is_unreachable():
    address = unique_prefix() + ".1"
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind((address, 0))
        port = s.getsockname()[1]
    error = fail(PSRPTransport(settings(address, port)))
    assert isinstance(error, HostUnreachable) and "cannot connect: Connection refused" in str(error)


def test_no_remote_powershell_where_winrm_listens_says_where_exchange_serves_it(make_lab):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    error = fail(PSRPTransport(settings(lab.addresses["EX01"], 5985)))  # WinRM's port, not IIS's
    assert "HTTP 404: no remote PowerShell here" in str(error) and "exconf_role: Edge" in str(error)


def test_a_wrong_password_is_an_authentication_failure_naming_the_account(make_lab):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    error = fail(PSRPTransport(settings(lab.addresses["EX01"], IIS_HTTP_PORT, password="wrong")))
    assert "refused the credentials of 'CONTOSO\\\\exadmin' (ntlm)" in str(error)
    assert lab.stats()["EX01"]["endpoints"]["/PowerShell"]["auth_failures"] >= 1


def test_a_finished_pipeline_is_let_go_of_without_a_request_and_the_pool_runs_the_next(make_lab):
    """A host's pool lives from its read to its apply; pypsrp would keep each finished pipeline (its commands
    and output) in it until a Signal request closes it. exconf lets go of it and sends nothing more."""
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    transport = PSRPTransport(settings(lab.addresses["EX01"], IIS_HTTP_PORT))
    try:
        first = transport.run(READ, changes=False)
        sent = transport.requests_sent
        second = transport.run(READ, changes=False)
        assert first.output and second.output and first.state == second.state
        assert transport._pool is not None and transport._pool.pipelines == {}
        assert transport.requests_sent - sent == 2  # Command + Receive: no Signal
    finally:
        transport.close()
