"""The exchange_certificate kind over real WinRM against the lab: PFX imports, SMTP bindings on Edge and
Mailbox servers, renewal of an expiring self-signed certificate, idempotence, and no PFX password anywhere."""

from __future__ import annotations

import re

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exconf.cli import main

from .conftest import EDGE_PASSWORD, PASSWORD, round_trips

PFX_PASSWORD = "Pfx-S3cret-\u00e9t\u00e9-7731"  # non-ASCII: it must survive the payload's encoding
NOW = dt.datetime.now(dt.timezone.utc)


class TestCA:
    """A third-party CA outside the lab: what an administrator receives a PFX from."""

    __test__ = False

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Public CA")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=30))
                     .not_valid_after(NOW + dt.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(self.key, hashes.SHA256()))

    def pfx(self, cn: str, sans: list[str], password: str = PFX_PASSWORD, days: int = 397, key: bool = True) -> tuple[bytes, str]:
        own = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(self.cert.subject).public_key(own.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
                .sign(self.key, hashes.SHA256()))
        data = pkcs12.serialize_key_and_certificates(b"mail", own if key else None, cert, [self.cert],
                                                     serialization.BestAvailableEncryption(password.encode()))
        return data, cert.fingerprint(hashes.SHA1()).hex().upper()


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "certificates": [
        {"subject": "CN=legacy.contoso.lab", "domains": ["legacy.contoso.lab", "ex01.contoso.lab"], "issuer": "self",
         "not_before": "-1800d", "not_after": "+10d", "services": "SMTP"},
        {"subject": "CN=fabrikam.lab", "domains": ["other.fabrikam.lab"]},
        {"subject": "CN=selfie.contoso.lab", "domains": ["selfie.contoso.lab", "ex01.contoso.lab"], "issuer": "self", "not_after": "+400d"},
        {"subject": "CN=weak.contoso.lab", "domains": ["weak.contoso.lab", "ex01.contoso.lab"], "key_size": 1024, "signature_hash": "sha1"},
        {"subject": "CN=old.contoso.lab", "domains": ["old.contoso.lab", "ex01.contoso.lab"], "not_before": "-400d", "not_after": "-1d"},
        {"subject": "CN=soon.contoso.lab", "domains": ["soon.contoso.lab", "ex01.contoso.lab"], "not_before": "-300d", "not_after": "+10d"},
    ]},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "certificates": [
        {"subject": "CN=smtp.contoso.lab, O=Contoso", "domains": ["smtp.contoso.lab", "edge01.contoso.lab"]},
    ]},
]


def inventory_text(exchange_by_host: dict[str, str], common: str = "") -> str:
    """An inventory whose hosts declare the given `exchange:` YAML (already indented by 8)."""
    lines = ["all:", "  vars:", "    ansible_user: CONTOSO\\exadmin", f"    ansible_password: {PASSWORD}"]
    if common:
        lines += ["    exchange:", common.rstrip("\n")]
    lines.append("  hosts:")
    for host, body in exchange_by_host.items():
        lines.append(f"    {host}.contoso.lab:")
        lines.append(f'      ansible_host: "{{{host.upper()}}}"')
        if host.startswith("edge"):
            lines += ["      ansible_user: EDGE01\\Administrator", f"      ansible_password: {EDGE_PASSWORD}"]
        if body:
            lines += ["      exchange:", body.rstrip("\n")]
    return "\n".join(lines) + "\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def certs(lab, server: str) -> dict[str, dict]:
    return {c["Thumbprint"]: c for c in lab.exec(server, "Get-ExchangeCertificate")}


def services(lab, server: str, thumb: str) -> str:
    return str(certs(lab, server)[thumb]["Services"])


def commands(lab) -> dict[str, int]:
    return round_trips(lab)


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


@pytest.fixture
def pfx_env(monkeypatch):
    monkeypatch.setenv("SMTP_PFX_PASSWORD", PFX_PASSWORD)


def write_pfx(lab, ca, name: str, cn: str, sans: list[str], **kw) -> str:
    data, thumb = ca.pfx(cn, sans, **kw)
    (lab.dir / "certs").mkdir(exist_ok=True)
    (lab.dir / "certs" / name).write_bytes(data)
    return thumb


IMPORT_MAIL = """\
        certificates:
          - match: {subject: "CN=mail.contoso.lab", issuer: "*Test Public CA*"}
            services: [SMTP]
            import: {pfx: certs/mail.pfx, password_env: SMTP_PFX_PASSWORD}
"""
BIND_EDGE = """\
        certificates:
          - match: {subject: "CN=smtp.contoso.lab"}
            services: [SMTP]
            default_smtp: true
"""


def every_text(folder: Path) -> str:
    out = []
    for p in folder.rglob("*"):
        if p.is_file():
            out.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(out)


def test_import_and_bind_smtp_on_mailbox_and_edge_in_one_round_trip_each_then_nothing(lab, ca, capsys, pfx_env, tmp_path):
    thumb = write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])
    edge_thumb = next(t for t, c in certs(lab, "EDGE01").items() if c["Subject"].startswith("CN=smtp."))
    inv = lab.inventory(inventory_text({"ex01": IMPORT_MAIL, "edge01": BIND_EDGE}))

    edge_default = by_subject(lab, "EDGE01", "CN=EDGE01")["Thumbprint"]
    ex01_default = default_smtp(lab, "EX01")
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, out + err
    assert f'exchange_certificate "CN=mail.contoso.lab, O=Contoso ({thumb[:8]})" will be created' in out
    assert 'services    = [] -> ["SMTP"]' in out
    assert f'"CN=smtp.contoso.lab, O=Contoso ({edge_thumb[:8]})" will be updated in-place' in out
    # The Edge's default SMTP certificate changes because its declaration says so, and the plan says what follows.
    assert f'default_smtp = "CN=EDGE01 ({edge_default[:8]})" -> "CN=smtp.contoso.lab, O=Contoso ({edge_thumb[:8]})"' in out
    assert "! EDGE01's default SMTP certificate changes: its Edge Subscription stops synchronising" in out
    assert 'from env SMTP_PFX_PASSWORD' in out
    # The Mailbox server's certificate serves SMTP without replacing its default: no -Force, -NetworkServiceAllowed.
    assert "-Services 'None' -Server (this server) -NetworkServiceAllowed" in out
    assert "-Services 'SMTP' -Server (this server) -Force" in out

    before = commands(lab)
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    after = commands(lab)
    # The program: one command to read and one to import + enable + read back, per host. Remote
    # PowerShell (EX01): the read, then Import and Enable (the PFX's own thumbprint) with the read-back
    # in one pipeline, each under -ErrorAction Stop (docs/remote-powershell.md).
    assert {h: after[h] - before.get(h, 0) for h in ("EX01", "EDGE01")} == {"EX01": 2, "EDGE01": 2}
    # On EX01 it carries the server's FQDN, the IMAP4/POP3 X509CertificateName: Exchange shows IMAP and POP too.
    assert services(lab, "EX01", thumb) == "IMAP, POP, SMTP" and default_smtp(lab, "EX01") == ex01_default
    assert services(lab, "EDGE01", edge_thumb) == "SMTP" and default_smtp(lab, "EDGE01") == edge_thumb
    assert "Apply complete: 2 of 2 changes made and verified." in out
    # Exchange's own warning, as Enable-ExchangeCertificate gave it on the Edge, is shown with the change.
    assert "warning: The internal transport certificate attribute for the local Edge Transport server has been updated." in out
    assert out.count("warning: The internal transport certificate") == 1  # the Mailbox server gives none

    code, out2, err2 = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0 and "No changes." in out2, out2 + err2
    assert services(lab, "EX01", thumb) == "IMAP, POP, SMTP"
    for text in (out, err, out2, err2, every_text(lab.dir), every_text(tmp_path)):
        assert "Pfx-S3cret" not in text  # any encoding of it: as typed, JSON-escaped, UTF-16
        assert PFX_PASSWORD.encode("utf-8").hex() not in text and "P\x00f\x00x\x00-\x00S\x003" not in text



def default_smtp(lab, server: str) -> str:
    return lab.exec(server, "Get-TransportService", Identity=server)[0]["InternalTransportCertificateThumbprint"]


def by_subject(lab, server: str, prefix: str) -> dict:
    return next(c for c in certs(lab, server).values() if c["Subject"].startswith(prefix))


def test_renewal_of_an_expiring_self_signed_certificate_is_one_replace(lab, capsys):
    old = by_subject(lab, "EX01", "CN=legacy.")["Thumbprint"]
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=legacy.contoso.lab"}
            services: [SMTP]
            renew: {within_days: 30}
""", "edge01": ""}))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, out + err
    assert f'"CN=legacy.contoso.lab ({old[:8]})" will be replaced' in out
    assert f'thumbprint  = "{old}" -> "(new, known after apply)"' in out
    assert "Plan: 0 to add, 0 to change, 0 to destroy, 1 to replace." in out
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert old not in certs(lab, "EX01")
    new = by_subject(lab, "EX01", "CN=legacy.")
    assert f"changed: [ex01.contoso.lab] exchange_certificate \"CN=legacy.contoso.lab ({old[:8]})\"" in out
    assert f"new thumbprint {new['Thumbprint']}" in out  # the plan could only say "known after apply"
    # SMTP without -Force (it was not the default); IMAP and POP shown by the server's FQDN, which it carries.
    assert new["Services"] == "IMAP, POP, SMTP" and sorted(new["CertificateDomains"]) == ["ex01.contoso.lab", "legacy.contoso.lab"]
    assert dt.datetime.fromisoformat(new["NotAfter"].replace("Z", "+00:00")) > NOW + dt.timedelta(days=4 * 365)
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0 and "No changes." in out, out + err


def test_an_expiring_certificate_in_sync_is_a_warning_in_the_plan(lab, capsys):
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=legacy.contoso.lab"}
            services: [SMTP]
""", "edge01": ""}))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, out + err
    assert "No changes." in out
    # Issued for 10 days when the lab started; read in the same second, or later (X.509 dates are to the second).
    assert "Warning: EX01: certificate CN=legacy.contoso.lab" in out and re.search(r"expires in (9|10) days", out), out


def _set_connector_certificate(lab):
    legacy = by_subject(lab, "EX01", "CN=legacy.")
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default EX01",
             TlsCertificateName=f"<I>{legacy['Issuer']}<S>{legacy['Subject']}")


# (EX01 declaration or EDGE01 declaration, rails, set-up, what the override achieves: (server, subject prefix, services) or an error text)
RAILS = {
    "smtp-certificate-names": ("ex01", '- match: {subject: "CN=fabrikam.lab"}\n  services: [SMTP]', None, ("EX01", "CN=fabrikam.", "SMTP")),
    "iis-self-signed": ("ex01", '- match: {subject: "CN=selfie.contoso.lab"}\n  services: [IIS]', None, ("EX01", "CN=selfie.", "IIS")),
    "certificate-weak-key+certificate-sha1": ("ex01", '- match: {subject: "CN=weak.contoso.lab"}\n  services: [SMTP]', None, ("EX01", "CN=weak.", "SMTP")),
    "certificate-expiring": ("ex01", '- match: {subject: "CN=soon.contoso.lab"}\n  services: [SMTP]', None, ("EX01", "CN=soon.", "SMTP")),
    "certificate-expired": ("ex01", "- thumbprint: {old}\n  services: [SMTP]", None, "expired"),
    "connector-certificate": ("ex01", '- match: {subject: "CN=legacy.contoso.lab"}\n  state: absent', _set_connector_certificate, ("EX01", "CN=legacy.", None)),
    "smtp-certificate-kept+default-smtp-certificate": ("edge01", '- match: {subject: "CN=EDGE01"}\n  state: absent', None,
                                                       "The internal transport certificate cannot be removed"),
}


def _indent(text: str) -> str:
    return "        certificates:\n" + "".join(f"          {line}\n" for line in text.splitlines())


@pytest.mark.parametrize("rails", list(RAILS))
def test_every_rail_refuses_and_its_override_lets_the_change_through(lab, capsys, rails):
    host, declaration, setup, achieved = RAILS[rails]
    if setup:
        setup(lab)
    old = by_subject(lab, "EX01", "CN=old.")["Thumbprint"]
    body = _indent(declaration.replace("{old}", old))
    inv = lab.inventory(inventory_text({"ex01": body if host == "ex01" else "", "edge01": body if host == "edge01" else ""}))
    before = {s: certs(lab, s) for s in ("EX01", "EDGE01")}
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 1, out + err
    for rail in rails.split("+"):
        assert f"[{rail}]" in err and f"--override {rail}" in err, err
    assert {s: certs(lab, s) for s in ("EX01", "EDGE01")} == before  # refused: nothing changed anywhere
    overrides = [a for rail in rails.split("+") for a in ("--override", rail)]
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve", *overrides)
    for rail in rails.split("+"):
        assert f"Overridden [{rail}]" in out
    if isinstance(achieved, str):  # Exchange itself refuses what the rail warned about
        assert code == 2 and achieved in out, out + err
        return
    assert code == 0, out + err
    server, prefix, wanted = achieved
    left = [c for c in certs(lab, server).values() if c["Subject"].startswith(prefix)]
    if wanted is None:
        assert left == []
    else:
        assert left[0]["Services"] == wanted or set(wanted.split(", ")) <= set(left[0]["Services"].split(", "))


def test_one_third_party_certificate_for_smtp_on_edge_and_mailbox_is_refused(lab, ca, capsys, pfx_env):
    thumb = write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab", "edge01.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": IMPORT_MAIL, "edge01": IMPORT_MAIL}))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 1 and "[edge-mailbox-same-certificate]" in err, out + err
    assert thumb not in certs(lab, "EX01") and thumb not in certs(lab, "EDGE01")
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve", "--override", "edge-mailbox-same-certificate")
    assert code == 0, out + err
    assert services(lab, "EX01", thumb) == "IMAP, POP, SMTP" and services(lab, "EDGE01", thumb) == "SMTP"


def test_a_match_that_finds_nothing_fails_the_host_naming_where(lab, capsys):
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=nowhere.contoso.lab"}
            services: [SMTP]
""", "edge01": BIND_EDGE}))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 1
    assert "FAILED: ex01.contoso.lab" in out
    assert "inventory.yaml:10:13: exchange.certificates: match (subject 'CN=nowhere.contoso.lab') selects no valid certificate on EX01" in out


def test_exact_services_converge_when_exchange_shows_imap_pop_by_name(lab, capsys):
    """Enabling IMAP and POP writes the certificate's name into the IMAP4/POP3 settings: Exchange then shows them on
    it whatever else is declared, and SMTP with them (NETWORK SERVICE reads the key). exact must not replace it for
    POP, which a replacement with the same names would show again: it converges at once, and says why."""
    old = by_subject(lab, "EX01", "CN=selfie.")["Thumbprint"]
    lab.exec("EX01", "Enable-ExchangeCertificate", Thumbprint=old, Services="IMAP, POP")
    assert services(lab, "EX01", old) == "IMAP, POP, SMTP"
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=selfie.contoso.lab"}
            services: [IMAP]
            services_mode: exact
""", "edge01": ""}))
    code, out, err = run(capsys, "plan", str(inv), "--detailed-exitcode")
    assert code == 0 and "No changes." in out, out + err
    assert "shows POP because it carries the name POP (selfie.contoso.lab)" in out


def test_exact_services_replace_a_self_signed_certificate_bound_to_more(lab, capsys):
    old = by_subject(lab, "EX01", "CN=selfie.")["Thumbprint"]
    lab.exec("EX01", "Enable-ExchangeCertificate", Thumbprint=old, Services="IIS", DoNotRequireSsl=True, NetworkServiceAllowed=True)
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=selfie.contoso.lab"}
            services: [SMTP]
            services_mode: exact
""", "edge01": ""}))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    # IIS is what is bound to it and a replacement would not be: it goes; IMAP and POP stay (by the server's name).
    assert 'services    = ["IMAP", "POP", "IIS", "SMTP"] -> ["IMAP", "POP", "SMTP"]' in out
    assert old not in certs(lab, "EX01") and by_subject(lab, "EX01", "CN=selfie.")["Services"] == "IMAP, POP, SMTP"
    code, out, err = run(capsys, "plan", str(inv), "--detailed-exitcode")
    assert code == 0 and "No changes." in out, out + err


def test_the_default_smtp_certificate_of_an_edge_is_replaced_first_then_removed_in_one_apply(lab, capsys):
    default = by_subject(lab, "EDGE01", "CN=EDGE01")["Thumbprint"]
    inv = lab.inventory(inventory_text({"ex01": "", "edge01": """\
        certificates:
          - match: {subject: "CN=EDGE01"}
            state: absent
          - match: {subject: "CN=smtp.contoso.lab"}
            services: [SMTP]
            default_smtp: true
"""}))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err  # Exchange refuses to remove the internal transport certificate: the new one took over first
    assert default not in certs(lab, "EDGE01")
    assert by_subject(lab, "EDGE01", "CN=smtp.")["Services"] == "SMTP"


def test_expiry_is_judged_on_the_servers_clock_so_the_lab_clock_rehearses_it(lab, capsys):
    """Over either door the server's clock is read with the answer (the program's [DateTime]::UtcNow, remote
    PowerShell's Date header): moving the lab clock 30 days on makes the 10-day certificate expired."""
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=legacy.contoso.lab"}
            services: [SMTP]
""", "edge01": ""}))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0 and re.search(r"expires in (9|10) days", out), out + err  # the lab's certificates exist from the first read
    lab.server.store.advance_clock(30 * 86400)
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 1 and "selects no valid certificate" in out + err and "legacy.contoso.lab" in out + err, out + err
