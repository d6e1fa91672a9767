"""The certificate kind against what real Exchange servers report (CSS-Exchange's recordings, and objects built
the way they show them): exact converges, the SMTP rail refuses only what a plan breaks, the default SMTP
certificate is shown and protected, IIS and Auth removals are refused, single bindings are one per server."""

from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from css_fixtures import fixtures_dir

from exconf.model import Desired, DesiredValue, FindingStatus, ObservedObject, ServerFacts
from exconf.modules.base import PlanContext
from exconf.modules.certificate_plan import SERVER_INFO, steps_for
from exconf.modules.certificate_values import Match
from exconf.modules.exchange_certificate import KIND, CertificateKind, CertSpec, binding_conflicts
from exconf.remote import LOCAL_SERVER
from exconf.yamlsource import Location

HERE = Location("inv.yaml", 3, 7)
CONTROLLER = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
KINDS = CertificateKind(clock=lambda: CONTROLLER)
E19 = fixtures_dir() / "E19"
# A Mailbox server as CSS-Exchange recorded it (E2k16-1, Contoso.lab): its names and what IMAP4/POP3 use.
SERVER = ServerFacts("E2K16-1", "E2k16-1.Contoso.lab", "Mailbox", "15.1.2507.16", "Default-First-Site-Name")
CTX = PlanContext("e2k16-1", SERVER, "E2K16-1")


def observed(thumb: str, subject: str, services: str, domains=(), *, self_signed=True, after="2027-12-30T14:39:08Z",
             before="2022-12-30T14:39:08Z", issuer: str | None = None) -> ObservedObject:
    return ObservedObject(KIND, thumb, thumb, {
        "Thumbprint": thumb, "Subject": subject, "Issuer": issuer or subject, "CertificateDomains": list(domains),
        "NotBefore": before, "NotAfter": after, "Services": services, "Status": "Valid", "IsSelfSigned": self_signed,
        "HasPrivateKey": True, "PublicKeySize": 2048, "SignatureAlgorithm.FriendlyName": "sha256RSA"})


def server(default: str, imap: str | None = "E2k16-1", pop: str | None = None, auth=("B22BD738BED13136D29B7F410CE2993C5313F8FA",),
           now: str = "2025-06-01T00:00:00Z") -> ObservedObject:
    return ObservedObject(SERVER_INFO, "", "", {
        "UtcNow": now, "transport.InternalTransportCertificateThumbprint": default, "imap.X509CertificateName": imap,
        "pop.X509CertificateName": pop, "auth.CurrentCertificateThumbprint": auth[0] if auth else "",
        "auth.NextCertificateThumbprint": ""})


# The certificates of E2k16-1 after MonitorExchangeAuthCertificate made a new default: as recorded.
DEFAULT = observed("A86B1B7414E51491D446905511A329A7FE120510", "CN=E2k16-1", "IMAP, SMTP", ("E2k16-1", "E2k16-1.Contoso.lab"),
                   before="2023-01-05T15:06:40Z", after="2028-01-05T15:06:40Z")
OLD_DEFAULT = observed("D003810EBE1624145889D031FBB77ED2BD280FD3", "CN=E2k16-1", "IMAP, IIS, SMTP", ("E2k16-1", "E2k16-1.Contoso.lab"))
AUTH = observed("B22BD738BED13136D29B7F410CE2993C5313F8FA", "CN=Microsoft Exchange Server Auth Certificate", "SMTP",
                before="2023-01-05T15:06:40Z", after="2028-01-05T15:06:40Z")
MAIL = observed("2759456DC53C76E3DED093B567B6D8DAA42C0ADD", "CN=mail.contoso.lab", "IIS",
                ("mail.contoso.lab", "autodiscover.contoso.lab", "e2k16-1.contoso.lab", "e2k16-2.contoso.lab"),
                before="2022-09-05T00:00:00Z", after="2027-09-05T00:00:00Z")
WMSVC = observed("FE0FAE9305F294F49DD2426AB214CC17853A7E87", "CN=WMSvc-SHA2-E2k16-1", "None",
                 before="2021-07-29T00:00:00Z", after="2031-07-27T00:00:00Z")
STORE = (DEFAULT, OLD_DEFAULT, AUTH, MAIL, WMSVC)


def declare(**kw) -> Desired:
    spec = CertSpec(**kw)
    return Desired(KIND, spec.describe(), (DesiredValue("certificate", spec, HERE),), HERE)


def plan(*declared: Desired, store=STORE, info=None, ctx=CTX):
    return KINDS.plan(tuple(declared), (*store, info or server(DEFAULT.name)), ctx)


def test_exact_converges_on_what_the_new_default_shows():
    """New-ExchangeCertificate -Services SMTP -Force came back "IMAP, SMTP" (Microsoft's recording): IMAP is shown
    because its names carry the IMAP4 X509CertificateName. exact [SMTP] is met: replacing it would show IMAP again."""
    result = plan(declare(thumbprint=DEFAULT.name, services=frozenset({"SMTP"}), exact=True))
    assert not result.changes and not result.problems
    (finding,) = result.findings
    assert finding.status is FindingStatus.IN_SYNC
    assert any("shows IMAP because it carries the name IMAP (E2k16-1)" in w for w in result.warnings)
    # Where IMAP4 uses another name, the IMAP bit is bound to nothing Exchange would show again: a replacement.
    moved = plan(declare(thumbprint=DEFAULT.name, services=frozenset({"SMTP"}), exact=True, default_smtp=True),
                 info=server(DEFAULT.name, imap="mail.contoso.lab"))
    (change,) = moved.changes
    assert change.action == "replace"


def test_exact_never_replaces_the_default_without_saying_it_is_the_default():
    moved = plan(declare(thumbprint=DEFAULT.name, services=frozenset({"SMTP"}), exact=True), info=server(DEFAULT.name, imap=None))
    assert [r.rail for r in moved.refusals] == ["default-smtp-certificate"]
    (change,) = moved.changes
    new = steps_for(change)[0]
    assert new.params["Force"] is True and new.params["Services"] == "SMTP"  # the replacement must take over the default


def test_removing_what_serves_nothing_is_not_refused_on_a_server_without_smtp():
    """A server whose only SMTP-capable certificates are unreadable or absent: removing WMSvc or localhost
    (which serve nothing) is not the removal that leaves SMTP without a certificate."""
    localhost = observed("E267D459A0FB53D0EF225C11FAC062D522648C09", "CN=localhost", "None", ("localhost",))
    store = (localhost, WMSVC)
    for thumb in (localhost.name, WMSVC.name):
        result = plan(declare(thumbprint=thumb, absent=True), store=store, info=server("0" * 40, imap=None))
        assert [c.action for c in result.changes] == ["delete"] and not result.refusals
    # Removing the one that does serve SMTP is refused.
    only = observed("1" * 40, "CN=relay.contoso.lab", "SMTP", ("e2k16-1.contoso.lab",), self_signed=False)
    result = plan(declare(thumbprint=only.name, absent=True), store=(only,), info=server("0" * 40, imap=None))
    assert [r.rail for r in result.refusals] == ["smtp-certificate-kept"]


def test_the_default_smtp_certificate_is_shown_declared_and_protected():
    third = observed("3" * 40, "CN=smtp.contoso.lab", "None", ("smtp.contoso.lab", "e2k16-1.contoso.lab"), self_signed=False)
    # Not declared default: SMTP is bound without touching the default.
    (change,) = plan(declare(thumbprint=third.name, services=frozenset({"SMTP"})), store=(*STORE, third)).changes
    (enable,) = steps_for(change)
    assert enable.params == {"Thumbprint": third.name, "Services": "None", "Server": LOCAL_SERVER, "NetworkServiceAllowed": True}
    assert "default_smtp" not in {p.prop for p in change.properties} and not change.effects
    # Declared default: -Force, and the plan names the default before and after and what follows.
    result = plan(declare(thumbprint=third.name, services=frozenset({"SMTP"}), default_smtp=True), store=(*STORE, third))
    (change,) = result.changes
    (enable,) = steps_for(change)
    assert enable.params["Force"] is True and enable.params["Services"] == "SMTP"
    props = {p.prop: (p.before, p.after) for p in change.properties}
    assert props["default_smtp"] == ("CN=E2k16-1 (A86B1B74)", "CN=smtp.contoso.lab (33333333)")
    assert change.effects and "default SMTP certificate changes" in change.effects[0]
    # The findings say which one is the default, for drift.
    in_sync = plan(declare(thumbprint=DEFAULT.name, default_smtp=True))
    (finding,) = in_sync.findings
    assert {p.prop: (p.expected, p.actual) for p in finding.properties}["default_smtp"] == (True, True)
    # default_smtp: false on the default, with nothing taking over: an error naming it.
    wrong = plan(declare(thumbprint=DEFAULT.name, default_smtp=False))
    assert "declared default_smtp: false" in wrong.problems[0]
    # Removing the default without a successor declared default: refused (Exchange would refuse it too).
    gone = plan(declare(thumbprint=DEFAULT.name, absent=True))
    assert "default-smtp-certificate" in [r.rail for r in gone.refusals]


def test_removing_the_only_iis_certificate_or_the_auth_certificate_is_refused():
    iis_only = plan(declare(thumbprint=MAIL.name, absent=True), store=(DEFAULT, AUTH, MAIL, WMSVC))
    assert [r.rail for r in iis_only.refusals] == ["iis-certificate-kept"]
    # With the old default still bound to a site (it shows IIS), another certificate serves IIS.
    assert not plan(declare(thumbprint=MAIL.name, absent=True)).refusals
    auth = plan(declare(thumbprint=AUTH.name, absent=True))
    assert [r.rail for r in auth.refusals] == ["auth-certificate"]
    assert "current certificate of the organisation's AuthConfig" in auth.refusals[0].message


def test_one_iis_imap_pop_or_default_certificate_per_server_when_the_inventory_loads():
    declared = [{"match": {"subject": "CN=a"}, "services": ["IIS", "SMTP"]}, {"match": {"subject": "CN=b"}, "services": ["IIS"]},
                {"match": {"subject": "CN=c"}, "default_smtp": True}, {"thumbprint": "A" * 40, "default_smtp": True},
                {"match": {"subject": "CN=d"}, "services": ["IIS"], "state": "absent"}]
    issues = binding_conflicts(declared)
    assert [(path, "IIS" in text or "default SMTP" in text) for path, text in issues] == [((1, "services"), True), ((3, "default_smtp"), True)]
    assert "entries 0 and 1 both declare IIS" in issues[0][1]


def test_expiry_is_judged_on_the_servers_clock():
    soon = observed("5" * 40, "CN=soon.contoso.lab", "SMTP", ("e2k16-1.contoso.lab",), self_signed=False,
                    before="2025-01-01T00:00:00Z", after="2025-06-20T00:00:00Z")
    store = (DEFAULT, soon)
    # The controller's clock (2027) would call it expired; the server says 2025-06-01: it expires in 19 days.
    (finding,) = plan(declare(thumbprint=soon.name), store=store).findings
    assert finding.status is FindingStatus.EXPIRING and "expires in 19 days" in finding.message
    later = plan(declare(thumbprint=soon.name), store=store, info=server(DEFAULT.name, now="2025-05-01T00:00:00Z"))
    assert later.findings[0].status is FindingStatus.IN_SYNC


def test_an_update_shows_only_what_changes():
    third = observed("3" * 40, "CN=smtp.contoso.lab", "None", ("smtp.contoso.lab", "e2k16-1.contoso.lab"), self_signed=False)
    (change,) = plan(declare(thumbprint=third.name, services=frozenset({"SMTP"})), store=(*STORE, third)).changes
    assert [(p.prop, p.before, p.after) for p in change.properties] == [("services", [], ["SMTP"])]


def _recorded() -> list[ObservedObject]:
    """E19/GetExchangeCertificate.xml as a remote session sends it, read with exconf's own reader of RawData."""
    from cryptography import x509

    from exconf.modules.certificate_values import cert_from_x509

    ns = "{http://schemas.microsoft.com/powershell/2004/04}"
    out = []
    for obj in ET.parse(E19 / "GetExchangeCertificate.xml").getroot().findall(ns + "Obj"):
        raw = next(el for el in obj.iter(ns + "BA") if el.get("N") == "RawData")
        cert = cert_from_x509(x509.load_der_x509_certificate(base64.b64decode(raw.text)), True)
        out.append((cert.thumbprint, cert.subject, cert.domains, cert.signature, cert.not_after))
    return out


@pytest.mark.skipif(not E19.is_dir(), reason=f"CSS-Exchange fixtures not found at {E19}")
def test_the_recorded_server_reads_in_dotnet_form_and_its_sha1_default_is_named():
    recorded = {t: (s, d, sig) for t, s, d, sig, _ in _recorded()}
    assert recorded["6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28"] == ("CN=Solo-E19A", ("Solo-E19A", "Solo-E19A.Solo.com"), "sha1RSA")
    assert recorded["38247AD2B76244411748274C508D13446311830B"][1:] == ((), "sha256RSA")  # WMSvc: no SAN, SHA-256
    # Its default (IMAP, POP, IIS, SMTP, SHA-1) declared as is: in sync, with a SHA-1 warning, never a replacement.
    default = observed("6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28", "CN=Solo-E19A", "IMAP, POP, IIS, SMTP", ("Solo-E19A", "Solo-E19A.Solo.com"))
    default.values["SignatureAlgorithm.FriendlyName"] = "sha1RSA"
    ctx = PlanContext("solo", ServerFacts("SOLO-E19A", "Solo-E19A.Solo.com", "Mailbox", "15.2.986.5", "Default-First-Site-Name"), "SOLO-E19A")
    info = server(default.name, imap="Solo-E19A.Solo.com", pop="Solo-E19A.Solo.com", now="2023-01-01T00:00:00Z")
    result = KINDS.plan((declare(match=Match(subject="CN=Solo-E19A"), services=frozenset({"SMTP", "IIS"}), exact=True, default_smtp=True),),
                        (default, info), ctx)
    assert not result.changes and result.findings[0].status is FindingStatus.IN_SYNC
    assert any("SHA-1" in w for w in result.warnings)
