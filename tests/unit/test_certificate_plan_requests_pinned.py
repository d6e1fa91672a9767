"""The certificate planner's bookkeeping for requested certificates (modules/certificate_plan._plan_request): what a
request binds, replaces and is judged by reaches the rails exactly — the names rail on a new request, the default
SMTP rail on a renewal, the store after a renewal, the health rails by the declared warning threshold — and one
certificate declared twice, or copied to a host that was not read, is a problem naming where."""

from __future__ import annotations

from exconf.model import FindingStatus, ObservedObject, Refusal
from exconf.modules.certificate_issuers import IssuerSpec
from exconf.modules.certificate_plan import SERVER_INFO
from exconf.modules.certificate_values import CopySpec, RequestSpec

from .test_certificate_plan_pinned import cert, declare, plan

ISSUER = IssuerSpec("acme", "https://acme.test/dir")
T = "AB" * 20
NAMES = ("autodiscover.contoso.com", "ex01.contoso.com")
SERVED = ("mail.contoso.com", *NAMES)
WHERE = "inv.yaml:7:11"
REQUEST_ID = "ex01/exchange_certificate/request:cn=mail.contoso.com"


def requested(domains=NAMES, **kw):
    return declare(**{"request": RequestSpec("CN=mail.contoso.com", domains), "issuer": ISSUER, "services": frozenset({"SMTP"}), **kw})


def default_is(thumb: str) -> ObservedObject:
    return ObservedObject(SERVER_INFO, "", "", {"transport.InternalTransportCertificateThumbprint": thumb.lower()})


def test_a_new_request_for_smtp_is_judged_by_the_names_it_will_have():
    result = plan(requested(domains=("autodiscover.contoso.com",)))
    (change,) = result.changes
    assert (change.id, change.action, change.name) == (REQUEST_ID, "create", "CN=mail.contoso.com (requested)")
    assert result.refusals == (Refusal("smtp-certificate-names", "ex01", (
        "EX01: CN=mail.contoso.com (requested) would serve SMTP, but its names (mail.contoso.com, autodiscover.contoso.com) cover "
        "neither the server's FQDN ex01.contoso.com nor a connector's FQDN (none)"), REQUEST_ID),)
    assert [f.status for f in result.findings] == [FindingStatus.CHANGE] and result.problems == ()
    covered = plan(requested())
    assert [c.id for c in covered.changes] == [REQUEST_ID] and covered.refusals == ()


def test_renewing_the_default_smtp_certificate_is_refused_unless_the_declaration_says_default():
    due = cert(T, "CN=mail.contoso.com", services="IIS, SMTP", domains=SERVED, after=10)
    result = plan(requested(services=frozenset({"SMTP", "IIS"})), observed=(due, default_is(T)))
    (change,) = result.changes
    assert (change.action, change.identity) == ("replace", T)
    assert result.refusals == (Refusal("default-smtp-certificate", "ex01", (
        "EX01: CN=mail.contoso.com (ABABABAB) is the default SMTP certificate: replacing it makes its replacement the default "
        "(Exchange removes the default only once another one is); declare default_smtp: true on it to say so"), change.id),)
    said = plan(requested(services=frozenset({"SMTP", "IIS"}), default_smtp=True), observed=(due, default_is(T)))
    assert [c.action for c in said.changes] == ["replace"] and said.refusals == ()


def test_renewing_the_only_smtp_and_iis_certificate_leaves_its_replacement_serving_both():
    due = cert(T, "CN=mail.contoso.com", services="IIS, SMTP", domains=SERVED, after=3)
    result = plan(requested(services=frozenset({"SMTP", "IIS"})), observed=(due,))
    assert [c.action for c in result.changes] == ["replace"]
    assert result.refusals == ()  # neither "no SMTP certificate left" nor "no IIS certificate left": the replacement serves both


def test_enabling_a_service_on_a_requested_certificate_is_judged_by_the_declared_warning_threshold():
    there = cert(T, "CN=mail.contoso.com", services="SMTP", domains=SERVED, after=20)
    quiet = plan(requested(services=frozenset({"SMTP", "IIS"}), renew_within=5, warn_days=10), observed=(there,))
    (change,) = quiet.changes
    assert (change.action, change.identity, change.reason) == ("update", T, "enable IIS")
    assert quiet.refusals == ()
    warned = plan(requested(services=frozenset({"SMTP", "IIS"}), renew_within=5, warn_days=30), observed=(there,))
    assert [(r.rail, r.change) for r in warned.refusals] == [("certificate-expiring", change.id)]
    assert "exconf will not bind IIS to it" in warned.refusals[0].message


def test_one_requested_certificate_declared_twice_is_a_problem_naming_where():
    there = cert(T, "CN=mail.contoso.com", services="IIS, SMTP", domains=SERVED, after=200)
    result = plan(requested(services=frozenset({"SMTP", "IIS"})), requested(), observed=(there,))
    assert result.changes == ()
    assert result.problems == (f"{WHERE}: exchange.certificates: CN=mail.contoso.com (ABABABAB) is also declared at {WHERE}; declare each certificate once",)
    assert [(f.name, f.status) for f in result.findings] == [("CN=mail.contoso.com (ABABABAB)", FindingStatus.IN_SYNC),
                                                              ("request CN=mail.contoso.com", FindingStatus.ERROR)]


def test_a_copy_to_a_host_that_was_not_read_is_a_problem_and_no_change():
    result = plan(requested(copy_to=(CopySpec("edge01", frozenset({"SMTP"})),)))
    assert result.changes == () and result.refusals == ()
    assert result.problems == (f"{WHERE}: exchange.certificates: copy_to edge01: that host was not read in this run (outside --limit, "
                               "or it failed): the certificate cannot be copied there",)
    assert [f.status for f in result.findings] == [FindingStatus.ERROR]

