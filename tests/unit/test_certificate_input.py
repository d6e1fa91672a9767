"""Bad certificate declarations are inventory errors naming file:line:column and what is wrong, before any host is
contacted: a PFX that is not PKCS#12, a wrong password, a PFX that is not the declared certificate, no private key,
an unknown service, keys that exclude each other. A password that is not at hand (a variable not set, one typed at
a prompt) is needed only by a command that imports the PFX, for a host that does: its problems are that host's,
when it is planned, with where it was declared; drift never needs it."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exconf.inventory import InventoryError, load

PASSWORD = "Unit-Pfx-Pw-1"
NOW = dt.datetime.now(dt.timezone.utc)


def make_pfx(cn: str = "mail.contoso.com", sans=("mail.contoso.com",), key: bool = True, password: str = PASSWORD) -> tuple[bytes, str]:
    own = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unit CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(own.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
            .sign(own, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(b"x", own if key else None, cert, None, serialization.BestAvailableEncryption(password.encode()))
    return data, cert.fingerprint(hashes.SHA1()).hex().upper()


@pytest.fixture(scope="module")
def pfx() -> tuple[bytes, str]:
    return make_pfx()


def inventory(entry: str) -> str:
    body = "".join(f"          {line}\n" for line in entry.strip("\n").splitlines())
    return "all:\n  vars:\n    exchange:\n      certificates:\n" + body + "  hosts:\n    ex01.contoso.com:\n"


def problems(write, tmp_path, entry: str, files: dict[str, bytes] | None = None) -> str:
    for name, data in (files or {}).items():
        (tmp_path / name).write_bytes(data)
    path = write({"inv.yaml": inventory(entry)})
    with pytest.raises(InventoryError) as caught:
        load(path)
    return str(caught.value)


def test_a_file_that_is_not_pkcs12(write, tmp_path, monkeypatch):
    monkeypatch.setenv("PFX_PW", PASSWORD)
    text = problems(write, tmp_path, "- import: {pfx: mail.pfx, password_env: PFX_PW}\n  services: [SMTP]", {"mail.pfx": b"-----BEGIN CERTIFICATE-----\n"})
    assert "inv.yaml:5:" in text and "exchange.certificates[0].import.pfx" in text and "is not a PKCS#12 (PFX) file" in text


def test_a_wrong_password_names_its_source_not_its_value(write, tmp_path, monkeypatch, pfx):
    monkeypatch.setenv("PFX_PW", "Wrong-Password-9")
    text = problems(write, tmp_path, "- import: {pfx: mail.pfx, password_env: PFX_PW}", {"mail.pfx": pfx[0]})
    assert "the password from env PFX_PW does not open the PFX" in text and "Wrong-Password-9" not in text


def planned(path, kind=None):
    """Load, parse and plan the certificate kind of the first host against an empty store."""
    from exconf.desired import parse
    from exconf.model import ServerFacts
    from exconf.modules import EXCHANGE_CERTIFICATE
    from exconf.modules.base import PlanContext

    inv = load(path)
    desired = parse(inv)
    ctx = PlanContext(inv.hosts[0].name, ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam"), "EX01")
    return (kind or EXCHANGE_CERTIFICATE).plan(desired.hosts[inv.hosts[0].name], (), ctx)


def test_a_password_variable_that_is_not_set_is_needed_only_to_import(write, tmp_path, monkeypatch, pfx):
    monkeypatch.delenv("PFX_UNSET", raising=False)
    (tmp_path / "mail.pfx").write_bytes(pfx[0])
    path = write({"inv.yaml": inventory('- match: {subject: "CN=mail.contoso.com"}\n  import: {pfx: mail.pfx, password_env: PFX_UNSET}')})
    result = planned(path)  # the inventory loads; the plan of a host that imports it says what is missing, and where
    assert "the environment variable PFX_UNSET is not set" in result.problems[0] and "inv.yaml:5:" in result.problems[0]
    from dataclasses import replace

    from exconf.modules import EXCHANGE_CERTIFICATE

    drift = planned(path, replace(EXCHANGE_CERTIFICATE, opens_pfx=False))  # a command that imports nothing
    assert not drift.problems and not drift.changes
    (finding,) = drift.findings
    assert finding.status.value == "change" and "it would be imported from the PFX mail.pfx (not opened" in finding.message


def test_a_password_file_beside_the_inventory_opens_it(write, tmp_path, pfx):
    (tmp_path / "mail.pfx").write_bytes(pfx[0])
    (tmp_path / "mail.pw").write_text(PASSWORD + "\n")
    inv = load(write({"inv.yaml": inventory("- import: {pfx: mail.pfx, password_file: mail.pw}\n  services: [SMTP]")}))
    assert inv.hosts[0].vars["exchange"]["certificates"][0]["import"]["pfx"] == "mail.pfx"


def test_a_pfx_that_is_not_the_declared_certificate(write, tmp_path, monkeypatch, pfx):
    monkeypatch.setenv("PFX_PW", PASSWORD)
    wrong = "A" * 40
    text = problems(write, tmp_path, f"- thumbprint: {wrong}\n  import: {{pfx: mail.pfx, password_env: PFX_PW}}", {"mail.pfx": pfx[0]})
    assert f"holds certificate {pfx[1]}, not the declared thumbprint {wrong}" in text
    text = problems(write, tmp_path, '- match: {subject: "CN=smtp.contoso.com"}\n  import: {pfx: mail.pfx, password_env: PFX_PW}', {"mail.pfx": pfx[0]})
    assert "holds 'CN=mail.contoso.com'" in text and "which the declared match (subject 'CN=smtp.contoso.com') does not select" in text


def test_no_private_key_for_smtp(write, tmp_path, monkeypatch):
    monkeypatch.setenv("PFX_PW", PASSWORD)
    data, _ = make_pfx(key=False)
    text = problems(write, tmp_path, "- import: {pfx: nokey.pfx, password_env: PFX_PW}\n  services: [SMTP]", {"nokey.pfx": data})
    assert "has no private key: Exchange cannot enable SMTP on a certificate without one" in text


def test_an_unknown_service_and_a_password_in_clear(write, tmp_path):
    text = problems(write, tmp_path, '- match: {subject: "CN=x"}\n  services: [SMPT]')
    assert "exchange.certificates[0].services[0]: expected one of IMAP, POP, UM, IIS, SMTP, Federation, UMCallRouter, found 'SMPT'" in text
    text = problems(write, tmp_path, "- import: {pfx: a.pfx, password: hunter2}")
    assert "unknown key 'password'" in text


@pytest.mark.parametrize("entry, message", [
    ('- thumbprint: "' + "B" * 40 + '"\n  match: {subject: "CN=x"}', "by thumbprint or by match, not both"),
    ("- services: [SMTP]", "name the certificate: thumbprint, match, import (a PFX), or request"),
    ('- thumbprint: "' + "B" * 40 + '"\n  renew: {within_days: 30}', "renew needs a match"),
    ('- match: {subject: "CN=x"}\n  state: absent\n  services: [SMTP]', "state absent is removed; services does not apply"),
    ('- match: {subject: "CN=x"}\n  services_mode: exact', "services_mode exact needs services"),
    ("- import: {pfx: a.pfx, password_env: A, password_file: b}", "exactly one of password_env, password_file or password_prompt: true (never in clear); declared: password_env, password_file"),
    ("- import: {pfx: a.pfx, password_prompt: true, password_env: A}", "exactly one of password_env, password_file or password_prompt: true (never in clear); declared: password_env, password_prompt"),
    ("- import: {pfx: a.pfx}", "password_prompt: true (never in clear)"),
    ("- import: {pfx: a.pfx, password_prompt: false}", "password_prompt: true (never in clear)"),
    ("- thumbprint: ABC", "expected a string matching ^[0-9A-Fa-f]{40}$"),
])
def test_keys_that_exclude_or_need_each_other(write, tmp_path, entry, message):
    text = problems(write, tmp_path, entry)
    assert message in text and "inv.yaml:" in text


def test_a_pfx_is_opened_once_per_file_and_password(tmp_path, pfx):
    from exconf.model import SecretRef
    from exconf.modules.certificate_values import OpenedPfx, PfxError, read_pfx
    from exconf.remote import Secret

    path = tmp_path / "mail.pfx"
    path.write_bytes(pfx[0])
    ref, opened = SecretRef("env", "X"), OpenedPfx()
    first = read_pfx(path, ref, Secret.from_value(PASSWORD), opened)
    assert read_pfx(path, ref, Secret.from_value(PASSWORD), opened) is first  # one PKCS#12 decryption for many hosts
    with pytest.raises(PfxError, match="does not open"):
        read_pfx(path, ref, Secret.from_value("another"), opened)  # a different password is tried again, and fails
    path.write_bytes(make_pfx()[0])
    assert read_pfx(path, ref, Secret.from_value(PASSWORD), opened).cert.thumbprint != first.cert.thumbprint


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


def test_a_prompted_password_is_asked_once_per_pfx_file_and_opens_it(write, tmp_path, pfx, typed):
    asked, answers = typed
    answers += [PASSWORD]
    (tmp_path / "mail.pfx").write_bytes(pfx[0])
    entry = "- import: {pfx: mail.pfx, password_prompt: true}\n  services: [SMTP]"
    text = inventory(entry).replace("  hosts:\n    ex01.contoso.com:\n", "  hosts:\n    ex01.contoso.com:\n    ex02.contoso.com:\n")
    path = write({"inv.yaml": text})
    inv = load(path)
    from exconf.desired import parse
    from exconf.model import ServerFacts
    from exconf.modules import EXCHANGE_CERTIFICATE
    from exconf.modules.base import PlanContext

    desired = parse(inv)
    assert asked == []  # loading asks nothing: only a command that imports it, for a host that does
    for host in ("ex01.contoso.com", "ex02.contoso.com"):  # both hosts' plans open the same PFX: no second prompt
        ctx = PlanContext(host, ServerFacts(host[:4].upper(), host, "Mailbox", "15.2.1544.4", "Amsterdam"), host)
        (change,) = EXCHANGE_CERTIFICATE.plan(desired.hosts[host], (), ctx).changes
        assert change.identity == pfx[1] and change.payload.password.ref.origin == "prompt"
    assert asked == [f"Password for the PFX {(tmp_path / 'mail.pfx').resolve()}: "]
    assert PASSWORD not in repr(desired) and PASSWORD not in repr(inv.hosts[0].vars)


def test_a_wrong_password_typed_at_the_prompt_is_an_error_naming_where(write, tmp_path, pfx, typed):
    _, answers = typed
    answers += ["Typo-Password-3"]
    (tmp_path / "mail.pfx").write_bytes(pfx[0])
    (text,) = planned(write({"inv.yaml": inventory("- import: {pfx: mail.pfx, password_prompt: true}")})).problems
    assert "inv.yaml:5:" in text and "the password typed at a prompt does not open the PFX" in text and "Typo-Password-3" not in text


def test_no_terminal_is_an_error_naming_where_the_prompt_was_declared(write, tmp_path, pfx, monkeypatch):
    import io

    from exconf.controllerfiles import PROMPTS, NoTerminal, ask_on_terminal

    PROMPTS.forget()
    monkeypatch.setattr("sys.stdin", io.StringIO("Piped-Password\n"))  # a pipe is not a terminal: never read from it
    with pytest.raises(NoTerminal):
        ask_on_terminal("Password: ")
    (tmp_path / "mail.pfx").write_bytes(pfx[0])
    (text,) = planned(write({"inv.yaml": inventory("- import: {pfx: mail.pfx, password_prompt: true}")})).problems
    assert "inv.yaml:5:" in text and "exchange.certificates:" in text
    assert "typed at a prompt (password_prompt), but there is no terminal to type it on; run exconf in a terminal, or give it with password_env or password_file" in text
    assert not PROMPTS.asked(str((tmp_path / "mail.pfx").resolve()))
