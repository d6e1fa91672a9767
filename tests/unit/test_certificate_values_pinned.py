"""Certificates as exconf reads them (modules/certificate_values.py): what a server's answer and a PFX become, what
a declaration selects, which names cover a server, and what a PFX that cannot be used says."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exconf.model import FileRef, SecretRef
from exconf.modules.certificate_values import (Cert, CertSpec, Match, OpenedPfx, Pfx, PfxError, canon_service, cert_from_answer, cert_from_x509,
                                               covers, like, parse_services, read_pfx, selected_by)
from exconf.remote import Secret

NOW = dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc)
START, END = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2028, 1, 1, tzinfo=dt.timezone.utc)


def name(cn: str, org: str | None = None) -> x509.Name:
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []) + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def make_cert(key, subject: x509.Name, issuer: x509.Name, signer=None, sans=(), ca=False, algorithm=hashes.SHA256()) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key()).serial_number(7)
               .not_valid_before(START).not_valid_after(END))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(signer or key, algorithm)


@pytest.fixture(scope="module")
def keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=1024), "ec": ec.generate_private_key(ec.SECP384R1()),
            "ca": ec.generate_private_key(ec.SECP256R1()), "ed": ed25519.Ed25519PrivateKey.generate()}


# --- what a server reports ----------------------------------------------------------------------------------------


def test_a_certificate_as_the_server_reports_it():
    answer = {"Thumbprint": "ab" * 20, "Subject": "CN=mail.contoso.com, O=Contoso", "Issuer": "CN=Public CA", "CertificateDomains": ["mail.contoso.com", 7],
              "NotBefore": "2027-01-01T00:00:00Z", "NotAfter": "2028-01-01T00:00:00", "Services": "IMAP, POP, IIS, SMTP", "Status": "Valid",
              "IsSelfSigned": False, "HasPrivateKey": True, "PublicKeySize": 2048, "SignatureAlgorithm.FriendlyName": "sha256RSA"}
    assert cert_from_answer(answer) == Cert("AB" * 20, "CN=mail.contoso.com, O=Contoso", "CN=Public CA", ("mail.contoso.com",), START, END,
                                            frozenset({"IMAP", "POP", "IIS", "SMTP"}), "Valid", False, True, 2048, "sha256RSA")
    assert cert_from_answer({}) == Cert("", "", "", (), None, None, None, "Unknown", False, False, None, "")
    assert cert_from_answer({"CertificateDomains": "one.contoso.com", "PublicKeySize": True, "NotBefore": "not a date"}).domains == ("one.contoso.com",)
    assert cert_from_answer({"PublicKeySize": True}).key_size is None and cert_from_answer({"NotBefore": 5}).not_before is None


def test_a_date_without_a_zone_is_utc_and_one_with_a_zone_keeps_it():
    assert cert_from_answer({"NotAfter": "2028-01-01T00:00:00"}).not_after == END
    east = cert_from_answer({"NotAfter": "2028-01-01T02:00:00+02:00"}).not_after
    assert east == END and east.utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize("raw, services", [
    ("IMAP, POP, IIS, SMTP", {"IMAP", "POP", "IIS", "SMTP"}),
    (["SMTP", "iis"], {"SMTP", "IIS"}),
    ("IMAP, , SMTP", {"IMAP", "SMTP"}),
    ("None", set()),
    ("None, SMTP", {"SMTP"}),
    ("SMTP, Bogus", None),
    (None, None),
])
def test_services_are_read_as_exchange_prints_them_and_anything_else_is_unknown(raw, services):
    assert parse_services(raw) == (frozenset(services) if services is not None else None)


def test_service_names_are_canonical_whatever_their_case():
    assert canon_service(" smtp ") == "SMTP" and canon_service("UMCallRouter") == "UMCallRouter" and canon_service("web") is None


@pytest.mark.parametrize("status, before, after, valid", [
    ("Valid", START, END, True),
    ("DateInvalid", START, END, False),
    ("Valid", NOW + dt.timedelta(days=1), END, False),  # not yet valid
    ("Valid", NOW, END, True),
    ("Valid", START, NOW, False),
    ("Valid", None, END, True),
    ("Valid", START, None, False),
])
def test_a_certificate_is_valid_between_its_dates_and_with_status_valid(status, before, after, valid):
    assert Cert("A" * 40, "CN=x", "CN=x", (), before, after, frozenset(), status).valid_at(NOW) is valid


# --- what a declaration selects --------------------------------------------------------------------------------------


def test_like_is_case_insensitive_with_star_the_only_wildcard_across_lines():
    assert like("CN=*.CONTOSO.com", "cn=mail.contoso.com") and like("*", "a\nb") and not like("CN=?", "CN=a") and like("a.b", "a.b")
    assert not like("a.b", "axb")


def test_a_match_selects_by_subject_every_domain_and_issuer():
    c = Cert("A" * 40, "CN=mail.contoso.com, O=Contoso", "CN=DigiCert CA", ("mail.contoso.com", "autodiscover.contoso.com"), START, END, frozenset())
    assert Match(subject="CN=mail.contoso.com").selects(c)  # one RDN of the subject
    assert Match(subject="CN=mail.contoso.com, O=Contoso", issuer="*digicert*", domains=("mail.*", "autodiscover.contoso.com")).selects(c)
    assert not Match(subject="CN=mail.contoso.com, O=Fabrikam").selects(c)
    assert not Match(subject="CN=mail.contoso.com", issuer="*Let's Encrypt*").selects(c)
    assert not Match(domains=("mail.contoso.com", "owa.contoso.com")).selects(c)  # every listed name must be covered
    assert Match(domains=("*.contoso.com",)).selects(c) and not Match(domains=("*.fabrikam.com",)).selects(c)


def test_a_match_describes_itself_as_declared():
    assert Match(subject="CN=x").describe() == "subject 'CN=x'"
    assert Match(domains=("a", "b")).describe() == "domains ['a', 'b']"
    assert Match(issuer="*CA*").describe() == "issuer '*CA*'"
    assert Match(subject="CN=x", domains=("a",), issuer="*CA*").describe() == "subject 'CN=x', domains ['a'], issuer '*CA*'"
    ref = FileRef("/srv/mail.pfx", "0123456789abcdef" * 4)
    pfx = Pfx(ref, SecretRef("env", "PW"), Cert("A", "", "", (), None, None, frozenset()), b"")  # type: ignore[arg-type]
    assert CertSpec(pfx=pfx).describe() == "PFX /srv/mail.pfx" and CertSpec().describe() == "import"
    assert pfx.describe() == "/srv/mail.pfx (SHA-256 0123456789ab…)"


@pytest.mark.parametrize("cert_name, fqdn, covered", [
    ("mail.contoso.com", "MAIL.contoso.com.", True),
    ("mail.contoso.com.", "mail.contoso.com", True),
    ("*.contoso.com", "ex01.contoso.com", True),
    ("*.contoso.com", "a.b.contoso.com", False),
    ("*.contoso.com", ".contoso.com", False),
    ("*.contoso.com", "ex01.fabrikam.com", False),
    ("contoso.com", "mail.contoso.com", False),
])
def test_which_certificate_names_cover_a_server(cert_name, fqdn, covered):
    assert covers(cert_name, fqdn) is covered


def test_a_connector_selects_a_certificate_by_issuer_and_subject_whatever_the_spacing_and_case():
    c = Cert("A" * 40, "CN=mail.contoso.com, O=Contoso", "CN=Public CA, O=CA Inc", (), START, END, frozenset())
    assert selected_by("<I>cn=public ca,o=ca inc<S>CN=MAIL.contoso.com,  O=Contoso", c)
    assert not selected_by("<I>CN=Public CA, O=CA Inc<S>CN=other.contoso.com, O=Contoso", c)
    assert not selected_by("<I>CN=Other CA<S>CN=mail.contoso.com, O=Contoso", c)
    assert not selected_by("CN=mail.contoso.com", c) and not selected_by("", c)


# --- PFX files ----------------------------------------------------------------------------------------------------------


def test_a_certificate_read_from_a_pfx_is_named_as_windows_names_it(keys):
    own = make_cert(keys["rsa"], name("mail.contoso.com", "Contoso"), name("Contoso CA", "Contoso"), signer=keys["ca"],
                    sans=("mail.contoso.com", "autodiscover.contoso.com"))
    c = cert_from_x509(own, True)
    assert c == Cert(own.fingerprint(hashes.SHA1()).hex().upper(), "CN=mail.contoso.com, O=Contoso", "CN=Contoso CA, O=Contoso",
                     ("mail.contoso.com", "autodiscover.contoso.com"), START, END, frozenset(), "Valid", False, True, 1024, "sha256ECDSA")
    selfsigned = make_cert(keys["ec"], name("EX01"), name("EX01"), algorithm=hashes.SHA384())
    c = cert_from_x509(selfsigned, False)
    assert (c.self_signed, c.has_key, c.key_size, c.signature, c.domains) == (True, False, 384, "sha384ECDSA", ())
    # Named after the issuer's signature, not the certificate's own key (an ECDSA certificate under an RSA CA).
    rsa_signed = make_cert(keys["ec"], name("x"), name("RSA CA"), signer=keys["rsa"], algorithm=hashes.SHA512())
    assert (cert_from_x509(rsa_signed, True).signature, cert_from_x509(rsa_signed, True).key_size) == ("sha512RSA", 384)
    edwards = make_cert(keys["ed"], name("x"), name("x"), algorithm=None)
    assert (cert_from_x509(edwards, True).signature, cert_from_x509(edwards, True).key_size) == ("", None)


def write_pfx(path, key, cert, cas=(), password: str | None = "Unit-Pw-1"):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    data = pkcs12.serialize_key_and_certificates(b"x", key, cert, list(cas) or None, enc)
    path.write_bytes(data)
    return data


def secret(text: str) -> Secret:
    return Secret("from env PW", lambda: text)


def test_a_pfx_is_described_by_its_path_digest_and_password_source(tmp_path, keys):
    leaf = make_cert(keys["ec"], name("mail.contoso.com"), name("CA"), signer=keys["ca"], sans=("mail.contoso.com",))
    data = write_pfx(tmp_path / "mail.pfx", keys["ec"], leaf)
    got = read_pfx(tmp_path / "mail.pfx", SecretRef("env", "PW"), secret("Unit-Pw-1"))
    ref = FileRef(str((tmp_path / "mail.pfx").resolve()), hashlib.sha256(data).hexdigest())
    assert (got.ref, got.password, got.cert, bytes(got.data), got.data.ref) == (ref, SecretRef("env", "PW"), cert_from_x509(leaf, True), data, ref)


def test_a_pfx_without_a_password_opens(tmp_path, keys):
    leaf = make_cert(keys["ec"], name("x"), name("x"))
    write_pfx(tmp_path / "open.pfx", keys["ec"], leaf, password=None)
    assert read_pfx(tmp_path / "open.pfx", SecretRef("env", "PW"), secret("")).cert.has_key


def test_a_pfx_of_certificates_only_gives_the_server_certificate_not_the_ca(tmp_path, keys):
    ca = make_cert(keys["ca"], name("CA"), name("CA"), ca=True)
    leaf = make_cert(keys["ec"], name("mail.contoso.com"), name("CA"), signer=keys["ca"])
    for order in ((ca, leaf), (leaf, ca)):
        write_pfx(tmp_path / "chain.pfx", None, None, order, password=None)
        got = read_pfx(tmp_path / "chain.pfx", SecretRef("env", "PW"), secret(""))
        assert (got.cert.subject, got.cert.has_key) == ("CN=mail.contoso.com", False)
    write_pfx(tmp_path / "ca.pfx", None, None, (ca,), password=None)
    assert read_pfx(tmp_path / "ca.pfx", SecretRef("env", "PW"), secret("")).cert.subject == "CN=CA"  # nothing but a CA: that one
    write_pfx(tmp_path / "keyca.pfx", keys["ec"], None, (ca,), password=None)
    with pytest.raises(PfxError, match="holds no certificate"):  # a key and its CA, but no certificate of that key
        read_pfx(tmp_path / "keyca.pfx", SecretRef("env", "PW"), secret(""))
    write_pfx(tmp_path / "nokey.pfx", None, leaf, password=None)
    assert read_pfx(tmp_path / "nokey.pfx", SecretRef("env", "PW"), secret("")).cert.subject == "CN=mail.contoso.com"


def test_a_pfx_that_cannot_be_used_says_what_is_wrong_never_the_password(tmp_path, keys):
    def refused(path, text="Unit-Pw-1", ref=SecretRef("env", "PW")):
        with pytest.raises(PfxError) as exc:
            read_pfx(path, ref, secret(text))
        assert text not in str(exc.value) or not text
        return str(exc.value)

    missing = tmp_path / "missing.pfx"
    assert refused(missing) == f"cannot read the PFX {missing}: No such file or directory"
    leaf = make_cert(keys["ec"], name("x"), name("x"))
    write_pfx(tmp_path / "mail.pfx", keys["ec"], leaf)
    assert refused(tmp_path / "mail.pfx", "Wrong-Pw-2") == f"the password from env PW does not open the PFX {tmp_path / 'mail.pfx'}"
    unset = Secret.from_env("EXCONF_UNIT_UNSET_PW")
    with pytest.raises(PfxError) as exc:
        read_pfx(tmp_path / "mail.pfx", SecretRef("env", "EXCONF_UNIT_UNSET_PW"), unset)
    assert str(exc.value).startswith(f"the password of the PFX {tmp_path / 'mail.pfx'}: ")
    write_pfx(tmp_path / "keyonly.pfx", keys["ec"], None, password=None)
    assert refused(tmp_path / "keyonly.pfx", "") == f"the PFX {tmp_path / 'keyonly.pfx'} holds no certificate"


@pytest.mark.parametrize("raw, looks_like_pfx", [
    (b"\x30\x82\x01\x00\x02\x01\x03" + b"\x00" * 20, True),   # long-form length: a PFX with a wrong password
    (b"\x30\x11\x02\x01\x03" + b"\x00" * 17, True),           # short-form length
    (b"\x30\x06\x02\x01\x03\x00\x00\x00", True),              # eight bytes are enough to tell
    (b"\x30\x06\x02\x01\x03\x00\x00", False),
    (b"\x30\x82\x01\x00\x02\x01\x02" + b"\x00" * 20, False),  # version 2: not PKCS#12
    (b"-----BEGIN CERTIFICATE-----\n", False),
])
def test_a_file_that_is_not_pkcs12_is_told_apart_from_a_wrong_password(tmp_path, raw, looks_like_pfx):
    (tmp_path / "x.pfx").write_bytes(raw)
    with pytest.raises(PfxError) as exc:
        read_pfx(tmp_path / "x.pfx", SecretRef("env", "PW"), secret("Unit-Pw-1"))
    wrong_password = f"the password from env PW does not open the PFX {tmp_path / 'x.pfx'}"
    assert str(exc.value) == (wrong_password if looks_like_pfx else f"{tmp_path / 'x.pfx'} is not a PKCS#12 (PFX) file")


def test_one_pfx_is_opened_once_per_file_and_password_and_each_keeps_its_own_reference(tmp_path, keys):
    leaf = make_cert(keys["ec"], name("x"), name("x"))
    write_pfx(tmp_path / "a.pfx", keys["ec"], leaf)
    (tmp_path / "b.pfx").write_bytes((tmp_path / "a.pfx").read_bytes())
    opened = OpenedPfx()
    first = read_pfx(tmp_path / "a.pfx", SecretRef("env", "PW"), secret("Unit-Pw-1"), opened)
    assert read_pfx(tmp_path / "a.pfx", SecretRef("env", "PW"), secret("Unit-Pw-1"), opened) is first
    other_ref = read_pfx(tmp_path / "a.pfx", SecretRef("file", "/pw.txt"), secret("Unit-Pw-1"), opened)
    assert other_ref is not first and other_ref.password == SecretRef("file", "/pw.txt")
    other_file = read_pfx(tmp_path / "b.pfx", SecretRef("env", "PW"), secret("Unit-Pw-1"), opened)
    assert other_file.ref.path == str((tmp_path / "b.pfx").resolve())
    with pytest.raises(PfxError):
        read_pfx(tmp_path / "a.pfx", SecretRef("env", "PW"), secret("Wrong-Pw-2"), opened)  # another password is tried again
