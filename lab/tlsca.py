"""The lab's certificate authority and the WinRM HTTPS listener certificates.

A real WinRM HTTPS listener presents a certificate whose name matches what the
client connects to. The lab makes one CA per lab (kept beside the state file,
so a restart reuses it and a client's ``ca_trust_path`` stays valid) and signs
a listener certificate per server whose subject alternative names are the
server's FQDN, its short name and its loopback address, so a client validates
whichever of the three it was given.

ECDSA P-256 keys: generating them costs about a millisecond, which matters
when a lab has a few hundred servers and listener certificates are made anew
at every start.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "lab-ca.pem"
CA_KEY_NAME = "lab-ca.key"
CA_COMMON_NAME = "exconf lab CA"

_CA_LIFETIME = dt.timedelta(days=3650)
_LEAF_LIFETIME = dt.timedelta(days=397)  # the CA/Browser Forum maximum; no client should complain
_BACKDATE = dt.timedelta(days=1)  # tolerate a little clock skew between processes


class CertError(Exception):
    """The CA files exist but cannot be used (str() is a user-ready message)."""


@dataclass(frozen=True)
class IssuedCert:
    """A listener certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)  # a private key: never in a repr, a log line or a traceback

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write cert and key as private files (ssl.SSLContext only loads from files)."""
        cert_path = directory / f"{stem}.pem"
        key_path = directory / f"{stem}.key"
        _write_private(cert_path, self.cert_pem)
        _write_private(key_path, self.key_pem)
        return cert_path, key_path


class LabCA:
    """The lab certificate authority: one self-signed root that signs listener certificates."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_path: Path):
        self.cert = cert
        self.key = key
        self.cert_path = cert_path

    @classmethod
    def load_or_create(cls, directory: Path) -> "LabCA":
        """Reuse ``lab-ca.pem``/``lab-ca.key`` in ``directory``, or make and write them.

        The key is written with mode 0600; the certificate is public (0644) so any
        client on the machine can trust it.
        """
        directory.mkdir(parents=True, exist_ok=True)
        cert_path = directory / CA_CERT_NAME
        key_path = directory / CA_KEY_NAME
        if cert_path.exists() and key_path.exists():
            try:
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            except (ValueError, TypeError) as exc:
                raise CertError(f"the lab CA in {directory} cannot be read ({exc}); delete {CA_CERT_NAME} and {CA_KEY_NAME} to make a new one") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
                raise CertError(f"{key_path} does not belong to {cert_path}; delete both to make a new lab CA")
            if cert.not_valid_after_utc > _now() + dt.timedelta(days=30):
                return cls(cert, key, cert_path)
            # About to expire: make a new one (clients must then trust the new file).
        return cls._create(cert_path, key_path)

    @classmethod
    def _create(cls, cert_path: Path, key_path: Path) -> "LabCA":
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Key first: a cert without its key would be unusable after a crash.
        _write_private(key_path, key_pem)
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
        return cls(cert, key, cert_path)

    def issue(self, fqdn: str, short_name: str, address: str) -> IssuedCert:
        """A server-authentication certificate for one lab server."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        names: list[x509.GeneralName] = []
        for dns in dict.fromkeys(n for n in (fqdn, short_name) if n):  # keep order, drop duplicates
            names.append(x509.DNSName(dns))
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
        issuer_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn or short_name or address)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _LEAF_LIFETIME)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return IssuedCert(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _write_private(path: Path, data: bytes) -> None:
    write_atomic(path, data, mode=0o600)


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write via a temp file in the same directory so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
