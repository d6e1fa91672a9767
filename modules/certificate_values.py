"""Certificates as exconf reasons about them: what a server reports, what a declaration selects, what a PFX holds.

Pure parsing and matching, plus ``read_pfx`` (the one function that opens a
controller-side file). Service names and their order are Exchange's
``AllowedServices`` flags (cmdlets.md §2: IMAP=1, POP=2, UM=4, IIS=8, SMTP=16,
Federation=32, UMCallRouter=64), printed in .NET flag order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import pkcs12

from exconf.controllerfiles import PfxBytes, digest
from exconf.model import FileRef, SecretRef
from exconf.regularfile import PFX_LIMIT, NotARegularFile, read_regular
from exconf.yamlsource import Location
from exconf.remote import Secret, SecretError

from . import certificate_names as names

SERVICES = ("IMAP", "POP", "UM", "IIS", "SMTP", "Federation", "UMCallRouter")
_CANON = {s.lower(): s for s in SERVICES}
MIN_KEY_SIZE = 2048  # below this, a key is weak (the rail certificate-weak-key)


def order(services: frozenset[str]) -> list[str]:
    """Services in .NET flag order, as Exchange prints them; [] for none."""
    return [s for s in SERVICES if s in services]


def parse_services(raw: Any) -> frozenset[str] | None:
    """Exchange's ``"IMAP, POP, IIS, SMTP"`` (or a list) as a set; None when it cannot be read (never "None")."""
    if raw is None:
        return None
    parts = raw if isinstance(raw, list) else str(raw).split(",")
    out = set()
    for part in parts:
        word = str(part).strip().lower()
        if word in ("", "none"):
            continue
        if word not in _CANON:
            return None  # a value exconf does not understand is not a reading it may act on
        out.add(_CANON[word])
    return frozenset(out)


def canon_service(name: str) -> str | None:
    return _CANON.get(name.strip().lower())


def utc_instant(raw: Any) -> dt.datetime | None:
    """A date a server sent as ISO text, aware (UTC when it names no zone); None when it is not one."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Cert:
    """One certificate as a server reported it (or as a PFX holds it)."""

    thumbprint: str
    subject: str
    issuer: str
    domains: tuple[str, ...]
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    services: frozenset[str] | None  # None: could not be read
    status: str = "Valid"
    self_signed: bool = False
    has_key: bool = True
    key_size: int | None = None
    signature: str = ""  # sha256RSA, sha1RSA, …

    @property
    def short(self) -> str:
        return self.thumbprint[:8]

    @property
    def label(self) -> str:
        return f"{self.subject} ({self.short})"

    def valid_at(self, now: dt.datetime) -> bool:
        return self.status == "Valid" and self.not_after is not None and self.not_after > now and (self.not_before is None or self.not_before <= now)

    def days_left(self, now: dt.datetime) -> float | None:
        return None if self.not_after is None else (self.not_after - now).total_seconds() / 86400

    @property
    def sha1(self) -> bool:
        return self.signature.lower().startswith("sha1")

    @property
    def weak(self) -> bool:
        return self.key_size is not None and self.key_size < MIN_KEY_SIZE


READ_PROPERTIES = (
    "Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "Status",
    "IsSelfSigned", "HasPrivateKey", "PublicKeySize", "SignatureAlgorithm.FriendlyName",
)


def cert_from_answer(obj: dict[str, Any]) -> Cert:
    raw = obj.get("CertificateDomains")
    domains = [raw] if isinstance(raw, str) else [d for d in raw if isinstance(d, str)] if isinstance(raw, list) else []
    size = obj.get("PublicKeySize")
    return Cert(
        thumbprint=str(obj.get("Thumbprint") or "").upper(),
        subject=str(obj.get("Subject") or ""),
        issuer=str(obj.get("Issuer") or ""),
        domains=tuple(domains),
        not_before=utc_instant(obj.get("NotBefore")),
        not_after=utc_instant(obj.get("NotAfter")),
        services=parse_services(obj.get("Services")),
        status=str(obj.get("Status") or "Unknown"),
        self_signed=bool(obj.get("IsSelfSigned")),
        has_key=bool(obj.get("HasPrivateKey")),
        key_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        signature=str(obj.get("SignatureAlgorithm.FriendlyName") or ""),
    )


# --- matching ---------------------------------------------------------------------------------------------


def like(pattern: str, text: str) -> bool:
    """Case-insensitive, ``*`` is the only wildcard (as Exchange identities and the spec's example)."""
    rx = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, text, flags=re.IGNORECASE | re.DOTALL) is not None


@dataclass(frozen=True)
class Match:
    """What selects a certificate across renewals: subject, SANs (every one listed), issuer."""

    subject: str | None = None
    domains: tuple[str, ...] = ()
    issuer: str | None = None

    def describe(self) -> str:
        parts = [f"subject {self.subject!r}"] if self.subject else []
        parts += [f"domains {list(self.domains)!r}"] if self.domains else []
        parts += [f"issuer {self.issuer!r}"] if self.issuer else []
        return ", ".join(parts)

    def selects(self, cert: Cert) -> bool:
        if self.subject is not None and not _subject_matches(self.subject, cert.subject):
            return False
        if self.issuer is not None and not like(names.canonical(self.issuer), names.canonical(cert.issuer)):
            return False
        return all(any(like(d, name) for name in cert.domains) for d in self.domains)


def _subject_matches(pattern: str, subject: str) -> bool:
    """The whole subject, or (for a pattern of one relative name, e.g. "CN=smtp.contoso.com") one of its
    relative names; both in .NET's form (certificate_names), so "ST=" and "S=" are one key."""
    pattern, subject = names.canonical(pattern), names.canonical(subject)
    if like(pattern, subject):
        return True
    return len(names.relative_names(pattern)) == 1 and any(like(pattern, rdn) for rdn in names.relative_names(subject))


def covers(name: str, fqdn: str) -> bool:
    """Whether a certificate name (``*.contoso.com`` allowed, one label) covers an FQDN."""
    name, fqdn = name.lower().rstrip("."), fqdn.lower().rstrip(".")
    if name.startswith("*."):
        head, _, rest = fqdn.partition(".")
        return bool(head) and rest == name[2:]
    return name == fqdn


def tls_certificate_name(cert: Cert) -> str:
    """How a connector's TlsCertificateName names a certificate: ``<I>issuer<S>subject`` (cmdlets.md §3, §4)."""
    return f"<I>{cert.issuer}<S>{cert.subject}"


def selected_by(tls_name: str, cert: Cert) -> bool:
    """Whether a connector's TlsCertificateName names this certificate (issuer and subject, compared as names)."""
    m = re.fullmatch(r"<I>(.*)<S>(.*)", tls_name.strip(), flags=re.DOTALL)
    if not m:
        return False
    return names.same(m.group(1), cert.issuer) and names.same(m.group(2), cert.subject)


# --- PFX files -------------------------------------------------------------------------------------------------


class PfxError(Exception):
    """A PFX that cannot be used: the message names the file and what is wrong (never the password)."""


@dataclass(frozen=True)
class Pfx:
    """A PFX on the controller, opened at plan time: its certificate, its bytes and where its password comes from."""

    ref: FileRef
    password: SecretRef
    cert: Cert
    data: PfxBytes = field(repr=False, compare=False)

    def describe(self) -> str:
        return f"{self.ref.path} (SHA-256 {self.ref.digest[:12]}…)"


def _signature_name(cert: x509.Certificate) -> str:
    """Windows' SignatureAlgorithm.FriendlyName (sha256RSA, sha384ECDSA): named after the certificate's
    signatureAlgorithm, the algorithm its *issuer* signed with (RFC 5280 §4.1.1.2), not its own key's type
    (an ECDSA certificate signed by an RSA CA is sha256RSA)."""
    algo = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else ""
    signed = cert.signature_algorithm_parameters
    suffix = "RSA" if isinstance(signed, (padding.PKCS1v15, padding.PSS)) else "ECDSA" if isinstance(signed, ec.ECDSA) else ""
    return f"{algo.replace('-', '')}{suffix}"


def cert_from_x509(cert: x509.Certificate, has_key: bool) -> Cert:
    try:
        sans = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    key = cert.public_key()
    size = getattr(key, "key_size", None)  # RSA, DSA and EC keys have one; naming dsa.DSAPublicKey warns CryptographyDeprecationWarning
    return Cert(
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),
        subject=names.dotnet_name(cert.subject),
        issuer=names.dotnet_name(cert.issuer),
        domains=sans,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        services=frozenset(),
        self_signed=cert.subject == cert.issuer,
        has_key=has_key,
        key_size=size,
        signature=_signature_name(cert),
    )


class OpenedPfx:
    """PFX files already opened in this run, so that one declaration inherited by 200 hosts costs one
    PKCS#12 decryption (~0.1 s of key derivation each), not 200. Keyed by the file's SHA-256 and a
    salted digest of the password, so a changed file or password is opened again; holds no password."""

    def __init__(self) -> None:
        self._salt = os.urandom(16)
        self._seen: dict[tuple[str, str, SecretRef, bytes], Pfx] = {}

    def key(self, path: Path, raw: bytes, password: SecretRef, text: str) -> tuple[str, str, SecretRef, bytes]:
        return (str(path.resolve()), digest(raw), password, hashlib.sha256(self._salt + text.encode("utf-8")).digest())

    def get(self, key: tuple[str, str, SecretRef, bytes]) -> Pfx | None:
        return self._seen.get(key)

    def put(self, key: tuple[str, str, SecretRef, bytes], pfx: Pfx) -> Pfx:
        self._seen[key] = pfx
        return pfx


def read_pfx(path: Path, password: SecretRef, secret: Secret, opened: OpenedPfx | None = None) -> Pfx:
    """Open a PFX with its password (revealed only for this call) and describe its certificate."""
    try:
        raw = read_regular(path, limit=PFX_LIMIT, what="the PFX")
    except NotARegularFile as exc:
        raise PfxError(str(exc)) from None
    try:
        text = secret.reveal()
    except SecretError as exc:
        raise PfxError(f"the password of the PFX {path}: {exc}") from None
    key_ = opened.key(path, raw, password, text) if opened is not None else None
    known = opened.get(key_) if opened is not None and key_ is not None else None
    if known is not None:
        return known
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(raw, text.encode("utf-8") if text else None)
    except ValueError:
        if not looks_like_pkcs12(raw):
            raise PfxError(f"{path} is not a PKCS#12 (PFX) file") from None
        raise PfxError(f"the password {password.describe()} does not open the PFX {path}") from None
    finally:
        del text
    if cert is None and key is None:
        # A PFX of certificates only: the server certificate is the one that is not a CA.
        cert = next((c for c in extra if not _is_ca(c)), extra[0] if extra else None)
    if cert is None:
        raise PfxError(f"the PFX {path} holds no certificate")
    ref = FileRef(str(path.resolve()), digest(raw))
    pfx = Pfx(ref=ref, password=password, cert=cert_from_x509(cert, key is not None), data=PfxBytes(raw, ref))
    return opened.put(key_, pfx) if opened is not None and key_ is not None else pfx


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def looks_like_pkcs12(raw: bytes) -> bool:
    """A DER SEQUENCE whose first element is INTEGER 3 (PFX version 3, RFC 7292 §4)."""
    if len(raw) < 8 or raw[0] != 0x30:
        return False
    i = 2 + (raw[1] & 0x7F if raw[1] & 0x80 else 0)
    return raw[i : i + 3] == b"\x02\x01\x03"


DEFAULT_WARN_DAYS = 30


@dataclass(frozen=True)
class ServerCerts:
    """What a server says about how its certificates are used, read beside them: its default SMTP
    (internal transport) certificate, the names IMAP4 and POP3 use (X509CertificateName), the
    certificates OAuth uses (AuthConfig), and its clock. None where it was not read (an Edge has no
    IMAP, POP or AuthConfig)."""

    default_smtp: str | None = None
    imap: str | None = None
    pop: str | None = None
    auth: tuple[str, ...] = ()  # CurrentCertificateThumbprint, NextCertificateThumbprint (the ones set)
    now: dt.datetime | None = None

    def shown_by_name(self, cert: Cert) -> frozenset[str]:
        """IMAP and POP that Exchange shows on this certificate because one of its names is the service's
        X509CertificateName, whatever was enabled [SRC ExchangeCertificateServerHelper.UpdateServices]."""
        names = {n.lower() for n in names_of(cert)}
        return frozenset(s for s, name in (("IMAP", self.imap), ("POP", self.pop)) if name and name.lower() in names)


def names_of(cert: Cert) -> list[str]:
    """TlsCertificateInfo.GetFQDNs: the subject's CN, then the SAN DNS names."""
    cn = next((rdn[3:] for rdn in names.relative_names(cert.subject) if rdn.upper().startswith("CN=")), None)
    out = [cn] if cn else []
    return out + [d for d in cert.domains if d.lower() not in (n.lower() for n in out)]


def instant(value: dt.datetime | None) -> str:
    """ISO 8601 UTC to the second: what drift's expiry timeline and Prometheus timestamps read."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "(unknown)"


@dataclass(frozen=True)
class RequestSpec:
    """What a requested certificate must be: the server makes its key and request (New-ExchangeCertificate
    -GenerateRequest); ``names``: the subject's CN (Exchange adds it to the names, cmdlets.md §2) and the domains."""

    subject: str  # in .NET's form (certificate_names.canonical)
    domains: tuple[str, ...]
    key_size: int = 2048
    exportable: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        cn = next((rdn[3:] for rdn in names.relative_names(self.subject) if rdn.upper().startswith("CN=")), None)
        out: list[str] = [cn] if cn and re.fullmatch(r"[A-Za-z0-9*][A-Za-z0-9.-]*", cn) else []
        for d in self.domains:
            if d.lower() not in (o.lower() for o in out):
                out.append(d)
        return tuple(out)

    def is_one(self, cert: "Cert") -> bool:
        """The certificate (or pending request) is this one: same subject and names, whoever signed it."""
        return names.same(self.subject, cert.subject) and {d.lower() for d in cert.domains} == {d.lower() for d in self.names}


@dataclass(frozen=True)
class CopySpec:
    """Another inventory host that holds a copy of a requested certificate, and the services it serves there."""

    host: str
    services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CertSpec:
    """One declared certificate, parsed once (desired time); ``pfx_error`` keeps a PFX problem for plan time."""

    thumbprint: str | None = None
    match: Match | None = None
    services: frozenset[str] | None = None  # None: not declared (no service change)
    exact: bool = False
    absent: bool = False
    renew_days: int | None = None
    warn_days: int = DEFAULT_WARN_DAYS
    pfx: Pfx | None = None
    pfx_error: str = ""
    default_smtp: bool | None = None  # the server's default SMTP (internal transport) certificate, or not; None: not declared
    request: RequestSpec | None = None  # a certificate the server requests and an issuer signs
    issuer: Any = None  # certificate_issuers.IssuerSpec of a request
    renew_within: int = 30  # a requested certificate is requested again when it expires within this many days
    copy_to: tuple[CopySpec, ...] = ()
    source: Any = field(default=None, compare=False, repr=False)  # exchange_certificate.PfxSource: a PFX not opened yet
    at: dict[str, Location] = field(default_factory=dict, compare=False, repr=False)

    def pfx_named(self) -> str:
        """The PFX an import names, opened or not."""
        if self.pfx is not None:
            return self.pfx.ref.path
        return str(self.source.spec["import"]["pfx"]) if self.source is not None else ""

    def describe(self) -> str:
        if self.request:
            return f"request {self.request.subject}"
        if self.thumbprint:
            return f"thumbprint {self.thumbprint}"
        if self.match:
            return f"match {self.match.describe()}"
        if self.pfx:
            return f"PFX {self.pfx.ref.path}"
        return f"PFX {self.source.spec['import']['pfx']}" if self.source is not None else "import"
