"""A small certificate authority outside the lab, made with cryptography, for the certificate tests:
what an administrator receives from a public CA (a PFX, a PKCS#7 chain, a signed request)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

import pytest

from exconf import remote
from exconf.lab.exchange.store import LabStore

NOW = dt.datetime.now(dt.timezone.utc)
PFX_PASSWORD = "Pfx-Pa55word!\u00e9"  # non-ASCII on purpose: it must survive every code page


def name(cn: str, org: str | None = None) -> x509.Name:
    """Encoded as CAs do, most general first (O, then CN): .NET prints it "CN=…, O=…"."""
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name(parts + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class PublicCA:
    """A third-party CA: signs server certificates and requests."""

    def __init__(self, cn: str = "Test Public Root CA"):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert = (
            x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=30)).not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, cn: str, sans: list[str], *, public_key=None, days: int = 365, org: str | None = "Contoso"):
        key = None
        if public_key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public_key = key.public_key()
        cert = (
            x509.CertificateBuilder().subject_name(name(cn, org)).issuer_name(self.cert.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key

    def pfx(self, cn: str, sans: list[str], password: str | None = PFX_PASSWORD) -> tuple[bytes, x509.Certificate]:
        cert, key = self.issue(cn, sans)
        encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                      else serialization.NoEncryption())
        return pkcs12.serialize_key_and_certificates(b"mail", key, cert, [self.cert], encryption), cert

    def p7b(self, cert: x509.Certificate) -> bytes:
        return pkcs7.serialize_certificates([cert, self.cert], serialization.Encoding.DER)


@pytest.fixture(scope="module")
def ca() -> PublicCA:
    """One third-party CA per test module (RSA keys are the slow part)."""
    return PublicCA()


def lab_store(folder: Path, org_text: str) -> LabStore:
    org = folder / "org.yaml"
    org.write_text(org_text, encoding="utf-8")
    return LabStore(org, folder / "state.json")


def thumbprint(cert: x509.Certificate) -> str:
    import hashlib

    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def run(store: LabStore, server: str, steps: list[remote.Step], *, codepage: int = 437, halt: bool = True) -> remote.Answer:
    """Run steps through the remote contract, exactly as they travel on standard input."""
    command, arguments = remote.command_line()
    result = store.run_command(store.server(server), command, list(arguments),
                               remote.encode_stdin(steps, halt_on_error=halt), codepage)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return remote.decode_answer(result.stdout, result.stderr, result.exit_code)


def run_raw(store: LabStore, server: str, steps: list[dict], codepage: int = 437) -> remote.Answer:
    """Steps as raw JSON (what a tampered or careless client might send)."""
    command, arguments = remote.command_line()
    payload = json.dumps({"exconf": remote.CONTRACT_VERSION, "halt_on_error": True, "steps": steps})
    stdin = remote.frame_stdin(remote.program_text(), payload).encode("ascii")
    result = store.run_command(store.server(server), command, list(arguments), stdin, codepage)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return remote.decode_answer(result.stdout)


def every_file_text(directory: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in directory.rglob("*") if p.is_file())
