"""Authentication for a lab server's HTTP endpoints: Kerberos, NTLM, Negotiate and Basic.

What an endpoint accepts is an :class:`AuthPolicy`: ``/wsman`` what Windows' WinRM service
accepts (MS-WSMV 2.2.4.34 ServiceAuthType defaults: Basic false, Kerberos true, Negotiate true,
CredSSP false), ``/PowerShell`` what Exchange's PowerShell virtual directory accepts
(:meth:`AuthPolicy.powershell_vdir`). Kerberos is accepted with the server's own keys
(exconf.lab.kerberos: MIT GSS-API, a keytab per server); NTLM with pyspnego's acceptor.

NTLM and Kerberos authenticate the TCP connection, not a request: after the
exchange the client sends no Authorization header any more, so the state lives
in a :class:`ConnectionAuth` owned by the connection, with the :class:`Logon` it made:
who, by which mechanism, and whether the logon holds a credential the server can use to
reach another server as the caller (a delegated Kerberos ticket), which decides the double hop.

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
from typing import TYPE_CHECKING, Any, Callable, Iterable

import spnego

from ..kerberos import KerberosAcceptor, KerberosFailure, ServiceKey, token_kind

if TYPE_CHECKING:  # only the shapes of the lab's accounts and servers are used here
    from exconf.lab.exchange.spec import Account, ServerSpec

_ENV_LOCK = threading.Lock()

NEGOTIATE = "Negotiate"
KERBEROS = "Kerberos"
NTLM = "NTLM"
BASIC_CHALLENGE = 'Basic realm="WSMAN"'


@dataclass(frozen=True)
class AuthPolicy:
    """What one endpoint of a server accepts, and what its 401 offers."""

    kerberos: bool = True
    ntlm: bool = True
    basic: bool = False
    basic_over_http: bool = False  # WinRM: only with AllowUnencrypted
    basic_domain_accounts: bool = False  # WinRM's Basic logs on local accounts only; IIS's domain accounts too
    offers: tuple[str, ...] = (NEGOTIATE, KERBEROS)

    @classmethod
    def wsman(cls, spec: "ServerSpec") -> "AuthPolicy":
        """Windows' WinRM service: Negotiate (Kerberos or NTLM) and Kerberos, Basic only if enabled.

        Defaults from MS-WSMV 2.2.4.34 ServiceAuthType (Basic false, Kerberos true, Negotiate true,
        CredSSP false); the 401 lists them as Windows does ("Negotiate, Kerberos, …, Basic
        realm="WSMAN"", capture in jborean93/requests-credssp#29). Basic works only for local
        accounts (Ansible's WinRM guide, "Basic": "can only be used for local accounts").
        """
        offers = (NEGOTIATE, KERBEROS) + ((BASIC_CHALLENGE,) if spec.winrm.basic else ())
        return cls(kerberos=True, ntlm=True, basic=spec.winrm.basic, basic_over_http=spec.winrm.allow_unencrypted,
                   basic_domain_accounts=False, offers=offers)

    @classmethod
    def powershell_vdir(cls, basic_authentication: bool, windows_authentication: bool, fqdn: str) -> "AuthPolicy":
        """Exchange's PowerShell virtual directory (``http://<fqdn>/PowerShell``).

        Out of the box its IIS authentication methods all show Disabled and Kerberos is done by
        Exchange's own module (kerbauth.dll, on port 80): Microsoft's connection guide uses
        ``-Authentication Kerberos`` (exchange/docs-conceptual/connect-to-exchange-servers-using-
        remote-powershell.md; TechNet wiki 31066, "Exchange Server 2013 PowerShell Implicit Remoting",
        "all the authentication mechanisms are 'Disabled'"). ``Set-PowerShellVirtualDirectory
        -WindowsAuthentication $true`` adds IIS's Windows authentication (Negotiate and NTLM),
        ``-BasicAuthentication $true`` IIS's Basic, which logs domain accounts on
        (Set-PowerShellVirtualDirectory.md; the page gives $true as each parameter's "default",
        a value Get-PowerShellVirtualDirectory does not show on a fresh front end).
        """
        offers = (NEGOTIATE,) + ((NTLM,) if windows_authentication else ()) + (
            (f'Basic realm="{fqdn}"',) if basic_authentication else ())
        return cls(kerberos=True, ntlm=windows_authentication, basic=basic_authentication, basic_over_http=True,
                   basic_domain_accounts=True, offers=offers)


@dataclass(frozen=True)
class Logon:
    """A completed logon: who, how, and whether it can make a second hop."""

    principal: str  # DOMAIN\\user
    mechanism: str  # "kerberos" | "ntlm" | "basic"
    # Only a Kerberos logon whose client delegated its ticket holds a credential another server
    # accepts; NTLM and Basic (WinRM: local accounts) do not (PSWSMan's authentication matrix,
    # "Delegation": Basic N, NTLM N, Kerberos Y, CredSSP Y; microsoft.ad's guide: "NTLM, do not
    # support credential delegation"; learn.microsoft.com/powershell/scripting/security/remoting/
    # ps-remoting-second-hop).
    delegated: bool = False


@dataclass
class ConnectionAuth:
    """Authentication state of one HTTP connection."""

    secure: bool  # TLS connection (HTTPS listener)
    ctx: Any = None  # pyspnego context or KerberosAcceptor: in progress, or complete (then it seals messages)
    scheme: str = NEGOTIATE  # the scheme name the client used ("Negotiate", "Kerberos" or "NTLM")
    principal: str | None = None  # DOMAIN\\user, set once the logon completed and the account is allowed
    channel_bindings: bytes | None = None  # HTTPS: b"tls-server-end-point:" + the certificate's hash (RFC 5929)
    logon: Logon | None = None
    requests: int = 0  # requests this connection has carried (the fault ignores_first_token looks at the first)

    def reset(self) -> None:
        self.ctx = None
        self.principal = None
        self.logon = None


@dataclass(frozen=True)
class StepOutcome:
    """Result of one Negotiate/Kerberos/NTLM leg: a challenge to send, success, or failure."""

    status: str  # "challenge" | "ok" | "failed"
    token: bytes | None = None  # to send back in WWW-Authenticate (on a failure: Kerberos's KRB-ERROR, if any)
    reason: str = ""


@dataclass
class Authenticator:
    """Checks credentials against one server's accounts, as that server's Windows would.

    ``service_key``: the server's Kerberos keys (None: no keytab, so no Kerberos ticket for it can
    be accepted); ``realm``: the domain's Kerberos realm; ``policy``: what this endpoint accepts
    (default: Windows' WinRM service), or ``policy_source``, asked at each request, for an endpoint
    whose settings change at run time (Set-PowerShellVirtualDirectory).
    """

    spec: "ServerSpec"
    credential_file: Path
    service_key: ServiceKey | None = None
    realm: str = ""
    policy: AuthPolicy | None = None
    policy_source: Callable[[], AuthPolicy] | None = None

    def __post_init__(self) -> None:
        write_credential_file(self.credential_file, self.spec)
        if self.policy is None:
            self.policy = AuthPolicy.wsman(self.spec)
        self._credential: Any = None
        self._credential_lock = threading.Lock()

    def current_policy(self) -> AuthPolicy:
        if self.policy_source is not None:
            return self.policy_source()
        assert self.policy is not None
        return self.policy

    # -- what a 401 offers -------------------------------------------------------

    def challenges(self) -> list[str]:
        return list(self.current_policy().offers)

    # -- Kerberos / NTLM / Negotiate ---------------------------------------------------

    def negotiate_step(self, conn: ConnectionAuth, scheme: str, param: str) -> StepOutcome:
        """Feed one token from ``Authorization: Negotiate|Kerberos|NTLM <b64>`` to the connection's acceptor."""
        try:
            token = base64.b64decode(param.strip(), validate=True)
        except (binascii.Error, ValueError):
            conn.reset()
            return StepOutcome("failed", reason="the authorization token is not base64")
        kind = token_kind(token)
        if kind in ("ntlm", "kerberos", "spnego") and _starts_exchange(token):
            conn.reset()
            conn.scheme = scheme
            refused = self._refused_kind(kind, scheme)
            if refused:
                return StepOutcome("failed", reason=refused)
            try:
                conn.ctx = self._acceptor(kind, conn)
            except Exception as exc:  # a broken install, a keytab that cannot be read
                conn.reset()
                return StepOutcome("failed", reason=f"cannot create the {kind} acceptor: {exc}")
        elif conn.ctx is None or conn.ctx.complete:
            conn.reset()
            return StepOutcome("failed", reason="an authentication message out of sequence")
        try:
            out = self._step(conn, token, kind)
        except KerberosFailure as failure:
            conn.reset()
            return StepOutcome("failed", token=failure.token, reason=f"Kerberos: {failure}")
        except Exception as exc:  # wrong password, unknown user, malformed token
            conn.reset()
            return StepOutcome("failed", reason=str(exc))
        if not conn.ctx.complete:
            return StepOutcome("challenge", token=out)
        return self._logged_on(conn, out)

    def _refused_kind(self, kind: str, scheme: str) -> str:
        policy = self.current_policy()
        if kind == "ntlm" and not policy.ntlm:
            return "NTLM is not accepted on this endpoint"
        if kind == "kerberos" and not policy.kerberos:
            return "Kerberos is not accepted on this endpoint"
        if kind == "kerberos" and self.service_key is None:
            return f"{self.spec.fqdn} has no Kerberos key (no keytab): no ticket for it can be accepted"
        if scheme.lower() == "ntlm" and kind != "ntlm":
            return "the NTLM scheme carries only NTLM messages"
        return ""

    def _acceptor(self, kind: str, conn: ConnectionAuth) -> Any:
        if kind == "kerberos" or (kind == "spnego" and self.service_key is not None):
            return KerberosAcceptor(self._service_credential(), conn.channel_bindings)
        return self._pyspnego_acceptor("ntlm" if kind == "ntlm" else "negotiate")

    def _service_credential(self) -> Any:
        """The acceptor credential from the keytab, acquired once (gss_acquire_cred_from)."""
        assert self.service_key is not None
        with self._credential_lock:
            if self._credential is None:
                self._credential = self.service_key.credential()
            return self._credential

    def _step(self, conn: ConnectionAuth, token: bytes, kind: str) -> bytes | None:
        if isinstance(conn.ctx, KerberosAcceptor):
            try:
                return conn.ctx.step(token)
            except KerberosFailure as failure:
                # SPNEGO offering no Kerberos (a client without a ticket offers NTLM only):
                # Windows' Negotiate package then negotiates NTLM, where NTLM is accepted.
                if not (failure.unsupported_mech and kind == "spnego" and self.current_policy().ntlm):
                    raise
                conn.ctx = self._pyspnego_acceptor("negotiate")
        with _ENV_LOCK:
            os.environ["NTLM_USER_FILE"] = str(self.credential_file)
            return conn.ctx.step(token)

    def _logged_on(self, conn: ConnectionAuth, out: bytes | None) -> StepOutcome:
        kerberos = isinstance(conn.ctx, KerberosAcceptor)
        mechanism = "kerberos" if kerberos else str(conn.ctx.negotiated_protocol or "ntlm")
        if mechanism != "kerberos" and not self.current_policy().ntlm:
            conn.reset()
            return StepOutcome("failed", reason="NTLM is not accepted on this endpoint")
        if mechanism == "kerberos" and not kerberos:
            conn.reset()  # pyspnego found some other keytab: not this server's key
            return StepOutcome("failed", reason="Kerberos through an unknown key")
        if self.spec.faults.refuse_credentials:
            conn.reset()
            return StepOutcome("failed", reason="the server refuses all credentials (fault)")
        if kerberos:
            principal = conn.ctx.client_principal
            account = self._kerberos_account(principal)
        else:
            principal = conn.ctx.client_principal or ""
            domain, user = split_principal(principal)
            account = find_account(self.spec, domain, user)
        if account is None:
            conn.reset()
            return StepOutcome("failed", reason=f"{principal} may not log on to {self.spec.name}")
        conn.principal = account_name(account)  # one name per account, whichever logon form was used
        conn.logon = Logon(conn.principal, mechanism, delegated=kerberos and conn.ctx.delegated)
        return StepOutcome("ok", token=out)

    def _kerberos_account(self, principal: str) -> "Account | None":
        """``user@REALM`` of this server's domain -> the domain account, if it may log on here."""
        user, _, realm = principal.rpartition("@")
        if not user or not self.realm or realm != self.realm:
            return None
        for account in self.spec.accounts:
            if not _is_local(self.spec, account) and account.user.lower() == user.lower():
                return account
        return None

    def _pyspnego_acceptor(self, protocol: str) -> Any:
        options = spnego.NegotiateOptions.use_ntlm if protocol == "ntlm" else spnego.NegotiateOptions.none
        with _ENV_LOCK:
            os.environ["NTLM_USER_FILE"] = str(self.credential_file)
            return spnego.server(hostname=self.spec.fqdn, service="http", protocol=protocol, options=options)

    # -- Basic -------------------------------------------------------------------------

    def basic(self, param: str, secure: bool) -> StepOutcome:
        """Basic auth, accepted only where Windows would accept it.

        Windows refuses it unless Service/Auth/Basic is true, and over HTTP
        unless AllowUnencrypted is true; both answer 401 (Ansible's WinRM
        guide, "HTTP 401/Credentials Rejected"). WinRM's Basic works only for local
        accounts (same guide, "Basic": "can only be used for local accounts"); IIS's
        (the PowerShell virtual directory's) logs domain accounts on.
        """
        policy = self.current_policy()
        if not policy.basic:
            return StepOutcome("failed", reason="Basic authentication is disabled")
        if not secure and not policy.basic_over_http:
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
        if account is None or not (_is_local(self.spec, account) or policy.basic_domain_accounts):
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
