"""Requested certificates (modules/certificate_requests.py): which certificate or pending request a declaration
means, when it is due (renew_within_days at its boundary), the change and finding exactly (create, replace, update,
in sync, the problems), every operation, step and parameter in order, what runs on the controller, the challenge
files an order resolves to, and what is read back and said."""

from __future__ import annotations

import datetime as dt

import pytest

from exconf.model import (CONTROLLER, PROGRAM, Change, ControllerError, Desired, Finding, FindingProperty, FindingStatus, ObservedObject, Operation,
                          PropertyChange, ServerFacts)
from exconf.modules import certificate_requests as cr
from exconf.modules.acme_issuer import AcmeIssuer
from exconf.modules.base import PeerRead, PlanContext
from exconf.modules.certificate_issuers import Challenge, DnsUpdate, IssuerError, IssuerSpec, Session
from exconf.modules.certificate_requests import (CHALLENGE, COPY, IMPORT, ISSUE, KIND, ORDER, REQUEST, UNCHALLENGE, CopyWork, RequestWork,
                                                 TransitPassword)
from exconf.modules.certificate_values import Cert, CertSpec, CopySpec, RequestSpec
from exconf.remote import LOCAL_SERVER, FromOperation, OutputRef, Secret, Step
from exconf.yamlsource import Location

NOW = dt.datetime(2030, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
HERE = Location("inv.yaml", 10, 5)
AT = {k: Location("inv.yaml", i, 7) for i, k in enumerate(("request", "issuer", "services", "copy_to", "renew_within_days", "default_smtp"), 20)}
EX01 = ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam")
EX02 = ServerFacts("EX02", "ex02.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam")
EDGE = ServerFacts("EDGE01", "edge01.contoso.com", "Edge", "15.2.1544.4", "")
REQ = RequestSpec("CN=mail.contoso.com", ("autodiscover.contoso.com",))
NAMES = ("mail.contoso.com", "autodiscover.contoso.com")
ACME = IssuerSpec("acme", "https://acme.test/dir")
ACME_DNS = IssuerSpec("acme", "https://acme.test/dir", challenge="dns-01", dns=DnsUpdate("ns1", 53, "contoso.com"), timeout_seconds=300)


def cert(thumb: str, domains=NAMES, subject: str = "CN=mail.contoso.com", after: float = 80, before: float = 10, status: str = "Valid",
         services=frozenset({"IIS"}), self_signed: bool = False, key: bool = True, key_size: int | None = 2048, issuer: str = "CN=R3") -> Cert:
    return Cert(thumb, subject, issuer, tuple(domains), NOW - dt.timedelta(days=before) if before is not None else None,
                NOW + dt.timedelta(days=after) if after is not None else None, services, status, self_signed, key, key_size)


def answer(c: Cert) -> dict:
    return {"Thumbprint": c.thumbprint, "Subject": c.subject, "Issuer": c.issuer, "CertificateDomains": list(c.domains),
            "NotBefore": c.not_before.isoformat() if c.not_before else None, "NotAfter": c.not_after.isoformat() if c.not_after else None,
            "Services": ", ".join(sorted(c.services)) if c.services is not None else None, "Status": c.status, "IsSelfSigned": c.self_signed,
            "HasPrivateKey": c.has_key, "PublicKeySize": c.key_size}


def obj(c: Cert) -> ObservedObject:
    return ObservedObject(KIND, c.thumbprint, "", answer(c))


def spec(services=frozenset({"IIS"}), issuer=ACME, renew: int = 30, copy_to=(), default_smtp=None, req=REQ, at=None) -> CertSpec:
    return CertSpec(services=services, request=req, issuer=issuer, renew_within=renew, copy_to=tuple(copy_to), default_smtp=default_smtp,
                    at=AT if at is None else at)


WANT = Desired(KIND, "", (), HERE)


def ctx(*peers: PeerRead, facts: ServerFacts = EX01, where: str = "EX01") -> PlanContext:
    return PlanContext("ex01", facts, where, peers=peers)


def peer(host: str, facts: ServerFacts, *certs: Cert) -> PeerRead:
    return PeerRead(host, facts, tuple(obj(c) for c in certs) + (ObservedObject("other", "X", "", answer(cert("X"))),))


def plan(s: CertSpec, *store: Cert, context: PlanContext | None = None, default_smtp: str | None = None, now: dt.datetime = NOW):
    return cr.plan_request(s, WANT, {c.thumbprint: c for c in store}, context or ctx(), now, default_smtp)


# --- small values ---------------------------------------------------------------------------------------------------


def test_constants_and_small_helpers():
    assert (KIND, cr.NEW) == ("exchange_certificate", "(new, known after apply)")
    assert (REQUEST, ORDER, CHALLENGE, ISSUE, UNCHALLENGE, IMPORT, cr.EXPORT, COPY) == (
        "request", "order", "challenge", "issue", "unchallenge", "import", "export", "copy:")
    assert cr._day(NOW) == "2030-06-15" and cr._day(None) == "(unknown)"
    assert cr._wire(frozenset({"SMTP", "IIS", "IMAP"})) == "IMAP, IIS, SMTP" and cr._wire(frozenset()) == "None"
    assert cr._smtp(frozenset({"IIS", "SMTP"}), False) == (frozenset({"IIS"}), True)
    assert cr._smtp(frozenset({"IIS", "SMTP"}), True) == (frozenset({"IIS", "SMTP"}), False)
    assert cr._smtp(frozenset({"IIS"}), False) == (frozenset({"IIS"}), False)
    assert cr._smtp(frozenset({"IIS"}), True) == (frozenset({"IIS"}), False)
    assert cr._placeholder(REQ, frozenset({"IIS"})) == Cert("new:CN=mail.contoso.com", "CN=mail.contoso.com", "", NAMES, None, None,
                                                           frozenset({"IIS"}), "Valid", False, True, 2048)
    assert RequestWork(REQ, None, frozenset(), False) == RequestWork(REQ, None, frozenset(), False, False, "", "", "", (), None, frozenset())


def test_the_transit_password_is_random_kept_in_memory_and_never_shown():
    one, two = TransitPassword(), TransitPassword()
    assert isinstance(one, Secret) and one.label == "made at random for this copy, kept in memory"
    value = one.reveal()
    assert value == one.reveal() and value != two.reveal() and len(value) == 43
    assert value not in repr(one) and value not in str(one)


# --- which certificate a request means ----------------------------------------------------------------------------


def test_requested_in():
    store = {c.thumbprint: c for c in (
        cert("OLD", after=10, before=80), cert("NEW", after=80, before=10), cert("LATE", after=80, before=5),
        cert("EXPIRED", after=-1, before=100), cert("OTHER", domains=("mail.contoso.com",)), cert("SELF", self_signed=True, after=300),
        cert("P1", status="PendingRequest", before=3), cert("P2", status="PendingRequest", before=1), cert("P3", status="PendingRequest", key_size=4096),
        cert("P4", status="PendingRequest", key_size=None, before=2), cert("P5", status="PendingRequest", domains=("x",), before=0),
        cert("UNTRUSTED", status="Untrusted", after=500))}
    current, pending, issued = cr.requested_in(store, REQ, NOW)
    assert current.thumbprint == "LATE"  # the same end as NEW: the later start wins the tie
    assert pending.thumbprint == "P2"
    assert [c.thumbprint for c in issued] == ["OLD", "NEW", "LATE", "EXPIRED", "UNTRUSTED"]


def test_requested_in_ties_and_nothing():
    a, b = cert("A", after=80, before=10), cert("B", after=80, before=5)
    assert cr.requested_in({"A": a, "B": b}, REQ, NOW)[0].thumbprint == "B"
    assert cr.requested_in({"B": b, "A": a}, REQ, NOW)[0].thumbprint == "B"
    assert cr.requested_in({}, REQ, NOW) == (None, None, [])
    p = cert("P", status="PendingRequest", before=None)
    q = cert("Q", status="PendingRequest", before=1)
    assert cr.requested_in({"P": p, "Q": q}, REQ, NOW)[1].thumbprint == "P"  # undated: now, the newest
    assert cr.requested_in({"P": p}, REQ, NOW)[1].thumbprint == "P"


def test_peer_store():
    context = ctx(peer("ex02", EX02, cert("A")))
    assert cr._peer_store(context, "ex02") == {"A": cert("A", before=10)} | {"A": cr.cert_from_answer(answer(cert("A")))}
    assert cr._peer_store(context, "ex03") is None


# --- in sync ------------------------------------------------------------------------------------------------------


def test_in_sync_exactly():
    current = cert("AAAA1111BBBB", services=frozenset({"IIS", "SMTP"}))
    change, finding, problems, warnings, judged = plan(spec(), current)
    assert (change, problems, warnings, judged) == (None, [], [], current)
    assert finding == Finding("ex01", KIND, "CN=mail.contoso.com (AAAA1111)", FindingStatus.IN_SYNC, HERE, (
        FindingProperty("thumbprint", "AAAA1111BBBB", "AAAA1111BBBB", HERE),
        FindingProperty("subject", "CN=mail.contoso.com", "CN=mail.contoso.com", HERE),
        FindingProperty("services", ["IIS", "SMTP"], ["IIS", "SMTP"], HERE),
        FindingProperty("self_signed", False, False, HERE),
        FindingProperty("not_after", "2030-09-03T12:00:00Z", "2030-09-03T12:00:00Z", HERE)))


def test_due_below_renew_within_days():
    at_the_line = cert("AAAA", after=30)
    assert plan(spec(renew=30), at_the_line)[0] is None
    assert plan(spec(renew=31), at_the_line)[0].action == "replace"
    assert plan(spec(renew=30), cert("AAAA", after=30 - 1 / 86400))[0].action == "replace"
    assert plan(spec(services=None), cert("AAAA", services=None))[0] is None


def test_the_default_smtp_certificate():
    current = cert("AAAA1111BBBB", services=frozenset({"IIS", "SMTP"}))
    assert plan(spec(default_smtp=True), current, default_smtp="AAAA1111BBBB")[0] is None
    change = plan(spec(default_smtp=True), current, default_smtp="OTHER")[0]
    assert change.action == "update" and change.payload.default is True and change.payload.services == frozenset({"SMTP"})
    assert change.payload.network_service is False and change.reason == ""
    iis_only = cert("AAAA1111BBBB", services=frozenset({"IIS"}))
    change = plan(spec(default_smtp=True), iis_only, default_smtp="OTHER")[0]
    assert (change.payload.services, change.payload.network_service, change.payload.default) == (frozenset({"SMTP"}), False, True)
    assert change.reason == "enable SMTP"
    assert plan(spec(default_smtp=False), current, default_smtp="OTHER")[0] is None


# --- update -------------------------------------------------------------------------------------------------------


def test_update_enables_what_is_missing():
    current = cert("AAAA1111BBBB", services=frozenset({"IIS"}))
    change, finding, problems, warnings, judged = plan(spec(services=frozenset({"IIS", "SMTP", "IMAP"})), current)
    assert change == Change("ex01/exchange_certificate/AAAA1111BBBB", "ex01", KIND, "CN=mail.contoso.com (AAAA1111)", "AAAA1111BBBB", "update", (
        PropertyChange("services", "", ["IIS"], ["IMAP", "IIS", "SMTP"], None, AT["services"]),), "enable IMAP, SMTP")
    assert change.payload == RequestWork(REQ, None, frozenset({"IMAP"}), True, False, thumbprint="AAAA1111BBBB", expect=frozenset({"IIS", "SMTP", "IMAP"}))
    assert change.payload.transit is None and change.payload.copies == ()
    assert finding.status == FindingStatus.CHANGE and finding.name == "CN=mail.contoso.com (AAAA1111)"
    assert finding.properties[2] == FindingProperty("services", ["IMAP", "IIS", "SMTP"], ["IIS"], HERE)
    assert finding.properties[0] == FindingProperty("thumbprint", "AAAA1111BBBB", "AAAA1111BBBB", HERE)
    assert (problems, warnings, judged) == ([], [], current)


def test_update_with_unknown_services():
    current = cert("AAAA1111BBBB", services=None)
    change, finding, *_ = plan(spec(services=frozenset({"IIS"})), current)
    assert change.properties == (PropertyChange("services", "", [], ["IIS"], None, AT["services"]),)
    assert change.payload.expect == frozenset({"IIS"}) and finding.properties[2] == FindingProperty("services", ["IIS"], [], HERE)


def test_update_copies_to_other_hosts():
    current = cert("AAAA1111BBBB", services=frozenset({"IIS"}))
    context = ctx(peer("ex02", EX02), peer("edge01", EDGE, cert("AAAA1111BBBB", services=frozenset({"IMAP"}))),
                  peer("ex03", EX02, cert("AAAA1111BBBB", services=frozenset({"IIS", "SMTP"}))),
                  peer("ex04", EX02, cert("AAAA1111BBBB", services=None)), peer("ex05", EX02, cert("AAAA1111BBBB", services=frozenset({"SMTP"}))))
    copies = (CopySpec("ex02", frozenset({"IIS"})), CopySpec("edge01", frozenset({"SMTP"})), CopySpec("ex03", frozenset({"SMTP"})),
              CopySpec("ex04", frozenset({"SMTP"})), CopySpec("ex05", frozenset({"SMTP"})))
    change, finding, problems, _, _ = plan(spec(copy_to=copies), current, context=context)
    assert problems == []
    assert change.properties == (PropertyChange("copied_to", "", [], ["ex02", "edge01"], None, AT["copy_to"]),)
    assert change.reason == "copy to ex02, copy to edge01"
    assert change.payload.copies == (CopyWork("ex02", True, frozenset({"IIS"})), CopyWork("edge01", False, frozenset({"SMTP"})))
    assert isinstance(change.payload.transit, TransitPassword)
    assert change.payload.services == frozenset() and change.payload.network_service is False
    only_services = plan(spec(copy_to=copies[1:]), current, context=context)[0]
    assert only_services.payload.transit is None and only_services.payload.copies == (CopyWork("edge01", False, frozenset({"SMTP"})),)


def test_copy_problems():
    current = cert("AAAA1111BBBB")
    change, finding, problems, warnings, judged = plan(spec(copy_to=(CopySpec("ex09"), CopySpec("edge01", frozenset({"SMTP", "IIS"})),
                                                                     CopySpec("ex10"))), current, context=ctx(peer("edge01", EDGE)))
    assert change is None and warnings == []
    assert problems == [
        "inv.yaml:23:7: exchange.certificates: copy_to ex09: that host was not read in this run (outside --limit, or it failed): the certificate "
        "cannot be copied there",
        "inv.yaml:23:7: exchange.certificates: copy_to edge01 is an Edge Transport server, where a certificate serves only SMTP (declared: IIS, SMTP)",
        "inv.yaml:23:7: exchange.certificates: copy_to ex10: that host was not read in this run (outside --limit, or it failed): the certificate "
        "cannot be copied there"]
    assert finding == Finding("ex01", KIND, "CN=mail.contoso.com", FindingStatus.ERROR, HERE, message="; ".join(problems))
    assert judged == cr._placeholder(REQ, frozenset({"IIS"}))
    no_at = plan(spec(copy_to=(CopySpec("ex09"),), at={}), current)[2]
    assert no_at[0].startswith("inv.yaml:10:5: exchange.certificates: copy_to ex09")


def test_a_due_certificate_is_copied_anew():
    current = cert("AAAA1111BBBB", after=5)
    change = plan(spec(copy_to=(CopySpec("ex02", frozenset({"IIS"})),)), current, context=ctx(peer("ex02", EX02, current)))[0]
    assert change.action == "replace" and change.payload.copies == (CopyWork("ex02", True, frozenset({"IIS"})),)


# --- create and replace ---------------------------------------------------------------------------------------------


def test_create_exactly():
    change, finding, problems, warnings, judged = plan(spec(services=frozenset({"IIS", "SMTP"})), cert("EXPIRED1", after=-1, before=100))
    props = (PropertyChange("request", "", "(none)", "New-ExchangeCertificate -GenerateRequest on EX01: a 2048-bit key made there, not exportable", None,
                            AT["request"]),
             PropertyChange("issuer", "", "(none)", "ACME https://acme.test/dir (http-01)", None, AT["issuer"]),
             PropertyChange("services", "", [], ["IIS", "SMTP"], None, AT["services"]),
             PropertyChange("valid_until", "", "(none)", "(as the issuer signs it)", None, AT["request"]))
    reason = ("no valid certificate CN=mail.contoso.com for mail.contoso.com, autodiscover.contoso.com on EX01 (1 expired or not valid): requested from "
              "ACME https://acme.test/dir (http-01)")
    assert change == Change("ex01/exchange_certificate/request:cn=mail.contoso.com", "ex01", KIND, "CN=mail.contoso.com (requested)", "", "create", props,
                            reason)
    assert change.payload == RequestWork(REQ, ACME, frozenset({"IIS"}), True, False, expect=frozenset({"IIS", "SMTP"}))
    assert change.payload.transit is None
    placeholder = cr._placeholder(REQ, frozenset({"IIS", "SMTP"}))
    assert judged == placeholder and (problems, warnings) == ([], [])
    assert finding == Finding("ex01", KIND, "CN=mail.contoso.com (requested)", FindingStatus.CHANGE, HERE, (
        FindingProperty("thumbprint", "(new, known after apply)", "(not on the server)", HERE),
        FindingProperty("subject", "CN=mail.contoso.com", "CN=mail.contoso.com", HERE),
        FindingProperty("services", ["IIS", "SMTP"], [], HERE),
        FindingProperty("self_signed", False, False, HERE),
        FindingProperty("not_after", "(unknown)", "(unknown)", HERE)))


def test_create_with_nothing_there_exportable_default_and_copies():
    req = RequestSpec("CN=mail.contoso.com", ("autodiscover.contoso.com",), 4096, True)
    s = spec(req=req, services=frozenset({"IIS"}), default_smtp=True, copy_to=(CopySpec("ex02", frozenset({"IIS"})),))
    change = plan(s, context=ctx(peer("ex02", EX02)), default_smtp="D" * 40)[0]
    assert change.reason == ("no valid certificate CN=mail.contoso.com for mail.contoso.com, autodiscover.contoso.com on EX01: requested from "
                             "ACME https://acme.test/dir (http-01)")
    assert change.properties[0].after == "New-ExchangeCertificate -GenerateRequest on EX01: a 4096-bit key made there, exportable"
    assert change.properties[4:] == (PropertyChange("copied_to", "", [], ["ex02"], None, AT["copy_to"]),
                                     PropertyChange("default_smtp", "", "D" * 40, "(the new certificate)", None, AT["default_smtp"]))
    assert change.properties[2] == PropertyChange("services", "", [], ["IIS", "SMTP"], None, AT["services"])
    assert change.payload.default is True and change.payload.network_service is False and change.payload.services == frozenset({"IIS", "SMTP"})
    assert isinstance(change.payload.transit, TransitPassword)
    assert plan(s, context=ctx(peer("ex02", EX02)))[0].properties[5].before == "(unknown)"


def test_where_nothing_is_located_the_declaration_is_named():
    context = ctx(peer("ex02", EX02))
    copy = (CopySpec("ex02", frozenset({"IIS"})),)
    change = plan(spec(at={}, default_smtp=True, copy_to=copy), context=context)[0]
    assert [p.prop for p in change.properties] == ["request", "issuer", "services", "valid_until", "copied_to", "default_smtp"]
    assert {p.source for p in change.properties} == {HERE}
    update = plan(spec(at={}, services=frozenset({"IIS", "SMTP"}), copy_to=copy), cert("AAAA"), context=context)[0]
    assert [(p.prop, p.source) for p in update.properties] == [("services", HERE), ("copied_to", HERE)]
    renewal = plan(spec(at={}), cert("AAAA", after=5))[0]
    assert [p.source for p in renewal.properties] == [HERE] * 4
    edge = plan(spec(at={}), context=ctx(facts=EDGE, where="EDGE01"))[2]
    assert edge[0].startswith("inv.yaml:10:5: exchange.certificates: EDGE01 is an Edge Transport server")
    edge_copy = plan(spec(at={}, copy_to=(CopySpec("edge01", frozenset({"IIS"})),)), context=ctx(peer("edge01", EDGE)))[2]
    assert edge_copy[0].startswith("inv.yaml:10:5: exchange.certificates: copy_to edge01 is an Edge Transport server")


def test_create_completes_a_pending_request():
    pending = cert("PEND1234XXXX", status="PendingRequest", before=2)
    change, _, _, warnings, _ = plan(spec(), pending)
    assert change.properties[0].after == "completes the pending request PEND1234 made 2030-06-13 on EX01"
    assert change.payload.pending == "PEND1234XXXX" and warnings == []
    older = cert("PEND0000XXXX", status="PendingRequest", before=5)
    other_size = cert("PEND4096XXXX", status="PendingRequest", before=1, key_size=4096)
    assert plan(spec(), pending, older)[3] == ["EX01: several pending requests for CN=mail.contoso.com; the plan completes the newest, PEND1234"]
    change, _, _, warnings, _ = plan(spec(), pending, older, other_size)
    assert change.payload.pending == "PEND1234XXXX"
    assert warnings == ["EX01: several pending requests for CN=mail.contoso.com; the plan completes the newest, PEND1234"]
    undated = cert("PENDNONE", status="PendingRequest", before=None)
    assert plan(spec(), undated)[0].properties[0].after == "completes the pending request PENDNONE made (unknown) on EX01"


def test_replace_when_due_exactly():
    current = cert("AAAA1111BBBB", after=20, services=frozenset({"IIS"}))
    change, finding, problems, warnings, judged = plan(spec(issuer=ACME_DNS), current)
    reason = "expires 2030-07-05, within the 30 days of renew_within_days: requested again from ACME https://acme.test/dir (dns-01)"
    assert change == Change("ex01/exchange_certificate/AAAA1111BBBB", "ex01", KIND, "CN=mail.contoso.com (AAAA1111)", "AAAA1111BBBB", "replace", (
        PropertyChange("thumbprint", "", "AAAA1111BBBB", "(new, known after apply)", None, AT["renew_within_days"]),
        PropertyChange("valid_until", "", "2030-07-05", "(as the issuer signs it)", None, AT["renew_within_days"]),
        PropertyChange("request", "", "(none)", "New-ExchangeCertificate -GenerateRequest on EX01: a 2048-bit key made there, not exportable", None,
                       AT["request"]),
        PropertyChange("issuer", "", "(none)", "ACME https://acme.test/dir (dns-01)", None, AT["issuer"])), reason)
    assert change.payload.old == "AAAA1111BBBB" and change.payload.issuer == ACME_DNS
    assert judged == current and (problems, warnings) == ([], [])
    assert finding.status == FindingStatus.CHANGE and finding.properties[0] == FindingProperty("thumbprint", "(new, known after apply)", "AAAA1111BBBB",
                                                                                               HERE)
    assert finding.properties[2] == FindingProperty("services", ["IIS"], ["IIS"], HERE)
    smtp_too = cert("AAAA1111BBBB", after=20, services=frozenset({"IIS", "SMTP"}))
    assert plan(spec(), smtp_too)[1].properties[2] == FindingProperty("services", ["IIS"], ["IIS", "SMTP"], HERE)
    located = plan(spec(at={"request": AT["request"]}), current)[0]
    assert located.properties[0].source == AT["request"] and located.properties[3].source == AT["request"]


def test_a_request_without_an_issuer_is_a_bug():
    with pytest.raises(AssertionError, match="^a request is declared with its issuer$"):
        plan(spec(issuer=None))


def test_http_01_on_an_edge_is_refused():
    change, finding, problems, warnings, judged = plan(spec(services=frozenset({"SMTP"})), context=ctx(facts=EDGE, where="EDGE01"))
    problem = ("inv.yaml:21:7: exchange.certificates: EDGE01 is an Edge Transport server, which has no IIS to serve an HTTP-01 challenge: prove the "
               "names with dns-01, or request the certificate on a Mailbox server and copy it here (copy_to)")
    assert change is None and problems == [problem] and warnings == []
    assert finding == Finding("ex01", KIND, "CN=mail.contoso.com", FindingStatus.ERROR, HERE, message=problem)
    assert judged == cr._placeholder(REQ, frozenset({"SMTP"}))
    assert plan(spec(services=frozenset({"SMTP"}), issuer=ACME_DNS), context=ctx(facts=EDGE, where="EDGE01"))[0].action == "create"


def test_the_finding_of_a_new_certificate_in_sync():
    placeholder = cr._placeholder(REQ, frozenset({"IIS"}))
    found = cr._finding(ctx(), WANT, placeholder, frozenset({"SMTP"}), FindingStatus.IN_SYNC, "T")
    assert found.name == "CN=mail.contoso.com (requested)" and found.properties[2] == FindingProperty("services", ["IIS", "SMTP"], [], HERE)
    assert found.properties[0] == FindingProperty("thumbprint", "T", "new:CN=mail.contoso.com", HERE)
    unknown = cert("AAAA1111", services=None)
    found = cr._finding(ctx(), WANT, unknown, frozenset({"SMTP"}), FindingStatus.IN_SYNC, "T")
    assert found.properties[2] == FindingProperty("services", ["SMTP"], [], HERE)


# --- operations -----------------------------------------------------------------------------------------------------


def _change(work: RequestWork, cid: str = "c") -> Change:
    return Change(cid, "ex01", KIND, "n", work.thumbprint, "create", (), "", payload=work)


def test_operations_of_a_new_request_with_http_01():
    pw = TransitPassword()
    work = RequestWork(REQ, ACME, frozenset({"IIS"}), True, False, old="OLD1", copies=(CopyWork("ex02", True, frozenset({"IIS", "SMTP"})),
                                                                                     CopyWork("edge01", True, frozenset())), transit=pw)
    ops = cr.operations(_change(work))
    new = Step("c#request:new", "New-ExchangeCertificate", {"GenerateRequest": True, "BinaryEncoded": True, "SubjectName": "CN=mail.contoso.com",
                                                           "DomainName": ["autodiscover.contoso.com"], "KeySize": 2048, "PrivateKeyExportable": False,
                                                           "Server": LOCAL_SERVER}, select=("FileData",), carry="FileData")
    order = Step("c#order:new", "New-AcmeOrder", {"Directory": "https://acme.test/dir", "DomainName": list(NAMES), "Challenge": "http-01",
                                                  "Request": FromOperation("c#request", "c#request:new")})
    writes = tuple(Step(f"c#challenge:{i}", "Set-Content", {"Value": FromOperation("c#order", "c#order:new", part=f"the key authorization of {n}'s "
                                                                                   "HTTP-01 challenge")},
                        web_file=FromOperation("c#order", "c#order:new", part=f"the token of {n}'s HTTP-01 challenge")) for i, n in enumerate(NAMES))
    issue = Step("c#issue:complete", "Complete-AcmeOrder", {"Directory": "https://acme.test/dir", "Timeout": 120}, carry="Chain")
    removes = tuple(Step(f"c#unchallenge:{i}", "Remove-Item", {}, web_file=FromOperation("c#order", "c#order:new", part=f"the token of {n}'s HTTP-01 "
                                                                                         "challenge")) for i, n in enumerate(NAMES))
    imported = Step("c#import:import", "Import-ExchangeCertificate", {"FileData": FromOperation("c#issue", "c#issue:complete"), "Server": LOCAL_SERVER},
                    select=("Thumbprint",))
    thumb = OutputRef("c#import:import", "Thumbprint")
    enable = Step("c#import:enable", "Enable-ExchangeCertificate", {"Thumbprint": thumb, "Services": "IIS", "Server": LOCAL_SERVER,
                                                                    "NetworkServiceAllowed": True, "DoNotRequireSsl": True})
    export = Step("c#import:export", "Export-ExchangeCertificate", {"Thumbprint": thumb, "BinaryEncoded": True, "Password": pw, "Server": LOCAL_SERVER},
                  select=("FileData",), carry="FileData")
    remove = Step("c#import:remove", "Remove-ExchangeCertificate", {"Thumbprint": "OLD1", "Server": LOCAL_SERVER, "Confirm": False})
    copy_import = Step("c#copy:ex02:import", "Import-ExchangeCertificate", {"FileData": FromOperation("c#import", "c#import:export"), "Password": pw,
                                                                           "Server": LOCAL_SERVER}, select=("Thumbprint",))
    copy_enable = Step("c#copy:ex02:enable", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef("c#copy:ex02:import", "Thumbprint"), "Services": "IIS",
                                                                            "Server": LOCAL_SERVER, "NetworkServiceAllowed": True, "DoNotRequireSsl": True})
    edge_import = Step("c#copy:edge01:import", "Import-ExchangeCertificate", {"FileData": FromOperation("c#import", "c#import:export"), "Password": pw,
                                                                             "Server": LOCAL_SERVER}, select=("Thumbprint",))
    assert ops == (
        Operation("c#request", "ex01", "c", (new,), role="request"),
        Operation("c#order", "ex01", "c", (order,), needs=("c#request",), role="order", where=CONTROLLER),
        Operation("c#challenge", "ex01", "c", writes, needs=("c#order",), role="challenge", where=PROGRAM),
        Operation("c#issue", "ex01", "c", (issue,), needs=("c#challenge",), role="issue", where=CONTROLLER),
        Operation("c#unchallenge", "ex01", "c", removes, needs=("c#issue",), role="unchallenge", where=PROGRAM, cleanup=True),
        Operation("c#import", "ex01", "c", (imported, enable, export, remove), needs=("c#issue",), role="import"),
        Operation("c#copy:ex02", "ex02", "c", (copy_import, copy_enable), needs=("c#import",), role="copy:ex02"),
        Operation("c#copy:edge01", "edge01", "c", (edge_import,), needs=("c#import",), role="copy:edge01"),
    )
    assert [o.cleanup for o in ops] == [False, False, False, False, True, False, False, False]


def test_operations_completing_a_pending_request_with_dns_01():
    work = RequestWork(REQ, ACME_DNS, frozenset(), False, True, pending="PEND1")
    ops = cr.operations(_change(work))
    assert [o.role for o in ops] == ["request", "order", "issue", "import"]
    assert ops[0].steps == (Step("c#request:export", "Export-ExchangeCertificate", {"Thumbprint": "PEND1", "BinaryEncoded": True, "Server": LOCAL_SERVER},
                                 select=("FileData",), carry="FileData"),)
    assert ops[1].steps[0].params == {"Directory": "https://acme.test/dir", "DomainName": list(NAMES), "Challenge": "dns-01",
                                      "Request": FromOperation("c#request", "c#request:export"),
                                      "DnsUpdate": "RFC 2136 updates of zone contoso.com at ns1:53"}
    assert ops[2].needs == ("c#order",) and ops[2].steps[0].params == {"Directory": "https://acme.test/dir", "Timeout": 300}
    assert ops[3].steps[1] == Step("c#import:enable", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef("c#import:import", "Thumbprint"),
                                                                                     "Services": "None", "Server": LOCAL_SERVER, "Force": True})
    assert len(ops[3].steps) == 2


def test_operations_of_an_import_only():
    ops = cr.operations(_change(RequestWork(REQ, ACME, frozenset(), False)))
    assert [s.id for s in ops[-1].steps] == ["c#import:import"]
    network = cr.operations(_change(RequestWork(REQ, ACME, frozenset(), True)))
    assert network[-1].steps[1].params == {"Thumbprint": OutputRef("c#import:import", "Thumbprint"), "Services": "None", "Server": LOCAL_SERVER,
                                           "NetworkServiceAllowed": True}


def test_operations_of_an_update():
    pw = TransitPassword()
    work = RequestWork(REQ, None, frozenset({"SMTP"}), False, True, thumbprint="AAAA", copies=(CopyWork("ex02", True, frozenset({"IIS"})),
                                                                                              CopyWork("ex03", False, frozenset({"SMTP"}))), transit=pw)
    ops = cr.operations(_change(work))
    assert ops[0] == Operation("c#import", "ex01", "c", (
        Step("c#import:enable", "Enable-ExchangeCertificate", {"Thumbprint": "AAAA", "Services": "SMTP", "Server": LOCAL_SERVER, "Force": True}),
        Step("c#import:export", "Export-ExchangeCertificate", {"Thumbprint": "AAAA", "BinaryEncoded": True, "Password": pw, "Server": LOCAL_SERVER},
             select=("FileData",), carry="FileData")), role="import")
    assert ops[1].steps[0].params["FileData"] == FromOperation("c#import", "c#import:export") and ops[1].needs == ("c#import",)
    assert ops[2] == Operation("c#copy:ex03", "ex03", "c", (
        Step("c#copy:ex03:enable", "Enable-ExchangeCertificate", {"Thumbprint": "AAAA", "Services": "None", "Server": LOCAL_SERVER,
                                                                  "NetworkServiceAllowed": True}),), needs=("c#import",), role="copy:ex03")
    assert len(ops) == 3


def test_operations_of_an_update_of_copies_only():
    work = RequestWork(REQ, None, frozenset(), False, thumbprint="AAAA", copies=(CopyWork("ex03", False, frozenset({"IIS"})),))
    (op,) = cr.operations(_change(work))
    assert op.needs == () and op.host == "ex03" and op.steps[0].params["Thumbprint"] == "AAAA"
    only_enable = cr.operations(_change(RequestWork(REQ, None, frozenset({"IIS"}), False, thumbprint="AAAA")))
    assert [s.id for s in only_enable[0].steps] == ["c#import:enable"]
    network_only = cr.operations(_change(RequestWork(REQ, None, frozenset(), True, thumbprint="AAAA")))
    assert [s.id for s in network_only[0].steps] == ["c#import:enable"]
    default_only = cr.operations(_change(RequestWork(REQ, None, frozenset(), False, True, thumbprint="AAAA")))
    assert [s.id for s in default_only[0].steps] == ["c#import:enable"]
    assert cr.operations(_change(RequestWork(REQ, None, frozenset(), False, thumbprint="AAAA"))) == ()


# --- on the controller ------------------------------------------------------------------------------------------------


class _Signer:
    """An issuer (certificate_issuers.Issuer) that signs every request with the same chain, for the controller's part."""

    def __init__(self):
        self.spec = ACME
        self.finished: list[Session] = []

    def begin(self, request_der: bytes) -> Session:
        return Session(self, (), {"request": request_der})

    def finish(self, session: Session) -> bytes:
        self.finished.append(session)
        return b"chain of " + session.state["request"]

    def abandon(self, session: Session) -> None:
        pass


def test_issuer_for():
    assert isinstance(cr.issuer_for(ACME), AcmeIssuer) and cr.issuer_for(ACME).spec is ACME
    with pytest.raises(IssuerError) as err:
        cr.issuer_for(IssuerSpec("adcs", "x"))
    assert str(err.value) == "issuer 'adcs' is not known"


def test_the_order_runs_the_issuer_with_the_servers_request():
    work = RequestWork(REQ, ACME, frozenset(), False)
    change = _change(work)
    order_op, issue_op = cr.operations(change)[1], cr.operations(change)[3]
    with pytest.raises(IssuerError, match="^the server's request is not a PKCS#10 certificate request$"):
        cr.run_on_controller(cr.replace(order_op, steps=(cr.replace(order_op.steps[0], params={"Request": bytearray(b"junk")}),)), change, {})
    with pytest.raises(ControllerError) as err:
        cr.run_on_controller(order_op, change, {})
    assert str(err.value) == "not attempted: c#order got no request from the server"
    signer = _Signer()
    session = signer.begin(b"req")
    assert cr.run_on_controller(issue_op, change, {("c#order", "c#order:new"): session}) == {"c#issue:complete": b"chain of req"}
    assert signer.finished == [session]
    with pytest.raises(ControllerError) as err:
        cr.run_on_controller(issue_op, change, {("c#order", "c#order:new"): "not a session", ("other#order", "x"): session})
    assert str(err.value) == "not attempted: c#order opened no order"
    with pytest.raises(ControllerError) as err:
        cr.run_on_controller(cr.operations(change)[0], change, {})
    assert str(err.value) == "c#request does not run on the controller"


def test_resolve_the_challenge_files_of_an_order():
    work = RequestWork(REQ, ACME, frozenset(), False)
    ops = cr.operations(_change(work))
    challenge, unchallenge = ops[2], ops[4]
    session = Session(None, (Challenge("AUTODISCOVER.contoso.com", "tok-2", "tok-2.key"), Challenge("other.contoso.com", "tok-9", "x")))  # type: ignore[arg-type]
    carried = {("c#order", "c#order:new"): session}
    resolved = cr.resolve(challenge, carried)
    assert resolved.steps == (cr.replace(challenge.steps[1], params={"Value": "tok-2.key"}, web_file="tok-2"),)
    assert (resolved.id, resolved.role, resolved.needs, resolved.where) == (challenge.id, challenge.role, challenge.needs, challenge.where)
    assert cr.resolve(unchallenge, carried).steps == (cr.replace(unchallenge.steps[1], params={}, web_file="tok-2"),)
    assert cr.resolve(unchallenge, {}).steps == ()
    with pytest.raises(ControllerError, match="^not attempted: c#order opened no order$"):
        cr.resolve(challenge, {})
    plain = cr.replace(challenge, steps=(cr.replace(challenge.steps[0], web_file="fixed"),))
    odd = Session(None, (Challenge("XXXX", "t1", "c1"),))  # type: ignore[arg-type]
    assert cr.resolve(plain, carried).steps == () and cr.resolve(plain, {("c#order", "c#order:new"): odd}).steps == ()


def test_the_order_of_a_change_whose_id_holds_a_hash():
    work = RequestWork(REQ, ACME, frozenset(), False)
    change = _change(work, cid="ex01/exchange_certificate/request:cn=a#b")
    ops = cr.operations(change)
    signer = _Signer()
    carried = {("ex01/exchange_certificate/request:cn=a#b#order", "x"): signer.begin(b"r")}
    assert cr.run_on_controller(ops[3], change, carried) == {"ex01/exchange_certificate/request:cn=a#b#issue:complete": b"chain of r"}


# --- read back --------------------------------------------------------------------------------------------------------


def _verify(role: str, work: RequestWork, *store: Cert, host: str = "ex01") -> str | None:
    change = _change(work)
    return cr.verify(Operation(f"c#{role}", host, "c", (), role=role), change, tuple(obj(c) for c in store) + (ObservedObject("other", "Z", "", {}),), NOW)


def test_verify_the_controllers_part_and_the_files():
    work = RequestWork(REQ, ACME, frozenset(), False)
    for role in (ORDER, ISSUE, CHALLENGE, UNCHALLENGE):
        assert _verify(role, work) is None


def test_verify_the_request():
    work = RequestWork(REQ, ACME, frozenset(), False)
    assert _verify(REQUEST, work, cert("P", status="PendingRequest")) is None
    assert _verify(REQUEST, work, cert("P")) == "no pending request for CN=mail.contoso.com was read back on ex01"
    assert _verify(REQUEST, work, cert("P", status="PendingRequest", domains=("mail.contoso.com",))) == \
        "no pending request for CN=mail.contoso.com was read back on ex01"


def test_verify_the_import():
    work = RequestWork(REQ, ACME, frozenset({"IIS"}), False, expect=frozenset({"IIS"}), old="OLD1" * 10)
    assert _verify(IMPORT, work, cert("NEW1", services=frozenset({"IIS", "SMTP"}))) is None
    missing = "no certificate CN=mail.contoso.com for mail.contoso.com, autodiscover.contoso.com with its private key was read back on ex01"
    assert _verify(IMPORT, work) == missing
    assert _verify(IMPORT, work, cert("NEW1", key=False)) == missing
    assert _verify(IMPORT, work, cert("NEW1", self_signed=True)) == missing
    assert _verify(IMPORT, work, cert("NEW1", status="PendingRequest")) == missing
    assert _verify(IMPORT, work, cert("NEW1", services=frozenset({"SMTP"}))) == "CN=mail.contoso.com (NEW1) serves ['SMTP'] on ex01, expected at least ['IIS']"
    assert _verify(IMPORT, work, cert("NEW1", services=None)) == "CN=mail.contoso.com (NEW1) serves (unknown) on ex01, expected at least ['IIS']"
    assert _verify(IMPORT, work, cert("OLDER", before=20, services=frozenset()), cert("NEW1", before=1)) is None
    assert _verify(IMPORT, work, cert("NEW1", before=1), cert("OLDER", before=20, services=frozenset())) is None
    assert _verify(IMPORT, work, cert("UNDATED", before=None), cert("NEW1", before=1, services=frozenset())) is None
    assert _verify(IMPORT, work, cert("NEW1"), cert("OLD1" * 10, domains=("x",))) == "OLD1OLD1, which the new certificate replaces, is still on ex01"
    assert _verify(IMPORT, work, cert("NEW1"), cert("P", status="PendingRequest")) == \
        "a pending request for CN=mail.contoso.com is still on ex01: the import did not complete it"
    assert _verify(IMPORT, work, cert("NEW1"), cert("P", status="PendingRequest", domains=("x",))) is None
    update = RequestWork(REQ, None, frozenset({"IIS"}), False, thumbprint="AAAA", expect=frozenset({"IIS"}))
    assert _verify(IMPORT, update, cert("AAAA", before=30), cert("BBBB", before=1, services=frozenset())) is None
    assert _verify(IMPORT, update, cert("CCCC", before=1)) is None  # not found by thumbprint: any of the request's
    assert _verify(IMPORT, update, cert("AAAA"), cert("P", status="PendingRequest")) is None


def test_verify_a_copy():
    work = RequestWork(REQ, ACME, frozenset(), False, copies=(CopyWork("ex02", True, frozenset({"SMTP"})), CopyWork("ex03", True, frozenset())),
                       old="OLD1")
    assert _verify("copy:ex02", work, cert("NEW1", services=frozenset({"SMTP"})), host="ex02") is None
    assert _verify("copy:ex02", work, cert("NEW1", services=frozenset({"IIS"})), host="ex02") == \
        "CN=mail.contoso.com (NEW1) serves ['IIS'] on ex02, expected at least ['SMTP']"
    assert _verify("copy:ex03", work, cert("NEW1", services=frozenset()), cert("OLD1"), cert("P", status="PendingRequest"), host="ex03") is None
    assert _verify("copy:ex04", work, cert("NEW1", services=frozenset()), host="ex04") is None
    assert _verify("copy:ex02", work, host="ex02").endswith("with its private key was read back on ex02")
    assert _verify("other", work) is None


def test_applied_note():
    work = RequestWork(REQ, ACME, frozenset(), False)

    def note(role: str, w: RequestWork, *store: Cert) -> str:
        return cr.applied_note(Operation(f"c#{role}", "ex01", "c", (), role=role), _change(w), tuple(obj(c) for c in store))

    assert note(IMPORT, work, cert("OLDER", before=20), cert("NEW1", before=1, after=89, issuer="CN=Pebble Intermediate")) == \
        "new thumbprint NEW1 (valid until 2030-09-12), issued by CN=Pebble Intermediate"
    assert note(IMPORT, work, cert("UNDATED", before=None), cert("NEW1", before=1)).startswith("new thumbprint NEW1 ")
    assert note(IMPORT, work, cert("NEW1", before=1), cert("UNDATED", before=None)).startswith("new thumbprint NEW1 ")
    assert note(IMPORT, work, cert("P", status="PendingRequest"), cert("S", self_signed=True), cert("X", domains=("x",))) == ""
    assert note(IMPORT, work) == ""
    assert note(REQUEST, work, cert("NEW1")) == ""
    assert note(IMPORT, RequestWork(REQ, None, frozenset(), False), cert("NEW1")) == ""
    assert note(IMPORT, work, cert("NEW1", after=None)) == "new thumbprint NEW1 (valid until (unknown)), issued by CN=R3"
