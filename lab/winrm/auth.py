"""Authentication for a lab WinRM listener: NTLM/Negotiate (pyspnego acceptor) and Basic.

NTLM authenticates the TCP connection, not a request: after the three-leg
exchange the client sends no Authorization header any more, so the state lives
in a :class:`ConnectionAuth` owned by the connection.

pyspnego's NTLM acceptor looks users up in the file named by the process-wide
``NTLM_USER_FILE`` variable, both when the context is created and when the
AUTHENTICATE message arrives (spnego/_ntlm.py: ``NTLMProxy.__init__`` and
``_step_accept_authenticate``). Each server has its own accounts, so each gets
its own private file, and the variable is set under one lock around every
acceptor call. Those calls take microseconds; the lock is never held across I/O.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import spnego

if TYPE_CHECKING:  # the store is another engineer's module; only its shapes are used here
    from exconf.lab.exchange.store import Account, ServerSpec

_ENV_LOCK = threading.Lock()

# What Windows advertises in a 401 (capture in jborean93/requests-credssp#29:
# "Negotiate, Kerberos, …, Basic realm="WSMAN", CredSSP"). The lab cannot do
# Kerberos or CredSSP, so it offers only what it can complete.
NEGOTIATE = "Negotiate"
BASIC_CHALLENGE = 'Basic realm="WSMAN"'


@dataclass
class ConnectionAuth:
    """Authentication state of one HTTP connection."""

    secure: bool  # TLS connection (HTTPS listener)
    ctx: Any = None  # pyspnego context: in progress, or complete (then used to seal messages)
    scheme: str = NEGOTIATE  # the scheme name the client used ("Negotiate" or "NTLM")
    principal: str | None = None  # DOMAIN\\user, set once NTLM completed and the account is allowed

    def reset(self) -> None:
        self.ctx = None
        self.principal = None


@dataclass(frozen=True)
class StepOutcome:
    """Result of one NTLM/Negotiate leg: a challenge to send, success, or failure."""

    status: str  # "challenge" | "ok" | "failed"
    token: bytes | None = None  # to send back in WWW-Authenticate
    reason: str = ""


@dataclass
class Authenticator:
    """Checks credentials against one server's accounts, as that server's Windows would."""

    spec: "ServerSpec"
    credential_file: Path

    def __post_init__(self) -> None:
        write_credential_file(self.credential_file, self.spec)

    # -- what a 401 offers -------------------------------------------------------

    def challenges(self) -> list[str]:
        offers = [NEGOTIATE]
        if self.spec.winrm.basic:
            offers.append(BASIC_CHALLENGE)
        return offers

    # -- NTLM / Negotiate -----------------------------------------------------------

    def negotiate_step(self, conn: ConnectionAuth, scheme: str, param: str) -> StepOutcome:
        """Feed one token from ``Authorization: Negotiate|NTLM <b64>`` to the connection's acceptor."""
        try:
            token = base64.b64decode(param.strip(), validate=True)
        except (binascii.Error, ValueError):
            conn.reset()
            return StepOutcome("failed", reason="the authorization token is not base64")
        if _starts_exchange(token):
            conn.reset()
            conn.scheme = scheme
            raw_ntlm = token.startswith(b"NTLMSSP\x00")
            try:
                conn.ctx = self._acceptor("ntlm" if raw_ntlm else "negotiate")
            except Exception as exc:  # pragma: no cover - a broken pyspnego install
                return StepOutcome("failed", reason=f"cannot create the NTLM acceptor: {exc}")
        elif conn.ctx is None or conn.ctx.complete:
            conn.reset()
            return StepOutcome("failed", reason="an NTLM message out of sequence")
        try:
            with _ENV_LOCK:
                os.environ["NTLM_USER_FILE"] = str(self.credential_file)
                out = conn.ctx.step(token)
        except Exception as exc:  # wrong password, unknown user, malformed token
            conn.reset()
            return StepOutcome("failed", reason=str(exc))
        if not conn.ctx.complete:
            return StepOutcome("challenge", token=out)
        principal = conn.ctx.client_principal or ""
        if self.spec.faults.refuse_credentials:
            conn.reset()
            return StepOutcome("failed", reason="the server refuses all credentials (fault)")
        domain, user = split_principal(principal)
        account = find_account(self.spec, domain, user)
        if account is None:
            conn.reset()
            return StepOutcome("failed", reason=f"{principal} may not log on to {self.spec.name}")
        conn.principal = account_name(account)  # one name per account, whichever logon form was used
        return StepOutcome("ok", token=out)

    def _acceptor(self, protocol: str) -> Any:
        options = spnego.NegotiateOptions.use_ntlm if protocol == "ntlm" else spnego.NegotiateOptions.none
        with _ENV_LOCK:
            os.environ["NTLM_USER_FILE"] = str(self.credential_file)
            return spnego.server(hostname=self.spec.fqdn, service="http", protocol=protocol, options=options)

    # -- Basic -------------------------------------------------------------------------

    def basic(self, param: str, secure: bool) -> StepOutcome:
        """Basic auth, accepted only where Windows would accept it.

        Windows refuses it unless Service/Auth/Basic is true, and over HTTP
        unless AllowUnencrypted is true; both answer 401 (Ansible's WinRM
        guide, "HTTP 401/Credentials Rejected"). Basic works only for local
        accounts (same guide, "Basic": "can only be used for local accounts").
        """
        if not self.spec.winrm.basic:
            return StepOutcome("failed", reason="Basic authentication is disabled")
        if not secure and not self.spec.winrm.allow_unencrypted:
            return StepOutcome("failed", reason="Basic over HTTP needs AllowUnencrypted")
        if self.spec.faults.refuse_credentials:
            return StepOutcome("failed", reason="the server refuses all credentials (fault)")
        try:
            decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return StepOutcome("failed", reason="the Basic credentials are not base64")
        username, sep, password = decoded.partition(":")
        if not sep:
            return StepOutcome("failed", reason="the Basic credentials have no password")
        domain, user = split_principal(username)
        account = find_account(self.spec, domain, user)
        if account is None or not _is_local(self.spec, account):
            return StepOutcome("failed", reason=f"{username} may not log on with Basic to {self.spec.name}")
        if not hmac.compare_digest(account.password.encode("utf-8"), password.encode("utf-8")):
            return StepOutcome("failed", reason="wrong password")
        return StepOutcome("ok", token=None, reason=account_name(account))


# --- accounts ------------------------------------------------------------------------


def split_principal(name: str) -> tuple[str | None, str]:
    """``DOMAIN\\user`` -> (DOMAIN, user); ``user@dns`` and ``user`` -> (None, …)."""
    if "\\" in name:
        domain, user = name.split("\\", 1)
        return domain, user
    return None, name


def account_name(account: "Account") -> str:
    """``DOMAIN\\user``: how Windows names the logged-on user (e.g. a shell's Owner)."""
    return f"{account.domain}\\{account.user}"


def dns_domain(spec: "ServerSpec") -> str:
    """The DNS domain of a domain-joined server, from its FQDN (ex01.contoso.com -> contoso.com)."""
    return spec.fqdn.split(".", 1)[1] if "." in spec.fqdn else ""


def _is_local(spec: "ServerSpec", account: "Account") -> bool:
    return account.domain.lower() == spec.name.lower()


def find_account(spec: "ServerSpec", domain: str | None, user: str) -> "Account | None":
    """The account a logon name refers to on this server, or None.

    Accepted forms: ``DOMAIN\\user``; ``user@dns.domain`` for domain accounts;
    ``user``, ``.\\user`` and ``SERVER\\user`` for the server's local accounts.
    """
    if domain is None and "@" in user:
        name, _, suffix = user.rpartition("@")
        for account in spec.accounts:
            if (
                not _is_local(spec, account)
                and account.user.lower() == name.lower()
                and suffix.lower() == dns_domain(spec).lower()
            ):
                return account
        return None
    for account in spec.accounts:
        if account.user.lower() != user.lower():
            continue
        if domain is not None and domain.lower() == account.domain.lower():
            return account
        if domain in (None, "", ".") and _is_local(spec, account):
            return account
    return None


def _logon_names(spec: "ServerSpec", account: "Account") -> Iterable[tuple[str, str]]:
    """(domain, user) pairs an NTLM client may send for this account."""
    yield account.domain, account.user
    if _is_local(spec, account):
        yield "", account.user
        yield ".", account.user
    elif dns_domain(spec):
        yield "", f"{account.user}@{dns_domain(spec)}"


def write_credential_file(path: Path, spec: "ServerSpec") -> None:
    """Write the NTLM_USER_FILE for one server (mode 0600).

    Lines use the smbpasswd form with the NT hash (documented in spnego/_ntlm.py
    ``_get_credential``), never the Heimdal ``DOMAIN:USER:PASSWORD`` form: no
    password is written in clear, even to this private file, which a killed lab
    leaves behind in the temporary directory.
    """
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for account in spec.accounts:
        if any(c in f"{account.domain}{account.user}" for c in ":\r\n\\"):
            continue  # not a name Windows would allow; such an account can never log on
        for domain, user in _logon_names(spec, account):
            key = (domain.upper(), user.upper())
            if key in seen:
                continue
            seen.add(key)
            lines.append(_smbpasswd_line(domain, user, account.password))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _smbpasswd_line(domain: str, user: str, password: str) -> str:
    # pyspnego's own NT hash (MD4 is not in OpenSSL 3's default provider, so not in hashlib).
    from spnego._ntlm_raw.crypto import ntowfv1

    name = f"{domain}\\{user}" if domain else user
    return f"{name}:0:{'0' * 32}:{ntowfv1(password).hex().upper()}:[U]:LCT-00000000"


def _starts_exchange(token: bytes) -> bool:
    """A NEGOTIATE_MESSAGE (NTLM type 1) or a SPNEGO NegTokenInit ([APPLICATION 0])."""
    if token.startswith(b"NTLMSSP\x00") and len(token) >= 12:
        return struct.unpack("<I", token[8:12])[0] == 1
    return token[:1] == b"\x60"
