"""Names that cover every URL (modules/certificate_urls.py): which names clients use and why, which certificate IIS
serves, every reason a certificate does not serve a name (with its date boundaries), the reads, the finding and the
rail's message, exactly."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from exconf.model import Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Refusal, ServerFacts
from exconf.modules import certificate_urls as urls
from exconf.modules.base import SERVER, PlanContext, ReadError
from exconf.modules.certificate_issuers import IssuerSpec
from exconf.modules.certificate_plan import CertWork
from exconf.modules.certificate_requests import RequestWork
from exconf.modules.certificate_urls import CERT, CONNECTOR, DOMAIN, KIND, RAIL, URLS, Need, UrlSpec
from exconf.modules.certificate_values import Cert, RequestSpec
from exconf.remote import LOCAL_SERVER, Answer, Step, StepError, StepResult
from exconf.yamlsource import Location

NOW = dt.datetime(2030, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
HERE = Location("inv.yaml", 4, 7)
FACTS = ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam")
OWA = "Outlook on the web (OwaVirtualDirectory)"


def cert(thumb: str = "AAAA1111BBBB", subject: str = "CN=mail.contoso.com", domains=("mail.contoso.com",), services=frozenset({"IIS"}),
         before=NOW - dt.timedelta(days=1), after=NOW + dt.timedelta(days=90), status: str = "Valid", self_signed: bool = False) -> Cert:
    return Cert(thumb, subject, "CN=R3", tuple(domains), before, after, services, status, self_signed)


def row(c: Cert, iis_services=None) -> ObservedObject:
    values = {"Thumbprint": c.thumbprint, "Subject": c.subject, "Issuer": c.issuer, "CertificateDomains": list(c.domains),
              "NotBefore": c.not_before.isoformat() if c.not_before else None, "NotAfter": c.not_after.isoformat() if c.not_after else None,
              "Services": ", ".join(sorted(c.services)) if c.services is not None else None, "Status": c.status, "IsSelfSigned": c.self_signed}
    if iis_services is not None:
        values["IISServices"] = iis_services
    return ObservedObject(CERT, c.thumbprint, "", values)


def url(name: str, **values) -> ObservedObject:
    return ObservedObject(URLS, name, "", values)


def domain(name, kind="Authoritative") -> ObservedObject:
    return ObservedObject(DOMAIN, str(name), "", {"DomainName": name, "DomainType": kind})


def connector(identity: str, fqdn) -> ObservedObject:
    return ObservedObject(CONNECTOR, identity, "", {"Identity": identity, "Fqdn": fqdn})


# --- the constants and the kind -----------------------------------------------------------------------------------


def test_the_names_and_the_kind():
    assert (KIND, RAIL, URLS, CERT, DOMAIN, CONNECTOR) == ("certificate_urls", "certificate-url-names", "certificate_urls.url",
                                                           "certificate_urls.certificate", "certificate_urls.domain", "certificate_urls.connector")
    k = urls.KIND_INSTANCE
    assert (k.kind, k.section, k.scope, k.title, k.roles, k.sees_planned) == ("certificate_urls", "certificate_urls", SERVER, "certificate names",
                                                                               frozenset({"Mailbox", "Edge"}), True)
    assert k.drift.severity == "high" and k.drift.correctable is None
    assert k.drift.audit_cmdlets == ("Enable-ExchangeCertificate", "Set-OwaVirtualDirectory", "Set-EcpVirtualDirectory", "Set-WebServicesVirtualDirectory",
                                     "Set-OabVirtualDirectory", "Set-ActiveSyncVirtualDirectory", "Set-MapiVirtualDirectory",
                                     "Set-AutodiscoverVirtualDirectory", "Set-OutlookAnywhere", "Set-ClientAccessService", "New-AcceptedDomain")
    assert k.schema() is urls.SCHEMA and urls.SCHEMA["properties"]["autodiscover"]["type"] == "boolean"
    assert urls.SCHEMA["additionalProperties"] is False
    assert k.inventory_issues({"autodiscover": 1}, None) == []
    change = Change("c", "ex01", KIND, "n", "", "update", (), "")
    assert k.operations(change) == () and k.verify(change, ()) is None
    assert urls.__all__ == ["KIND", "KIND_INSTANCE", "RAIL", "CertificateUrlsKind", "judge", "needs"]
    before = dt.datetime.now(dt.timezone.utc)
    assert before <= k.clock() <= dt.datetime.now(dt.timezone.utc) and k.clock().tzinfo is dt.timezone.utc


def test_desired():
    k = urls.KIND_INSTANCE
    where = {(): HERE}.__getitem__
    assert k.desired(None, where) == ()
    assert k.desired({}, where) == (Desired(KIND, "", (DesiredValue("certificate_urls", UrlSpec(True), HERE),), HERE),)
    assert k.desired({"autodiscover": False}, where)[0].values[0].value == UrlSpec(False)
    assert k.desired({"autodiscover": True}, where)[0].values[0].value == UrlSpec(True)
    assert UrlSpec().autodiscover is True


def test_the_reads():
    steps = urls.KIND_INSTANCE.read_steps("p/")
    nouns = ["OwaVirtualDirectory", "EcpVirtualDirectory", "WebServicesVirtualDirectory", "OabVirtualDirectory", "ActiveSyncVirtualDirectory",
             "MapiVirtualDirectory", "AutodiscoverVirtualDirectory"]
    assert steps[:7] == [Step(f"p/certificate_urls:{n}", f"Get-{n}", {"Server": LOCAL_SERVER}, select=("Name", "InternalUrl", "ExternalUrl"),
                              skip_on_edge=True) for n in nouns]
    assert steps[7:] == [
        Step("p/certificate_urls:OutlookAnywhere", "Get-OutlookAnywhere", {"Server": LOCAL_SERVER}, select=("Name", "InternalHostname", "ExternalHostname"),
             skip_on_edge=True),
        Step("p/certificate_urls:ClientAccessService", "Get-ClientAccessService", {"Identity": LOCAL_SERVER},
             select=("Name", "AutoDiscoverServiceInternalUri"), skip_on_edge=True),
        Step("p/certificate_urls:AcceptedDomain", "Get-AcceptedDomain", {}, select=("DomainName", "DomainType"), skip_on_edge=True),
        Step("p/certificate_urls:certificates", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER},
             select=("Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "Status", "IsSelfSigned",
                     "HasPrivateKey", "IISServices")),
        Step("p/certificate_urls:receive", "Get-ReceiveConnector", {"Server": LOCAL_SERVER}, select=("Identity", "Fqdn")),
    ]
    assert [s.skip_on_edge for s in steps] == [True] * 10 + [False, False]


# --- observe ------------------------------------------------------------------------------------------------------


def test_observe_sorts_each_answer_into_its_objects():
    results = {
        "p/certificate_urls:OwaVirtualDirectory": StepResult("x", "ok", ({"Name": "owa (Default Web Site)", "InternalUrl": "https://m/owa"},)),
        "p/certificate_urls:EcpVirtualDirectory": StepResult("x", "not_applicable"),
        "p/certificate_urls:OutlookAnywhere": StepResult("x", "ok", ({"InternalHostname": "m"},)),
        "p/certificate_urls:ClientAccessService": StepResult("x", "ok", ({"AutoDiscoverServiceInternalUri": "https://a/x"},)),
        "p/certificate_urls:AcceptedDomain": StepResult("x", "ok", ({"DomainName": "contoso.com", "DomainType": "Authoritative"}, {})),
        "p/certificate_urls:certificates": StepResult("x", "ok", ({"Thumbprint": "AB12"}, {})),
        "p/certificate_urls:receive": StepResult("x", "ok", ({"Identity": "EX01\\Default", "Fqdn": "ex01"}, {})),
        "p/other:certificates": StepResult("x", "ok", ({"Thumbprint": "ZZ"},)),
        "q/certificate_urls:certificates": StepResult("x", "ok", ({"Thumbprint": "QQ"},)),
        "p/certificate_urls:broken": StepResult("x", "not_applicable"),
    }
    seen = urls.KIND_INSTANCE.observe(Answer("EX01", False, results, "2030-06-15T12:00:00Z"), "p/")
    assert seen == (
        ObservedObject(KIND, "", "", {"UtcNow": "2030-06-15T12:00:00Z"}),
        ObservedObject(URLS, OWA, "", {"Name": "owa (Default Web Site)", "InternalUrl": "https://m/owa"}),
        ObservedObject(URLS, "Outlook Anywhere (OutlookAnywhere)", "", {"InternalHostname": "m"}),
        ObservedObject(URLS, "the Client Access service (ClientAccessService)", "", {"AutoDiscoverServiceInternalUri": "https://a/x"}),
        ObservedObject(DOMAIN, "contoso.com", "", {"DomainName": "contoso.com", "DomainType": "Authoritative"}),
        ObservedObject(DOMAIN, "", "", {}),
        ObservedObject(CERT, "AB12", "", {"Thumbprint": "AB12"}),
        ObservedObject(CERT, "", "", {}),
        ObservedObject(CONNECTOR, "EX01\\Default", "", {"Identity": "EX01\\Default", "Fqdn": "ex01"}),
        ObservedObject(CONNECTOR, "", "", {}),
    )
    assert urls.KIND_INSTANCE.observe(Answer("EX01", False, {}), "p/") == (ObservedObject(KIND, "", "", {"UtcNow": None}),)
    # a prefix holding ':' (the step's own name is what follows the last one)
    colon = Answer("EX01", False, {"h:1/certificate_urls:receive": StepResult("x", "ok", ({"Identity": "c", "Fqdn": "f"},))})
    assert urls.KIND_INSTANCE.observe(colon, "h:1/")[1] == ObservedObject(CONNECTOR, "c", "", {"Identity": "c", "Fqdn": "f"})


@pytest.mark.parametrize("noun, label", [("EcpVirtualDirectory", "the admin centre"), ("WebServicesVirtualDirectory", "EWS"),
                                         ("OabVirtualDirectory", "the offline address book"), ("ActiveSyncVirtualDirectory", "ActiveSync"),
                                         ("MapiVirtualDirectory", "MAPI over HTTP"), ("AutodiscoverVirtualDirectory", "Autodiscover")])
def test_observe_names_each_virtual_directory(noun, label):
    answer = Answer("EX01", False, {f"certificate_urls:{noun}": StepResult("x", "ok", ({"Name": "x"},))})
    assert urls.KIND_INSTANCE.observe(answer, "")[1] == ObservedObject(URLS, f"{label} ({noun})", "", {"Name": "x"})


def test_observe_refuses_a_failed_read():
    failed = Answer("EX01", False, {"p/certificate_urls:OabVirtualDirectory": StepResult("x", "error", error=StepError("access denied"))})
    with pytest.raises(ReadError) as err:
        urls.KIND_INSTANCE.observe(failed, "p/")
    assert str(err.value) == "Get-OabVirtualDirectory: access denied"
    not_run = Answer("EX01", False, {"p/certificate_urls:receive": StepResult("x", "not_run")})
    with pytest.raises(ReadError) as err:
        urls.KIND_INSTANCE.observe(not_run, "p/")
    assert str(err.value) == "Get-receive: not_run"


# --- needs --------------------------------------------------------------------------------------------------------


def test_needs_of_urls_host_names_and_the_autodiscover_uri():
    observed = (
        url(OWA, InternalUrl="https://Mail.contoso.com/owa", ExternalUrl="https://owa.contoso.com:8443/owa"),
        url("EWS (WebServicesVirtualDirectory)", InternalUrl=None, ExternalUrl=""),
        url("the admin centre (EcpVirtualDirectory)", InternalUrl="not a url"),
        url("Outlook Anywhere (OutlookAnywhere)", InternalHostname="oa-in.contoso.com", ExternalHostname="oa.contoso.com"),
        url("Outlook Anywhere (OutlookAnywhere)", InternalHostname=None, ExternalHostname=""),
        url("the Client Access service (ClientAccessService)", AutoDiscoverServiceInternalUri="https://ad.contoso.com/Autodiscover/Autodiscover.xml"),
        url("the Client Access service (ClientAccessService)", AutoDiscoverServiceInternalUri="nohost"),
        url("the Client Access service (ClientAccessService)", AutoDiscoverServiceInternalUri=None),
    )
    assert urls.needs(observed, True) == [
        Need("mail.contoso.com", f"{OWA} InternalUrl https://Mail.contoso.com/owa", "IIS", False),
        Need("owa.contoso.com", f"{OWA} ExternalUrl https://owa.contoso.com:8443/owa", "IIS", True),
        Need("oa-in.contoso.com", "Outlook Anywhere InternalHostname oa-in.contoso.com", "IIS", False),
        Need("oa.contoso.com", "Outlook Anywhere ExternalHostname oa.contoso.com", "IIS", True),
        Need("ad.contoso.com", "AutoDiscoverServiceInternalUri https://ad.contoso.com/Autodiscover/Autodiscover.xml", "IIS", False),
    ]
    assert Need("n", "w", "IIS").outside is False


def test_needs_of_accepted_domains():
    observed = (domain("contoso.com"), domain("fabrikam.com", "InternalRelay"), domain("*.wingtip.com"), domain(""), domain(None),
                ObservedObject(DOMAIN, "x", "", {"DomainName": "x.com"}), domain("tailspin.com", "authoritative"))
    wanted = [Need("autodiscover.contoso.com", "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml (Autodiscover of the accepted domain "
                                               "contoso.com)", "IIS", True)]
    assert urls.needs(observed, True) == wanted
    assert urls.needs(observed, False) == []


def test_needs_of_receive_connectors():
    observed = (connector("EX01\\Default Frontend EX01", "ex01.contoso.com"), connector("EX01\\Client", ""), connector("EX01\\Relay", None),
                ObservedObject(CONNECTOR, "EX01\\Other", "", {}), ObservedObject("something else", "x", "", {"Fqdn": "x"}))
    assert urls.needs(observed, False) == [
        Need("ex01.contoso.com", 'the receive connector "EX01\\Default Frontend EX01" (Fqdn ex01.contoso.com)', "SMTP", False)]


def test_needs_once_each_by_name_case_insensitively_why_and_service():
    owa = url(OWA, InternalUrl="https://mail.contoso.com/owa")
    again = url(OWA, InternalUrl="https://MAIL.contoso.com/owa")
    assert urls.needs((owa, owa, connector("c", "mail.contoso.com"), connector("c", "MAIL.contoso.com")), True) == [
        Need("mail.contoso.com", f"{OWA} InternalUrl https://mail.contoso.com/owa", "IIS"),
        Need("mail.contoso.com", 'the receive connector "c" (Fqdn mail.contoso.com)', "SMTP"),
        Need("MAIL.contoso.com", 'the receive connector "c" (Fqdn MAIL.contoso.com)', "SMTP")]
    assert len(urls.needs((owa, again), True)) == 2  # what uses it differs (the URL as written)
    oa = url("Outlook Anywhere (OutlookAnywhere)", InternalHostname="a.contoso.com")
    oa_upper = url("Outlook Anywhere (OutlookAnywhere)", InternalHostname="A.contoso.com")
    assert len(urls.needs((oa, oa), True)) == 1 and len(urls.needs((oa, oa_upper), True)) == 2
    same = ObservedObject(URLS, "x", "", {"InternalHostname": "a.contoso.com"})
    assert urls.needs((oa, same, same), True) == [Need("a.contoso.com", "Outlook Anywhere InternalHostname a.contoso.com", "IIS")]


def test_needs_dedupe_ignores_the_case_of_the_name_only():
    # one host name with two spellings in the same "why" cannot occur in why (it holds the name); two domains can
    d1, d2 = domain("contoso.com"), domain("contoso.com")
    assert len(urls.needs((d1, d2), True)) == 1


# --- which certificate IIS serves ---------------------------------------------------------------------------------


def test_iis_serves_the_default_web_sites_certificate():
    front = cert("FRONT", self_signed=True, services=frozenset({"SMTP"}), before=NOW - dt.timedelta(days=900))
    back = cert("BACK", before=NOW)
    assert urls.iis_certificate((row(back, ["IIS://EX01/W3SVC/2"]), row(front, ["IIS://ex01/w3svc/2", "iis://ex01/w3svc/1"]))).thumbprint == "FRONT"
    first, second = cert("ONE"), cert("TWO")
    assert urls.iis_certificate((row(first, ["IIS://EX01/W3SVC/1"]), row(second, ["IIS://EX01/W3SVC/1"]))).thumbprint == "ONE"
    assert urls.iis_certificate((row(first, ["IIS://EX01/W3SVC/11"]), row(second, None))).thumbprint == "ONE"
    assert urls.iis_certificate((row(first, None),)).thumbprint == "ONE"


def test_else_the_newest_that_shows_iis_and_is_not_self_signed():
    old = cert("OLD", before=NOW - dt.timedelta(days=10))
    new = cert("NEW", before=NOW - dt.timedelta(days=5))
    selfsigned = cert("SELF", self_signed=True, before=NOW)
    smtp = cert("SMTP", services=frozenset({"SMTP"}), before=NOW)
    unknown = cert("UNKNOWN", services=None, before=NOW)
    undated = cert("UNDATED", before=None)
    assert urls.iis_certificate((row(old), row(new), row(selfsigned), row(smtp), row(unknown))).thumbprint == "NEW"
    assert urls.iis_certificate((row(new), row(old))).thumbprint == "NEW"
    assert urls.iis_certificate((row(undated), row(old))).thumbprint == "OLD"
    assert urls.iis_certificate((row(undated),)).thumbprint == "UNDATED"
    assert urls.iis_certificate((row(selfsigned), row(smtp))).thumbprint == "SELF"
    assert urls.iis_certificate((row(smtp), row(unknown))) is None
    assert urls.iis_certificate((url(OWA, InternalUrl="https://m/owa"),)) is None
    nothing = cert("NONE", services=frozenset())
    assert urls.iis_certificate((row(nothing),)) is None


# --- why a certificate does not serve a name ----------------------------------------------------------------------


def test_why_not_each_reason_exactly():
    need = Need("mail.contoso.com", "w", "IIS")
    outside = Need("mail.contoso.com", "w", "IIS", True)
    good = cert("AAAA1111BBBB")
    assert urls.why_not(None, need, NOW) == "no certificate is bound to IIS"
    assert urls.why_not(None, Need("x", "w", "SMTP"), NOW) == "no certificate is bound to SMTP"
    assert urls.why_not(good, need, NOW) == "" and urls.why_not(good, outside, NOW) == ""
    other = cert(subject="CN=other.contoso.com", domains=("other.contoso.com", "x.contoso.com"))
    assert urls.why_not(other, need, NOW) == ("CN=other.contoso.com (AAAA1111) does not cover mail.contoso.com "
                                              "(its names: other.contoso.com, x.contoso.com)")
    assert urls.why_not(cert(subject="O=Contoso", domains=()), need, NOW) == "O=Contoso (AAAA1111) does not cover mail.contoso.com (its names: none)"
    assert urls.why_not(cert(subject="O=Contoso", domains=("mail.contoso.com",)), need, NOW) == ""
    assert urls.why_not(cert(subject="CN=*.contoso.com", domains=()), need, NOW) == ""
    assert urls.why_not(cert(before=NOW + dt.timedelta(seconds=1)), need, NOW) == "CN=mail.contoso.com (AAAA1111) is not valid yet (from 2030-06-15)"
    assert urls.why_not(cert(before=NOW), need, NOW) == ""
    assert urls.why_not(cert(before=None), need, NOW) == ""
    assert urls.why_not(cert(after=NOW), need, NOW) == "CN=mail.contoso.com (AAAA1111) expired on 2030-06-15"
    assert urls.why_not(cert(after=NOW + dt.timedelta(seconds=1)), need, NOW) == ""
    assert urls.why_not(cert(after=None), need, NOW) == ""
    assert urls.why_not(cert(status="Untrusted"), need, NOW) == "CN=mail.contoso.com (AAAA1111) is not trusted (Status Untrusted)"
    assert urls.why_not(cert(self_signed=True), need, NOW) == ""
    assert urls.why_not(cert(self_signed=True), outside, NOW) == "CN=mail.contoso.com (AAAA1111) is self-signed: clients outside do not trust it"


def test_why_not_says_the_first_reason():
    need = Need("x.contoso.com", "w", "IIS", True)
    bad = cert(before=NOW + dt.timedelta(days=1), after=NOW - dt.timedelta(days=1), status="Revoked", self_signed=True)
    assert urls.why_not(bad, need, NOW).endswith("does not cover x.contoso.com (its names: mail.contoso.com)")
    assert urls.why_not(bad, Need("mail.contoso.com", "w", "IIS", True), NOW).endswith("is not valid yet (from 2030-06-16)")
    late = cert(after=NOW - dt.timedelta(days=1), status="Revoked", self_signed=True)
    assert urls.why_not(late, Need("mail.contoso.com", "w", "IIS", True), NOW).endswith("expired on 2030-06-14")
    revoked = cert(status="Revoked", self_signed=True)
    assert urls.why_not(revoked, Need("mail.contoso.com", "w", "IIS", True), NOW).endswith("is not trusted (Status Revoked)")


# --- judge --------------------------------------------------------------------------------------------------------


def test_judge_iis_names_against_the_iis_certificate():
    good = cert("GOOD1234XXXX", domains=("mail.contoso.com", "autodiscover.contoso.com"))
    observed = (url(OWA, InternalUrl="https://mail.contoso.com/owa", ExternalUrl="https://webmail.contoso.com/owa"), domain("contoso.com"), row(good))
    verdicts = urls.judge(observed, True, NOW)
    assert [(n.name, served, problem) for n, served, problem in verdicts] == [
        ("mail.contoso.com", "CN=mail.contoso.com (GOOD1234)", ""),
        ("webmail.contoso.com", "", "CN=mail.contoso.com (GOOD1234) does not cover webmail.contoso.com (its names: mail.contoso.com, "
                                    "autodiscover.contoso.com)"),
        ("autodiscover.contoso.com", "CN=mail.contoso.com (GOOD1234)", "")]
    assert [n.name for n, _, _ in urls.judge(observed, False, NOW)] == ["mail.contoso.com", "webmail.contoso.com"]
    assert urls.judge((url(OWA, InternalUrl="https://mail.contoso.com/owa"),), True, NOW) == [
        (Need("mail.contoso.com", f"{OWA} InternalUrl https://mail.contoso.com/owa", "IIS"), "", "no certificate is bound to IIS")]


def test_judge_smtp_names_against_every_certificate_enabled_for_smtp():
    need = connector("EX01\\Default", "ex01.contoso.com")
    wrong = cert("WRONG0000000", subject="CN=other", domains=("other",), services=frozenset({"SMTP"}))
    right = cert("RIGHT0000000", subject="CN=ex01", domains=("ex01.contoso.com",), services=frozenset({"SMTP", "IIS"}))
    right2 = cert("RIGHT2000000", subject="CN=ex01", domains=("ex01.contoso.com",), services=frozenset({"SMTP"}))
    nameless = cert("NAMELESS0000", subject="CN=ex01.contoso.com", domains=(), services=frozenset({"SMTP"}))
    iis_only = cert("IISONLY00000", subject="CN=ex01", domains=("ex01.contoso.com",))
    unread = cert("UNREAD000000", subject="CN=ex01", domains=("ex01.contoso.com",), services=None)
    n = Need("ex01.contoso.com", 'the receive connector "EX01\\Default" (Fqdn ex01.contoso.com)', "SMTP")
    assert urls.judge((need, row(wrong), row(right), row(right2)), True, NOW) == [(n, "CN=ex01 (RIGHT000)", "")]
    assert urls.judge((need, row(wrong)), True, NOW) == [(n, "", "CN=other (WRONG000) does not cover ex01.contoso.com (its names: other)")]
    many = "no valid certificate enabled for SMTP covers ex01.contoso.com"
    assert urls.judge((need, row(wrong), row(wrong)), True, NOW) == [(n, "", many)]
    assert urls.judge((need, row(nameless), row(iis_only), row(unread)), True, NOW) == [(n, "", many)]
    assert urls.judge((need, row(nameless), row(wrong)), True, NOW) == [(n, "", "CN=other (WRONG000) does not cover ex01.contoso.com (its names: other)")]
    expired = cert("EXPIRED00000", subject="CN=ex01", domains=("ex01.contoso.com",), services=frozenset({"SMTP"}), after=NOW - dt.timedelta(days=2))
    assert urls.judge((need, row(expired)), True, NOW) == [(n, "", "CN=ex01 (EXPIRED0) expired on 2030-06-13")]


# --- planned certificates that bind IIS -----------------------------------------------------------------------------


def _change(kind="exchange_certificate", action="create", payload=None, cid="c1") -> Change:
    return Change(cid, "ex01", kind, f"certificate {cid}", "", action, (), "", payload=payload)


def test_planned_iis_a_request_as_it_will_be():
    req = RequestSpec("CN=mail.contoso.com", ("owa.contoso.com",))
    issuer = IssuerSpec("acme", "https://acme/dir")
    by_services = _change(payload=RequestWork(req, issuer, frozenset({"IIS"}), False))
    by_expect = _change(payload=RequestWork(req, issuer, frozenset(), False, expect=frozenset({"IIS", "SMTP"})), cid="c2")
    smtp_only = _change(payload=RequestWork(req, issuer, frozenset({"SMTP"}), True, expect=frozenset({"SMTP"})), cid="c3")
    expected = Cert("new:CN=mail.contoso.com", "CN=mail.contoso.com", "", ("mail.contoso.com", "owa.contoso.com"), NOW, NOW + dt.timedelta(days=90),
                    frozenset({"IIS"}), "Valid")
    assert urls.planned_iis((by_services, by_expect, smtp_only), NOW) == [(by_services, expected), (by_expect, expected)]


@dataclass(frozen=True)
class Requested:
    """A payload that says only the request and the services it enables (no ``expect``)."""

    request: RequestSpec
    services: frozenset


@dataclass(frozen=True)
class Expected:
    """A payload that says only the request and the services it shows afterwards (no ``services``)."""

    request: RequestSpec
    expect: frozenset


@dataclass(frozen=True)
class Imported:
    """A payload that says only the certificate it leaves (no ``expect``: nothing known to bind)."""

    cert: Cert


def test_planned_iis_reads_what_a_payload_says():
    req = RequestSpec("CN=mail.contoso.com", ())
    a = _change(payload=Requested(req, frozenset({"IIS"})), cid="a")
    b = _change(payload=Expected(req, frozenset({"IIS"})), cid="b")
    c = _change(payload=Imported(cert("X")), cid="c")
    d = _change(payload=Requested(req, frozenset({"SMTP"})), cid="d")
    assert [(ch.id, got.thumbprint) for ch, got in urls.planned_iis((a, b, c, d), NOW)] == [("a", "new:CN=mail.contoso.com"),
                                                                                            ("b", "new:CN=mail.contoso.com")]


def test_planned_iis_a_certificate_change_that_binds_iis():
    c = cert("PLANNED00000")
    iis = _change(payload=CertWork(expect=frozenset({"IIS", "SMTP"}), cert=c))
    smtp = _change(payload=CertWork(expect=frozenset({"SMTP"}), cert=c), cid="c2")
    unknown = _change(payload=CertWork(expect=frozenset({"IIS"})), cid="c3")
    services_only = _change(payload=CertWork(services="IIS", cert=c), cid="c4")
    deleted = _change(action="delete", payload=CertWork(expect=frozenset({"IIS"}), cert=c), cid="c5")
    other = _change(kind="transport_service", payload=CertWork(expect=frozenset({"IIS"}), cert=c), cid="c6")
    nothing = _change(payload=None, cid="c7")
    assert urls.planned_iis((deleted, other, iis, smtp, unknown, services_only, nothing), NOW) == [(iis, c)]
    assert urls.planned_iis((other, deleted, iis), NOW) == [(iis, c)]
    assert [ch.id for ch, _ in urls.planned_iis((_change(action="replace", payload=CertWork(expect=frozenset({"IIS"}), cert=c)),), NOW)] == ["c1"]
    assert [ch.id for ch, _ in urls.planned_iis((_change(action="update", payload=CertWork(expect=frozenset({"IIS"}), cert=c)),), NOW)] == ["c1"]


# --- plan ---------------------------------------------------------------------------------------------------------


def _want(autodiscover=True) -> Desired:
    return Desired(KIND, "", (DesiredValue("certificate_urls", UrlSpec(autodiscover), HERE),), HERE)


def _ctx(*planned: Change) -> PlanContext:
    return PlanContext("ex01", FACTS, "EX01", planned=planned)


def test_plan_in_sync_with_every_name_as_a_property():
    good = cert("GOOD1234XXXX", domains=("mail.contoso.com", "autodiscover.contoso.com"))
    observed = (ObservedObject(KIND, "", "", {"UtcNow": "2030-06-15T12:00:00Z"}), url(OWA, InternalUrl="https://mail.contoso.com/owa"),
                domain("contoso.com"), row(good))
    plan = urls.KIND_INSTANCE.plan((_want(),), observed, _ctx())
    assert plan.changes == () and plan.refusals == () and plan.problems == () and plan.warnings == ()
    assert plan.findings == (Finding("ex01", KIND, "EX01", FindingStatus.IN_SYNC, HERE, (
        FindingProperty(f"{OWA} InternalUrl https://mail.contoso.com/owa", "a valid certificate for mail.contoso.com", "CN=mail.contoso.com (GOOD1234)", HERE),
        FindingProperty("https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml (Autodiscover of the accepted domain contoso.com)",
                        "a valid certificate for autodiscover.contoso.com", "CN=mail.contoso.com (GOOD1234)", HERE)), ""),)
    without = urls.KIND_INSTANCE.plan((_want(False),), observed, _ctx())
    assert len(without.findings[0].properties) == 1


def test_plan_finds_each_name_not_served_and_says_why():
    good = cert("GOOD1234XXXX")
    observed = (url(OWA, InternalUrl="https://mail.contoso.com/owa", ExternalUrl="https://webmail.contoso.com/owa"), connector("EX01\\Default", "ex01"),
                row(good))
    finding = urls.CertificateUrlsKind(clock=lambda: NOW).plan((_want(),), observed, _ctx()).findings[0]
    assert (finding.host, finding.kind, finding.name, finding.status, finding.source) == ("ex01", KIND, "EX01", FindingStatus.CHANGE, HERE)
    assert [(p.prop, p.actual) for p in finding.properties] == [
        (f"{OWA} InternalUrl https://mail.contoso.com/owa", "CN=mail.contoso.com (GOOD1234)"),
        (f"{OWA} ExternalUrl https://webmail.contoso.com/owa", "CN=mail.contoso.com (GOOD1234) does not cover webmail.contoso.com "
                                                             "(its names: mail.contoso.com)"),
        ('the receive connector "EX01\\Default" (Fqdn ex01)', "no valid certificate enabled for SMTP covers ex01")]
    assert finding.message == (f"{OWA} ExternalUrl https://webmail.contoso.com/owa needs webmail.contoso.com: CN=mail.contoso.com (GOOD1234) does not "
                               "cover webmail.contoso.com (its names: mail.contoso.com); the receive connector \"EX01\\Default\" (Fqdn ex01) needs ex01: "
                               "no valid certificate enabled for SMTP covers ex01")


def test_plan_judges_at_the_servers_clock_else_the_controllers():
    expiring = cert("EXPIRING0000", after=dt.datetime(2030, 6, 15, 12, 0, 1, tzinfo=dt.timezone.utc))
    observed = (url(OWA, InternalUrl="https://mail.contoso.com/owa"), row(expiring))

    def status(server_now, clock):
        kind = urls.CertificateUrlsKind(clock=lambda: clock)
        seen = ((ObservedObject(KIND, "", "", {"UtcNow": server_now}),) if server_now is not None else ()) + observed
        return kind.plan((_want(),), seen, _ctx()).findings[0].status

    assert status("2030-06-15T12:00:00Z", NOW + dt.timedelta(days=1)) == FindingStatus.IN_SYNC
    assert status("2030-06-15T12:00:01Z", NOW) == FindingStatus.CHANGE
    assert status("2030-06-15T12:00:00+00:00", NOW + dt.timedelta(days=1)) == FindingStatus.IN_SYNC
    assert status("", NOW + dt.timedelta(days=1)) == FindingStatus.CHANGE
    assert status(None, NOW) == FindingStatus.IN_SYNC
    assert status(None, NOW + dt.timedelta(seconds=1)) == FindingStatus.CHANGE


def test_plan_refuses_an_iis_binding_that_misses_a_name():
    observed = (url(OWA, InternalUrl="https://mail.contoso.com/owa", ExternalUrl="https://webmail.contoso.com/owa"),
                connector("EX01\\Default", "smtp.contoso.com"), row(cert("GOOD1234XXXX", domains=("mail.contoso.com", "webmail.contoso.com"))))
    short = _change(payload=CertWork(expect=frozenset({"IIS"}), cert=cert("SHORT0000000", subject="O=Contoso", domains=())), cid="short")
    partial = _change(payload=CertWork(expect=frozenset({"IIS"}), cert=cert("PART00000000")), cid="partial")
    full = _change(payload=CertWork(expect=frozenset({"IIS"}), cert=cert("FULL00000000", subject="CN=*.contoso.com", domains=())), cid="full")
    plan = urls.KIND_INSTANCE.plan((_want(),), observed, _ctx(short, partial, full))
    assert plan.refusals == (
        Refusal(RAIL, "ex01", f"EX01: certificate short would serve IIS, but {OWA} InternalUrl https://mail.contoso.com/owa needs mail.contoso.com, "
                              "which its names (none) do not cover; add it to the certificate's names, or change that URL", "short"),
        Refusal(RAIL, "ex01", f"EX01: certificate short would serve IIS, but {OWA} ExternalUrl https://webmail.contoso.com/owa needs "
                              "webmail.contoso.com, which its names (none) do not cover; add it to the certificate's names, or change that URL", "short"),
        Refusal(RAIL, "ex01", f"EX01: certificate partial would serve IIS, but {OWA} ExternalUrl https://webmail.contoso.com/owa needs "
                              "webmail.contoso.com, which its names (mail.contoso.com) do not cover; add it to the certificate's names, or change that URL",
                "partial"))
    assert urls.KIND_INSTANCE.plan((_want(),), observed, _ctx(full)).refusals == ()
    two = _change(payload=CertWork(expect=frozenset({"IIS"}), cert=cert("TWO000000000", subject="CN=a.contoso.com", domains=("b.contoso.com",))),
                  cid="two")
    assert [r.message for r in urls.KIND_INSTANCE.plan((_want(),), observed, _ctx(two)).refusals][0] == (
        f"EX01: certificate two would serve IIS, but {OWA} InternalUrl https://mail.contoso.com/owa needs mail.contoso.com, which its names "
        "(a.contoso.com, b.contoso.com) do not cover; add it to the certificate's names, or change that URL")
    # a planned IIS certificate is judged against autodiscover names only when they are wanted
    with_domain = observed + (domain("contoso.com"),)
    named = _change(payload=CertWork(expect=frozenset({"IIS"}), cert=cert("NAMED0000000", domains=("mail.contoso.com", "webmail.contoso.com"))))
    assert len(urls.KIND_INSTANCE.plan((_want(),), with_domain, _ctx(named)).refusals) == 1
    assert urls.KIND_INSTANCE.plan((_want(False),), with_domain, _ctx(named)).refusals == ()
