"""MS-WSMV 2.2.9.1 message encryption (HTTP-SPNEGO-session-encrypted), server side.

Over HTTP, once NTLM or Kerberos has authenticated the connection, Windows expects every
SOAP message sealed with the session keys and framed as MIME parts::

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<n>\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32 LE signature length><signature><sealed message>--Encrypted Boundary--\\r\\n

This mirrors pywinrm's winrm/encryption.py (``_encrypt_message``,
``_build_ntlm_message``, ``_build_kerberos_message``): the "signature" is NTLM's 16-byte
signature (MS-NLMP 3.4.4) or Kerberos's GSS wrap header (RFC 4121 4.2.6.2, MS-WSMV
2.2.9.1.2), and the sealed data is as long as the message (RC4 for NTLM, AES-CTS for
Kerberos; the lab's realm has only AES keys). Both contexts seal through ``wrap_winrm`` and
``unwrap_winrm`` (pyspnego's for NTLM, exconf.lab.kerberos's for Kerberos).
"""

from __future__ import annotations

import re
import struct
from typing import Protocol

BOUNDARY = b"--Encrypted Boundary"
PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
_OCTET_HEADER = b"\tContent-Type: application/octet-stream\r\n"
_LENGTH = re.compile(rb"Length=(\d+)")


class EncryptionError(Exception):
    """The body is not a well-formed encrypted message, or does not decrypt."""


class SealingContext(Protocol):
    """What we need from a completed context (pyspnego's, or exconf.lab.kerberos.KerberosAcceptor)."""

    def wrap_winrm(self, data: bytes): ...  # -> header, data, padding_length
    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


def is_encrypted(content_type: str) -> bool:
    ct = content_type.lower()
    return ct.startswith("multipart/encrypted") or ct.startswith("multipart/x-multi-encrypted")


def decrypt(body: bytes, ctx: SealingContext) -> bytes:
    """Unseal every part of an encrypted request and return the SOAP bytes.

    Parsing is driven by the lengths (signature length, original length) rather
    than by splitting on the boundary, since sealed bytes may contain anything.
    """
    out = []
    pos = 0
    while True:
        start = body.find(BOUNDARY + b"\r\n", pos)
        if start < 0:
            break
        header_start = start + len(BOUNDARY) + 2
        header_end = body.find(BOUNDARY + b"\r\n", header_start)
        if header_end < 0:
            raise EncryptionError("encrypted message: missing the octet-stream part")
        header = body[header_start:header_end]
        if b"OriginalContent" not in header:
            raise EncryptionError("encrypted message: missing OriginalContent")
        match = _LENGTH.search(header)
        if not match:
            raise EncryptionError("encrypted message: missing Length")
        length = int(match.group(1))
        part = header_end + len(BOUNDARY) + 2
        if not body.startswith(_OCTET_HEADER, part):
            raise EncryptionError("encrypted message: the second part is not application/octet-stream")
        part += len(_OCTET_HEADER)
        if len(body) < part + 4:
            raise EncryptionError("encrypted message: truncated")
        (sig_len,) = struct.unpack("<I", body[part : part + 4])
        sig_start = part + 4
        data_start = sig_start + sig_len
        data_end = data_start + length  # RC4 (NTLM) and AES-CTS (Kerberos): as long as the plain text
        if data_end > len(body):
            raise EncryptionError("encrypted message: truncated")
        signature = body[sig_start:data_start]
        sealed = body[data_start:data_end]
        try:
            plain = ctx.unwrap_winrm(signature, sealed)
        except Exception as exc:  # pyspnego raises various SpnegoError subclasses
            raise EncryptionError(f"encrypted message does not verify: {exc}") from exc
        if len(plain) != length:
            raise EncryptionError("encrypted message: length does not match OriginalContent")
        out.append(plain)
        pos = data_end
    if not out:
        raise EncryptionError("encrypted message: no encrypted part")
    return b"".join(out)


def encrypt(message: bytes, ctx: SealingContext) -> bytes:
    """Seal a SOAP response; the body to send with ``CONTENT_TYPE``."""
    wrapped = ctx.wrap_winrm(message)
    signature, sealed = wrapped.header, wrapped.data
    return b"".join(
        [
            BOUNDARY,
            b"\r\n\tContent-Type: ",
            PROTOCOL.encode(),
            b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=",
            str(len(message)).encode(),
            b"\r\n",
            BOUNDARY,
            b"\r\n",
            _OCTET_HEADER,
            struct.pack("<I", len(signature)),
            signature,
            sealed,
            BOUNDARY,
            b"--\r\n",
        ]
    )
