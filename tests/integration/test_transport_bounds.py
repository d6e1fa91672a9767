"""Issue 14: every answer is bounded, and no redirect is followed.

Hostile endpoints (tests/integration/hostile_winrm.py) on real loopback sockets: a huge body,
a gzip bomb, an endless chunked stream, a drip, endless output over many Receive answers, a
server that says "still running" forever, and a 307 to another address. Each ends as that host's
clear error, within a few MB of the controller's memory (tracemalloc's peak; the whole process's
peak RSS under the same endpoints is measured in test_hostile_memory.py).
"""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
import tracemalloc
import zlib
from dataclasses import replace
from functools import lru_cache

import pytest

from exconf.remote import Step, encode_stdin
from exconf.transport import ConnectionSettings, HostUnreachable, TransportError
from exconf.transport.session import ANSWER_LIMIT
from exconf.transport.watchdog import Watchdog
from exconf.transport.winrm import COMMAND_DEADLINE, OUTPUT_LIMIT, WinRMTransport

from .conftest import PASSWORD, unique_prefix
from .hostile_winrm import HostileWinRM, envelope, pour, receive_body, reply

STDIN = encode_stdin([Step("get", "Get-TransportService", {"Identity": "EX01"})])
MB = 1024 * 1024


def settings(address: str, **changes) -> ConnectionSettings:
    host, port = address.rsplit(":", 1)
    base = ConnectionSettings(
        host=host, port=int(port), scheme="http", path="/wsman", auth="ntlm", user="CONTOSO\\exadmin", password=PASSWORD,
        cert_validation=True, ca_trust_path=None, message_encryption="never", operation_timeout=1, read_timeout=5,
    )
    return replace(base, **changes)


def run_against(endpoint: HostileWinRM, **changes) -> tuple[TransportError, int]:
    """The error one command gets from the endpoint, and tracemalloc's peak while it ran."""
    clock = changes.pop("clock", time.monotonic)
    watchdog = Watchdog()  # whole-request deadlines on the real clock, whatever clock the command deadline reads
    transport = WinRMTransport(settings(endpoint.address, **changes), clock=clock, watchdog=watchdog)
    tracemalloc.start()
    try:
        with pytest.raises(TransportError) as exc:
            transport.run(STDIN)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        transport.close()
        watchdog.close()
        endpoint.stop()
    return exc.value, peak


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """256 MiB of zeros in about 250 KB of gzip: under the answer limit on the wire, far over it inflated."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * MB
    return b"".join([c.compress(zeros) for _ in range(256)] + [c.flush()])


def test_a_huge_body_announced_is_refused_before_it_is_read():
    sent = []

    def huge(sock, n):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 6000000000\r\n\r\n")
        sent.append(pour(sock, b"<" * 65536))
        return False

    error, peak = run_against(HostileWinRM(huge, at="Receive"))
    assert str(error).startswith("http://") and "announces 6,000,000,000 bytes" in str(error)
    assert error.result_unknown and "result is unknown" in str(error)  # the command's input had been sent
    assert peak < 4 * MB, peak


def test_a_huge_body_without_a_length_is_cut_at_the_limit():
    def endless(sock, n):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nConnection: close\r\n\r\n")
        pour(sock, b"<a>" * 30000)
        return False

    error, peak = run_against(HostileWinRM(endless, at="*"))
    assert type(error) is TransportError
    assert f"the answer passed {ANSWER_LIMIT:,} bytes, more than an answer may have" in str(error)
    assert not error.result_unknown  # the very first request: nothing was sent
    assert peak < 4 * MB, peak


def test_a_gzip_bomb_is_cut_as_it_inflates():
    bomb = gzip_bomb()
    assert len(bomb) < ANSWER_LIMIT

    def inflate(sock, n):
        sock.sendall(reply("200 OK", bomb, ("Content-Type: application/soap+xml", "Content-Encoding: gzip")))

    error, peak = run_against(HostileWinRM(inflate, at="Create"))
    assert f"the answer passed {ANSWER_LIMIT:,} bytes once decompressed" in str(error)
    assert peak < 8 * MB, peak


def test_an_endless_chunked_stream_is_cut_at_the_limit():
    def chunks(sock, n):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n")
        pour(sock, b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
        return False

    error, peak = run_against(HostileWinRM(chunks, at="Receive"))
    assert f"the answer passed {ANSWER_LIMIT:,} bytes" in str(error) and error.result_unknown
    assert peak < 4 * MB, peak


def test_a_drip_cannot_hold_a_host_past_its_read_timeout():
    dripped = []

    def drip(sock, n):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 100000\r\n\r\n")
        try:
            for _ in range(100):  # one byte every 2 s: each read is quick, the whole would take 200 s
                sock.sendall(b"<")
                dripped.append(1)
                time.sleep(2)
        except OSError:
            pass
        return False

    error, _ = run_against(HostileWinRM(drip, at="Receive"), read_timeout=3)
    assert isinstance(error, HostUnreachable)
    assert "no answer within 3 s; the command's result is unknown" in str(error)
    assert len(dripped) < 5


def test_endless_output_over_many_receive_answers_stops_at_the_output_limit():
    piece = base64.b64encode(b"x" * 96 * 1024).decode()  # each answer well within the answer limit
    answered = []

    def more(sock, n):
        answered.append(n)
        sock.sendall(reply("200 OK", envelope("uuid:0", receive_body(piece))))

    error, peak = run_against(HostileWinRM(more, at="Receive"))
    assert f"the command wrote more than {OUTPUT_LIMIT // MB} MiB" in str(error)
    assert error.result_unknown
    assert len(answered) <= OUTPUT_LIMIT // (96 * 1024) + 2  # it stopped asking at the limit
    assert peak < OUTPUT_LIMIT + 16 * MB, peak


def test_a_command_that_never_ends_is_given_up_at_the_command_deadline():
    """A server that answers every Receive at once with "still running" and nothing else."""
    ticks = itertools.count()
    clock = lambda: next(ticks) * 60.0  # noqa: E731 - each look at the clock is a minute later

    answered = []

    def running(sock, n):
        answered.append(n)
        sock.sendall(reply("200 OK", envelope("uuid:0", receive_body())))

    error, _ = run_against(HostileWinRM(running, at="Receive"), clock=clock)
    assert isinstance(error, HostUnreachable)
    assert f"the program did not finish its answer within {COMMAND_DEADLINE} s; its result is unknown" in str(error)
    assert len(answered) < 30


def test_an_answer_that_never_ends_its_frame_is_given_up_at_the_command_deadline():
    """A host that writes a whole answer line, and more, but never the line of four NULs that ends an answer,
    while it says it is still running: the client keeps asking until the deadline, then says so."""
    ticks = itertools.count()
    clock = lambda: next(ticks) * 60.0  # noqa: E731 - each look at the clock is a minute later
    line = base64.b64encode(b'{"exconf":3,"computer":"EX01","edge":false,"results":[]}\r\n\0\0\0\r\n').decode()
    answered = []

    def unended(sock, n):
        answered.append(n)
        sock.sendall(reply("200 OK", envelope("uuid:0", receive_body(line))))

    error, _ = run_against(HostileWinRM(unended, at="Receive"), clock=clock)
    assert isinstance(error, HostUnreachable) and error.result_unknown
    assert f"the program did not finish its answer within {COMMAND_DEADLINE} s" in str(error)
    assert len(answered) < 30


def test_a_redirect_is_not_followed_and_nothing_reaches_its_target():
    """A 307 would make requests post the same body (with a PFX password in it) to the Location."""
    target = socket.socket()
    target.bind((f"{unique_prefix()}.2", 0))
    target.listen()
    target.settimeout(0.2)
    reached: list[bytes] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                conn, _ = target.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                reached.append(conn.recv(65536) or b"(connected)")
            except OSError:
                reached.append(b"(connected)")
            conn.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    host, port = target.getsockname()
    location = f"http://{host}:{port}/wsman"

    def redirect(sock, n):
        sock.sendall(reply("307 Temporary Redirect", b"", (f"Location: {location}",)))

    for stage in ("*", "Send"):  # before logon, and on the Send that carries the command's input
        endpoint = HostileWinRM(redirect, at=stage)
        error, _ = run_against(endpoint)
        assert type(error) is TransportError
        assert f"the server answered with a redirect (HTTP 307 to {location}); exconf never follows one" in str(error)
        assert error.result_unknown is (stage == "Send")
    time.sleep(0.5)
    stop.set()
    watcher.join(5)
    target.close()
    assert reached == []


def test_a_redirect_needs_no_location_to_be_refused():
    error, _ = run_against(HostileWinRM(lambda sock, n: sock.sendall(reply("302 Found", b"")), at="*"))
    assert "the server answered with a redirect (HTTP 302); exconf never follows one" in str(error)
