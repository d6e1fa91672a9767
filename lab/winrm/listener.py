"""Sockets for every lab server's WinRM listeners, served by one process.

A lab may have a few hundred servers, so a few hundred listening sockets:
one selector thread accepts on all of them, and each accepted connection gets
its own thread (NTLM authenticates a connection, so a connection is the unit
of state; HTTP/1.1 keep-alive keeps it). HTTP parsing is the standard
library's ``http.server``; TLS is the standard ``ssl`` module, with the
handshake done in the connection's thread so a slow client cannot stall the
accept loop.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import selectors
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
import datetime
import email.utils
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..kerberos import ServiceKey, gssapi_missing
from .endpoint import ServerEndpoint
from .shell import Backend

if TYPE_CHECKING:
    from exconf.lab.tlsca import LabCA
    from exconf.lab.exchange.store import ServerSpec

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT = 120.0  # HTTP.sys drops an idle keep-alive connection after 2 minutes (IdleConnectionTimeout)
HANDSHAKE_TIMEOUT = 10.0
MAX_BODY = 64 * 1024 * 1024  # far above MaxEnvelopeSize; only guards memory
# Before a connection has authenticated, a request that carries credentials may keep at
# most one envelope of WinRM's default MaxEnvelopeSizekb (500 KB, `winrm get winrm/config`,
# MS-WSMV 2.2.4.41 MaxEnvelopeSizekb); a request without credentials keeps nothing: its
# body is drained and dropped, as HTTP.sys drains an entity body the application does not
# read (DrainEntityBody timer, learn.microsoft.com/windows/win32/http/server-timeouts-property).
PREAUTH_MAX_BODY = 500 * 1024
READ_PIECE = 64 * 1024  # bodies are read in pieces of at most this size
MAX_CHUNK_SIZE_DIGITS = 16  # a chunk-size line longer than this is not one HTTP.sys accepts


class ListenError(Exception):
    """A listener could not be opened (str() is a user-ready message; address and port say which)."""

    def __init__(self, message: str, address: str = "", port: int = 0):
        super().__init__(message)
        self.address = address
        self.port = port


@dataclass
class Listener:
    endpoint: ServerEndpoint
    address: str
    port: int
    secure: bool
    sock: socket.socket
    ssl_context: ssl.SSLContext | None = None
    service: str = "winrm"  # "winrm" (HTTP.sys: /wsman) or "iis" (a Mailbox server's /PowerShell)
    channel_bindings: bytes | None = None  # tls-server-end-point of its certificate (RFC 5929 4.1)


@dataclass(frozen=True)
class KerberosKeys:
    """Where a lab's servers find their Kerberos keys: ``<folder>/<fqdn>.keytab``, in ``realm``."""

    folder: Path
    realm: str

    def keytab(self, fqdn: str) -> Path:
        return self.folder / f"{fqdn.lower()}.keytab"


class WinRMService:
    """The WinRM listeners (HTTP and HTTPS) of many lab servers."""

    def __init__(self, backend: Backend, servers: Iterable["ServerSpec"], ca: "LabCA | None" = None,
                 workdir: Path | None = None, kerberos: KerberosKeys | None = None):
        """``workdir``: an empty private (0700) folder for NT-hash files, replay caches and listener
        keys; by default a new temporary one. Its contents are removed at stop. ``kerberos``: where
        the servers' keytabs are (a server without one accepts no Kerberos ticket)."""
        self.backend = backend
        self.kerberos = kerberos
        self._given_workdir = workdir
        self.specs = list(servers)
        self.ca = ca
        self.endpoints: dict[str, ServerEndpoint] = {}
        self.listeners: list[Listener] = []
        self._workdir: Path | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conn_lock = threading.Lock()
        self._connections: dict[int, socket.socket] = {}
        self._threads: set[threading.Thread] = set()

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> "WinRMService":
        """Open every listener (servers with the ``unreachable`` fault get none) and start accepting."""
        _raise_fd_limit()
        self._workdir = self._given_workdir or Path(tempfile.mkdtemp(prefix="exconf-lab-winrm-"))  # 0700: credentials, keys
        try:
            for spec in self.specs:
                self._open(spec)
        except BaseException:
            self._close_listeners()
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for listener in self.listeners:
            self._selector.register(listener.sock, selectors.EVENT_READ, listener)
        self._accept_thread = threading.Thread(target=self._accept_loop, name="winrm-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, drop every connection, and forget every shell."""
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
        for endpoint in self.endpoints.values():
            endpoint.close()  # wakes Receives waiting for a command
        with self._conn_lock:
            conns = list(self._connections.values())
            threads = list(self._threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout / max(1, len(threads)))
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._selector is not None:
            self._selector.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "WinRMService":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- queries ------------------------------------------------------------------------

    def endpoint(self, name: str) -> ServerEndpoint:
        return self.endpoints[name]

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: ep.stats.snapshot() for name, ep in self.endpoints.items()}

    def last_activity(self) -> float:
        """time.monotonic() of the most recent WS-Man request on any server."""
        return max((ep.stats.last_activity for ep in self.endpoints.values()), default=0.0)

    # -- listeners --------------------------------------------------------------------------

    def _open(self, spec: "ServerSpec") -> None:
        assert self._workdir is not None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.name)
        service_key = None
        if self.kerberos is not None and gssapi_missing() is None:
            keytab = self.kerberos.keytab(spec.fqdn)
            if keytab.is_file():
                service_key = ServiceKey(keytab, self._workdir / f"{safe}.rcache")
        serves_powershell = spec.iis is not None and _powershell_backend(self.backend)
        endpoint = ServerEndpoint(spec, self.backend, self._workdir / f"{safe}.ntlm",
                                  powershell=self._powershell_factory() if serves_powershell else None,
                                  service_key=service_key, realm=self.kerberos.realm if self.kerberos else "")
        self.endpoints[spec.name] = endpoint
        if spec.faults.unreachable:
            return  # nothing listens: clients get "connection refused"
        ports = [(spec.winrm.http_port, False, "winrm"), (spec.winrm.https_port, True, "winrm")]
        if serves_powershell:
            ports += [(spec.iis.http_port, False, "iis"), (spec.iis.https_port, True, "iis")]
        ctx: ssl.SSLContext | None = None
        bindings: bytes | None = None
        for port, secure, service in ports:
            if not port or (secure and self.ca is None):
                continue
            if secure and ctx is None:
                issued = self.ca.issue(spec.fqdn, spec.name, spec.address)
                cert_path, key_path = issued.write(self._workdir, safe)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                ctx.load_cert_chain(cert_path, key_path)
                bindings = tls_server_end_point(issued.cert_pem)
            self.listeners.append(Listener(endpoint, spec.address, port, secure, _bind(spec, port),
                                           ctx if secure else None, service, bindings if secure else None))

    def _powershell_factory(self):  # type: ignore[no-untyped-def]
        from exconf.lab.powershell.resource import PowerShellResource  # the lab's Exchange, beside WinRM

        backend = self.backend
        return lambda spec, stats: PowerShellResource(spec, backend, stats)

    def _close_listeners(self) -> None:
        for listener in self.listeners:
            try:
                listener.sock.close()
            except OSError:
                pass

    # -- accepting and serving -------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._selector is not None
        while not self._stopping.is_set():
            try:
                events = self._selector.select(timeout=1.0)
            except OSError:
                return
            for key, _ in events:
                listener = key.data
                if listener is None:  # the wake-up socket
                    return
                try:
                    conn, addr = listener.sock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    log.warning("accept failed on %s:%s: %s", listener.address, listener.port, exc)
                    continue
                conn.setblocking(True)
                thread = threading.Thread(
                    target=self._serve, args=(listener, conn, addr), name=f"winrm-{listener.endpoint.spec.name}", daemon=True
                )
                with self._conn_lock:
                    self._threads.add(thread)
                    self._connections[id(thread)] = conn
                thread.start()

    def _serve(self, listener: Listener, conn: socket.socket, addr: tuple[str, int]) -> None:
        key = id(threading.current_thread())
        sock: socket.socket = conn
        try:
            if listener.ssl_context is not None:
                conn.settimeout(HANDSHAKE_TIMEOUT)
                # wrap_socket detaches `conn`: register the TLS socket before the handshake, so
                # stop() can shut it down while a client stalls in the handshake.
                sock = listener.ssl_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                with self._conn_lock:
                    self._connections[key] = sock
                if self._stopping.is_set():  # stop() may have shut down the detached `conn` instead
                    return
                sock.do_handshake()
            _WSManHandler(sock, addr, _HandlerServer(listener))
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.debug("connection from %s to %s ended: %s", addr, listener.endpoint.spec.name, exc)
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self._conn_lock:
                self._connections.pop(key, None)
                self._threads.discard(threading.current_thread())


@dataclass
class _HandlerServer:
    """What the request handler reads as ``self.server``."""

    listener: Listener


class _WSManHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; every request goes to the server's endpoint."""

    protocol_version = "HTTP/1.1"
    timeout = KEEPALIVE_TIMEOUT
    disable_nagle_algorithm = True  # headers and body are written separately
    server: _HandlerServer  # type: ignore[assignment]

    def setup(self) -> None:
        # The socket timeout is the server's IdleConnection timer (an org-file setting, as it is
        # a setting of HTTP.sys): a keep-alive connection idle this long is closed.
        self.timeout = self.server.listener.endpoint.spec.winrm.idle_connection_timeout
        super().setup()
        listener = self.server.listener
        self.endpoint = listener.endpoint
        self.conn_auth = listener.endpoint.new_connection(listener.secure, listener.channel_bindings)

    def version_string(self) -> str:
        # what WinRM's HTTP.sys sends; IIS 10 (Windows Server 2016/2019, under Exchange 2016/2019) its own
        return "Microsoft-IIS/10.0" if self.server.listener.service == "iis" else "Microsoft-HTTPAPI/2.0"

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self._read_body()
        if body is None:
            return
        try:
            resp = self.endpoint.handle(
                self.conn_auth, self.command, self.path, self.headers, body, self.client_address[0],
                service=self.server.listener.service,
            )
        except Exception:  # never leave the client waiting; the traceback goes to the log
            log.exception("internal error serving %s", self.endpoint.spec.name)
            self._write(500, [], b"")
            return
        self._write(resp.status, resp.headers, resp.body)

    def _read_body(self) -> bytes | None:
        """The request's body, read in bounded pieces; None once an error answer was sent.

        What may be kept depends on authentication (PREAUTH_MAX_BODY): memory per
        connection stays bounded whatever a client that has not logged on sends.
        """
        authenticated = self.conn_auth.principal is not None
        credentials = bool(self.headers.get("Authorization"))
        keep = authenticated or credentials
        limit = MAX_BODY if authenticated else (PREAUTH_MAX_BODY if credentials else MAX_BODY)
        sink: bytearray | None = bytearray() if keep else None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            ok = self._read_chunked(sink, limit)
        else:
            raw = self.headers.get("Content-Length", "0").strip()
            if not raw.isdigit() or len(raw) > 19:
                self._write(400, [], b"", close=True)  # HTTP.sys: 400 Bad Request for a malformed header
                return None
            length = int(raw)
            if length > limit:
                self._write(413, [], b"", close=True)
                return None
            ok = self._read_exact(length, sink)
        if not ok:
            return None
        return bytes(sink) if sink is not None else b""

    def _read_exact(self, length: int, sink: bytearray | None) -> bool:
        while length > 0:
            piece = self.rfile.read(min(length, READ_PIECE))
            if not piece:
                self.close_connection = True  # the client went away mid-body
                return False
            if sink is not None:
                sink += piece
            length -= len(piece)
        return True

    def _read_chunked(self, sink: bytearray | None, limit: int) -> bool:
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > MAX_CHUNK_SIZE_DIGITS or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                self._write(400, [], b"", close=True)  # e.g. "-1": not a chunk size (RFC 9112 7.1)
                return False
            size = int(size_text, 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return True
            total += size
            if total > limit:
                self._write(413, [], b"", close=True)
                return False
            if not self._read_exact(size, sink):
                return False
            self.rfile.readline(1024)

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes, close: bool = False) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(body)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header on the simulated server's clock: HTTP.sys and IIS date every answer with their
        host's clock (RFC 9110 6.6.1), which is how a client learns it over remote PowerShell."""
        clock = getattr(getattr(self, "endpoint", None), "clock", None)
        if timestamp is None and clock is not None:
            return email.utils.format_datetime(clock().astimezone(datetime.timezone.utc), usegmt=True)
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s %s", self.endpoint.spec.name if hasattr(self, "endpoint") else "-", format % args)


def _bind(spec: "ServerSpec", port: int) -> socket.socket:
    # The lab only ever listens on loopback: it must never be reachable from the network.
    try:
        loopback = ipaddress.ip_address(spec.address) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        loopback = False
    if not loopback:
        raise ListenError(f"server {spec.name}: address {spec.address!r} is not a loopback address (127.0.0.0/8)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.address, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        hint = ""
        if exc.errno == errno.EACCES and port < 1024:
            # Linux lets only root (or CAP_NET_BIND_SERVICE) listen below 1024; IIS's own ports are 80/443.
            hint = ("; ports below 1024 need root: give the server other ports in the organisation file "
                    "(winrm: or iis: http_port / https_port, docs/lab.md)")
        raise ListenError(f"cannot listen on {spec.address}:{port} for server {spec.name}: {exc.strerror or exc}{hint}",
                          spec.address, port) from exc
    return sock


def tls_server_end_point(cert_pem: bytes) -> bytes:
    """RFC 5929 4.1: the certificate's hash with its signature's hash algorithm (SHA-256 for MD5 and
    SHA-1), what clients bind Kerberos and NTLM to over HTTPS (Extended Protection)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return b"tls-server-end-point:" + digest.finalize()


def _powershell_backend(backend: object) -> bool:
    """Whether the backend is a lab organisation that can run cmdlets for /PowerShell (LabStore)."""
    return all(hasattr(backend, name) for name in ("invoke", "entry", "one_save", "run_as", "org"))


def _raise_fd_limit() -> None:
    """Two listening sockets per server plus connections can pass the usual soft limit of 1024."""
    from exconf.transport.limits import raise_open_file_limit  # the controller's own, shared

    raise_open_file_limit()
