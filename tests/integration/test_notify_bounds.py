"""Issue 14: a --notify receiver cannot hold a drift run, grow its memory, or redirect the message.

Real sockets: a receiver that drips its headers (a byte a second, each read quick, the whole never
done), one that answers a 2 GB body, and one that redirects to another address.
"""

from __future__ import annotations

import socket
import threading
import tracemalloc

import pytest

from exconf.drift import sinks

from .conftest import unique_prefix
from .hostile_winrm import pour

MESSAGE = {"text": "drift appeared"}


class Receiver:
    """Accepts connections on a loopback address of its own; ``answer(sock)`` writes whatever it likes."""

    def __init__(self, answer):
        self.listener = socket.socket()
        self.listener.bind((f"{unique_prefix()}.1", 0))
        self.listener.listen()
        self.listener.settimeout(0.2)
        self.answer = answer
        self.connections = 0
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.listener.getsockname()
        return f"http://{host}:{port}/hook/SECRETTOKEN"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(5)
            try:
                conn.recv(65536)
                self.sent += self.answer(conn) or 0
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.listener.close()


def test_a_receiver_dripping_its_headers_is_cut_at_the_whole_request_deadline(monkeypatch):
    monkeypatch.setattr(sinks, "DEADLINE", 2.0)
    dripped = []

    def drip(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(60):  # one byte a second: each read is within READ_TIMEOUT, the whole is 60 s
            conn.sendall(b"X")
            dripped.append(1)
            threading.Event().wait(1)

    receiver = Receiver(drip)
    url = receiver.url
    try:
        with pytest.raises(sinks.SinkError) as exc:
            sinks.Webhook(url).deliver(MESSAGE)
    finally:
        receiver.close()
    assert str(exc.value) == f"the notification to {url.split('/hook')[0]}/… timed out (no answer within 2 s)"
    assert "SECRETTOKEN" not in str(exc.value)
    assert len(dripped) < 6


def test_a_huge_answer_is_never_read():
    def huge(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2000000000\r\n\r\n")
        return pour(conn, b"x" * 65536, limit=2_000_000_000)

    receiver = Receiver(huge)
    tracemalloc.start()
    try:
        sinks.Webhook(receiver.url).deliver(MESSAGE)  # 200: delivered; the body does not matter
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        receiver.close()
    assert peak < 4 * 1024 * 1024, peak
    assert receiver.sent < 64 * 1024 * 1024  # cut off long before its 2 GB


def test_a_redirect_is_not_followed_and_nothing_reaches_its_target():
    target = Receiver(lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    host, port = target.listener.getsockname()

    def redirect(conn):
        conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{host}:{port}/hook\r\nContent-Length: 0\r\n\r\n".encode())

    receiver = Receiver(redirect)
    try:
        with pytest.raises(sinks.SinkError) as exc:
            sinks.Webhook(receiver.url).deliver(MESSAGE)
    finally:
        receiver.close()
        target.close()
    assert "was not delivered: the server answered with a redirect (HTTP 307" in str(exc.value) and "not followed" in str(exc.value)
    assert target.connections == 0
