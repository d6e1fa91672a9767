"""A hostile WinRM endpoint for tests: plain SOAP (no logon, no sealing) until it chooses to misbehave.

It answers Create, Command, Send, Signal and Delete as a WinRM service would
(the shapes pywinrm parses, MS-WSMV 3.1.4), and hands the socket to
``misbehave(sock, n)`` for the n-th request of the chosen action (``"Receive"``,
or ``"*"`` for the very first request, before any logon), which writes whatever
it likes: a huge body, a gzip bomb, a redirect, an endless stream. Real
sockets on a loopback address of its own; a thread per connection.
"""

from __future__ import annotations

import re
import socket
import socketserver
import threading
from collections.abc import Callable

from .conftest import unique_prefix

SHELL = "8B3F2E1A-0000-4000-8000-000000000001"
COMMAND = "8B3F2E1A-0000-4000-8000-000000000002"
_NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
       'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"')
RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"

Misbehave = Callable[[socket.socket, int], bool | None]  # False: close the connection afterwards


def envelope(relates_to: str, body: str) -> bytes:
    return (f'<s:Envelope {_NS}><s:Header><a:RelatesTo>{relates_to}</a:RelatesTo></s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


def reply(status: str, body: bytes, headers: tuple[str, ...] = ("Content-Type: application/soap+xml;charset=UTF-8",)) -> bytes:
    head = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(head).encode() + body


def receive_body(stdout_b64: str = "", state: str = RUNNING) -> str:
    stream = f'<rsp:Stream Name="stdout" CommandId="{COMMAND}">{stdout_b64}</rsp:Stream>' if stdout_b64 else ""
    return f'<rsp:ReceiveResponse>{stream}<rsp:CommandState CommandId="{COMMAND}" State="{state}"/></rsp:ReceiveResponse>'


_ACTIONS = {b"/transfer/Create": "Create", b"/shell/Command": "Command", b"/shell/Send": "Send",
            b"/shell/Receive": "Receive", b"/shell/Signal": "Signal", b"/transfer/Delete": "Delete"}


class HostileWinRM:
    """Serves until stopped; ``seen`` lists the actions of the requests it read, in order."""

    def __init__(self, misbehave: Misbehave, at: str = "Receive", host: str | None = None):
        self.misbehave, self.at = misbehave, at
        self.seen: list[str] = []
        self.bodies: list[tuple[str, bytes]] = []  # (action, request body), in order
        self.lock = threading.Lock()
        endpoint = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(30)
                try:
                    while endpoint._one(self.request):
                        pass
                except OSError:
                    return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((host or f"{unique_prefix()}.1", 0), Handler)
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _one(self, sock: socket.socket) -> bool:
        request = read_request(sock)
        if request is None:
            return False
        body = request[1]
        action = next((name for marker, name in _ACTIONS.items() if marker in body), "?")
        with self.lock:
            self.seen.append(action)
            self.bodies.append((action, body))
            n = sum(1 for a in self.seen if a == action)
        if self.at == "*" or action == self.at:
            return self.misbehave(sock, n) is not False
        m = re.search(rb"<a:MessageID>(uuid:[0-9A-Fa-f-]+)</a:MessageID>", body)
        relates = m.group(1).decode() if m else "uuid:00000000-0000-0000-0000-000000000000"
        answers = {
            "Create": f'<x:ResourceCreated xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"><w:SelectorSet>'
                      f'<w:Selector Name="ShellId">{SHELL}</w:Selector></w:SelectorSet></x:ResourceCreated>',
            "Command": f"<rsp:CommandResponse><rsp:CommandId>{COMMAND}</rsp:CommandId></rsp:CommandResponse>",
            "Send": "<rsp:SendResponse/>",
            "Receive": receive_body(),
            "Signal": "<rsp:SignalResponse/>",
            "Delete": "",
        }
        sock.sendall(reply("200 OK", envelope(relates, answers.get(action, ""))))
        return True


def read_request(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """(head, body) of one request with a Content-Length (as pywinrm sends), or None at the end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(m.group(1)) if m else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body


def pour(sock: socket.socket, piece: bytes, limit: int = 8 << 30) -> int:
    """Write ``piece`` again and again until the client goes away (or ``limit`` bytes): what was sent."""
    sent = 0
    try:
        while sent < limit:
            sock.sendall(piece)
            sent += len(piece)
    except OSError:
        pass
    return sent


Tamper = Callable[[str, dict[str, int], bytes], bytes | None]


class TamperingProxy:
    """Forwards each request to a real WinRM server (a lab) on a connection of its own per client
    connection (NTLM authenticates connections), and lets ``tamper(action, counts, response)`` replace
    the server's answer: the server did the work, the client gets whatever the proxy likes. Only for
    plain SOAP (``message_encryption: never``), since a sealed message cannot be read."""

    def __init__(self, upstream: tuple[str, int], tamper: Tamper):
        self.upstream, self.tamper = upstream, tamper
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(60)
                try:
                    with socket.create_connection(proxy.upstream, timeout=60) as server:
                        while proxy._one(self.request, server):
                            pass
                except OSError:
                    return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((f"{unique_prefix()}.1", 0), Handler)
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _one(self, client: socket.socket, server: socket.socket) -> bool:
        request = read_request(client)
        if request is None:
            return False
        head, body = request
        server.sendall(head + b"\r\n\r\n" + body)
        response = read_request(server)  # a response is framed as a request is (head, Content-Length body)
        if response is None:
            return False
        action = next((name for marker, name in _ACTIONS.items() if marker in body), "?")
        with self.lock:
            self.counts[action] = self.counts.get(action, 0) + 1
            counts = dict(self.counts)
        raw = response[0] + b"\r\n\r\n" + response[1]
        replacement = self.tamper(action, counts, raw)
        client.sendall(raw if replacement is None else replacement)
        return replacement is None
