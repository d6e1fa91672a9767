"""The certificate kind's declarations and reads (modules/exchange_certificate.py): what each entry means once
parsed (and where each key was written), what the inventory refuses before any host, where a PFX and its password
come from, and what is read from a server and how a failed read is named."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exconf.model import Change, Desired, DesiredValue, ObservedObject, SecretRef
from exconf.modules.base import LOCAL_SERVER, ReadError
from exconf.modules.certificate_plan import SERVER_INFO
from exconf.modules.certificate_values import Match, read_pfx
from exconf.modules.exchange_certificate import CONNECTOR, KIND, CertificateKind, CertSpec, pfx_problems, semantic_problems
from exconf.remote import Answer, Secret, Step, StepError, StepResult
from exconf.yamlsource import Location

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Unit-Pfx-Pw-3"


def where_in(file: Path):
    return lambda path: Location(str(file), len(path), sum(len(str(p)) for p in path))


@pytest.fixture(scope="module")
def pfx_file(tmp_path_factory):
    """A PFX of mail.contoso.com with its key (EC: quick to make), beside an inventory file."""
    folder = tmp_path_factory.mktemp("pfx")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unit CA")]))
            .public_key(key.public_key()).serial_number(9).not_valid_before(now).not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.contoso.com")]), critical=False).sign(key, hashes.SHA256()))
    (folder / "certs").mkdir()
    (folder / "certs" / "mail.pfx").write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", key, cert, None, serialization.BestAvailableEncryption(PASSWORD.encode())))
    (folder / "certs" / "mail.pw").write_text(PASSWORD + "\n")
    (folder / "certs" / "mail.pw").chmod(0o600)
    return folder, cert.fingerprint(hashes.SHA1()).hex().upper()


# --- what an entry means --------------------------------------------------------------------------------------------


def test_each_entry_is_parsed_once_with_the_place_of_every_key():
    where = where_in(Path("inv.yaml"))
    declared = [
        {"thumbprint": "ab" * 20, "services": ["SMTP", "IIS"], "services_mode": "exact", "warn_within_days": 10},
        {"match": {"subject": "CN=mail", "domains": ["mail.contoso.com"], "issuer": "*CA*"}, "renew": {"within_days": 30}},
        {"match": {"subject": "CN=old"}, "state": "absent"},
    ]
    first, second, third = CertificateKind().desired(declared, where)
    assert first == Desired(KIND, "thumbprint " + "AB" * 20, (DesiredValue("certificate", first.values[0].value, where((0,))),), where((0,)))
    spec: CertSpec = first.values[0].value
    assert spec == CertSpec(thumbprint="AB" * 20, services=frozenset({"SMTP", "IIS"}), exact=True, warn_days=10)
    assert spec.at == {k: where((0, k)) for k in ("thumbprint", "services", "services_mode", "warn_within_days")}
    assert second.values[0].value == CertSpec(match=Match("CN=mail", ("mail.contoso.com",), "*CA*"), renew_days=30, warn_days=30)
    assert second.pattern == "match subject 'CN=mail', domains ['mail.contoso.com'], issuer '*CA*'"
    assert third.values[0].value == CertSpec(match=Match(subject="CN=old"), absent=True)
    assert CertificateKind().desired(None, where) == () and CertificateKind().desired([], where) == ()


def test_an_import_opens_the_pfx_beside_the_file_that_declares_it_once_for_every_host(pfx_file, monkeypatch):
    folder, thumb = pfx_file
    monkeypatch.setenv("UNIT_PFX_PW", PASSWORD)
    kind = CertificateKind()
    entry = {"import": {"pfx": "certs/mail.pfx", "password_env": "UNIT_PFX_PW"}, "services": ["SMTP"]}
    assert kind.inventory_issues([entry], folder) == []
    (d,) = kind.desired([entry], where_in(folder / "inv.yaml"))
    spec: CertSpec = d.values[0].value
    assert (spec.pfx.cert.thumbprint, spec.pfx.ref.path, spec.pfx.password, spec.pfx_error) == (
        thumb, str(folder / "certs" / "mail.pfx"), SecretRef("env", "UNIT_PFX_PW"), "")
    (again,) = kind.desired([entry], where_in(folder / "host_vars" / ".." / "inv.yaml"))
    assert again.values[0].value.pfx is spec.pfx  # opened once: one PKCS#12 decryption for every host that inherits it
    assert spec.at["import"] == where_in(folder / "inv.yaml")((0, "import"))


def test_a_pfx_declared_relative_to_a_vars_file_is_looked_for_beside_that_file(pfx_file, monkeypatch):
    folder, _ = pfx_file
    monkeypatch.setenv("UNIT_PFX_PW", PASSWORD)
    entry = {"import": {"pfx": "certs/mail.pfx", "password_env": "UNIT_PFX_PW"}}
    (d,) = CertificateKind().desired([entry], where_in(folder / "group_vars" / "all.yaml"))
    assert d.values[0].value.pfx is None
    assert d.values[0].value.pfx_error == f"cannot read the PFX {folder / 'group_vars' / 'certs' / 'mail.pfx'}: No such file or directory"


def test_an_import_that_is_not_the_declared_certificate_keeps_the_first_problem_for_plan_time(pfx_file, monkeypatch):
    folder, thumb = pfx_file
    monkeypatch.setenv("UNIT_PFX_PW", PASSWORD)
    entry = {"thumbprint": "a" * 40, "match": {"subject": "CN=other"}, "import": {"pfx": "certs/mail.pfx", "password_env": "UNIT_PFX_PW"}}
    (d,) = CertificateKind().desired([entry], where_in(folder / "inv.yaml"))
    pfx = d.values[0].value.pfx
    assert d.values[0].value.pfx_error == f"the PFX {pfx.ref.path} holds certificate {thumb}, not the declared thumbprint {'A' * 40}"
    assert pfx_problems(entry, pfx) == [
        (("import", "pfx"), f"the PFX {pfx.ref.path} holds certificate {thumb}, not the declared thumbprint {'A' * 40}"),
        (("import", "pfx"), f"the PFX {pfx.ref.path} holds 'CN=mail.contoso.com' (issuer 'CN=Unit CA', names mail.contoso.com), which the declared "
                            "match (subject 'CN=other') does not select"),
    ]
    assert pfx_problems({"thumbprint": thumb.lower(), "match": {"domains": ["mail.contoso.com"]}}, pfx) == []


def test_a_pfx_without_its_key_cannot_serve_a_service(pfx_file, monkeypatch):
    folder, _ = pfx_file
    monkeypatch.setenv("UNIT_PFX_PW", PASSWORD)
    pfx = read_pfx(folder / "certs" / "mail.pfx", SecretRef("env", "UNIT_PFX_PW"), Secret("x", lambda: PASSWORD))
    keyless = replace(pfx, cert=replace(pfx.cert, has_key=False, domains=()))
    assert pfx_problems({"services": ["SMTP", "IIS"], "match": {"domains": ["x"]}}, keyless) == [
        (("import", "pfx"), f"the PFX {pfx.ref.path} holds 'CN=mail.contoso.com' (issuer 'CN=Unit CA', names none), which the declared match "
                            "(domains ['x']) does not select"),
        (("import", "pfx"), f"the PFX {pfx.ref.path} has no private key: Exchange cannot enable SMTP, IIS on a certificate without one"),
    ]
    assert pfx_problems({}, keyless) == []
    two_names = replace(pfx, cert=replace(pfx.cert, domains=("a.contoso.com", "b.contoso.com")))
    assert pfx_problems({"match": {"domains": ["c.contoso.com"]}}, two_names)[0][1].endswith(
        "holds 'CN=mail.contoso.com' (issuer 'CN=Unit CA', names a.contoso.com, b.contoso.com), which the declared match (domains ['c.contoso.com']) does not select")


@pytest.mark.parametrize("spec, ref", [
    ({"pfx": "c.pfx", "password_env": "PW"}, SecretRef("env", "PW")),
    ({"pfx": "sub/c.pfx", "password_prompt": True}, "prompt"),
    ({"pfx": "c.pfx", "password_file": "pw.txt"}, "file"),
    ({"pfx": "c.pfx", "password_file": "/etc/exconf/pw.txt"}, SecretRef("file", "/etc/exconf/pw.txt")),
])
def test_where_the_pfx_password_comes_from(tmp_path, spec, ref):
    from exconf.modules.exchange_certificate import _password_ref, _pfx_path

    expected = {"prompt": SecretRef("prompt", str((tmp_path / "sub" / "c.pfx").resolve())),
                "file": SecretRef("file", str((tmp_path / "pw.txt").resolve()))}.get(ref, ref) if isinstance(ref, str) else ref
    assert _password_ref(spec, tmp_path) == expected
    assert _pfx_path({"pfx": "/srv/a.pfx"}, tmp_path) == Path("/srv/a.pfx") and _pfx_path({"pfx": "a.pfx"}, tmp_path) == (tmp_path / "a.pfx").resolve()


# --- what the inventory refuses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry, problems", [
    ({"thumbprint": "A" * 40, "match": {"subject": "x"}}, [((), "declare the certificate by thumbprint or by match, not both")]),
    ({"services": ["SMTP"]}, [((), "name the certificate: thumbprint, match, import (a PFX), or request (signed by an issuer)")]),
    ({"match": {"subject": "x"}, "state": "absent", "services": ["SMTP"], "renew": {"within_days": 3}, "services_mode": "exact"}, [
        (("services",), "a certificate with state absent is removed; services does not apply"),
        (("renew",), "a certificate with state absent is removed; renew does not apply"),
        (("services_mode",), "a certificate with state absent is removed; services_mode does not apply")]),
    ({"thumbprint": "A" * 40, "state": "absent", "import": {"pfx": "a.pfx", "password_env": "X"}},
     [(("import",), "a certificate with state absent is removed; import does not apply")]),
    ({"thumbprint": "A" * 40, "renew": {"within_days": 3}}, [(("renew",), "renew needs a match (a renewed certificate has a new thumbprint)")]),
    ({"match": {"subject": "x"}, "renew": {"within_days": 3}, "import": {"pfx": "a.pfx", "password_env": "X"}},
     [(("renew",), "renew makes a new self-signed certificate; an imported one is renewed by importing its successor")]),
    ({"thumbprint": "A" * 40, "services_mode": "exact"}, [(("services_mode",), "services_mode exact needs services")]),
    ({"thumbprint": "A" * 40, "services_mode": "at_least"}, []),
    ({"import": {"pfx": "a.pfx"}}, [(("import",), "give the PFX password as exactly one of password_env, password_file or password_prompt: true "
                                                  "(never in clear)")]),
    ({"import": {"pfx": "a.pfx", "password_env": "X", "password_file": "f", "password_prompt": False}},
     [(("import",), "give the PFX password as exactly one of password_env, password_file or password_prompt: true (never in clear); "
                    "declared: password_env, password_file")]),
    ({"import": {"pfx": "a.pfx", "password_prompt": True}}, []),
])
def test_what_the_schema_cannot_say_about_an_entry(entry, problems):
    assert semantic_problems(entry) == problems


def test_the_inventory_names_each_entrys_problems_by_its_index_and_opens_each_pfx(pfx_file, monkeypatch):
    folder, _ = pfx_file
    monkeypatch.setenv("UNIT_PFX_PW", PASSWORD)
    declared = [
        "not an entry",
        {"services": ["SMTP"]},
        {"thumbprint": "A" * 40, "import": {"pfx": "certs/mail.pfx", "password_env": "UNIT_PFX_PW"}},
        {"import": {"pfx": "certs/missing.pfx", "password_file": "certs/mail.pw"}},
        {"match": {"subject": "x"}, "renew": {"within_days": 3}, "services_mode": "exact"},
        {"import": {"pfx": "certs/mail.pfx", "password_env": "UNIT_PFX_PW", "password_file": "x"}},
    ]
    issues = CertificateKind().inventory_issues(declared, folder)
    assert issues == [
        ((1,), "name the certificate: thumbprint, match, import (a PFX), or request (signed by an issuer)"),
        ((2, "import", "pfx"), f"the PFX {(folder / 'certs' / 'mail.pfx').resolve()} holds certificate {pfx_file[1]}, not the declared thumbprint {'A' * 40}"),
        ((3, "import", "pfx"), f"cannot read the PFX {(folder / 'certs' / 'missing.pfx').resolve()}: No such file or directory"),
        ((4, "services_mode"), "services_mode exact needs services"),
        ((5, "import"), "give the PFX password as exactly one of password_env, password_file or password_prompt: true (never in clear); "
                        "declared: password_env, password_file"),
    ]
    assert CertificateKind().inventory_issues({"not": "a list"}, folder) == []


def test_the_schema_is_the_one_published():
    published = json.loads((ROOT / "docs" / "inventory.schema.json").read_text())["$defs"]["vars"]["properties"]["exchange"]["properties"]
    assert CertificateKind().schema() == published["certificates"]


# --- reading ---------------------------------------------------------------------------------------------------------------


def test_the_certificates_the_connectors_that_present_them_and_what_the_server_binds_are_read_in_one_command():
    """What Get-ExchangeCertificate's Services is computed from is read too: the default SMTP certificate, the IMAP4
    and POP3 certificate names and OAuth's (those three skipped on an Edge, which has none)."""
    assert CertificateKind().read_steps("r:") == [
        Step("r:exchange_certificate", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER},
             select=("Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "Status", "IsSelfSigned",
                     "HasPrivateKey", "PublicKeySize", "SignatureAlgorithm.FriendlyName")),
        Step("r:exchange_certificate:receive", "Get-ReceiveConnector", {"Server": LOCAL_SERVER}, select=("Identity", "Fqdn", "TlsCertificateName")),
        Step("r:exchange_certificate:send", "Get-SendConnector", {}, select=("Identity", "Fqdn", "TlsCertificateName", "SourceTransportServers")),
        Step("r:exchange_certificate:transport", "Get-TransportService", {"Identity": LOCAL_SERVER}, select=("InternalTransportCertificateThumbprint",)),
        Step("r:exchange_certificate:imap", "Get-ImapSettings", {}, select=("X509CertificateName",), skip_on_edge=True),
        Step("r:exchange_certificate:pop", "Get-PopSettings", {}, select=("X509CertificateName",), skip_on_edge=True),
        Step("r:exchange_certificate:auth", "Get-AuthConfig", {}, select=("CurrentCertificateThumbprint", "NextCertificateThumbprint"), skip_on_edge=True),
    ]


def answer(**results) -> Answer:
    ok = {s: StepResult(s, "ok") for s in ("r:exchange_certificate", "r:exchange_certificate:receive", "r:exchange_certificate:send")}
    return Answer("EX01", False, {**ok, **{k.replace("__", ":"): v for k, v in results.items()}})


def test_what_is_observed_each_certificate_by_its_thumbprint_each_connector_by_side_and_the_servers_bindings_and_clock():
    got = CertificateKind().observe(replace(answer(
        r__exchange_certificate=StepResult("r:exchange_certificate", "ok", ({"Thumbprint": "ab" * 20, "Subject": "CN=x"}, {"Subject": "CN=none"})),
        r__exchange_certificate__receive=StepResult("r:exchange_certificate:receive", "ok", ({"Identity": "EX01\\Default", "Fqdn": "ex01"},)),
        r__exchange_certificate__send=StepResult("r:exchange_certificate:send", "ok", ({"Fqdn": "out"},)),
        r__exchange_certificate__transport=StepResult("r:exchange_certificate:transport", "ok", ({"InternalTransportCertificateThumbprint": "CD" * 20},)),
        r__exchange_certificate__imap=StepResult("r:exchange_certificate:imap", "ok", ({"X509CertificateName": "mail.contoso.com"},)),
        r__exchange_certificate__pop=StepResult("r:exchange_certificate:pop", "ok", ({"X509CertificateName": "pop", "Other": 1}, {"X509CertificateName": "two"})),
        r__exchange_certificate__auth=StepResult("r:exchange_certificate:auth", "ok", ({"CurrentCertificateThumbprint": "EF" * 20, "Other": 1},)),
    ), utc_now="2026-01-02T03:04:05Z"), "r:")
    assert got == (
        ObservedObject(KIND, "AB" * 20, "AB" * 20, {"Thumbprint": "ab" * 20, "Subject": "CN=x"}),
        ObservedObject(KIND, "", "", {"Subject": "CN=none"}),
        ObservedObject(CONNECTOR, "EX01\\Default", "receive", {"Identity": "EX01\\Default", "Fqdn": "ex01"}),
        ObservedObject(CONNECTOR, "", "send", {"Fqdn": "out"}),
        ObservedObject(SERVER_INFO, "", "", {  # one row each, only what was selected; two rows are no answer
            "UtcNow": "2026-01-02T03:04:05Z", "transport.InternalTransportCertificateThumbprint": "CD" * 20,
            "imap.X509CertificateName": "mail.contoso.com", "pop.X509CertificateName": None,
            "auth.CurrentCertificateThumbprint": "EF" * 20, "auth.NextCertificateThumbprint": None}),
    )


def test_a_read_back_or_an_edge_observes_only_the_clock_of_what_it_was_not_asked_or_does_not_have():
    from exconf.remote import STATUS_NOT_APPLICABLE

    got = CertificateKind().observe(answer(
        r__exchange_certificate__transport=StepResult("r:exchange_certificate:transport", "ok", ({"InternalTransportCertificateThumbprint": None},)),
        r__exchange_certificate__imap=StepResult("r:exchange_certificate:imap", STATUS_NOT_APPLICABLE),
    ), "r:")
    assert got == (ObservedObject(SERVER_INFO, "", "", {"UtcNow": None, "transport.InternalTransportCertificateThumbprint": None}),)


@pytest.mark.parametrize("step, cmdlet", [
    ("r:exchange_certificate", "Get-ExchangeCertificate"),
    ("r:exchange_certificate:receive", "Get-ReceiveConnector"),
    ("r:exchange_certificate:send", "Get-SendConnector"),
    ("r:exchange_certificate:transport", "Get-TransportService"),
    ("r:exchange_certificate:imap", "Get-ImapSettings"),
    ("r:exchange_certificate:pop", "Get-PopSettings"),
    ("r:exchange_certificate:auth", "Get-AuthConfig"),
])
def test_a_failed_read_names_the_cmdlet_and_why(step, cmdlet):
    with pytest.raises(ReadError) as exc:
        CertificateKind().observe(answer(**{step.replace(":", "__"): StepResult(step, "failed", error=StepError("access denied"))}), "r:")
    assert str(exc.value) == f"{cmdlet} failed: access denied"
    with pytest.raises(ReadError) as exc:
        CertificateKind().observe(answer(**{step.replace(":", "__"): StepResult(step, "not_run")}), "r:")
    assert str(exc.value) == f"{cmdlet} failed: not_run"


def test_the_kind_plans_changes_and_verifies_them_with_the_certificate_planner():
    change = Change("ex01/exchange_certificate/" + "A" * 40, "ex01", KIND, "CN=x (AAAAAAAA)", "A" * 40, "delete", (), "declared absent")
    kind = CertificateKind()
    assert kind.operations(change)[0].steps[0].cmdlet == "Remove-ExchangeCertificate"
    assert kind.verify(change, ()) is None
    assert kind.verify(change, (ObservedObject(KIND, "A" * 40, "A" * 40, {"Thumbprint": "A" * 40, "Subject": "CN=x"}),)) == "CN=x (AAAAAAAA) is still on the server"
    assert CertificateKind().clock().utcoffset() == dt.timedelta(0)  # expiry dates are compared in UTC


def test_an_absolute_password_file_is_kept_as_written(tmp_path):
    from exconf.modules.exchange_certificate import _password_ref

    (tmp_path / "real.pw").write_text("x")
    (tmp_path / "link.pw").symlink_to(tmp_path / "real.pw")
    assert _password_ref({"pfx": "c.pfx", "password_file": str(tmp_path / "link.pw")}, tmp_path / "elsewhere") == SecretRef("file", str(tmp_path / "link.pw"))


def test_a_pfx_checked_when_the_inventory_loads_is_not_decrypted_again_for_the_plan(pfx_file, monkeypatch):
    from exconf.modules import certificate_values

    folder, _ = pfx_file
    monkeypatch.setenv("UNIT_PFX_PW", PASSWORD)
    opened = []
    real = certificate_values.pkcs12.load_key_and_certificates
    monkeypatch.setattr(certificate_values.pkcs12, "load_key_and_certificates", lambda *a: opened.append(1) or real(*a))
    kind = CertificateKind()
    entry = {"import": {"pfx": "certs/mail.pfx", "password_env": "UNIT_PFX_PW"}}
    assert kind.inventory_issues([entry, entry], folder) == []
    kind.desired([entry], where_in(folder / "inv.yaml"))
    assert len(opened) == 1
