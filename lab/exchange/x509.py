"""Real X.509 for the lab's Exchange certificates, made and read with ``cryptography``.

The lab's certificates are genuine: a thumbprint is the SHA-1 of the DER (upper-case hex, as
X509Certificate2.Thumbprint prints it), a request is a real PKCS#10, an export a real PKCS#12.
This module knows only certificates; what Exchange shows of them lives in certificate_store.py
and certificates.py.

Names print as .NET's X500DistinguishedName.Name does (X509Certificate2.Subject/Issuer): the
relative names from the last encoded to the first, joined by ", ", with the short keys CN, OU,
O, L, S, C and E, and a value that holds a special character in double quotes
[.NET X500NameFlags.None; CertNameToStr CERT_X500_NAME_STR with CERT_NAME_STR_REVERSE_FLAG].
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# CryptoAPI's names of RDN attributes (CRYPT_RDN_ATTR_OID_GROUP_ID), the printed one first; what
# X500DistinguishedName prints and parses (keys case-insensitive; "OID.1.2.3" for any other).
_NAMES = (
    (NameOID.COMMON_NAME, ("CN",)), (NameOID.LOCALITY_NAME, ("L",)), (NameOID.ORGANIZATION_NAME, ("O",)),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, ("OU",)), (NameOID.EMAIL_ADDRESS, ("E", "Email")), (NameOID.COUNTRY_NAME, ("C",)),
    (NameOID.STATE_OR_PROVINCE_NAME, ("S", "ST")), (NameOID.STREET_ADDRESS, ("STREET",)), (NameOID.TITLE, ("T", "Title")),
    (NameOID.GIVEN_NAME, ("G", "GivenName")), (NameOID.INITIALS, ("I", "Initials")), (NameOID.SURNAME, ("SN",)),
    (NameOID.DOMAIN_COMPONENT, ("DC",)), (NameOID.SERIAL_NUMBER, ("SERIALNUMBER",)), (NameOID.POSTAL_CODE, ("PostalCode",)),
    (NameOID.USER_ID, ("UID",)),
)
_SHORT = {oid: names[0] for oid, names in _NAMES}
_BY_KEY = {alias.lower(): oid for oid, names in _NAMES for alias in names}
_SPECIAL = set(',=+<>#;"\n\r')
HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
# SignatureAlgorithm.FriendlyName of RSA signatures (.NET Oid friendly names).
SIGNATURE_NAMES = {"sha1": "sha1RSA", "sha256": "sha256RSA", "sha384": "sha384RSA", "sha512": "sha512RSA"}


class CertificateDataError(ValueError):
    """Bytes that are no certificate, or a PKCS#12 whose password is wrong (str() is .NET's message)."""

    def __init__(self, message: str, wrong_password: bool = False):
        super().__init__(message)
        self.wrong_password = wrong_password


# --- names ------------------------------------------------------------------------------------------


def dotnet_name(name: x509.Name) -> str:
    """X500DistinguishedName.Name: "CN=mail.contoso.com, O=Contoso, C=NL"."""
    parts = []
    for rdn in reversed(name.rdns):
        parts.append(" + ".join(f"{_SHORT.get(a.oid, 'OID.' + a.oid.dotted_string)}={_quote(str(a.value))}" for a in rdn))
    return ", ".join(parts)


def _quote(value: str) -> str:
    if value == "" or any(c in _SPECIAL for c in value) or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def parse_name(text: str) -> x509.Name:
    """An X500DistinguishedName string as New-ExchangeCertificate -SubjectName takes it
    ("C=NL, O=Contoso, CN=mail.contoso.com"; ',' or ';' between parts; quoted values).
    The written order is the order .NET prints back. ValueError names what is wrong."""
    parts, current, quoted, i = [], "", False, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            if quoted and text[i + 1:i + 2] == '"':
                current += '"'
                i += 2
                continue
            quoted = not quoted
        elif c in ",;" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    if quoted:
        raise ValueError("The string contains an unterminated quoted value.")
    parts.append(current)
    attributes = []
    for part in parts:
        key, sep, value = part.partition("=")
        oid = _key_oid(key.strip())
        if not sep or oid is None or not value.strip():
            raise ValueError(f"'{part.strip()}' is not a valid X.500 name part (expected e.g. CN=mail.contoso.com).")
        value = value.strip()
        if oid == NameOID.COUNTRY_NAME and len(value) != 2:
            raise ValueError(f"The country code '{value}' must be two letters.")
        attributes.append(x509.NameAttribute(oid, value))
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in reversed(attributes)])


def _key_oid(key: str) -> x509.ObjectIdentifier | None:
    """The attribute a key names: a CryptoAPI name, or "OID.1.2.3" / "1.2.3"."""
    known = _BY_KEY.get(key.lower())
    if known is not None:
        return known
    dotted = key[4:] if key.lower().startswith("oid.") else key
    if "." in dotted and all(p.isdigit() for p in dotted.split(".")):
        return x509.ObjectIdentifier(dotted)
    return None


def common_name(name: x509.Name) -> str | None:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else None


# --- certificates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyedCertificate:
    """A certificate and, if the store holds it, its private key (PKCS#8 PEM, never in a repr)."""

    certificate: x509.Certificate
    key_pem: bytes | None = field(default=None, repr=False)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def key(self) -> rsa.RSAPrivateKey | None:
        return None if self.key_pem is None else load_key(self.key_pem)


def thumbprint(certificate: x509.Certificate) -> str:
    """X509Certificate2.Thumbprint: SHA-1 of the DER, upper-case hex."""
    return hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


@functools.lru_cache(maxsize=64)
def load_key(pem: bytes) -> rsa.RSAPrivateKey:
    """A private key from its PEM, loaded (and checked) once per process: the lab CA's signs every
    certificate it issues, and the shared key below serves many servers."""
    return serialization.load_pem_private_key(pem, password=None)  # type: ignore[return-value]


def new_key(size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def issue(
    subject: x509.Name,
    domains: list[str],
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    key: rsa.RSAPrivateKey,
    issuer: KeyedCertificate | None = None,
    signature_hash: str = "sha256",
    serial: int | None = None,
    ca: bool = False,
) -> KeyedCertificate:
    """A certificate for ``key``: self-signed when ``issuer`` is None, else signed by it."""
    signer_key = key if issuer is None else issuer.key
    if signer_key is None:
        raise ValueError("the issuer has no private key")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if domains:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    if signature_hash == "sha1":
        certificate = _sign_sha1(builder.sign(signer_key, hashes.SHA256()), signer_key)
    else:
        certificate = builder.sign(signer_key, HASHES[signature_hash]())
    return KeyedCertificate(certificate, key_pem(key))


_SHA256_RSA = bytes.fromhex("06092A864886F70D01010B")  # OID 1.2.840.113549.1.1.11, DER
_SHA1_RSA = bytes.fromhex("06092A864886F70D010105")  # OID 1.2.840.113549.1.1.5, DER (same length)


def _sign_sha1(certificate: x509.Certificate, signer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with sha1RSA, which cryptography's builder refuses to make.

    Old certificates still carry SHA-1 signatures and the lab must show them (a weak-signature
    test needs one). Both algorithm identifiers are swapped in place (the OIDs have the same
    length) and the TBS part is signed again; an RSA signature keeps the modulus' length.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    der = certificate.public_bytes(serialization.Encoding.DER)
    tbs = certificate.tbs_certificate_bytes
    start = der.index(tbs)
    new_tbs = tbs.replace(_SHA256_RSA, _SHA1_RSA, 1)
    rest = der[start + len(tbs):].replace(_SHA256_RSA, _SHA1_RSA, 1)
    signature = signer_key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())
    rebuilt = der[:start] + new_tbs + rest[: len(rest) - len(signature)] + signature
    return x509.load_der_x509_certificate(rebuilt)


def request(subject: x509.Name, domains: list[str], key: rsa.RSAPrivateKey) -> x509.CertificateSigningRequest:
    """A PKCS#10 request as New-ExchangeCertificate -GenerateRequest makes it (SHA-256, SANs)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if domains:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
    return builder.sign(key, hashes.SHA256())


def request_text(csr: x509.CertificateSigningRequest) -> str:
    """The Base64 request text Exchange prints: PEM with the NEW CERTIFICATE REQUEST label of CertEnroll."""
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return pem.replace("CERTIFICATE REQUEST-----", "NEW CERTIFICATE REQUEST-----").replace("\n", "\r\n")


def domains_of(certificate: x509.Certificate) -> list[str]:
    """The DNS names of the subject alternative name extension (CertificateDomains)."""
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def is_self_signed(certificate: x509.Certificate) -> bool:
    """Subject = issuer and the certificate's own key verifies its signature (RSA; SHA-1 included,
    which verify_directly_issued_by refuses)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    public = certificate.public_key()
    algorithm = certificate.signature_hash_algorithm
    if certificate.issuer != certificate.subject or not isinstance(public, rsa.RSAPublicKey) or algorithm is None:
        return False
    try:
        public.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def key_size(certificate: x509.Certificate) -> int:
    public = certificate.public_key()
    return int(getattr(public, "key_size", 0))


def signature_hash_name(certificate: x509.Certificate) -> str:
    algorithm = certificate.signature_hash_algorithm
    return algorithm.name if algorithm is not None else ""


def utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# --- reading what Import-ExchangeCertificate -FileData is given ----------------------------------------

# What .NET's X509Certificate2Collection.Import throws (Win32 messages of CryptographicException).
NOT_A_CERTIFICATE = "Cannot find the requested object."  # CRYPT_E_NOT_FOUND
WRONG_PASSWORD = "The specified network password is not correct."  # ERROR_INVALID_PASSWORD


_READ_CACHE_SIZE = 16
_reads: "collections.OrderedDict[bytes, tuple[KeyedCertificate, tuple[x509.Certificate, ...]]]" = collections.OrderedDict()
_reads_lock = threading.Lock()


def read_file_data(data: bytes, password: str | None) -> tuple[KeyedCertificate, list[x509.Certificate]]:
    """The end-entity certificate (with its key, if the data has one) and the other certificates.

    Tries what X509Certificate2Collection.Import accepts: PKCS#12, PKCS#7 (DER or PEM), a DER or
    PEM certificate. Raises CertificateDataError with .NET's message.

    A file read once is not decrypted again: opening a PFX derives its keys from the password (PBKDF2,
    tens of milliseconds), and a fleet imports the same PFX on every server. The answer is a function of
    the bytes and the password alone (both hashed into the key; the password itself is not kept), and
    only files that opened are remembered, so every failure is found as before.
    """
    key = hashlib.sha256(data).digest() + (b"-" if password is None else
                                            b"+" + hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())
    with _reads_lock:
        hit = _reads.get(key)
        if hit is not None:
            _reads.move_to_end(key)
    if hit is not None:
        return hit[0], list(hit[1])
    keyed, others = _read_file_data(data, password)
    with _reads_lock:
        _reads[key] = (keyed, tuple(others))
        while len(_reads) > _READ_CACHE_SIZE:
            _reads.popitem(last=False)
    return keyed, others


def _read_file_data(data: bytes, password: str | None) -> tuple[KeyedCertificate, list[x509.Certificate]]:
    text = data.lstrip()
    if data[:1] == b"\x30":  # DER: PKCS#12, PKCS#7 or a certificate
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, None if password is None else password.encode("utf-8"))
        except ValueError:
            if _looks_like_pkcs12(data):  # a PFX that does not open: the password is wrong or missing
                raise CertificateDataError(WRONG_PASSWORD, wrong_password=True) from None
        else:
            if cert is None:
                raise CertificateDataError(NOT_A_CERTIFICATE)
            pem = key_pem(key) if isinstance(key, rsa.RSAPrivateKey) else None  # lab certificates are RSA
            return KeyedCertificate(cert, pem), list(extra)
        certs = _first_loaded(data, pkcs7.load_der_pkcs7_certificates, lambda d: [x509.load_der_x509_certificate(d)])
    elif text.startswith(b"-----BEGIN"):
        certs = _first_loaded(text, pkcs7.load_pem_pkcs7_certificates, x509.load_pem_x509_certificates)
    else:
        certs = []
    if not certs:
        raise CertificateDataError(NOT_A_CERTIFICATE)
    leaf = _leaf(certs)
    return KeyedCertificate(leaf), [c for c in certs if c is not leaf]


def _first_loaded(data: bytes, *loaders: Callable[[bytes], list[x509.Certificate]]) -> list[x509.Certificate]:
    """The certificates of the first loader that reads the data."""
    for loader in loaders:
        try:
            certs = loader(data)
        except (ValueError, UnsupportedAlgorithm):
            continue
        if certs:
            return list(certs)
    return []


def _looks_like_pkcs12(data: bytes) -> bool:
    """PFX = SEQUENCE { INTEGER 3, ContentInfo ... }: the version 3 comes right after the header."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length = data[1]
    offset = 2 + (length & 0x7F if length & 0x80 else 0)
    return data[offset:offset + 3] == b"\x02\x01\x03"


def _leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate that issued none of the others (the end entity of a chain)."""
    issuers = {c.issuer for c in certs if c.issuer != c.subject}
    return next((c for c in certs if c.subject not in issuers), certs[0])


def pfx(name: str, cert: KeyedCertificate, password: str | None, chain: list[x509.Certificate] = ()) -> bytes:
    """A PKCS#12 of the certificate and its key, encrypted with the password (if any)."""
    encryption = (serialization.BestAvailableEncryption(password.encode("utf-8")) if password
                  else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(name.encode("utf-8"), cert.key, cert.certificate, list(chain) or None,
                                                 encryption)
