"""The ACME issuer (modules/acme_issuer.py) against Pebble, Let's Encrypt's test CA, on loopback: the account and
its key, the order and the challenge each name gets, the HTTP-01 files and DNS-01 records (RFC 2136 updates to a
small authoritative server), the chain that comes back, and every error message exactly.

Pebble validates for real: HTTP-01 by fetching the file from a small web server here (the address the test DNS
server gives the names), DNS-01 by reading the TXT record the issuer wrote. Skipped without Pebble (Debian
package ``pebble``), as the integration tests are; CI installs it.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import josepy as jose
import pytest
from acme_servers import TSIG_NAME, TSIG_SECRET, DnsServer, pebble_available, start_pebble
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from exconf.model import SecretRef
from exconf.modules.acme_issuer import USER_AGENT, AcmeIssuer, _problem
from exconf.modules.certificate_issuers import Challenge, DnsUpdate, IssuerError, IssuerSpec, Session

pytestmark = pytest.mark.skipif(not pebble_available() and not os.environ.get("CI"), reason="Pebble (Debian package pebble) is not installed")

ZONE = "contoso.test"
NAMES = ("mail.contoso.test", "autodiscover.contoso.test")
SLOW = "slow.contoso.test"  # only test_no_time_to_validate asks for it: no authorization of another test is reused for it
TSIG_ENV = "EXCONF_TEST_ACME_TSIG"


def _address() -> str:
    """127.<net+worker>.253.<n>: a /24 neither the labs (1..250) nor the KDC (254) use; n by process, so that two
    processes of one worker (mutation runs) do not share Pebble's ports."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    base = int(os.environ.get("EXCONF_TEST_NET", "150")) + (int(worker) if worker.isdigit() else 0)
    return f"127.{base}.253.{os.getpid() % 250 + 1}"


HANG = threading.Event()


class _Files(http.server.BaseHTTPRequestHandler):
    """The web server HTTP-01 asks: what the test put in ``server.files`` under /.well-known/acme-challenge/."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        token = self.path.removeprefix("/.well-known/acme-challenge/")
        body = self.server.files.get(token) if self.path.startswith("/.well-known/acme-challenge/") else None  # type: ignore[attr-defined]
        if body is HANG:
            HANG.wait(8)  # a server that does not answer: the authorization stays pending meanwhile
            body = None
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write((body or "").encode("ascii"))

    def log_message(self, *args) -> None:
        pass


@dataclass
class Acme:
    address: str
    pebble: object
    dns: DnsServer
    web: http.server.ThreadingHTTPServer
    folder: Path

    def spec(self, **more) -> IssuerSpec:
        return IssuerSpec("acme", self.pebble.directory, **({"ca_bundle": str(self.pebble.ca_bundle), "email": "hostmaster@contoso.test"} | more))

    def dns_update(self, **more) -> DnsUpdate:
        return DnsUpdate(self.address, self.dns.port, ZONE, **({"tsig_name": TSIG_NAME, "tsig_secret": SecretRef("env", TSIG_ENV)} | more))


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    address = _address()
    folder = tmp_path_factory.mktemp("acme")
    dns_server = DnsServer(address, 5353, ZONE, {n: address for n in (*NAMES, SLOW, ZONE)})
    web = http.server.ThreadingHTTPServer((address, 5002), _Files)
    web.files = {}  # type: ignore[attr-defined]
    HANG.clear()  # set by the teardown of an earlier instance of this fixture (a run that sets it up twice)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    pebble = start_pebble(folder / "pebble", address, 5002, address, 5353, authz_reuse=100)
    try:
        yield Acme(address, pebble, dns_server, web, folder)
    finally:
        pebble.stop()
        HANG.set()
        web.shutdown()
        web.server_close()
        dns_server.stop()


@pytest.fixture
def tsig(monkeypatch):
    monkeypatch.setenv(TSIG_ENV, TSIG_SECRET)


@pytest.fixture(scope="module")
def server_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def request(key, *names: str) -> bytes:
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False).sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def pem(path: Path, key, password: bytes | None = None) -> Path:
    crypt = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt))
    return path


def thumbprint(key) -> str:
    jwk = jose.JWKRSA(key=key.public_key()) if isinstance(key, rsa.RSAPrivateKey) else jose.JWKEC(key=key.public_key())
    return jose.b64encode(jwk.thumbprint(hash_function=hashes.SHA256)).decode("ascii")


def leaf(chain: list[x509.Certificate], key) -> x509.Certificate:
    (found,) = [c for c in chain if c.public_key().public_numbers() == key.public_key().public_numbers()]
    return found


def sans(cert: x509.Certificate) -> list[str]:
    return sorted(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))


def dns_value(key_authorization: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(key_authorization.encode("ascii")).digest()).decode("ascii").rstrip("=")


# --- messages -------------------------------------------------------------------------------------------------


class _Problem(Exception):
    def __init__(self, text="", detail=None, typ=None, code=None):
        super().__init__(text)
        self.detail, self.typ, self.code = detail, typ, code


def test_a_problem_names_the_server_what_and_the_detail():
    spec = IssuerSpec("acme", "https://acme.test/dir")
    assert isinstance(_problem(spec, "x", ValueError("v")), IssuerError)
    assert str(_problem(spec, "refused the order", _Problem("text", "the detail", "urn:ietf:params:acme:error:rejectedIdentifier"))) == \
        "ACME server https://acme.test/dir: refused the order: the detail (urn:ietf:params:acme:error:rejectedIdentifier)"
    assert str(_problem(spec, "w", _Problem("text", None, None, 503))) == "ACME server https://acme.test/dir: w: text (503)"
    assert str(_problem(spec, "w", _Problem("", "", "", None))) == "ACME server https://acme.test/dir: w: _Problem"
    assert str(_problem(spec, "w", _Problem("text", "d", None, "c"))) == "ACME server https://acme.test/dir: w: d (c)"
    assert str(_problem(spec, "w", _Problem("text", "d", "t", "c"))) == "ACME server https://acme.test/dir: w: d (t)"
    assert str(_problem(spec, "w", KeyError())) == "ACME server https://acme.test/dir: w: KeyError"
    assert USER_AGENT == "exconf (acme-python)"


# --- the account key ------------------------------------------------------------------------------------------


def test_without_a_key_an_account_for_this_apply(tmp_path):
    key = AcmeIssuer(IssuerSpec("acme", "https://acme.test/dir"))._account_key()
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048 and key.public_key().public_numbers().e == 65537
    other = AcmeIssuer(IssuerSpec("acme", "https://acme.test/dir"))._account_key()
    assert other.public_key().public_numbers() != key.public_key().public_numbers()


def test_an_account_key_from_a_file(tmp_path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    loaded = AcmeIssuer(IssuerSpec("acme", "d", account_key=str(pem(tmp_path / "rsa.pem", rsa_key))))._account_key()
    assert loaded.private_numbers() == rsa_key.private_numbers()
    loaded = AcmeIssuer(IssuerSpec("acme", "d", account_key=str(pem(tmp_path / "ec.pem", ec_key))))._account_key()
    assert loaded.private_numbers() == ec_key.private_numbers()


def test_an_account_key_that_cannot_be_used(tmp_path):
    def refused(path) -> str:
        with pytest.raises(IssuerError) as err:
            AcmeIssuer(IssuerSpec("acme", "d", account_key=str(path)))._account_key()
        return str(err.value)

    assert refused(tmp_path / "none.pem") == f"cannot read the ACME account key {tmp_path / 'none.pem'}: No such file or directory"
    assert refused(tmp_path) == f"the ACME account key {tmp_path} is a folder, not a regular file"
    (tmp_path / "big.pem").write_bytes(b"x" * ((1 << 20) + 1))
    assert refused(tmp_path / "big.pem").startswith(f"the ACME account key {tmp_path / 'big.pem'} is larger than ")
    (tmp_path / "full.pem").write_bytes(b"x" * (1 << 20))
    assert refused(tmp_path / "full.pem") == f"the ACME account key {tmp_path / 'full.pem'} is not an unencrypted PEM private key"
    (tmp_path / "text.pem").write_text("not a key")
    assert refused(tmp_path / "text.pem") == f"the ACME account key {tmp_path / 'text.pem'} is not an unencrypted PEM private key"
    locked = pem(tmp_path / "locked.pem", ec.generate_private_key(ec.SECP256R1()), b"secret")
    assert refused(locked) == f"the ACME account key {locked} is not an unencrypted PEM private key"
    ed = pem(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    assert refused(ed) == f"the ACME account key {ed} is neither RSA nor EC"


# --- the account ----------------------------------------------------------------------------------------------


def test_the_client_signs_with_the_accounts_key_and_says_who_it_is(acme, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spec = acme.spec(account_key=str(pem(tmp_path / "acct.pem", key)))
    client = AcmeIssuer(spec)._client()
    net = client.net
    assert net.user_agent == USER_AGENT and net.alg is jose.RS256 and net.verify_ssl == str(acme.pebble.ca_bundle)
    assert net.key.thumbprint() == jose.JWKRSA(key=key.public_key()).thumbprint()
    assert net._default_timeout == 45
    assert net.account.body.contact == ("mailto:hostmaster@contoso.test",)
    # the same key again: its account exists (RFC 8555 §7.3.1) and is the one used
    again = AcmeIssuer(spec)._client()
    assert again.net.account.uri == net.account.uri
    assert AcmeIssuer(acme.spec(account_key=spec.account_key, timeout_seconds=44))._client().net._default_timeout == 44
    assert AcmeIssuer(acme.spec(account_key=spec.account_key, timeout_seconds=46))._client().net._default_timeout == 45


@pytest.mark.parametrize("curve, alg", [(ec.SECP256R1(), jose.ES256), (ec.SECP384R1(), jose.ES384)])
def test_an_ec_account_key_signs_with_its_curves_algorithm(acme, tmp_path, curve, alg):
    key = ec.generate_private_key(curve)
    client = AcmeIssuer(acme.spec(account_key=str(pem(tmp_path / "ec.pem", key))))._client()
    assert client.net.alg is alg and client.net.key.thumbprint() == jose.JWKEC(key=key.public_key()).thumbprint()
    assert client.net.account.uri.startswith(f"https://{acme.address}:14000/")


def test_a_p521_account_key_signs_with_es512(acme, tmp_path):
    key = ec.generate_private_key(ec.SECP521R1())
    client = AcmeIssuer(acme.spec(account_key=str(pem(tmp_path / "ec.pem", key))))._client()
    assert client.net.alg is jose.ES512 and client.net.key.thumbprint() == jose.JWKEC(key=key.public_key()).thumbprint()


def test_an_account_without_an_email(acme):
    client = AcmeIssuer(IssuerSpec("acme", acme.pebble.directory, ca_bundle=str(acme.pebble.ca_bundle)))._client()
    assert client.net.account.body.contact == ()


def test_logging_on_fails_with_the_reason(acme, tmp_path):
    with pytest.raises(IssuerError) as err:
        AcmeIssuer(IssuerSpec("acme", acme.pebble.directory))._client()  # the system's CAs do not know Pebble's
    assert str(err.value).startswith(f"ACME server {acme.pebble.directory}: could not log on: ") and "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    closed = f"https://{acme.address}:14999/dir"
    with pytest.raises(IssuerError) as err:
        AcmeIssuer(IssuerSpec("acme", closed, ca_bundle=str(acme.pebble.ca_bundle)))._client()
    assert str(err.value).startswith(f"ACME server {closed}: could not log on: ") and "Connection refused" in str(err.value)
    with pytest.raises(IssuerError) as err:
        AcmeIssuer(acme.spec(email="not an address"))._client()
    assert str(err.value) == (f"ACME server {acme.pebble.directory}: could not log on: contact email \"not an address\" is invalid "
                              "(urn:ietf:params:acme:error:invalidContact)")


# --- begin: the order and its challenges ------------------------------------------------------------------------


def test_http_01_a_file_per_name_with_its_key_authorization(acme, server_key, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = AcmeIssuer(acme.spec(account_key=str(pem(tmp_path / "a.pem", key))))
    session = issuer.begin(request(server_key, *NAMES))
    assert session.issuer is issuer
    assert sorted(c.name for c in session.challenges) == sorted(NAMES)
    for c in session.challenges:
        assert isinstance(c, Challenge) and len(c.token) >= 22 and c.content == f"{c.token}.{thumbprint(key)}"
    assert set(session.state) == {"acme", "order", "answers", "records"} and session.state["records"] == []
    assert [(name, validation) for _, _, name, validation in session.state["answers"]] == [(c.name, c.content) for c in session.challenges]
    assert acme.dns.updates == [] or all(not u.endswith(tuple(c.content for c in session.challenges)) for u in acme.dns.updates)
    assert "".join(repr(session).split(session.challenges[0].content)) == repr(session).replace(session.challenges[0].content, "")


def test_http_01_issued_as_a_pkcs7_chain(acme, server_key):
    issuer = AcmeIssuer(acme.spec())
    session = issuer.begin(request(server_key, *NAMES))
    acme.web.files.update({c.token: c.content for c in session.challenges})
    chain = pkcs7.load_der_pkcs7_certificates(issuer.finish(session))
    assert len(chain) == 2
    mine = leaf(chain, server_key)
    assert sans(mine) == sorted(NAMES)
    assert [c.subject for c in chain if c is not mine] == [mine.issuer]


def test_a_name_proved_before_gets_no_challenge(acme, server_key, tmp_path):
    account = str(pem(tmp_path / "reuse.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    first = AcmeIssuer(acme.spec(account_key=account))
    session = first.begin(request(server_key, NAMES[1]))
    acme.web.files.update({c.token: c.content for c in session.challenges})
    first.finish(session)
    # Pebble hands the valid authorization out again (PEBBLE_AUTHZREUSE), in an order of its own: whichever comes
    # first, only the other name gets a challenge (twenty orders: the valid one comes first in some, 1 - 2**-20)
    firsts = set()
    for _ in range(20):
        again = AcmeIssuer(acme.spec(account_key=account)).begin(request(server_key, *NAMES))
        assert [c.name for c in again.challenges] == [NAMES[0]]
        assert [name for _, _, name, _ in again.state["answers"]] == [NAMES[0]]
        firsts.add(again.state["order"].authorizations[0].body.identifier.value)
    assert firsts <= set(NAMES)


def test_a_request_that_is_no_pkcs10(acme):
    with pytest.raises(IssuerError) as err:
        AcmeIssuer(acme.spec()).begin(b"\x30\x03\x02\x01\x01")
    assert str(err.value) == "the server's request is not a PKCS#10 certificate request"


def test_an_order_the_server_refuses(acme, server_key):
    with pytest.raises(IssuerError) as err:
        AcmeIssuer(acme.spec()).begin(request(server_key, "mail.contoso.test", "bad_name.contoso.test"))
    assert str(err.value) == (f"ACME server {acme.pebble.directory}: refused the order: Order included DNS identifier with a value containing an "
                              "illegal character: '_' (urn:ietf:params:acme:error:malformed)")


def test_a_wildcard_is_not_offered_http_01(acme, server_key):
    with pytest.raises(IssuerError) as err:
        AcmeIssuer(acme.spec()).begin(request(server_key, "*.contoso.test"))
    assert str(err.value) == f"ACME server {acme.pebble.directory} offers no http-01 challenge for contoso.test"


# --- finish: failures -------------------------------------------------------------------------------------------


def test_a_file_not_served_fails_validation_with_what_the_server_said(acme, server_key):
    issuer = AcmeIssuer(acme.spec())
    session = issuer.begin(request(server_key, "autodiscover.contoso.test"))
    with pytest.raises(IssuerError) as err:
        issuer.finish(session)
    message = str(err.value)
    assert message.startswith(f"ACME server {acme.pebble.directory} could not validate autodiscover.contoso.test: ")
    assert session.challenges[0].content not in message and "404" in message


def test_every_name_that_fails_is_named(acme, server_key):
    issuer = AcmeIssuer(acme.spec())
    session = issuer.begin(request(server_key, *NAMES))
    with pytest.raises(IssuerError) as err:
        issuer.finish(session)
    failed = str(err.value).removeprefix(f"ACME server {acme.pebble.directory} could not validate ")
    parts = sorted(failed.split(", " + NAMES[1] + ": ") if failed.startswith(NAMES[0]) else failed.split(", " + NAMES[0] + ": "))
    assert len(parts) == 2 and all("404" in p for p in parts)


def test_no_time_to_validate(acme, server_key, tmp_path):
    # A name and an account of its own: Pebble reuses authorizations (PEBBLE_AUTHZREUSE), so one another test left
    # for NAMES[0] could be validated (and fail) before this test's file is set to hang.
    account = str(pem(tmp_path / "slow.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    issuer = AcmeIssuer(acme.spec(timeout_seconds=1, account_key=account))
    session = issuer.begin(request(server_key, SLOW))
    acme.web.files.update({c.token: HANG for c in session.challenges})
    with pytest.raises(IssuerError) as err:
        issuer.finish(session)
    assert str(err.value) == f"ACME server {acme.pebble.directory} did not validate and sign within 1 seconds"


def test_finishing_twice_is_refused_by_the_server(acme, server_key):
    issuer = AcmeIssuer(acme.spec())
    session = issuer.begin(request(server_key, NAMES[0]))
    acme.web.files.update({c.token: c.content for c in session.challenges})
    issuer.finish(session)
    with pytest.raises(IssuerError) as err:
        issuer.finish(session)
    assert str(err.value) == (f"ACME server {acme.pebble.directory}: did not sign the request: Cannot update challenge with status valid, only "
                              "status pending (urn:ietf:params:acme:error:malformed)")


# --- DNS-01 -----------------------------------------------------------------------------------------------------


def test_dns_01_a_txt_record_per_name_removed_after(acme, server_key, tmp_path, tsig):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=acme.dns_update(), account_key=str(pem(tmp_path / "d.pem", key))))
    del acme.dns.updates[:]
    session = issuer.begin(request(server_key, "mail.contoso.test", "*.contoso.test"))
    assert session.challenges == ()
    answers = {name: validation for _, _, name, validation in session.state["answers"]}
    assert set(answers) == {"mail.contoso.test", "contoso.test"}
    for name, validation in answers.items():
        assert validation == dns_value(next(b for b, _, n, _ in session.state["answers"] if n == name).chall.key_authorization(
            jose.JWKRSA(key=key)))
    assert sorted(acme.dns.updates) == sorted(f"add _acme-challenge.{n}. {v}" for n, v in answers.items())
    assert sorted(session.state["records"]) == sorted(answers.items())
    chain = pkcs7.load_der_pkcs7_certificates(issuer.finish(session))
    assert sans(leaf(chain, server_key)) == ["*.contoso.test", "mail.contoso.test"]
    assert sorted(acme.dns.updates[2:]) == sorted(f"delete _acme-challenge.{n}. {v}" for n, v in answers.items())
    assert session.state["records"] == [] and all(not v for v in acme.dns.txt.values())


def test_dns_01_records_are_removed_when_validation_fails(acme, server_key, tsig):
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=acme.dns_update()))
    del acme.dns.updates[:]
    session = issuer.begin(request(server_key, NAMES[0]))
    acme.dns.txt.clear()  # the record is gone before the CA looks
    with pytest.raises(IssuerError) as err:
        issuer.finish(session)
    assert str(err.value).startswith(f"ACME server {acme.pebble.directory} could not validate {NAMES[0]}: ")
    (validation,) = [v for _, _, _, v in session.state["answers"]]
    assert acme.dns.updates == [f"add _acme-challenge.{NAMES[0]}. {validation}", f"delete _acme-challenge.{NAMES[0]}. {validation}"]
    assert session.state["records"] == []


def test_dns_01_an_update_refused_abandons_what_was_added(acme, server_key):
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=DnsUpdate(acme.address, acme.dns.port, ZONE)))  # unsigned: refused
    with pytest.raises(IssuerError) as err:
        issuer.begin(request(server_key, NAMES[0]))
    assert str(err.value) == (f"RFC 2136 updates of zone {ZONE} at {acme.address}:{acme.dns.port}: the server answered REFUSED to the update of "
                              f"_acme-challenge.{NAMES[0]}.")


def test_dns_01_the_first_record_is_removed_when_the_second_fails(acme, server_key, tsig, monkeypatch):
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=acme.dns_update()))
    real = issuer._txt
    calls = []

    def second_refused(session, action, name, validation):
        calls.append((action, name))
        if action == "add" and len([c for c in calls if c[0] == "add"]) == 2:
            raise IssuerError("refused")
        return real(session, action, name, validation)

    monkeypatch.setattr(issuer, "_txt", second_refused)
    del acme.dns.updates[:]
    with pytest.raises(IssuerError, match="^refused$"):
        issuer.begin(request(server_key, *NAMES))
    (first,) = [c[1] for c in calls if c[0] == "add"][:1]
    assert [c[0] for c in calls] == ["add", "add", "delete"] and calls[2][1] == first
    assert [u.split()[0] for u in acme.dns.updates] == ["add", "delete"]


def test_abandon_a_session_that_added_no_record(acme):
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=acme.dns_update()))
    del acme.dns.updates[:]
    issuer.abandon(Session(issuer, (), {}))
    issuer.abandon(Session(issuer, (), {"records": []}))
    assert acme.dns.updates == []


def _session(issuer) -> Session:
    return Session(issuer, (), {"records": []})


def test_txt_add_and_delete(acme, tsig):
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=acme.dns_update()))
    session = _session(issuer)
    del acme.dns.updates[:]
    issuer._txt(session, "add", "*.contoso.test", "v1")
    issuer._txt(session, "add", "mail.contoso.test", "v2")
    assert session.state["records"] == [("*.contoso.test", "v1"), ("mail.contoso.test", "v2")]
    assert acme.dns.txt["_acme-challenge.contoso.test."] == ["v1"]
    issuer._txt(session, "delete", "mail.contoso.test", "other")  # not one of this session's: the list is kept
    assert session.state["records"] == [("*.contoso.test", "v1"), ("mail.contoso.test", "v2")]
    issuer._txt(session, "delete", "*.contoso.test", "v1")
    assert session.state["records"] == [("mail.contoso.test", "v2")]
    issuer.abandon(session)
    assert session.state["records"] == []
    assert acme.dns.updates == ["add _acme-challenge.contoso.test. v1", "add _acme-challenge.mail.contoso.test. v2",
                                "delete _acme-challenge.mail.contoso.test. other", "delete _acme-challenge.contoso.test. v1",
                                "delete _acme-challenge.mail.contoso.test. v2"]


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "hmac-sha512"])
def test_txt_records_live_a_minute_signed_with_the_declared_algorithm(acme, tsig, algorithm):
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=acme.dns_update(tsig_algorithm=algorithm)))
    session = _session(issuer)
    del acme.dns.signed[:]
    issuer._txt(session, "add", "mail.contoso.test", "v")
    assert acme.dns.signed == [(f"{algorithm}.", 60)]
    assert session.state["records"] == [("mail.contoso.test", "v")]
    issuer.abandon(session)


def test_txt_errors_name_the_server_never_the_secret(acme, monkeypatch):
    update = acme.dns_update()
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=update))
    monkeypatch.delenv(TSIG_ENV, raising=False)
    with pytest.raises(IssuerError) as err:
        issuer._txt(_session(issuer), "add", "mail.contoso.test", "v")
    assert str(err.value).startswith(f"the TSIG secret of {update.describe()}: ") and TSIG_ENV in str(err.value)
    monkeypatch.setenv(TSIG_ENV, "not base64 !!")
    with pytest.raises(IssuerError) as err:
        issuer._txt(_session(issuer), "add", "mail.contoso.test", "v")
    assert str(err.value) == f"the TSIG secret from env {TSIG_ENV} is not base64"
    monkeypatch.setenv(TSIG_ENV, base64.b64encode(b"another key of 32 bytes length!!").decode())
    session = _session(issuer)
    with pytest.raises(IssuerError) as err:
        issuer._txt(session, "add", "mail.contoso.test", "v")  # the server does not take this key: no answer, a timeout
    assert str(err.value).startswith(f"{update.describe()}: ") and "another key" not in str(err.value)
    assert session.state["records"] == []


def test_txt_to_a_server_that_is_not_there(acme, tsig):
    down = DnsUpdate(acme.address, 5399, ZONE, TSIG_NAME, "hmac-sha256", SecretRef("env", TSIG_ENV))
    issuer = AcmeIssuer(acme.spec(challenge="dns-01", dns=down))
    session = _session(issuer)
    with pytest.raises(IssuerError) as err:
        issuer._txt(session, "add", "mail.contoso.test", "v")
    assert str(err.value) == f"{down.describe()}: ConnectionRefusedError: [Errno 111] Connection refused"
    session.state["records"].append(("mail.contoso.test", "v"))
    issuer.abandon(session)  # best effort: the error is swallowed, the record stays listed
    assert session.state["records"] == [("mail.contoso.test", "v")]
