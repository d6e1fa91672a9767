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

from exconf.model import Change, Desired, DesiredValue, ObservedObject, PropertyChange, SecretRef
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
    ({"request": {"subject": "CN=x"}, "thumbprint": "A" * 40, "match": {"subject": "x"}, "import": {"pfx": "a.pfx"}, "renew": {"within_days": 3},
      "services_mode": "exact", "state": "present", "services": ["SMTP"], "default_smtp": True}, [
        (("thumbprint",), "a requested certificate is named by its request (subject and names); thumbprint does not apply"),
        (("match",), "a requested certificate is named by its request (subject and names); match does not apply"),
        (("import",), "a requested certificate is named by its request (subject and names); import does not apply"),
        (("renew",), "a requested certificate is named by its request (subject and names); renew does not apply"),
        (("services_mode",), "a requested certificate is named by its request (subject and names); services_mode does not apply"),
        (("state",), "a requested certificate is named by its request (subject and names); state does not apply"),
        (("request",), "a request needs its issuer: issuer: {acme: {...}}")]),
    ({"request": {"subject": "CN=x"}, "issuer": {"acme": {}}, "copy_to": [{"host": "ex02"}]},
     [(("copy_to",), "copy_to exports the certificate with its private key: the request needs exportable: true")]),
    ({"request": {"subject": "CN=x", "exportable": False}, "issuer": {"acme": {}}, "copy_to": [{"host": "ex02"}]},
     [(("copy_to",), "copy_to exports the certificate with its private key: the request needs exportable: true")]),
    ({"request": None, "issuer": {"acme": {}}, "copy_to": [{"host": "ex02"}]},
     [(("copy_to",), "copy_to exports the certificate with its private key: the request needs exportable: true")]),
    ({"request": {"subject": "CN=x", "exportable": True}, "issuer": {"acme": {}}, "copy_to": [{"host": "ex02"}], "renew_within_days": 9}, []),
    ({"request": {"subject": "CN=x"}, "issuer": {"acme": {}}, "copy_to": []}, []),
    ({"thumbprint": "A" * 40, "issuer": {"acme": {}}, "renew_within_days": 9, "copy_to": [{"host": "ex02"}]}, [
        (("issuer",), "issuer applies to a requested certificate (request:)"),
        (("renew_within_days",), "renew_within_days applies to a requested certificate (request:)"),
        (("copy_to",), "copy_to applies to a requested certificate (request:)")]),
    ({"thumbprint": "A" * 40, "state": "absent", "default_smtp": False},
     [(("default_smtp",), "a certificate with state absent is removed; default_smtp does not apply")]),
    ({"thumbprint": "A" * 40, "state": "present", "default_smtp": True, "services": ["IIS", "SMTP"]}, []),
    ({"thumbprint": "A" * 40, "default_smtp": True, "services": ["IIS"]},
     [(("default_smtp",), "the default SMTP certificate serves SMTP: add SMTP to services")]),
    ({"thumbprint": "A" * 40, "default_smtp": True, "services": None},
     [(("default_smtp",), "the default SMTP certificate serves SMTP: add SMTP to services")]),
    ({"thumbprint": "A" * 40, "default_smtp": True}, []),
    ({"thumbprint": "A" * 40, "default_smtp": False, "services": ["IIS"]}, []),
    ({"thumbprint": "A" * 40, "default_smtp": "yes", "services": ["IIS"]}, []),
    ({"match": {"subject": "x"}, "renew": {"within_days": 3}}, []),
    ({"thumbprint": "A" * 40, "import": {"pfx": "a.pfx", "password_file": "f", "password_prompt": True}},
     [(("import",), "give the PFX password as exactly one of password_env, password_file or password_prompt: true (never in clear); "
                    "declared: password_file, password_prompt")]),
    ({"thumbprint": "A" * 40, "import": "a.pfx"}, []),  # the schema says what is wrong with that
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


# --- one binding per server, and what drift --correct may bind again --------------------------------------------------------


def test_two_entries_claiming_a_binding_a_server_has_one_of_are_each_named_with_the_first_entry():
    from exconf.modules.exchange_certificate import binding_conflicts

    declared = [
        {"thumbprint": "A" * 40, "services": ["IIS", "IMAP", "POP", "UM", "UMCallRouter", "SMTP"], "default_smtp": True},
        "not an entry",
        {"thumbprint": "B" * 40, "services": ["IIS", "IMAP", "POP", "UM", "UMCallRouter", "SMTP"], "default_smtp": True},
        {"thumbprint": "C" * 40, "services": ["IIS"], "default_smtp": True, "state": "absent"},  # removed: claims nothing
        {"thumbprint": "D" * 40, "services": ["SMTP"], "default_smtp": False},
        {"thumbprint": "E" * 40, "services": ["IIS"], "state": "present"},
        {"thumbprint": "F" * 40, "default_smtp": "yes"},  # only true claims the default
        {"thumbprint": "0" * 40, "services": None},
    ]
    tail = ": a server has one; each apply would take it from the other. Declare it on one entry"
    assert binding_conflicts(declared) == [
        ((2, "services"), "entries 0 and 2 both declare IIS (the Default Web Site is bound to one certificate)" + tail),
        ((2, "services"), "entries 0 and 2 both declare IMAP (IMAP4 uses the certificate named by one X509CertificateName)" + tail),
        ((2, "services"), "entries 0 and 2 both declare POP (POP3 uses the certificate named by one X509CertificateName)" + tail),
        ((2, "services"), "entries 0 and 2 both declare UM (its service uses one certificate)" + tail),
        ((2, "services"), "entries 0 and 2 both declare UMCallRouter (its service uses one certificate)" + tail),
        ((2, "default_smtp"), "entries 0 and 2 both declare the default SMTP certificate" + tail),
        ((5, "services"), "entries 0 and 5 both declare IIS (the Default Web Site is bound to one certificate)" + tail),
    ]
    assert binding_conflicts([{"services": ["IIS"]}, {"services": ["SMTP"]}, {"default_smtp": True}]) == []


def test_the_inventory_names_binding_conflicts_before_each_entrys_own_problems():
    declared = [{"thumbprint": "A" * 40, "services": ["IIS"]}, {"thumbprint": "B" * 40, "services": ["IIS"], "services_mode": "exact", "copy_to": []}]
    assert CertificateKind().inventory_issues(declared, ROOT) == [
        ((1, "services"), "entries 0 and 1 both declare IIS (the Default Web Site is bound to one certificate): a server has one; each apply would "
                          "take it from the other. Declare it on one entry"),
        ((1, "copy_to"), "copy_to applies to a requested certificate (request:)"),
    ]


def services(before, after, action="update", prop="services"):
    return Change("ex01/exchange_certificate/x", "ex01", KIND, "x", "x", action,
                  (PropertyChange(prop, "", before, after, None, Location("inv.yaml", 1, 1)),), "r")


@pytest.mark.parametrize("change, correctable", [
    (services(["IIS"], ["IIS", "IMAP"]), True),
    (services(["IIS"], ("IIS", "POP")), True),
    (services("None", "IIS"), True),
    (services(["SMTP"], ["SMTP", "IIS"]), True),  # SMTP already bound: binding it again changes no default
    (services(("SMTP",), ("SMTP", "IIS")), True),
    (services("SMTP", "SMTP"), True),
    (services(["IIS"], ["IIS", "SMTP"]), False),  # binding SMTP replaces the default SMTP certificate
    (services(("IIS",), ("IIS", "SMTP")), False),
    (services("IIS", "SMTP"), False),
    (services([], "SMTP"), False),
    (services(["IIS"], ["IIS", "IMAP"], action="create"), False),
    (services(["IIS"], ["IIS", "IMAP"], action="replace"), False),
    (services(["IIS"], ["IIS", "IMAP"], prop="certificate"), False),
    (replace(services(["IIS"], ["IIS", "IMAP"]), properties=()), True),
    (replace(services(["IIS"], ["IIS", "IMAP"]), properties=(services(["IIS"], ["IIS", "IMAP"]).properties[0],
                                                             services("a", "b", prop="subject").properties[0])), False),
    (replace(services(["IIS"], ["IIS", "IMAP"]), properties=(services(["IIS"], ["IIS", "IMAP"]).properties[0],
                                                             services(["POP"], ["POP", "SMTP"]).properties[0])), False),
])
def test_drift_correct_only_binds_services_again_and_never_smtp_anew(change, correctable):
    drift = CertificateKind().drift
    assert drift.correctable(change) is correctable
    assert (drift.severity, drift.audit_cmdlets) == (
        "high", ("Import-ExchangeCertificate", "Enable-ExchangeCertificate", "New-ExchangeCertificate", "Remove-ExchangeCertificate"))


# --- a saved plan's prompted PFX passwords, asked before any host --------------------------------------------------------------


@pytest.fixture
def typed(monkeypatch):
    """The prompt's injectable input: records each prompt, answers from a list; forgets the answers afterwards."""
    from exconf.controllerfiles import PROMPTS

    asked: list[str] = []
    answers: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(PROMPTS, "ask", ask)
    PROMPTS.forget()
    yield asked, answers
    PROMPTS.forget()


def review_doc(*commands_per_op):
    """A reviewed plan (as planfile keeps it): one change per operation list given."""
    return {"changes": [{"operations": [{"commands": list(cmds)} for cmds in ops]} for ops in commands_per_op]}


def imports(path, name=None, origin="prompt"):
    return {"cmdlet": "Import-ExchangeCertificate", "parameters": {
        "FileData": {"file": str(path), "sha256": "0" * 64},
        "Password": {"secret": "typed at a prompt", "origin": origin, "name": str(path if name is None else name)}}}


def test_a_saved_plan_asks_each_prompted_pfx_password_once_and_tries_it(pfx_file, typed, tmp_path):
    from exconf.modules.exchange_certificate import pfx_problems_of_review

    folder, _ = pfx_file
    asked, answers = typed
    pfx, copy = folder / "certs" / "mail.pfx", tmp_path / "copy.pfx"
    copy.write_bytes(pfx.read_bytes())
    answers += [PASSWORD, PASSWORD]
    enable = {"cmdlet": "Enable-ExchangeCertificate", "parameters": {"Services": "SMTP"}}
    doc = review_doc([[imports(pfx)], [imports(pfx)], []], [[enable, imports(copy)]])
    doc["changes"][0]["operations"].append({"role": "no commands"})
    assert pfx_problems_of_review(doc) == []
    assert asked == [f"Password for the PFX {pfx}: ", f"Password for the PFX {copy}: "]


def test_a_saved_plans_pfx_that_the_typed_password_does_not_open_is_named_once_per_file(pfx_file, typed, tmp_path):
    from exconf.modules.exchange_certificate import pfx_problems_of_review

    folder, _ = pfx_file
    asked, answers = typed
    pfx, gone = folder / "certs" / "mail.pfx", tmp_path / "gone.pfx"
    answers += ["typo", "other"]
    doc = review_doc([[imports(pfx, name="the mail PFX")], [imports(pfx, name="the mail PFX"), imports(gone)]])
    assert pfx_problems_of_review(doc) == [
        f"the password typed at a prompt does not open the PFX {pfx}",
        f"cannot read the PFX {gone}: No such file or directory",
    ]
    assert asked == ["Password for the PFX the mail PFX: "]  # a file that cannot be read is not asked for


def test_a_saved_plan_asks_for_no_password_it_does_not_type_at_a_prompt(pfx_file, typed):
    from exconf.modules.exchange_certificate import pfx_problems_of_review

    folder, _ = pfx_file
    asked, _ = typed
    pfx = folder / "certs" / "mail.pfx"
    env = imports(pfx, origin="env")
    no_password = {"parameters": {"FileData": {"file": str(pfx)}}}
    no_data = {"parameters": {"FileData": "(sensitive)", "Password": imports(pfx)["parameters"]["Password"]}}
    text_password = {"parameters": {"FileData": {"file": str(pfx)}, "Password": "(sensitive)"}}
    no_origin = {"parameters": {"FileData": {"file": str(pfx)}, "Password": {"name": str(pfx)}}}
    assert pfx_problems_of_review(review_doc([[env, no_password, no_data, text_password, no_origin, {}]], [[]])) == []
    assert pfx_problems_of_review({"changes": [{}]}) == [] and pfx_problems_of_review({}) == []
    assert asked == []


# --- requested certificates: what the inventory refuses and what an entry means ----------------------------------------------


def test_a_requests_subject_and_names_are_checked_with_its_issuer_when_the_inventory_loads(tmp_path):
    declared = [
        {"request": {"subject": "mail.contoso.com", "domains": ["*.contoso.com"]}, "issuer": {"acme": {"directory": "https://ca/dir",
                                                                                                     "account_key": "keys/acme.pem"}}},
        {"request": {"subject": "O=Contoso"}, "issuer": {"acme": {"directory": "https://ca/dir"}}},
        {"request": {"subject": "cn=*.contoso.com;o=Contoso"}, "issuer": {"acme": {"directory": "https://ca/dir"}}},
        {"request": {"subject": "CN=mail.contoso.com", "domains": ["*.fabrikam.com"]}, "issuer": {"acme": {"directory": "https://ca/dir"}}},
        {"request": {"subject": "x"}},  # no issuer: semantic_problems says so, nothing else is judged
        {"request": "CN=x", "issuer": {"acme": {"directory": "https://ca/dir"}}},
        {"request": {"domains": ["mail.contoso.com"]}, "issuer": {"acme": {"directory": "https://ca/dir"}}},
    ]
    assert CertificateKind().inventory_issues(declared, tmp_path) == [
        ((0, "request", "subject"), "'mail.contoso.com' is not an X.500 name (e.g. CN=mail.contoso.com)"),
        ((0, "issuer", "acme", "challenge"), "*.contoso.com: a wildcard name is proved only with dns-01 (RFC 8555 §7.1.3)"),
        ((0, "issuer", "acme", "account_key"), f"cannot read the account key {tmp_path / 'keys' / 'acme.pem'}: No such file or directory"),
        ((1, "request"), "the request names no host: give a subject CN or domains"),
        ((2, "issuer", "acme", "challenge"), "*.contoso.com: a wildcard name is proved only with dns-01 (RFC 8555 §7.1.3)"),
        ((3, "issuer", "acme", "challenge"), "*.fabrikam.com: a wildcard name is proved only with dns-01 (RFC 8555 §7.1.3)"),
        ((4, "request"), "a request needs its issuer: issuer: {acme: {...}}"),
        ((6, "request", "subject"), "None is not an X.500 name (e.g. CN=mail.contoso.com)"),
    ]


def test_a_requested_entry_means_its_request_issuer_copies_and_renewal(tmp_path):
    from exconf.modules.certificate_issuers import parse_issuer
    from exconf.modules.certificate_values import CopySpec, RequestSpec

    issuer = {"acme": {"directory": "https://ca/dir", "account_key": "keys/acme.pem"}}
    declared = [
        {"request": {"subject": "cn=mail.contoso.com;o=Contoso", "domains": ["autodiscover.contoso.com", 7], "key_size": 4096, "exportable": True},
         "issuer": issuer, "renew_within_days": 20, "copy_to": [{"host": "ex02", "services": ["IIS", "SMTP"]}, {"host": "ex03"}], "default_smtp": True},
        {"request": {"subject": "CN=relay.contoso.com"}, "issuer": "not a mapping", "services": ["SMTP"], "default_smtp": False},
    ]
    first, second = CertificateKind().desired(declared, where_in(tmp_path / "group_vars" / "all.yaml"))
    spec: CertSpec = first.values[0].value
    assert spec == CertSpec(request=RequestSpec("CN=mail.contoso.com, O=Contoso", ("autodiscover.contoso.com", "7"), 4096, True),
                            issuer=parse_issuer(issuer, tmp_path / "group_vars"), renew_within=20,
                            copy_to=(CopySpec("ex02", frozenset({"IIS", "SMTP"})), CopySpec("ex03", frozenset())), default_smtp=True)
    assert spec.issuer.account_key == str(tmp_path / "group_vars" / "keys" / "acme.pem")
    assert second.values[0].value == CertSpec(request=RequestSpec("CN=relay.contoso.com", (), 2048, False), services=frozenset({"SMTP"}),
                                              default_smtp=False)
    assert (second.values[0].value.renew_within, second.values[0].value.copy_to, second.values[0].value.issuer) == (30, (), None)


# --- a PFX whose password is typed: opened only when a plan needs it ------------------------------------------------------------


def test_a_prompted_pfx_is_left_closed_at_load_and_opened_when_a_plan_needs_it(pfx_file, typed):
    folder, thumb = pfx_file
    asked, answers = typed
    entry = {"import": {"pfx": "certs/mail.pfx", "password_prompt": True}}
    where = where_in(folder / "inv.yaml")
    kind = CertificateKind()
    (lazy,) = kind.desired([entry], where)
    spec: CertSpec = lazy.values[0].value
    assert (spec.pfx, spec.pfx_error, spec.source.base, asked) == (None, "", folder, [])
    assert CertificateKind(opens_pfx=False)._opened_now(lazy) is lazy  # drift never imports: never asks
    answers += ["typo"]
    wrong = kind._opened_now(lazy).values[0].value
    assert (wrong.pfx, wrong.pfx_error) == (None, f"the password typed at a prompt does not open the PFX {folder / 'certs' / 'mail.pfx'} ({where((0, 'import'))})")
    assert kind._opened_now(replace(lazy, values=(replace(lazy.values[0], value=wrong),))).values[0].value is wrong  # its problem is kept
    unplaced = replace(lazy, values=(replace(lazy.values[0], value=replace(spec, at={})),))
    assert kind._opened_now(unplaced).values[0].value.pfx_error.endswith(f" ({where((0,))})")  # no place of import: the entry's
    PROMPTS_forget()
    answers += [PASSWORD]
    opened = kind._opened_now(lazy)
    assert (opened.values[0].value.pfx.cert.thumbprint, opened.values[0].value.pfx_error) == (thumb, "")
    assert (opened.pattern, opened.source, opened.values[0].source) == (lazy.pattern, lazy.source, lazy.values[0].source)
    assert kind._opened_now(opened) is opened
    assert kind._opened_now(lazy).values[0].value.pfx is opened.values[0].value.pfx  # one decryption per file and password
    assert asked == [f"Password for the PFX {folder / 'certs' / 'mail.pfx'}: "] * 2


def PROMPTS_forget():
    from exconf.controllerfiles import PROMPTS

    PROMPTS.forget()


def test_a_password_file_is_at_hand_when_it_is_there_beside_the_declaring_file(tmp_path, monkeypatch):
    from exconf.modules.exchange_certificate import password_at_hand

    (tmp_path / "pw.txt").write_text("x")
    monkeypatch.setenv("UNIT_AT_HAND", "x")
    monkeypatch.delenv("UNIT_NOT_SET", raising=False)
    assert password_at_hand({"password_file": "pw.txt"}, tmp_path) is True
    assert password_at_hand({"password_file": str(tmp_path / "pw.txt")}, tmp_path / "elsewhere") is True
    assert password_at_hand({"password_file": "pw.txt"}, tmp_path / "elsewhere") is False
    assert password_at_hand({"password_file": str(tmp_path / "gone.txt")}, tmp_path) is False
    assert password_at_hand({"password_env": "UNIT_AT_HAND"}, tmp_path) is True and password_at_hand({"password_env": "UNIT_NOT_SET"}, tmp_path) is False
    assert password_at_hand({"password_prompt": True}, tmp_path) is False


def test_a_file_that_is_no_pfx_is_named_before_its_password_is_asked(tmp_path):
    from exconf.modules.exchange_certificate import pfx_shape_problem

    (tmp_path / "a.pfx").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert pfx_shape_problem({"pfx": "a.pfx"}, tmp_path) == f"{tmp_path / 'a.pfx'} is not a PKCS#12 (PFX) file"


def test_a_requested_certificates_operations_are_verified_noted_resolved_and_run_by_the_request_module(monkeypatch):
    """The kind routes a request's operations to certificate_requests and every other one to the certificate planner,
    passing each what it was given (and the kind's clock)."""
    from exconf.model import Operation
    from exconf.modules import certificate_requests, exchange_certificate
    from exconf.modules.certificate_values import RequestSpec

    calls = []
    for module, name in ((certificate_requests, "verify"), (certificate_requests, "applied_note"), (certificate_requests, "resolve"),
                         (certificate_requests, "run_on_controller"), (exchange_certificate, "verify_change"), (exchange_certificate, "applied_note"),
                         (exchange_certificate, "resolve_from_operations")):
        monkeypatch.setattr(module, name, lambda *args, _n=f"{module.__name__.rsplit('.', 1)[1]}.{name}": calls.append((_n, args)) or _n)
    clock = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    kind = CertificateKind(clock=lambda: clock)
    work = certificate_requests.RequestWork(RequestSpec("CN=x", ()), None, frozenset(), False)
    requested = Change("ex01/exchange_certificate/r", "ex01", KIND, "r", "", "create", (), "r", payload=work)
    plain = replace(requested, payload=None)
    op, back, carried = Operation("ex01/op", "ex01", requested.id, (), role="import"), (ObservedObject(KIND, "A", "A", {}),), {("a", "b"): 1}
    challenge = replace(op, role=certificate_requests.CHALLENGE)
    unchallenge = replace(op, role=certificate_requests.UNCHALLENGE)
    assert [kind.verify_operation(op, requested, back), kind.verify_operation(op, plain, back), kind.applied_note(op, requested, back),
            kind.applied_note(op, plain, back), kind.resolve(challenge, carried), kind.resolve(unchallenge, carried), kind.resolve(op, carried),
            kind.run_on_controller(op, requested, carried)] == [
        "certificate_requests.verify", "exchange_certificate.verify_change", "certificate_requests.applied_note", "exchange_certificate.applied_note",
        "certificate_requests.resolve", "certificate_requests.resolve", "exchange_certificate.resolve_from_operations",
        "certificate_requests.run_on_controller"]
    assert calls == [
        ("certificate_requests.verify", (op, requested, back, clock)), ("exchange_certificate.verify_change", (plain, back)),
        ("certificate_requests.applied_note", (op, requested, back)), ("exchange_certificate.applied_note", (plain, back)),
        ("certificate_requests.resolve", (challenge, carried)), ("certificate_requests.resolve", (unchallenge, carried)),
        ("exchange_certificate.resolve_from_operations", (op, carried)), ("certificate_requests.run_on_controller", (op, requested, carried)),
    ]
