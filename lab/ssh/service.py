"""Every lab server's sshd: one listening socket per server that installs it, served by one process.

As the WinRM listeners do (lab/winrm/listener.py), one selector thread accepts on every socket, and each
connection gets a thread, which runs paramiko's server negotiation and then waits on the connection:
paramiko runs the protocol in a thread of its own and calls ``LabSSHServer`` back. Nothing listens for
a server with the ``unreachable`` fault.

Each server keeps its host key with the lab's state (keys.py); the lab writes their public halves to
``ssh_known_hosts`` beside its CA certificate, in known_hosts form, for an inventory to name: a client
trusts a lab server's key only because someone said so, never by itself.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import paramiko

from exconf.lab.winrm.listener import _bind

from . import keys
from .server import ENDPOINT, LabSSHServer
from .shell import Process

if TYPE_CHECKING:
    from exconf.lab.exchange.spec import ServerSpec
    from exconf.lab.winrm.stats import ServerStats

log = logging.getLogger(__name__)
# paramiko logs a client that leaves without a goodbye (a reset) as an error; a lab served in a test's process
# must not print it on stderr (with no handler at all, logging's last resort would): `lab serve` logs it to its file.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

LOGIN_GRACE_TIME = 120.0  # sshd_config LoginGraceTime default: seconds to authenticate, then the connection closes
HANDSHAKE_TIMEOUT = 30.0  # a client that stalls before the key exchange ends is dropped


class SSHService:
    """The sshd of each lab server whose organisation file gives it ``ssh``."""

    def __init__(self, backend: Process, servers: Iterable["ServerSpec"], stats_for: Callable[[str], "ServerStats"],
                 state_dir: Path):
        self.backend = backend
        self.specs = [s for s in servers if s.ssh is not None]
        self._stats_for = stats_for
        self.key_folder = Path(state_dir) / keys.KEY_FOLDER
        self.known_hosts = Path(state_dir) / keys.KNOWN_HOSTS_NAME
        self._keys: dict[str, paramiko.PKey] = {}  # what each server presents
        self._listeners: list[tuple[socket.socket, "ServerSpec"]] = []
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._threads: set[threading.Thread] = set()

    def host_key(self, name: str) -> paramiko.PKey:
        """The key the server presents now (for tests and `lab` output)."""
        return self._keys[name]

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> "SSHService":
        entries = []
        for spec in self.specs:
            assert spec.ssh is not None
            own = keys.host_key(self.key_folder, spec.name)
            entries.append((keys.known_hosts_name(spec.address, spec.ssh.port), own))
            self._keys[spec.name] = keys.host_key(self.key_folder, spec.name, changed=True) if spec.faults.ssh_host_key_changed else own
        if self.specs:
            keys.write_known_hosts(self.known_hosts, entries)
        try:
            for spec in self.specs:
                if not spec.faults.unreachable:
                    assert spec.ssh is not None
                    self._listeners.append((_bind(spec, spec.ssh.port), spec))
        except BaseException:
            self._close_listeners()
            raise
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for sock, spec in self._listeners:
            self._selector.register(sock, selectors.EVENT_READ, spec)
        self._accept_thread = threading.Thread(target=self._accept_loop, name="ssh-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        self._close_listeners()
        with self._lock:
            transports = list(self._transports)
            threads = list(self._threads)
        for transport in transports:
            transport.close()
        for thread in threads:
            thread.join(timeout / max(1, len(threads)))
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._selector is not None:
            self._selector.close()

    def _close_listeners(self) -> None:
        for sock, _ in self._listeners:
            try:
                sock.close()
            except OSError:
                pass

    # -- accepting and serving ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._selector is not None
        while not self._stopping.is_set():
            try:
                events = self._selector.select(timeout=1.0)
            except OSError:
                return
            for key, _ in events:
                spec = key.data
                if spec is None:  # the wake-up socket
                    return
                try:
                    conn, addr = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    log.warning("ssh accept failed for %s: %s", spec.name, exc)
                    continue
                conn.setblocking(True)
                # The lab models what sshd answers, not how fast a network carries it: no Nagle delay on loopback,
                # which would only slow the tests (40 ms a round trip with delayed ACKs).
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

                thread = threading.Thread(target=self._serve, args=(spec, conn), name=f"ssh-{spec.name}", daemon=True)
                with self._lock:
                    self._threads.add(thread)
                thread.start()

    def _serve(self, spec: "ServerSpec", conn: socket.socket) -> None:
        stats = self._stats_for(spec.name)
        # The version exchange, the KEXINIT exchange and the key exchange (RFC 4253 §4.2, §7.1, §8): three round
        # trips before the client may ask for anything, counted as the connection is accepted (a client that leaves
        # during the handshake is counted as if it had finished it).
        stats.add(ENDPOINT, connections=1, requests=3)
        transport: paramiko.Transport | None = None
        try:
            transport = _LabTransport(_CountingSocket(conn, stats))
            transport.banner_timeout = transport.handshake_timeout = HANDSHAKE_TIMEOUT
            # How Windows' own sshd names itself (`ssh -V` on a current Windows: OpenSSH_for_Windows_9.5p2,
            # PowerShell/Win32-OpenSSH#2422).
            transport.local_version = "SSH-2.0-OpenSSH_for_Windows_9.5"
            transport.add_server_key(self._keys[spec.name])
            with self._lock:
                if self._stopping.is_set():
                    return
                self._transports.add(transport)
            live = transport

            def open_channels() -> int:
                channels = getattr(live, "_channels", None)
                return sum(1 for c in channels.values() if not c.closed) if channels is not None else 0

            server = LabSSHServer(spec, self.backend, stats, live.close, open_channels, live.is_active)
            transport.start_server(server=server)
            started = time.monotonic()
            held: list[paramiko.Channel] = []  # a channel nobody holds is closed when collected (Channel.__del__)
            while transport.is_active() and not self._stopping.is_set():
                channel = transport.accept(1.0)  # served from its exec request (server.py); taken off paramiko's queue
                held = [c for c in held if not c.closed] + ([channel] if channel is not None else [])
                if not transport.is_authenticated() and time.monotonic() - started > LOGIN_GRACE_TIME:
                    break
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("ssh connection to %s ended: %s", spec.name, exc)
        except Exception:  # noqa: BLE001 - one connection's surprise never stops the service
            log.exception("internal error serving ssh for %s", spec.name)
        finally:
            if transport is not None:
                transport.close()
                with self._lock:
                    self._transports.discard(transport)
            try:
                conn.close()
            except OSError:
                pass
            with self._lock:
                self._threads.discard(threading.current_thread())


def _request_then_start(channel: paramiko.Channel, message: paramiko.Message) -> None:
    """paramiko's handling of a channel request (the server's callback, then the reply), then the command."""
    paramiko.Channel._handle_request(channel, message)  # noqa: SLF001 - paramiko's own handler, unchanged
    server = channel.get_transport().server_object
    if isinstance(server, LabSSHServer):
        server.start_pending(channel)


class _LabTransport(paramiko.Transport):
    """paramiko's Transport, with the command of an exec request started after the request's reply is sent."""

    _channel_handler_table = {**paramiko.Transport._channel_handler_table,  # noqa: SLF001
                              paramiko.common.MSG_CHANNEL_REQUEST: _request_then_start}


class _CountingSocket:
    """The connection's socket, counting the bytes that cross it into the server's stats."""

    def __init__(self, sock: socket.socket, stats: "ServerStats"):
        self._sock = sock
        self._stats = stats

    def recv(self, n: int) -> bytes:
        data = self._sock.recv(n)
        if data:
            self._stats.add(ENDPOINT, bytes_in=len(data))
        return data

    def send(self, data: bytes) -> int:
        sent = self._sock.send(data)
        self._stats.add(ENDPOINT, bytes_out=sent)
        return sent

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)
        self._stats.add(ENDPOINT, bytes_out=len(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
