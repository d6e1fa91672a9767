"""Subjects in one form, as .NET's X500DistinguishedName prints them: from a PFX, from the lab, from an inventory."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exconf.lab.exchange import x509 as lab_x509
from exconf.model import SecretRef
from exconf.modules import certificate_names as names
from exconf.modules.certificate_values import Match, read_pfx, selected_by, tls_certificate_name
from exconf.remote import Secret

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SUBJECT = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Noord-Holland"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso, Ltd"),
    x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pki@contoso.com"),
    x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com"),
])
DOTNET = 'CN=mail.contoso.com, E=pki@contoso.com, O="Contoso, Ltd", S=Noord-Holland, C=NL'


def _certificate() -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(SUBJECT).issuer_name(SUBJECT).public_key(KEY.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30)).sign(KEY, hashes.SHA256()))


def test_a_pfx_subject_reads_as_dotnet_prints_it(tmp_path):
    cert = _certificate()
    # cryptography itself writes the RFC 4514 form, which is not Exchange's: ST=, an OID for e-mail, backslashes.
    assert "ST=" in cert.subject.rfc4514_string() and "\\," in cert.subject.rfc4514_string()
    path = tmp_path / "c.pfx"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"c", KEY, cert, None, serialization.BestAvailableEncryption(b"pw")))
    pfx = read_pfx(path, SecretRef("env", "X"), Secret.from_value("pw"))
    assert pfx.cert.subject == DOTNET == pfx.cert.issuer
    assert lab_x509.dotnet_name(cert.subject) == DOTNET  # the lab prints it the same way
    # A match copied from Get-ExchangeCertificate, or written the OpenSSL way, selects its own PFX.
    assert Match(subject=DOTNET).selects(pfx.cert)
    assert Match(subject="cn=mail.contoso.com;emailAddress=pki@contoso.com;o=\"Contoso, Ltd\";st=Noord-Holland;c=NL").selects(pfx.cert)
    assert Match(subject="S=Noord-Holland").selects(pfx.cert) and Match(subject="ST=Noord-*").selects(pfx.cert)
    assert not Match(subject="S=Utrecht").selects(pfx.cert)
    assert selected_by(tls_certificate_name(pfx.cert), pfx.cert)
    assert selected_by(f"<I>{cert.issuer.rfc4514_string()}<S>{cert.subject.rfc4514_string()}", pfx.cert)


@pytest.mark.parametrize("written, shown", [
    ("cn=mail.contoso.com;o=Contoso;st=NH;c=NL", "CN=mail.contoso.com, O=Contoso, S=NH, C=NL"),
    ("CN=a\\, b,O=x", 'CN="a, b", O=x'),
    ("1.2.840.113549.1.9.1=a@b.c", "E=a@b.c"),
    ("OID.2.5.4.97=VAT-1", "OID.2.5.4.97=VAT-1"),
    ("CN=a+OU=b, O=c", "CN=a + OU=b, O=c"),
    ('CN=" x "', 'CN=" x "'),
    ("*DigiCert*", "*DigiCert*"),  # not a name: a pattern, left as written
])
def test_written_names_take_dotnet_form(written, shown):
    assert names.canonical(written) == shown


def test_the_lab_parses_what_it_prints():
    for text in (DOTNET, "CN=x, OID.2.5.4.97=VAT-1, ST=NH, E=a@b.c"):
        assert lab_x509.dotnet_name(lab_x509.parse_name(text)) == names.canonical(text)
