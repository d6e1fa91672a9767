"""Transports carry the remote program's standard input to a server and bring back its output.

They know nothing of Exchange: one shell per host per run, reused for every
round trip of that run (over WinRM, one program kept running in it), and errors sorted into the kinds a run reports:
unreachable (network, TLS, timeouts), refused credentials, and everything else.
Every exception a transport raises from ``run()`` is a ``TransportError``;
``close()`` and ``release()`` raise nothing, so one host can never stop a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """A failure talking to the host; ``str()`` says what and where.

    ``result_unknown`` is true when the command's input had reached the wire
    before the failure: the server may have run it, so the caller must report
    its changes as "result unknown" and never send them again by itself.
    """

    def __init__(self, message: str, *, result_unknown: bool = False):
        super().__init__(message)
        self.result_unknown = result_unknown


class HostUnreachable(TransportError):
    """Nothing answered, TLS failed, the connection broke, or the host timed out."""


class AuthenticationFailed(TransportError):
    """The host refused the credentials."""


@dataclass(frozen=True)
class Output:
    """What one command wrote, and what the transport did to get it (e.g. a reconnection)."""

    stdout: bytes
    stderr: bytes
    exit_code: int
    notes: tuple[str, ...] = ()


# HTTP.sys closes a keep-alive connection idle for 120 s (IdleConnection timer,
# "HTTP Server API default 120 Sec", learn.microsoft.com/windows/win32/http/server-timeouts-property);
# WinRM's listeners are HTTP.sys URL reservations, so this is the WinRM server's limit too.
SERVER_IDLE_TIMEOUT = 120.0


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach one host (from Ansible's connection variables); the password is never printed."""

    host: str  # address or DNS name to connect to
    port: int
    scheme: str  # http | https
    path: str
    auth: str  # ntlm | kerberos | basic
    user: str  # for Kerberos user@REALM, or "" for the credential cache's default principal
    password: str | None  # None: Kerberos with the ticket in the user's credential cache
    cert_validation: bool
    ca_trust_path: str | None
    message_encryption: str  # auto | always | never
    operation_timeout: int
    read_timeout: int  # also bounds each whole HTTP exchange, not only each socket read
    server_idle_timeout: float = SERVER_IDLE_TIMEOUT
    service: str = "HTTP"  # Kerberos: the service part of the SPN
    spn_host: str = ""  # Kerberos: the host part of the SPN, a DNS name (exconf.transport.kerberos.spn_host)
    delegate: bool = False  # Kerberos: forward the ticket, so the server can act as the user on a second hop

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def encrypts_messages(self) -> bool:
        """Whether WS-Man messages are sealed with NTLM or Kerberos (MS-WSMV 2.2.9.1), as pywinrm decides it."""
        if self.auth not in ("ntlm", "kerberos") or self.message_encryption == "never":
            return False
        return self.message_encryption == "always" or self.scheme == "http"

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"ConnectionSettings(endpoint={self.endpoint!r}, auth={self.auth!r}, user={self.user!r})"


class Transport(Protocol):
    def run(self, stdin: bytes) -> Output:
        """One round trip of the remote program: this standard input (exconf.remote.encode_stdin: the program
        part, then one payload line) and the program's answer. A transport that keeps the program running
        (WinRM) sends the program part only when it starts it; raises only TransportError."""
        ...

    def release(self) -> None:
        """Close the network connection but keep the shell for a later run(); never raises."""
        ...

    def close(self) -> None:
        """Delete the shell and close everything; never raises."""
        ...

    def open_sockets(self) -> int:
        """Sockets this host holds now (for a runner keeping within the open-file limit)."""
        ...
