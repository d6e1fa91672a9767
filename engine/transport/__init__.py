"""Transports carry the remote program's standard input to a server and bring back its output.

They know nothing of Exchange: one shell per host per run, reused for every
command of that run, and errors sorted into the three kinds a run reports:
unreachable (network, TLS, timeouts), refused credentials, and everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """A failure talking to the host; ``str()`` says what and where."""


class HostUnreachable(TransportError):
    """Nothing answered, TLS failed, or the host timed out."""


class AuthenticationFailed(TransportError):
    """The host refused the credentials."""


@dataclass(frozen=True)
class Output:
    stdout: bytes
    stderr: bytes
    exit_code: int


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach one host (from Ansible's connection variables); the password is never printed."""

    host: str  # address or DNS name to connect to
    port: int
    scheme: str  # http | https
    path: str
    auth: str  # ntlm | basic
    user: str
    password: str
    cert_validation: bool
    ca_trust_path: str | None
    message_encryption: str  # auto | always | never
    operation_timeout: int
    read_timeout: int

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"ConnectionSettings(endpoint={self.endpoint!r}, auth={self.auth!r}, user={self.user!r})"


class Transport(Protocol):
    def run(self, stdin: bytes) -> Output: ...

    def close(self) -> None: ...
