"""Exchange certificates in the lab (lab/exchange/certificates.py, x509.py): real X.509 behind
Get/Enable/New/Import/Export/Remove-ExchangeCertificate, as cmdlets.md §2 and §6 describe them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs12

from exconf import remote
from exconf.lab.exchange import certificate_store, stored
from exconf.lab.exchange.certificates import EDGE_RESUBSCRIBE_WARNING, INTERNAL_TRANSPORT_REMOVE, NON_INTERACTIVE
from exconf.lab.exchange.secure import SecureString
from exconf.lab.exchange.store import ConsoleError, LabStore, OrgFileError

from .certificate_helpers import (  # noqa: F401  (ca is a fixture)
    PFX_PASSWORD, ca, lab_store, every_file_text, run, thumbprint
)

ORG = """
organization: {name: Contoso, domain: contoso.lab, netbios: CONTOSO}
accounts: [{user: exadmin, password: "Lab-Passw0rd!"}]
servers:
  - {name: EX01, role: Mailbox, site: Amsterdam, address: 127.67.200.1}
  - {name: EX02, role: Mailbox, site: Amsterdam, address: 127.67.200.2}
  - {name: EX13, role: Mailbox, site: Amsterdam, address: 127.67.200.3, version: 15.0.1497.2}
  - name: EDGE01
    role: Edge
    site: Amsterdam
    address: 127.67.200.4
    fqdn: edge01.dmz.contoso.lab
    local_accounts: [{user: Administrator, password: "Edge-Passw0rd!"}]
    certificates:
      - {subject: "CN=mail.contoso.lab, O=Contoso, C=NL", domains: [mail.contoso.lab, smtp.contoso.lab], not_after: "+20d"}
      - {subject: "CN=weak.contoso.lab", key_size: 1024, signature_hash: sha1, exportable: true, services: SMTP}
      - {subject: "CN=old.contoso.lab", issuer: self, not_before: 2020-01-01, not_after: 2021-01-01}
"""


@pytest.fixture
def store(tmp_path) -> LabStore:
    return lab_store(tmp_path, ORG)


def certs(store: LabStore, server: str, **params) -> list[dict]:
    return store.exec_console(server, "Get-ExchangeCertificate", params)


def by_subject(store: LabStore, server: str) -> dict[str, dict]:
    return {c["Subject"]: c for c in certs(store, server)}


def default_cert(store: LabStore, server: str) -> dict:
    return by_subject(store, server)[f"CN={server}"]


def file_data(out: list[dict]) -> bytes:
    """FileData of a console result: a byte[] serialises as {"exconf_bytes": base64} (contract v2)."""
    return base64.b64decode(out[0]["FileData"]["exconf_bytes"])


def fails(store: LabStore, server: str, cmdlet: str, **params) -> ConsoleError:
    with pytest.raises(ConsoleError) as caught:
        store.exec_console(server, cmdlet, params)
    return caught.value


def import_pfx(store: LabStore, server: str, data: bytes, password: str | None = PFX_PASSWORD, **params) -> dict:
    if password is not None:
        params["Password"] = SecureString(password)
    return store.exec_console(server, "Import-ExchangeCertificate", {"FileData": data, **params})[0]


# --- a fresh install --------------------------------------------------------------------------------------


def test_a_fresh_mailbox_server_has_what_setup_makes(store):
    found = by_subject(store, "EX01")
    assert set(found) == {"CN=EX01", "CN=Microsoft Exchange Server Auth Certificate", "CN=WMSvc-SHA2-EX01"}
    default = found["CN=EX01"]
    assert default["CertificateDomains"] == ["EX01", "ex01.contoso.lab"]
    assert (default["Services"], default["ServicesStringForm"]) == ("IMAP, POP, IIS, SMTP", "IP.WS..")
    assert (default["RootCAType"], default["Status"], default["FriendlyName"]) == ("Registry", "Valid", "Microsoft Exchange")
    assert (default["IsSelfSigned"], default["HasPrivateKey"], default["PrivateKeyExportable"]) == (True, True, False)
    assert default["Identity"] == "ex01.contoso.lab\\" + default["Thumbprint"]
    assert default["Issuer"] == default["Subject"] and default["PublicKeySize"] == 2048
    valid = dt.datetime.fromisoformat(default["NotAfter"]) - dt.datetime.fromisoformat(default["NotBefore"])
    assert dt.timedelta(days=365 * 5) <= valid <= dt.timedelta(days=365 * 5 + 2)
    auth = found["CN=Microsoft Exchange Server Auth Certificate"]
    assert (auth["Services"], auth["RootCAType"], auth["CertificateDomains"]) == ("SMTP", "None", [])
    assert found["CN=WMSvc-SHA2-EX01"]["Services"] == "None"
    # One Auth certificate for the organisation; every server has its own default certificate.
    other = by_subject(store, "EX02")
    assert other["CN=Microsoft Exchange Server Auth Certificate"]["Thumbprint"] == auth["Thumbprint"]
    assert other["CN=EX02"]["Thumbprint"] != default["Thumbprint"]


def test_a_fresh_edge_has_only_the_self_signed_certificate_for_smtp(store):
    default = default_cert(store, "EDGE01")
    assert default["Services"] == "SMTP" and default["CertificateDomains"] == ["EDGE01", "edge01.dmz.contoso.lab"]
    assert "CN=Microsoft Exchange Server Auth Certificate" not in by_subject(store, "EDGE01")


def test_the_thumbprint_is_the_sha1_of_the_der(store):
    auth = by_subject(store, "EX01")["CN=Microsoft Exchange Server Auth Certificate"]  # exportable by design
    out = store.exec_console("EX01", "Export-ExchangeCertificate",
                             {"Thumbprint": auth["Thumbprint"], "BinaryEncoded": True, "Password": SecureString("x")})
    key, cert, _ = pkcs12.load_key_and_certificates(file_data(out), b"x")
    assert key is not None
    assert hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper() == auth["Thumbprint"]
    assert cert.subject.rfc4514_string() == "CN=Microsoft Exchange Server Auth Certificate"


# --- org-file certificates ------------------------------------------------------------------------------------


def test_org_file_certificates_expiring_weak_and_expired(store):
    found = by_subject(store, "EDGE01")
    third = found["CN=mail.contoso.lab, O=Contoso, C=NL"]
    assert third["Issuer"] == "CN=exconf lab Exchange CA, O=exconf lab"
    assert (third["RootCAType"], third["Status"], third["IsSelfSigned"]) == ("ThirdParty", "Valid", False)
    assert third["CertificateDomains"] == ["mail.contoso.lab", "smtp.contoso.lab"]
    left = dt.datetime.fromisoformat(third["NotAfter"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=19) < left <= dt.timedelta(days=20)
    weak = found["CN=weak.contoso.lab"]
    assert (weak["PublicKeySize"], weak["Services"], weak["PrivateKeyExportable"]) == (1024, "SMTP", True)
    assert weak["CertificateDomains"] == ["weak.contoso.lab"]  # the CN when no domains are given
    old = found["CN=old.contoso.lab"]
    assert (old["Status"], old["IsSelfSigned"], old["NotAfter"]) == ("DateInvalid", True, "2021-01-01T00:00:00Z")


def test_the_signature_algorithm_reads_through_a_dotted_select(store):
    steps = [remote.Step("g", "Get-ExchangeCertificate", {},
                         select=("Subject", "SignatureAlgorithm", "SignatureAlgorithm.FriendlyName", "SignatureAlgorithm.Nope"))]
    rows = {o["Subject"]: o for o in run(store, "EDGE01", steps).result("g").objects}
    assert rows["CN=weak.contoso.lab"]["SignatureAlgorithm.FriendlyName"] == "sha1RSA"
    assert rows["CN=EDGE01"]["SignatureAlgorithm.FriendlyName"] == "sha256RSA"
    assert rows["CN=EDGE01"]["SignatureAlgorithm"] == "System.Security.Cryptography.Oid"  # its ToString()
    assert "SignatureAlgorithm.Nope" not in rows["CN=EDGE01"]


def test_a_lab_ca_certificate_really_chains_to_the_lab_ca(store):
    third = by_subject(store, "EDGE01")["CN=weak.contoso.lab"]
    out = store.exec_console("EDGE01", "Export-ExchangeCertificate",
                             {"Thumbprint": third["Thumbprint"], "BinaryEncoded": True, "Password": SecureString("p")})
    _, cert, _ = pkcs12.load_key_and_certificates(file_data(out), b"p")
    ca = x509.load_pem_x509_certificate(store._state.objects[(stored.ORG, certificate_store.ORG_KEY)]["ca"]["cert"].encode())
    assert cert.issuer == ca.subject
    assert cert.signature_hash_algorithm.name == "sha1"
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                           cert.signature_hash_algorithm)  # raises if the signature is not the CA's


@pytest.mark.parametrize("entry, message", [
    ('{subject: "mail.contoso.lab"}', r"certificates\[0\]\.subject: not an X.500 name"),
    ('{subject: "CN=a", domains: ["bad name!"]}', r"certificates\[0\]\.domains\[0\]: expected a DNS name"),
    ('{subject: "CN=a", not_after: "soon"}', r"certificates\[0\]\.not_after: expected an ISO date"),
    ('{subject: "CN=a", key_size: 512}', r"certificates\[0\]\.key_size: expected one of 1024, 2048, 3072, 4096"),
    ('{subject: "CN=a", services: "SMTP, FAX"}', r"certificates\[0\]\.services: expected services among"),
])
def test_org_file_certificate_errors_name_the_place(tmp_path, entry, message):
    org = tmp_path / "org.yaml"
    org.write_text(f"servers:\n  - name: EX01\n    role: Mailbox\n    certificates:\n      - {entry}\n")
    with pytest.raises(OrgFileError, match=r"org\.yaml:\d+:\d+: servers\[0\]\." + message):
        LabStore(org, tmp_path / "state.json")


# --- Get-ExchangeCertificate --------------------------------------------------------------------------------------


def test_get_by_thumbprint_server_and_domain_name(store):
    default = default_cert(store, "EX02")
    assert [c["Identity"] for c in certs(store, "EX01", Thumbprint=default["Thumbprint"], Server="EX02")] == [default["Identity"]]
    assert certs(store, "EX01", Identity=default["Identity"])[0]["Subject"] == "CN=EX02"
    assert certs(store, "EX01", Thumbprint=default["Thumbprint"].lower(), Server="ex02.contoso.lab")[0]["Subject"] == "CN=EX02"
    found = certs(store, "EDGE01", DomainName="smtp.contoso.lab")
    assert [c["Subject"] for c in found] == ["CN=mail.contoso.lab, O=Contoso, C=NL"]


def test_get_of_an_unknown_thumbprint_is_an_error(store):
    error = fails(store, "EX01", "Get-ExchangeCertificate", Thumbprint="00" * 20)
    assert f"The certificate with thumbprint {'00' * 20} was not found." in str(error)
    assert error.record.exception == "ManagementObjectNotFoundException"


# --- Enable-ExchangeCertificate -------------------------------------------------------------------------------------


def test_replacing_the_default_smtp_certificate_without_force_fails_yet_smtp_is_added(store, ca):
    data, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    new = import_pfx(store, "EX01", data)
    assert new["Services"] == "None"
    error = fails(store, "EX01", "Enable-ExchangeCertificate", Thumbprint=new["Thumbprint"], Services="SMTP")
    assert NON_INTERACTIVE in str(error) and error.record.exception == "PSInvalidOperationException"
    assert certs(store, "EX01", Thumbprint=new["Thumbprint"])[0]["Services"] == "SMTP"  # kept, as "No" keeps it
    # The default did not change: the old default is still the one that cannot be removed.
    old = default_cert(store, "EX01")
    assert INTERNAL_TRANSPORT_REMOVE in str(fails(store, "EX01", "Remove-ExchangeCertificate", Thumbprint=old["Thumbprint"], Confirm=False))


def test_the_lab_persists_what_a_failed_enable_changed(store, ca, tmp_path):
    new = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    fails(store, "EX01", "Enable-ExchangeCertificate", Thumbprint=new["Thumbprint"], Services="SMTP")
    again = LabStore(tmp_path / "org.yaml", tmp_path / "state.json")
    assert certs(again, "EX01", Thumbprint=new["Thumbprint"])[0]["Services"] == "SMTP"


@pytest.mark.parametrize("server, warned", [("EDGE01", True), ("EX01", False)])
def test_force_makes_it_the_default_and_only_an_edge_warns_to_resubscribe(store, ca, server, warned):
    new = import_pfx(store, server, ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    warnings: list[str] = []
    store.exec_console(server, "Enable-ExchangeCertificate",
                       {"Thumbprint": new["Thumbprint"], "Services": "SMTP", "Force": True}, warnings)
    assert warnings == ([EDGE_RESUBSCRIBE_WARNING] if warned else [])
    old = default_cert(store, server)
    store.exec_console(server, "Remove-ExchangeCertificate", {"Thumbprint": old["Thumbprint"], "Confirm": False})
    assert old["Thumbprint"] not in [c["Thumbprint"] for c in certs(store, server)]
    assert INTERNAL_TRANSPORT_REMOVE in str(
        fails(store, server, "Remove-ExchangeCertificate", Thumbprint=new["Thumbprint"], Confirm=False))
    again: list[str] = []  # enabling the default again asks nothing and changes nothing
    store.exec_console(server, "Enable-ExchangeCertificate", {"Thumbprint": new["Thumbprint"], "Services": "SMTP"}, again)
    assert again == []


def test_services_are_additive_and_imap_pop_are_refused_on_an_edge(store, ca):
    new = import_pfx(store, "EDGE01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    error = fails(store, "EDGE01", "Enable-ExchangeCertificate", Thumbprint=new["Thumbprint"], Services="IMAP, SMTP", Force=True)
    assert "can't be enabled for IMAP" in str(error)
    assert certs(store, "EDGE01", Thumbprint=new["Thumbprint"])[0]["Services"] == "None"
    mailbox = import_pfx(store, "EX01", ca.pfx("imap.contoso.lab", ["imap.contoso.lab"])[0])
    store.exec_console("EX01", "Enable-ExchangeCertificate", {"Thumbprint": mailbox["Thumbprint"], "Services": "IMAP"})
    store.exec_console("EX01", "Enable-ExchangeCertificate", {"Thumbprint": mailbox["Thumbprint"], "Services": "POP"})
    # IMAP and POP need NETWORK SERVICE to read the key, which shows as SMTP [SRC UpdateServices]; the IMAP and
    # POP names are now this certificate's, so the default certificate no longer shows them.
    assert certs(store, "EX01", Thumbprint=mailbox["Thumbprint"])[0]["Services"] == "IMAP, POP, SMTP"
    assert default_cert(store, "EX01")["Services"] == "IIS, SMTP"
    settings = store.exec_console("EX01", "Get-ImapSettings", {})
    assert [s["X509CertificateName"] for s in settings] == ["imap.contoso.lab"]


def test_iis_needs_do_not_require_ssl_and_moves_from_the_old_certificate(store, ca):
    new = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    error = fails(store, "EX01", "Enable-ExchangeCertificate", Thumbprint=new["Thumbprint"], Services="IIS", Force=True)
    assert NON_INTERACTIVE in str(error)
    assert certs(store, "EX01", Thumbprint=new["Thumbprint"])[0]["Services"] == "None"  # asked before any change
    store.exec_console("EX01", "Enable-ExchangeCertificate",
                       {"Thumbprint": new["Thumbprint"], "Services": "IIS", "DoNotRequireSsl": True})
    assert certs(store, "EX01", Thumbprint=new["Thumbprint"])[0]["Services"] == "IIS"
    # The Default Web Site moved; the Exchange Back End site keeps the self-signed certificate, which therefore
    # still shows IIS (as real servers do: CSS-Exchange's recording of E2k16-1).
    assert default_cert(store, "EX01")["Services"] == "IMAP, POP, IIS, SMTP"


def test_an_expired_or_keyless_certificate_cannot_be_enabled(store, ca):
    old = by_subject(store, "EDGE01")["CN=old.contoso.lab"]
    assert "has expired" in str(fails(store, "EDGE01", "Enable-ExchangeCertificate", Thumbprint=old["Thumbprint"], Services="SMTP"))
    cert, _ = ca.issue("nokey.contoso.lab", ["nokey.contoso.lab"])
    keyless = import_pfx(store, "EX01", cert.public_bytes(serialization.Encoding.DER), password=None)
    assert keyless["HasPrivateKey"] is False
    error = fails(store, "EX01", "Enable-ExchangeCertificate", Thumbprint=keyless["Thumbprint"], Services="SMTP", Force=True)
    assert "has no private key" in str(error)


# --- New-ExchangeCertificate ------------------------------------------------------------------------------------------


def test_new_self_signed_with_the_documented_defaults(store):
    error = fails(store, "EX01", "New-ExchangeCertificate")  # SMTP by default: the overwrite question
    assert NON_INTERACTIVE in str(error)
    created = [c for c in certs(store, "EX01") if c["Subject"] == "CN=EX01" and c["RootCAType"] == "None"]
    assert len(created) == 1 and created[0]["Services"] == "IMAP, POP, SMTP"
    made = store.exec_console("EX01", "New-ExchangeCertificate", {"Force": True})[0]
    assert (made["Subject"], made["CertificateDomains"], made["FriendlyName"]) == ("CN=EX01", ["EX01", "ex01.contoso.lab"], "Microsoft Exchange")
    assert (made["PublicKeySize"], made["PrivateKeyExportable"], made["IsSelfSigned"]) == (2048, False, True)
    assert (made["Services"], made["RootCAType"], made["Status"]) == ("IMAP, POP, SMTP", "None", "Valid")


def test_new_with_names_key_size_and_services(store):
    made = store.exec_console("EDGE01", "New-ExchangeCertificate", {
        "SubjectName": "C=NL, O=Contoso, CN=edge.contoso.lab", "DomainName": ["mx.contoso.lab"], "KeySize": 4096,
        "PrivateKeyExportable": True, "IncludeServerFQDN": True, "FriendlyName": "Edge 2027", "Force": True})[0]
    assert made["Subject"] == "C=NL, O=Contoso, CN=edge.contoso.lab"
    assert made["CertificateDomains"] == ["edge.contoso.lab", "mx.contoso.lab", "edge01.dmz.contoso.lab"]
    assert (made["PublicKeySize"], made["PrivateKeyExportable"], made["Services"]) == (4096, True, "SMTP")
    assert "can't be enabled for IMAP" in str(fails(store, "EDGE01", "New-ExchangeCertificate", Services="IMAP"))
    error = fails(store, "EX01", "New-ExchangeCertificate", KeySize=1000)
    assert "Cannot bind parameter 'KeySize'" in str(error) and "1024, 2048 or 4096" in str(error)


def test_generate_request_is_a_real_pkcs10_that_an_issued_certificate_completes(store, ca):
    out = store.exec_console("EX01", "New-ExchangeCertificate", {
        "GenerateRequest": True, "BinaryEncoded": True, "SubjectName": "CN=mail.contoso.lab",
        "DomainName": ["autodiscover.contoso.lab"], "PrivateKeyExportable": True})
    csr = x509.load_der_x509_csr(file_data(out))
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=mail.contoso.lab"
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["mail.contoso.lab", "autodiscover.contoso.lab"]
    pending = [c for c in certs(store, "EX01") if c["Status"] == "PendingRequest"]
    assert len(pending) == 1 and pending[0]["RootCAType"] == "Unknown"
    assert pending[0]["CertificateRequest"].startswith("-----BEGIN NEW CERTIFICATE REQUEST-----")
    issued, _ = ca.issue("mail.contoso.lab", sans, public_key=csr.public_key())
    done = import_pfx(store, "EX01", ca.p7b(issued), password=None)  # a PKCS#7 answer from the CA
    assert (done["Thumbprint"], done["HasPrivateKey"], done["Status"]) == (thumbprint(issued), True, "Valid")
    assert not [c for c in certs(store, "EX01") if c["Status"] == "PendingRequest"]
    assert done["RootCAType"] == "ThirdParty"


def test_request_file_exists_only_on_exchange_2013(store):
    error = fails(store, "EX01", "New-ExchangeCertificate", GenerateRequest=True, RequestFile="C:\\req.txt")
    assert "A parameter cannot be found that matches parameter name 'RequestFile'." in str(error)


# --- Import / Export / Remove ----------------------------------------------------------------------------------------------


def test_import_a_pfx_with_its_password(store, ca):
    data, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab", "autodiscover.contoso.lab"])
    made = import_pfx(store, "EX01", data, FriendlyName="Contoso 2027")
    assert made["Thumbprint"] == thumbprint(cert)
    assert (made["Subject"], made["Issuer"]) == ("CN=mail.contoso.lab, O=Contoso", "CN=Test Public Root CA")
    assert (made["HasPrivateKey"], made["PrivateKeyExportable"], made["FriendlyName"]) == (True, False, "Contoso 2027")
    assert (made["RootCAType"], made["Status"], made["Services"]) == ("ThirdParty", "Valid", "None")


@pytest.mark.parametrize("data, password, message", [
    ("pfx", "wrong", "The specified network password is not correct."),
    ("pfx", None, "The specified network password is not correct."),
    ("junk", None, "Cannot find the requested object."),
])
def test_import_refuses_a_wrong_password_and_data_that_is_no_certificate(store, ca, data, password, message):
    raw = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0] if data == "pfx" else b"\x30\x03\x02\x01\x05 not a pfx"
    params = {"FileData": raw, **({"Password": SecureString(password)} if password else {})}
    error = fails(store, "EX01", "Import-ExchangeCertificate", **params)
    assert message in str(error) and error.record.exception == "CryptographicException"
    assert "wrong" not in str(error)


def test_import_refuses_a_certificate_the_store_has(store, ca):
    data, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    import_pfx(store, "EX01", data)
    error = fails(store, "EX01", "Import-ExchangeCertificate", FileData=data, Password=SecureString(PFX_PASSWORD))
    assert f"The certificate with thumbprint {thumbprint(cert)} already exists" in str(error)
    assert [c["Thumbprint"] for c in certs(store, "EX01")].count(thumbprint(cert)) == 1


def test_the_password_must_be_a_secure_string_and_is_never_echoed(store, ca):
    data, _ = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    error = fails(store, "EX01", "Import-ExchangeCertificate", FileData=data, Password=PFX_PASSWORD)
    assert "System.Security.SecureString" in str(error) and PFX_PASSWORD not in str(error)


def test_export_only_when_exportable(store, ca):
    default = default_cert(store, "EX01")
    error = fails(store, "EX01", "Export-ExchangeCertificate", Thumbprint=default["Thumbprint"], BinaryEncoded=True)
    assert "isn't exportable" in str(error)
    made = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0], PrivateKeyExportable=True)
    out = store.exec_console("EX01", "Export-ExchangeCertificate", {
        "Thumbprint": made["Thumbprint"], "BinaryEncoded": True, "Password": SecureString("Export-1")})
    key, cert, _ = pkcs12.load_key_and_certificates(file_data(out), b"Export-1")
    assert key is not None and thumbprint(cert) == made["Thumbprint"]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(file_data(out), b"other")


def test_remove_asks_for_confirmation_and_refuses_the_internal_transport_certificate(store, ca):
    made = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    assert NON_INTERACTIVE in str(fails(store, "EX01", "Remove-ExchangeCertificate", Thumbprint=made["Thumbprint"]))
    store.exec_console("EX01", "Remove-ExchangeCertificate", {"Thumbprint": made["Thumbprint"], "Confirm": False})
    assert made["Thumbprint"] not in [c["Thumbprint"] for c in certs(store, "EX01")]
    default = default_cert(store, "EX01")
    error = fails(store, "EX01", "Remove-ExchangeCertificate", Thumbprint=default["Thumbprint"], Confirm=False)
    assert str(error).startswith("Remove-ExchangeCertificate : " + INTERNAL_TRANSPORT_REMOVE)


# --- lab state ------------------------------------------------------------------------------------------------------------


def test_certificates_and_keys_survive_a_restart_and_no_password_is_stored(store, ca, tmp_path):
    made = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0], PrivateKeyExportable=True)
    before = {c["Thumbprint"]: c for c in certs(store, "EX01")}
    again = LabStore(tmp_path / "org.yaml", tmp_path / "state.json")
    assert {c["Thumbprint"]: c for c in certs(again, "EX01")} == before
    out = again.exec_console("EX01", "Export-ExchangeCertificate",
                             {"Thumbprint": made["Thumbprint"], "BinaryEncoded": True, "Password": SecureString("z")})
    assert pkcs12.load_key_and_certificates(file_data(out), b"z")[0] is not None
    text = every_file_text(tmp_path)
    assert PFX_PASSWORD not in text and PFX_PASSWORD.encode("unicode_escape").decode() not in text
    assert re.search(r"BEGIN PRIVATE KEY", text)  # the keys are lab state


def test_stores_are_made_on_first_use_only(store):
    def built():
        return sorted(scope for (scope, key), value in store._state.objects.items() if key == certificate_store.SERVER_KEY and value)

    assert built() == []
    certs(store, "EX02")
    assert built() == ["EX02"]


def test_a_fresh_labs_certificates_share_key_material_but_each_is_its_own(store):
    """docs/lab-certificates.md: one key pair per key size for the certificates a lab starts with; distinct
    certificates (subject, serial, thumbprint); a key New-ExchangeCertificate makes is the server's own."""
    def public_key(server: str, subject: str) -> bytes:
        raw = base64.b64decode(by_subject(store, server)[subject]["RawData"]["exconf_bytes"])
        key = x509.load_der_x509_certificate(raw).public_key()
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    ex01, ex02 = default_cert(store, "EX01"), default_cert(store, "EX02")
    assert ex01["Thumbprint"] != ex02["Thumbprint"] and ex01["SerialNumber"] != ex02["SerialNumber"]
    assert public_key("EX01", "CN=EX01") == public_key("EX02", "CN=EX02") == public_key("EX01", "CN=WMSvc-SHA2-EX01")
    store.exec_console("EX01", "New-ExchangeCertificate", {"SubjectName": "CN=own.contoso.lab", "Services": "None"})
    assert public_key("EX01", "CN=own.contoso.lab") != public_key("EX01", "CN=EX01")
