"""Kerberos on the controller: the HTTP authentication a transport uses, and what its failures mean.

Tickets come from the user's credential cache (``kinit``), or are obtained with the inventory's
password, in memory (pyspnego's ``gss_acquire_cred_with_password`` path: no cache is written).
The service principal is ``HTTP/<name>`` where the name is the server's DNS name, never an
address (:func:`spn_host`). HTTP authentication is pypsrp's ``HTTPNegotiateAuth`` (pyspnego with
python-gssapi), which binds the ticket to the TLS certificate over HTTPS (channel binding, RFC
5929) and wraps messages for MS-WSMV encryption over HTTP; :class:`WinRMKerberosAuth` adds the two
methods pywinrm's own Kerberos message encryption calls (winrm/encryption.py
``_build_kerberos_message``, ``_decrypt_kerberos_message``).

:func:`explain` turns what MIT Kerberos, python-gssapi, pyspnego and pypsrp raise into one
sentence per host that says what is wrong and what to do.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .firsttoken import FirstTokenNegotiateAuth

if TYPE_CHECKING:
    from . import ConnectionSettings

# MIT krb5 error codes (krb5/src/lib/krb5/error_tables/krb5_err.et: ERROR_TABLE_BASE_krb5 + n).
_BASE = -1765328384
C_PRINCIPAL_UNKNOWN = _BASE + 6
S_PRINCIPAL_UNKNOWN = _BASE + 7
CLIENT_REVOKED = _BASE + 18
KEY_EXPIRED = _BASE + 23
PREAUTH_FAILED = _BASE + 24
BAD_INTEGRITY = _BASE + 31
TKT_EXPIRED = _BASE + 32
AP_SKEW = _BASE + 37
AP_MODIFIED = _BASE + 41
KRB_ERR_GENERIC = _BASE + 60
REALM_UNKNOWN = -1765328230  # "Cannot find KDC for realm"
KDC_UNREACH = -1765328228  # "Cannot contact any KDC for requested realm"
KDCREP_SKEW = -1765328236  # "Clock skew too great in KDC reply"
CC_NOTFOUND = -1765328243  # "Matching credential not found"
FCC_NOFILE = -1765328189  # "No credentials cache found"

MAX_SKEW = "5 minutes"  # Kerberos Policy "Maximum tolerance for computer clock synchronization"


def spn_host(inventory_name: str, address: str, override: str | None) -> str:
    """The host part of ``HTTP/<host>``: the override, else the connection's name if it is a DNS
    name, else the inventory host name (an address never names a service principal: Windows'
    own client refuses Kerberos to an address, WinRM "Kerberos authentication cannot be used
    when the destination is an IP address")."""
    if override:
        return override
    return inventory_name if is_address(address) else address


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def kerberos_missing() -> str | None:
    """Why Kerberos cannot be used on this controller, or None."""
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError as exc:
        return (f"Kerberos needs python-gssapi and krb5 on the controller ({exc.name} is missing): "
                "pip install 'exconf[kerberos]' (builds against libkrb5-dev)")
    return None


def http_auth(settings: "ConnectionSettings") -> Any:
    """The requests auth for one host's Kerberos connection."""
    return WinRMKerberosAuth(
        username=settings.user or None,
        password=settings.password or None,
        auth_provider="kerberos",
        send_cbt=True,
        service=settings.service,
        delegate=settings.delegate,
        hostname_override=settings.spn_host or None,
        wrap_required=settings.encrypts_messages,
    )


class WinRMKerberosAuth(FirstTokenNegotiateAuth):
    """pypsrp's Negotiate auth (the ticket on the first request: firsttoken.py), with the ``wrap_winrm``/``unwrap_winrm`` pywinrm seals messages through."""

    def wrap_winrm(self, host: str, message: bytes) -> tuple[bytes, bytes]:
        sealed = self.contexts[host].wrap_winrm(message)
        return sealed.data, sealed.header

    def unwrap_winrm(self, host: str, message: bytes, header: bytes) -> bytes:
        return self.contexts[host].unwrap_winrm(header, message)

    def complete(self) -> bool:
        return bool(self.contexts) and all(c.complete for c in self.contexts.values())


@dataclass(frozen=True)
class Explanation:
    """What a Kerberos failure means: ``credentials`` when the user's own credentials were refused."""

    message: str
    credentials: bool = False


@dataclass(frozen=True)
class Target:
    """What a failure message names: who logs on, to which principal, on which host, over https or not."""

    user: str
    spn: str  # HTTP/ex01.contoso.com
    host: str
    https: bool
    override_variable: str  # the inventory variable that names another principal host

    @classmethod
    def of(cls, settings: "ConnectionSettings") -> "Target":
        return cls(settings.user, f"{settings.service}/{settings.spn_host or settings.host}", settings.host,
                   settings.scheme == "https", "ansible_winrm_kerberos_hostname_override")


def explain(exc: BaseException, target: "Target | ConnectionSettings") -> Explanation | None:
    """One sentence for a Kerberos failure, or None if ``exc`` is not one."""
    code, text = _code_and_text(exc)
    if code is None and not _is_kerberos(exc, text):
        return None
    if not isinstance(target, Target):
        target = Target.of(target)
    user = target.user or "the default principal of the credential cache"
    spn = target.spn
    realm = user.rpartition("@")[2] if "@" in user else "the default realm"
    if code in (PREAUTH_FAILED, BAD_INTEGRITY) or "Preauthentication failed" in text:
        return Explanation(f"Kerberos: the KDC refused the password of {user} (Preauthentication failed); "
                           "check the password (exconf_password_env or ansible_password)", credentials=True)
    if code == C_PRINCIPAL_UNKNOWN or ("Client" in text and "not found in Kerberos database" in text):
        return Explanation(f"Kerberos: the KDC of {realm} knows no user {user}; ansible_user must be "
                           "user@REALM with the realm in upper case (e.g. exadmin@CONTOSO.LAB)", credentials=True)
    if code == S_PRINCIPAL_UNKNOWN or ("Server" in text and "not found in Kerberos database" in text):
        return Explanation(f"Kerberos: the KDC knows no service principal {spn}: register it for the server's "
                           f"computer account (setspn -S {spn} <COMPUTER>), or, if the server answers to another "
                           f"DNS name, set {target.override_variable}")
    if code in (AP_SKEW, KDCREP_SKEW) or "Clock skew too great" in text:
        whose = ("this controller and the KDC" if code == KDCREP_SKEW or "KDC reply" in text
                 else f"{target.host} and this controller (or its KDC)")
        return Explanation(f"Kerberos: the clocks of {whose} differ by more than {MAX_SKEW} (Clock skew too "
                           "great); synchronise them (NTP on the controller, w32time on Windows) and try again")
    if code == TKT_EXPIRED or "expired" in text.lower() and "password" not in text.lower():
        return Explanation(f"Kerberos: the ticket of {user} in the credential cache has expired; run kinit "
                           f"{user} again, or give a password (exconf_password_env)", credentials=True)
    if code == KEY_EXPIRED or "Password has expired" in text:
        return Explanation(f"Kerberos: the password of {user} has expired; change it, then try again",
                           credentials=True)
    if code == CLIENT_REVOKED or "revoked" in text:
        return Explanation(f"Kerberos: the account {user} is disabled or locked out", credentials=True)
    if code in (FCC_NOFILE, CC_NOTFOUND) or "No Kerberos credentials available" in text or "No credentials cache" in text:
        return Explanation(f"Kerberos: no ticket for {user} in the credential cache and no password given; "
                           f"run kinit {user}, or set exconf_password_env", credentials=True)
    if code in (KDC_UNREACH, REALM_UNKNOWN) or "Cannot contact any KDC" in text or "Cannot find KDC" in text:
        return Explanation(f"Kerberos: cannot reach a KDC for {realm}; check krb5.conf (KRB5_CONFIG): the "
                           "realm's kdc entries or dns_lookup_kdc, and that the KDC's port 88 can be reached")
    if code == AP_MODIFIED:
        return Explanation(f"Kerberos: {target.host} could not decrypt the ticket for {spn}: the principal is "
                           "registered to another account than this server's (duplicate SPN?), or its key changed")
    if code == KRB_ERR_GENERIC and target.https:
        return Explanation(f"Kerberos: {target.host} refused the logon; over HTTPS that is the channel binding "
                           "(the certificate this controller saw is not the one the server presents: a TLS "
                           "proxy in between?)")
    return Explanation(f"Kerberos authentication failed: {_short(text)}")


def offers_no_kerberos(exc: BaseException) -> str | None:
    """pypsrp's refusal when a server's 401 offers no Kerberos: the schemes it offered, else None."""
    text = str(exc)
    if "did not response with one of the following authentication methods" in text:
        return text.rpartition("actual: ")[2].strip(" '") or "nothing"
    if "incompatible with the specified auth_provider" in text:
        return text.split("auth protocol ", 1)[1].split(" ", 1)[0].strip("'") if "auth protocol " in text else "NTLM"
    return None


def _code_and_text(exc: BaseException) -> tuple[int | None, str]:
    text = str(exc)
    for candidate in (exc, getattr(exc, "base_error", None), exc.__cause__, exc.__context__):
        if candidate is None:
            continue
        code = getattr(candidate, "min_code", None)
        if code is None and type(candidate).__name__ == "Krb5Error" and len(getattr(candidate, "args", ())) >= 2:
            code = candidate.args[1]
        if isinstance(code, int) and code:
            if code >= 2**31:
                code -= 2**32
            return code, text
    return None, text


def _is_kerberos(exc: BaseException, text: str) -> bool:
    names = {type(exc).__name__, *(type(e).__name__ for e in (exc.__cause__, exc.__context__) if e is not None)}
    return bool(names & {"Krb5Error", "GSSError", "SpnegoError", "MissingCredentialsError", "ExpiredCredentialsError",
                         "BadMechanismError", "InvalidCredentialError"}) or "Kerberos" in text


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
