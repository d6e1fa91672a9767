"""The pure parts of the certificate life cycle: which certificate or pending request a request means, which
challenge files an order needs, the Auth certificate's effective date, and which names a certificate covers."""

from __future__ import annotations

import datetime as dt

import pytest

from exconf.model import Desired, DesiredValue, ObservedObject, Operation, ServerFacts
from exconf.modules import auth_certificate as auth
from exconf.modules import certificate_urls as urls
from exconf.modules.base import PeerRead, PlanContext
from exconf.modules.certificate_issuers import Challenge, Session, issuer_problems, parse_issuer
from exconf.modules.certificate_requests import CHALLENGE, UNCHALLENGE, requested_in, resolve
from exconf.modules.certificate_values import Cert, RequestSpec
from exconf.remote import FromOperation, Step
from exconf.yamlsource import Location

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
HERE = Location("inv.yaml", 3, 5)


def cert(thumb: str, subject: str = "CN=mail.contoso.com", domains=("mail.contoso.com",), days: int = 90, status: str = "Valid",
         self_signed: bool = False, services=frozenset({"IIS"}), key_size: int = 2048, born: int = 1) -> Cert:
    return Cert(thumb, subject, "CN=R3", tuple(domains), NOW - dt.timedelta(days=born), NOW + dt.timedelta(days=days), services, status,
                self_signed, True, key_size)


def test_a_request_means_its_subject_and_exactly_its_names_and_the_cn_is_a_name():
    req = RequestSpec("CN=mail.contoso.com", ("autodiscover.contoso.com",))
    assert req.names == ("mail.contoso.com", "autodiscover.contoso.com")
    store = {
        "A": cert("A", domains=("mail.contoso.com", "autodiscover.contoso.com"), days=10, born=80),
        "B": cert("B", domains=("mail.contoso.com", "autodiscover.contoso.com"), days=80, born=10),
        "C": cert("C", domains=("mail.contoso.com",), days=300),  # other names: not this one
        "D": cert("D", domains=("mail.contoso.com", "autodiscover.contoso.com"), days=300, self_signed=True),  # not issued
        "P": cert("P", domains=("mail.contoso.com", "autodiscover.contoso.com"), status="PendingRequest"),
        "Q": cert("Q", domains=("mail.contoso.com", "autodiscover.contoso.com"), status="PendingRequest", key_size=4096),
    }
    current, pending, issued = requested_in(store, req, NOW)
    assert current.thumbprint == "B" and pending.thumbprint == "P"  # Q was made with another key size
    assert {c.thumbprint for c in issued} == {"A", "B"}


def _challenge_op(role: str, cmdlet: str) -> Operation:
    steps = tuple(Step(f"x#{role}:{i}", cmdlet, {"Value": FromOperation("x#order", "o", part=f"the key authorization of {n}'s HTTP-01 challenge")}
                       if cmdlet == "Set-Content" else {},
                       web_file=FromOperation("x#order", "o", part=f"the token of {n}'s HTTP-01 challenge"))
                  for i, n in enumerate(("mail.contoso.com", "autodiscover.contoso.com")))
    return Operation(f"x#{role}", "ex01", "x", steps, role=role)


def test_challenge_files_are_those_the_order_asks_for_and_nothing_is_removed_without_an_order():
    session = Session(issuer=None, challenges=(Challenge("autodiscover.contoso.com", "tok-1", "tok-1.thumb"),))  # mail: proved before
    op = resolve(_challenge_op(CHALLENGE, "Set-Content"), {("x#order", "o"): session})
    assert [(s.web_file, s.params) for s in op.steps] == [("tok-1", {"Value": "tok-1.thumb"})]
    assert resolve(_challenge_op(UNCHALLENGE, "Remove-Item"), {}).steps == ()
    with pytest.raises(Exception, match="opened no order"):
        resolve(_challenge_op(CHALLENGE, "Set-Content"), {})


def test_issuer_declarations_the_schema_cannot_check(tmp_path):
    acme = {"acme": {"directory": "https://acme.example/dir", "agree_tos": True}}
    assert issuer_problems(acme, ["*.contoso.com"], tmp_path)[0][1].startswith("*.contoso.com: a wildcard name is proved only with dns-01")
    dns = {"acme": {**acme["acme"], "challenge": "dns-01"}}
    assert "dns-01 needs dns" in issuer_problems(dns, ["a.contoso.com"], tmp_path)[0][1]
    spec = parse_issuer({"acme": {**dns["acme"], "dns": {"server": "10.0.0.53:5353", "zone": "contoso.com.", "tsig_name": "k",
                                                          "tsig_secret_env": "S"}}}, tmp_path)
    assert (spec.dns.server, spec.dns.port, spec.dns.zone) == ("10.0.0.53", 5353, "contoso.com") and not spec.http_files
    assert spec.dns.describe() == "RFC 2136 updates of zone contoso.com at 10.0.0.53:5353, TSIG key k (hmac-sha256, secret from env S)"
    assert issuer_problems({"acme": {**acme["acme"], "account_key": "missing.pem"}}, [], tmp_path)


# --- the Auth certificate -------------------------------------------------------------------------------


def _auth_read(current_days: float, nxt: str = "", effective: str | None = None, previous: str = "", on_ex02: bool = True):
    facts = ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam")
    auth_cert = {"Thumbprint": "AAAA", "Subject": "CN=Microsoft Exchange Server Auth Certificate", "NotBefore": "2025-01-01T00:00:00Z",
                 "NotAfter": (NOW + dt.timedelta(days=current_days)).strftime("%Y-%m-%dT%H:%M:%SZ"), "HasPrivateKey": True, "Status": "Valid"}
    mine = (ObservedObject(auth.CONFIG, "", "", {"CurrentCertificateThumbprint": "AAAA", "NextCertificateThumbprint": nxt,
                                                  "NextCertificateEffectiveDate": effective, "PreviousCertificateThumbprint": previous,
                                                  "UtcNow": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}),
            ObservedObject(auth.CERT, "AAAA", "", auth_cert), ObservedObject(auth.DEFAULT, "", "", {"InternalTransportCertificateThumbprint": "DDDD"}),
            ObservedObject(auth.SERVERS, "EX01", "", {"Name": "EX01"}), ObservedObject(auth.SERVERS, "EX02", "", {"Name": "EX02"}))
    peer = PeerRead("ex02", ServerFacts("EX02", "ex02.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam"),
                    (ObservedObject(auth.CERT, "AAAA", "", auth_cert),) if on_ex02 else ())
    want = Desired(auth.KIND, "", (DesiredValue("auth_certificate", auth.AuthSpec(60, 30), HERE),), HERE)
    return want, mine, PlanContext("ex01", facts, "the organisation", peers=(peer,))


def test_the_next_auth_certificate_takes_over_effective_in_days_after_renewal_became_due():
    want, mine, ctx = _auth_read(50)  # due 10 days ago
    plan = auth.plan_auth(want, mine, ctx, NOW)
    (change,) = plan.changes
    assert change.payload.action == "stage" and change.payload.effective == "2030-01-21T00:00:00Z"  # expiry - 60 + 30
    assert change.payload.imports == ("ex02",) and change.payload.default_smtp == "DDDD"
    # The same the next day: it depends only on the current certificate's expiry.
    later = auth.plan_auth(want, mine, ctx, NOW + dt.timedelta(days=1))
    assert later.changes[0].payload.effective == change.payload.effective
    # Due long ago: at least two days away.
    want, mine, ctx = _auth_read(10)
    assert auth.plan_auth(want, mine, ctx, NOW).changes[0].payload.effective == "2030-01-03T00:00:00Z"


def test_the_auth_certificate_waits_publishes_and_clears():
    want, mine, ctx = _auth_read(50, nxt="BBBB", effective="2030-01-21T00:00:00Z")
    plan = auth.plan_auth(want, mine, ctx, NOW)
    assert not plan.changes and plan.findings[0].status.value == "in_sync"
    want, mine, ctx = _auth_read(50, nxt="BBBB", effective="2029-12-31T00:00:00Z")
    assert auth.plan_auth(want, mine, ctx, NOW).changes[0].payload.action in ("import", "publish")
    want, mine, ctx = _auth_read(500, previous="CCCC")
    assert auth.plan_auth(want, mine, ctx, NOW).changes[0].payload.action == "clear"
    want, mine, ctx = _auth_read(500, on_ex02=False)
    (change,) = auth.plan_auth(want, mine, ctx, NOW).changes
    assert change.payload.action == "import" and change.payload.imports == ("ex02",) and change.payload.source == "ex01"
    want, mine, ctx = _auth_read(-1)
    assert auth.plan_auth(want, mine, ctx, NOW).changes[0].payload.action == "replace"


# --- names that cover every URL -------------------------------------------------------------------------


def _urls(*certs: Cert, external: str | None = None) -> tuple[ObservedObject, ...]:
    out = [ObservedObject(urls.URLS, "Outlook on the web (OwaVirtualDirectory)", "", {"InternalUrl": "https://mail.contoso.com/owa",
                                                                                     "ExternalUrl": external}),
           ObservedObject(urls.DOMAIN, "contoso.com", "", {"DomainName": "contoso.com", "DomainType": "Authoritative"})]
    for c in certs:
        out.append(ObservedObject(urls.CERT, c.thumbprint, "", {"Thumbprint": c.thumbprint, "Subject": c.subject, "Issuer": c.issuer,
                                                               "CertificateDomains": list(c.domains), "NotBefore": c.not_before.isoformat(),
                                                               "NotAfter": c.not_after.isoformat(), "Services": "IIS", "Status": c.status,
                                                               "IsSelfSigned": c.self_signed}))
    return tuple(out)


def test_names_are_covered_as_tls_matches_them():
    wildcard = cert("W", subject="CN=*.contoso.com", domains=("*.contoso.com",))
    verdicts = {n.why: problem for n, _, problem in urls.judge(_urls(wildcard, external="https://a.b.contoso.com/owa"), True, NOW)}
    assert verdicts["Outlook on the web (OwaVirtualDirectory) InternalUrl https://mail.contoso.com/owa"] == ""
    assert "does not cover a.b.contoso.com" in verdicts["Outlook on the web (OwaVirtualDirectory) ExternalUrl https://a.b.contoso.com/owa"]
    assert verdicts["https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml (Autodiscover of the accepted domain contoso.com)"] == ""


@pytest.mark.parametrize("bad, why", [
    (cert("X", domains=("mail.contoso.com", "autodiscover.contoso.com"), days=-1), "expired on"),
    (cert("X", domains=("mail.contoso.com", "autodiscover.contoso.com"), born=-5), "is not valid yet"),
    (cert("X", domains=("mail.contoso.com", "autodiscover.contoso.com"), status="Untrusted"), "is not trusted (Status Untrusted)"),
    (cert("X", domains=("mail.contoso.com", "autodiscover.contoso.com"), self_signed=True), "self-signed: clients outside do not trust it"),
])
def test_an_expired_not_yet_valid_untrusted_or_self_signed_certificate_covers_nothing(bad, why):
    verdicts = [problem for n, _, problem in urls.judge(_urls(bad), True, NOW) if n.name == "autodiscover.contoso.com"]
    assert why in verdicts[0]
