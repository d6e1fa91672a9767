"""Kerberos as a lab server accepts it: the server's own keys from its keytab, MIT GSS-API as acceptor.

A domain-joined Windows server decrypts a client's service ticket with the key of its computer
account; a lab server does the same with the ``HTTP/<fqdn>`` key in its keytab (made by
:mod:`exconf.lab.kdc`, or any KDC's ``ktadd``). Which keytab is named per acceptor credential through
GSS-API's credential store extension (``gss_acquire_cred_from`` with a ``keytab`` and an
``rcache`` entry, python-gssapi ``Credentials(store=…)``): never through the process-wide
``KRB5_KTNAME``, so one lab process serves many servers, each with its own key, from many threads.

The acceptor takes a raw Kerberos token (what pywinrm and pypsrp's ``kerberos`` provider send in
``Authorization: Negotiate``) and an SPNEGO token proposing Kerberos (a ``negotiate`` client), both
handled by MIT's krb5 and SPNEGO mechanisms. A failure that Kerberos answers with a KRB-ERROR
(clock skew, channel bindings) keeps that error token, to be sent back in the 401 as RFC 4559 §5
allows, so the client can say what went wrong. Message sealing for MS-WSMV (2.2.9.1.2, Kerberos
"HTTP-SPNEGO-session-encrypted") is GSS wrap with a header, data and padding buffer, as pywinrm
and pypsrp's pyspnego do it (spnego/_gss.py ``wrap_winrm``/``unwrap_winrm``).

python-gssapi is optional (``pip install 'exconf[kerberos]'``): without it a lab server refuses
Kerberos tokens, which no client could have obtained anyway without a KDC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# GSS-API mechanism OIDs, DER-encoded as they follow the 0x06 tag of an InitialContextToken (RFC 2743 3.1).
KRB5_OID = bytes.fromhex("2a864886f712010202")  # 1.2.840.113554.1.2.2
MS_KRB5_OID = bytes.fromhex("2a864882f712010202")  # 1.2.840.48018.1.2.2, what Windows lists first
SPNEGO_OID = bytes.fromhex("2b0601050502")  # 1.3.6.1.5.5.2
NTLM_PREFIX = b"NTLMSSP\x00"


def token_kind(token: bytes) -> str:
    """``ntlm`` (a raw NTLMSSP message), ``kerberos`` (a raw Kerberos InitialContextToken), ``spnego``
    (an SPNEGO NegTokenInit), ``continue`` (a later SPNEGO NegTokenResp, [1]) or ``unknown``."""
    if token.startswith(NTLM_PREFIX):
        return "ntlm"
    if token[:1] == b"\xa1":
        return "continue"
    if token[:1] != b"\x60":
        return "unknown"
    oid = _initial_oid(token)
    if oid == SPNEGO_OID:
        return "spnego"
    if oid in (KRB5_OID, MS_KRB5_OID):
        return "kerberos"
    return "unknown"


def _initial_oid(token: bytes) -> bytes | None:
    """The mechanism OID of an InitialContextToken: [APPLICATION 0] length, then OBJECT IDENTIFIER."""
    pos = 1
    if pos >= len(token):
        return None
    first = token[pos]
    pos += 1 + (first & 0x7F if first & 0x80 else 0)  # skip the (short or long form) length
    if pos + 2 > len(token) or token[pos] != 0x06:
        return None
    length = token[pos + 1]
    return token[pos + 2: pos + 2 + length]


def gssapi_missing() -> str | None:
    try:
        import gssapi  # noqa: F401
    except ImportError:
        return "python-gssapi is not installed (pip install 'exconf[kerberos]')"
    return None


@dataclass(frozen=True)
class ServiceKey:
    """Where one server's Kerberos keys are: its keytab, and a private replay cache beside it."""

    keytab: Path
    rcache: Path

    def credential(self) -> Any:
        """An acceptor credential for every principal in the keytab (krb5 and SPNEGO mechanisms)."""
        import gssapi

        mechs = [gssapi.OID(elements=KRB5_OID), gssapi.OID(elements=SPNEGO_OID)]
        store = {"keytab": f"FILE:{self.keytab}", "rcache": f"file2:{self.rcache}"}
        return gssapi.Credentials(usage="accept", store=store, mechs=mechs)


class KerberosFailure(Exception):
    """The token was refused; ``token`` is the KRB-ERROR to send back, if Kerberos made one."""

    def __init__(self, reason: str, token: bytes | None = None, unsupported_mech: bool = False):
        super().__init__(reason)
        self.token = token
        self.unsupported_mech = unsupported_mech  # SPNEGO offered no mechanism this acceptor has (NTLM only)


class KerberosAcceptor:
    """One connection's Kerberos (or SPNEGO-Kerberos) acceptor context."""

    def __init__(self, credential: Any, channel_bindings: bytes | None = None):
        import gssapi
        from gssapi.raw import ChannelBindings

        # Windows' CbtHardeningLevel "Relaxed", WinRM's default (MS-WSMV 2.2.4.34 ServiceAuthType):
        # bindings a client sends must match the TLS certificate; a client that sends none is let in.
        # MIT's acceptor does exactly that when it is given the expected bindings.
        bindings = ChannelBindings(application_data=channel_bindings) if channel_bindings else None
        self._ctx = gssapi.SecurityContext(creds=credential, usage="accept", channel_bindings=bindings)
        self.complete = False

    def step(self, token: bytes) -> bytes | None:
        """Feed a token; returns the token to send back (the AP-REP, or an SPNEGO answer)."""
        import gssapi

        try:
            out = self._ctx.step(token)
            # python-gssapi defers an error that came with an error token (sec_contexts.py, step):
            # the token is returned and the error raised by the next use of the context.
            self.complete = bool(self._ctx.complete)
        except gssapi.exceptions.BadMechanismError as exc:
            raise KerberosFailure(_describe(exc), unsupported_mech=True) from None
        except gssapi.exceptions.GSSError as exc:
            raise KerberosFailure(_describe(exc), token=getattr(exc, "token", None) or None) from None
        except Exception as exc:  # noqa: BLE001 - a malformed token
            raise KerberosFailure(str(exc)) from None
        return out

    @property
    def client_principal(self) -> str:
        return str(self._ctx.initiator_name).rstrip("\x00")

    @property
    def delegated(self) -> bool:
        """The client forwarded its TGT (GSS_C_DELEG_FLAG): this logon can make a second hop."""
        import gssapi

        return bool(self._ctx.actual_flags & gssapi.RequirementFlag.delegate_to_peer) and self._ctx.delegated_creds is not None

    # -- MS-WSMV 2.2.9.1 sealing -------------------------------------------------------------

    def wrap_winrm(self, data: bytes) -> "WinRMSealed":
        from gssapi.raw import IOV, IOVBufferType, wrap_iov

        iov = IOV(IOVBufferType.header, data, IOVBufferType.padding, std_layout=False)
        wrap_iov(self._ctx, iov, confidential=True)
        header, sealed, padding = (b.value or b"" for b in iov)
        return WinRMSealed(header=header, data=sealed + padding, padding_length=len(padding))

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes:
        from gssapi.raw import IOV, IOVBufferType, unwrap_iov

        iov = IOV((IOVBufferType.header, False, header), data, IOVBufferType.data, std_layout=False)
        unwrap_iov(self._ctx, iov)
        return iov[1].value or b""


@dataclass(frozen=True)
class WinRMSealed:
    """The shape of pyspnego's WinRMWrapResult, so NTLM and Kerberos contexts seal alike."""

    header: bytes
    data: bytes
    padding_length: int


def _describe(exc: BaseException) -> str:
    gen = getattr(exc, "gen_message", None)
    try:
        return str(gen()) if callable(gen) else str(exc)
    except Exception:  # noqa: BLE001
        return str(exc)
