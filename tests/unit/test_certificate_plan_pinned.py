"""Planning certificates, everything a reviewer reads and every rail that refuses (modules/certificate_plan.py):
each change exactly as the plan shows it (properties, where declared, reason) and the steps it sends, the PFX import
path, and the rails on the store as it would be after the plan, with the messages an administrator acts on."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

import pytest

from exconf.controllerfiles import PfxBytes
from exconf.model import (Change, Desired, DesiredValue, FileRef, Finding, FindingProperty, FindingStatus, HostPlan, HostStatus,
                          ObservedObject, Plan, PropertyChange, Refusal, SecretRef, ServerFacts)
from exconf.modules.base import PlanContext
from exconf.modules.certificate_plan import SERVER_INFO, CertWork, applied_note, operations_for, plan_rails, server_certs, steps_for, verify_change
from exconf.modules.certificate_values import Cert, Match, Pfx, ServerCerts
from exconf.modules.exchange_certificate import CONNECTOR, KIND, CertificateKind, CertSpec
from exconf.remote import LOCAL_SERVER, OutputRef, Step
from exconf.yamlsource import Location

NOW = dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc)
HERE = Location("inv.yaml", 7, 11)
AT_IMPORT, AT_SERVICES, AT_RENEW, AT_MODE = Location("inv.yaml", 8, 9), Location("inv.yaml", 9, 9), Location("inv.yaml", 10, 9), Location("inv.yaml", 11, 9)
KINDS = CertificateKind(clock=lambda: NOW)
MAILBOX = PlanContext("ex01", ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam"), "EX01")
EDGE = PlanContext("edge01", ServerFacts("EDGE01", "edge01.contoso.com", "Edge", "15.2.1544.4", ""), "EDGE01")


def day(offset: int) -> str:
    return (NOW + dt.timedelta(days=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cert(thumb: str, subject: str, *, services="None", domains=("mail.contoso.com",), issuer="CN=Public CA", before=-10, after=300,
         self_signed=False, status="Valid", key=2048, sig="sha256RSA") -> ObservedObject:
    values = {"Thumbprint": thumb, "Subject": subject, "Issuer": subject if self_signed else issuer, "CertificateDomains": list(domains),
              "NotBefore": day(before), "NotAfter": day(after), "Services": services, "Status": status, "IsSelfSigned": self_signed,
              "HasPrivateKey": True, "PublicKeySize": key, "SignatureAlgorithm.FriendlyName": sig}
    return ObservedObject(KIND, thumb, thumb, values)


def connector(which: str, name: str, fqdn: str = "", tls: str = "", sources=None) -> ObservedObject:
    values = {"Identity": name, "Fqdn": fqdn, "TlsCertificateName": tls}
    if sources is not None:
        values["SourceTransportServers"] = sources
    return ObservedObject(CONNECTOR, name, which, values)


def declare(**kw) -> Desired:
    spec = CertSpec(**kw)
    return Desired(KIND, spec.describe(), (DesiredValue("certificate", spec, HERE),), HERE)


def plan(*declared: Desired, observed=(), ctx=MAILBOX):
    return KINDS.plan(tuple(declared), tuple(observed), ctx)


PFX_DATA = b"0\x82pfx-bytes"
PFX_REF = FileRef("/srv/inv/mail.pfx", hashlib.sha256(PFX_DATA).hexdigest())
PASSWORD = SecretRef("env", "PFX_PW")


def pfx(thumb="F" * 40, subject="CN=smtp.contoso.com", domains=("smtp.contoso.com", "ex01.contoso.com", "edge01.contoso.com"), after=365,
        key=2048, sig="sha256RSA") -> Pfx:
    c = Cert(thumb, subject, "CN=Public CA", tuple(domains), NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=after), frozenset(),
             key_size=key, signature=sig)
    return Pfx(PFX_REF, PASSWORD, c, PfxBytes(PFX_DATA, PFX_REF))


def importing(services=None, **pfx_kw) -> Desired:
    at = {"import": AT_IMPORT, **({"services": AT_SERVICES} if services is not None else {})}
    return declare(pfx=pfx(**pfx_kw), services=frozenset(services) if services is not None else None, at=at)


SMTP_SELF = cert("D" * 40, "CN=EX01", services="IMAP, POP, IIS, SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=1000)


# --- the PFX import ---------------------------------------------------------------------------------------------------


def test_an_import_shows_the_file_the_password_source_the_services_and_the_expiry_date():
    result = plan(importing({"SMTP", "IIS"}), observed=(SMTP_SELF,))
    (change,) = result.changes
    label = "CN=smtp.contoso.com (FFFFFFFF)"
    assert change == Change(f"ex01/{KIND}/{'F' * 40}", "ex01", KIND, label, "F" * 40, "create", (
        PropertyChange("pfx", "", "(not on the server)", f"/srv/inv/mail.pfx (SHA-256 {PFX_REF.digest[:12]}…)", None, AT_IMPORT),
        PropertyChange("password", "", "(none)", "from env PFX_PW", None, AT_IMPORT),
        PropertyChange("services", "", [], ["IIS", "SMTP"], None, AT_SERVICES),
        PropertyChange("valid_until", "", "(none)", "2028-02-29", None, AT_IMPORT),
    ), "import /srv/inv/mail.pfx and enable IIS, SMTP")
    work: CertWork = change.payload
    # SMTP without default_smtp: -NetworkServiceAllowed grants SMTP and leaves the server's default SMTP certificate alone
    assert (work.services, work.network_service, work.default, bytes(work.pfx), work.pfx.ref, work.password.ref) == (
        "IIS", True, False, PFX_DATA, PFX_REF, PASSWORD)
    assert (work.expect, change.effects) == (frozenset({"IIS", "SMTP"}), ())
    assert result.findings == (Finding("ex01", KIND, label, FindingStatus.CHANGE, HERE, (
        FindingProperty("thumbprint", "F" * 40, "(not on the server)", HERE),
        FindingProperty("subject", "CN=smtp.contoso.com", "CN=smtp.contoso.com", HERE),
        FindingProperty("services", ["IIS", "SMTP"], [], HERE),
        FindingProperty("self_signed", False, False, HERE),
        FindingProperty("not_after", "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z", HERE),
        FindingProperty("default_smtp", "(unknown)", "(unknown)", HERE),  # the default SMTP certificate was not read here
    )),)
    assert (result.problems, result.refusals, result.warnings) == ((), (), ())
    imp, enable = steps_for(change)
    assert imp == Step(f"{change.id}:import", "Import-ExchangeCertificate", {"FileData": work.pfx, "Password": work.password, "Server": LOCAL_SERVER},
                       select=("Thumbprint",))
    assert enable == Step(f"{change.id}:enable", "Enable-ExchangeCertificate", {
        "Thumbprint": "F" * 40, "Services": "IIS", "Server": LOCAL_SERVER, "NetworkServiceAllowed": True,
        "DoNotRequireSsl": True})
    (op,) = operations_for(change)
    assert (op.id, op.host, op.change, op.steps, op.role, op.needs) == (change.id, "ex01", change.id, (imp, enable), "create", ())


def test_an_import_without_services_only_imports_and_is_declared_where_the_entry_is():
    result = plan(declare(pfx=pfx()), observed=(SMTP_SELF,))
    (change,) = result.changes
    assert change.reason == "import /srv/inv/mail.pfx"
    assert [(p.prop, p.after, p.source) for p in change.properties] == [
        ("pfx", f"/srv/inv/mail.pfx (SHA-256 {PFX_REF.digest[:12]}…)", HERE), ("password", "from env PFX_PW", HERE), ("services", [], HERE),
        ("valid_until", "2028-02-29", HERE)]
    assert change.payload.services == "None"
    assert steps_for(change) == (Step(f"{change.id}:import", "Import-ExchangeCertificate",
                                      {"FileData": change.payload.pfx, "Password": change.payload.password, "Server": LOCAL_SERVER}, select=("Thumbprint",)),)


def test_a_pfx_that_cannot_be_used_is_a_problem_where_it_was_declared():
    want = declare(pfx=pfx(), pfx_error="the password from env PFX_PW does not open the PFX /srv/inv/mail.pfx")
    result = plan(want, observed=(SMTP_SELF,))
    problem = "inv.yaml:7:11: exchange.certificates: the password from env PFX_PW does not open the PFX /srv/inv/mail.pfx"
    assert result.problems == (problem,) and result.changes == ()
    assert result.findings == (Finding("ex01", KIND, want.pattern, FindingStatus.ERROR, HERE, message=problem),)


def test_a_pfx_already_on_the_server_is_not_imported_again_only_its_services_are_enabled():
    there = cert("F" * 40, "CN=smtp.contoso.com", services="IIS", domains=("smtp.contoso.com", "ex01.contoso.com"))
    (change,) = plan(importing({"SMTP"}), observed=(SMTP_SELF, there)).changes
    assert (change.action, change.reason, change.payload.services, change.payload.network_service) == ("update", "enable SMTP", "None", True)
    assert steps_for(change) == (Step(f"{change.id}:enable", "Enable-ExchangeCertificate",
                                      {"Thumbprint": "F" * 40, "Services": "None", "Server": LOCAL_SERVER, "NetworkServiceAllowed": True}),)
    in_sync = plan(importing({"IIS"}), observed=(SMTP_SELF, there))
    assert in_sync.changes == () and [f.status for f in in_sync.findings] == [FindingStatus.IN_SYNC]


def test_an_import_made_the_default_smtp_certificate_says_what_that_does_on_an_edge_and_on_a_mailbox_server():
    """SMTP alone (-NetworkServiceAllowed) leaves the default SMTP certificate, and the Edge's subscription, alone;
    default_smtp: true makes the certificate the default (-Services SMTP -Force), which the plan says beforehand."""
    plain = plan(importing({"SMTP"}), observed=(replace_values(SMTP_SELF, Services="SMTP"),), ctx=EDGE)
    assert (plain.warnings, plain.changes[0].effects, plain.changes[0].payload.default) == ((), (), False)
    made = declare(pfx=pfx(), services=frozenset({"SMTP"}), default_smtp=True, at={"import": AT_IMPORT, "default_smtp": AT_MODE})
    (change,) = plan(made, observed=(SMTP_SELF,), ctx=EDGE).changes
    assert change.effects == ("EDGE01's default SMTP certificate changes: its Edge Subscription stops synchronising until it is "
                              "made again and AD LDS restarted (Exchange warns so)",)
    assert [(p.prop, p.before, p.after, p.source) for p in change.properties if p.prop == "default_smtp"] == [
        ("default_smtp", "(unknown)", "CN=smtp.contoso.com (FFFFFFFF)", AT_MODE)]
    assert (change.payload.services, change.payload.default, change.payload.network_service) == ("SMTP", True, False)
    assert steps_for(change)[1].params == {"Thumbprint": "F" * 40, "Services": "SMTP", "Server": LOCAL_SERVER,
                                           "Force": True}
    (change,) = plan(made, observed=(SMTP_SELF,)).changes
    assert change.effects == ("EX01's default SMTP certificate changes (Exchange re-encrypts the EdgeSync credentials with it)",)
    assert plan(importing(), observed=(SMTP_SELF,), ctx=EDGE).warnings == ()


def replace_values(obs: ObservedObject, **values) -> ObservedObject:
    return ObservedObject(obs.kind, obs.name, obs.identity, {**obs.values, **values})


def test_an_import_without_services_does_not_stop_the_rails_of_the_changes_after_it():
    """The issue's mutant: a `break` for an import that binds nothing skipped every later change's rails."""
    other = cert("A" * 40, "CN=other.fabrikam.com", domains=("other.fabrikam.com",))
    result = plan(importing(), declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, other))
    assert [c.action for c in result.changes] == ["create", "update"]
    assert [r.rail for r in result.refusals] == ["smtp-certificate-names"]


@pytest.mark.parametrize("kw, rails", [
    ({"after": 10}, ["certificate-expiring"]),
    ({"key": 1024}, ["certificate-weak-key"]),
    ({"sig": "sha1RSA"}, ["certificate-sha1"]),
])
def test_an_import_bound_to_a_service_meets_the_same_rails_as_an_enable(kw, rails):
    result = plan(importing({"SMTP"}, **kw), observed=(SMTP_SELF,))
    assert [r.rail for r in result.refusals] == rails


# --- resolving a declaration ------------------------------------------------------------------------------------------


def test_a_thumbprint_not_on_the_server_and_a_match_without_a_valid_certificate_say_what_was_found():
    result = plan(declare(thumbprint="9" * 40), observed=(SMTP_SELF,))
    assert result.problems == (f"inv.yaml:7:11: exchange.certificates: no certificate with thumbprint {'9' * 40} on EX01",)
    expired = cert("A" * 40, "CN=mail.contoso.com", before=-400, after=-1, status="DateInvalid")
    result = plan(declare(match=Match(subject="CN=mail.contoso.com")), observed=(SMTP_SELF, expired))
    assert result.problems == ("inv.yaml:7:11: exchange.certificates: match (subject 'CN=mail.contoso.com') selects no valid certificate "
                               "(found: CN=mail.contoso.com (AAAAAAAA) DateInvalid, until 2027-02-28) on EX01",)
    result = plan(declare(match=Match(subject="CN=nothing")), observed=(SMTP_SELF,))
    assert result.problems == ("inv.yaml:7:11: exchange.certificates: match (subject 'CN=nothing') selects no valid certificate on EX01",)


def test_state_absent_of_a_certificate_not_there_is_in_sync():
    want = declare(thumbprint="9" * 40, absent=True)
    result = plan(want, observed=(SMTP_SELF,))
    assert result.changes == () and result.findings == (Finding("ex01", KIND, want.pattern, FindingStatus.IN_SYNC, HERE, message="absent"),)


def test_one_certificate_declared_twice_is_an_error_at_the_second_declaration():
    first = declare(thumbprint="D" * 40)
    second = Desired(KIND, "again", (DesiredValue("certificate", CertSpec(match=Match(subject="CN=EX01")), HERE),), Location("more.yaml", 2, 3))
    result = plan(first, second, observed=(SMTP_SELF,))
    assert result.problems == ("more.yaml:2:3: exchange.certificates: CN=EX01 (DDDDDDDD) is also declared at inv.yaml:7:11; declare each certificate once",)


def test_a_certificate_whose_services_could_not_be_read_proposes_nothing_and_says_so():
    unread = replace_values(cert("A" * 40, "CN=mail.contoso.com"), Services="Bogus")
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, unread))
    (finding,) = result.findings
    assert finding.message == "the services of CN=mail.contoso.com (AAAAAAAA) could not be read on EX01: unknown, so no change is proposed"
    assert (finding.status, finding.name, finding.source) == (FindingStatus.ERROR, "CN=mail.contoso.com (AAAAAAAA)", HERE)
    assert {p.prop: (p.expected, p.actual) for p in finding.properties}["services"] == ("(unknown)", "(unknown)")
    assert result.changes == () and result.problems == ()


# --- the default SMTP certificate ---------------------------------------------------------------------------------------


def test_what_the_server_says_of_its_certificates_is_read_as_it_is():
    row = {"UtcNow": "2027-03-01T10:30:00Z", "transport.InternalTransportCertificateThumbprint": "ab" * 20, "imap.X509CertificateName": "imap.contoso.com",
           "pop.X509CertificateName": "pop.contoso.com", "auth.CurrentCertificateThumbprint": "cd" * 20, "auth.NextCertificateThumbprint": "ef" * 20}
    assert server_certs((SMTP_SELF, ObservedObject(SERVER_INFO, "", "", row))) == ServerCerts(
        default_smtp="AB" * 20, imap="imap.contoso.com", pop="pop.contoso.com", auth=("CD" * 20, "EF" * 20),
        now=dt.datetime(2027, 3, 1, 10, 30, tzinfo=dt.timezone.utc))
    sparse = {"UtcNow": "yesterday", "auth.NextCertificateThumbprint": "ef" * 20, "transport.InternalTransportCertificateThumbprint": ""}
    assert server_certs((ObservedObject(SERVER_INFO, "", "", sparse),)) == ServerCerts(auth=("EF" * 20,))
    assert server_certs((SMTP_SELF,)) == ServerCerts() and server_certs((ObservedObject(SERVER_INFO, "", "", {"UtcNow": 7}),)).now is None


def test_default_smtp_false_on_the_default_is_an_error_unless_another_certificate_of_the_plan_becomes_the_default():
    keep_out = declare(thumbprint="D" * 40, default_smtp=False)
    result = plan(keep_out, importing({"SMTP"}), observed=(SMTP_SELF, default_is("D" * 40)))
    assert result.problems == ("inv.yaml:7:11: exchange.certificates: CN=EX01 (DDDDDDDD) is EX01's default SMTP certificate, declared "
                               "default_smtp: false; only another certificate becoming the default replaces it: declare default_smtp: true on that one",)
    made = declare(pfx=pfx(), services=frozenset({"SMTP"}), default_smtp=True, at={"import": AT_IMPORT})
    result = plan(keep_out, made, observed=(SMTP_SELF, default_is("D" * 40)))
    assert result.problems == ()
    assert [(p.before, p.after) for p in result.changes[0].properties if p.prop == "default_smtp"] == [("CN=EX01 (DDDDDDDD)", "CN=smtp.contoso.com (FFFFFFFF)")]
    assert plan(keep_out, observed=(SMTP_SELF, default_is("A" * 40))).problems == ()  # not the default: nothing to take away


def test_a_default_smtp_certificate_not_in_the_store_is_named_by_its_thumbprint():
    made = declare(pfx=pfx(), services=frozenset({"SMTP"}), default_smtp=True, at={"import": AT_IMPORT})
    (change,) = plan(made, observed=(SMTP_SELF, default_is("abcdef12" + "0" * 32))).changes
    assert [(p.before, p.after) for p in change.properties if p.prop == "default_smtp"] == [
        ("(ABCDEF12, not in the certificate store)", "CN=smtp.contoso.com (FFFFFFFF)")]


def test_two_services_enabled_are_sent_as_one_list_with_iis_not_requiring_ssl():
    has = cert("A" * 40, "CN=mail.contoso.com", services="SMTP", domains=("ex01.contoso.com",), after=300)
    (change,) = plan(declare(thumbprint="A" * 40, services=frozenset({"IIS", "POP"})), observed=(SMTP_SELF, has)).changes
    assert steps_for(change)[0].params == {"Thumbprint": "A" * 40, "Services": "POP, IIS", "Server": LOCAL_SERVER, "DoNotRequireSsl": True}


# --- enabling, renewing, replacing, removing -----------------------------------------------------------------------------


def test_enabling_a_service_shows_before_and_after_and_sends_only_what_is_added():
    has = cert("A" * 40, "CN=mail.contoso.com", services="IMAP", domains=("ex01.contoso.com",), after=300)
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"IMAP", "SMTP"}), at={"services": AT_SERVICES}), observed=(SMTP_SELF, has))
    (change,) = result.changes
    assert change == Change(f"ex01/{KIND}/{'A' * 40}", "ex01", KIND, "CN=mail.contoso.com (AAAAAAAA)", "A" * 40, "update", (
        PropertyChange("services", "", ["IMAP"], ["IMAP", "SMTP"], None, AT_SERVICES),  # an unchanged value is not shown
    ), "enable SMTP")
    work = change.payload
    assert (work.services, work.network_service, work.default, work.expect) == ("None", True, False, frozenset({"IMAP", "SMTP"}))
    assert (work.cert.thumbprint, work.cert.services) == ("A" * 40, frozenset({"IMAP", "SMTP"}))
    # SMTP through -NetworkServiceAllowed, never -Services SMTP: that would ask to replace the default SMTP certificate
    assert steps_for(change) == (Step(f"{change.id}:enable", "Enable-ExchangeCertificate",
                                      {"Thumbprint": "A" * 40, "Services": "None", "Server": LOCAL_SERVER, "NetworkServiceAllowed": True}),)
    (finding,) = result.findings
    assert {p.prop: (p.expected, p.actual) for p in finding.properties}["services"] == (["IMAP", "SMTP"], ["IMAP"])
    readback = (replace_values(has, Services="IMAP, SMTP"),)
    assert verify_change(change, readback) is None
    assert verify_change(change, (has,)) == "CN=mail.contoso.com (AAAAAAAA) serves ['IMAP'], expected at least ['IMAP', 'SMTP']"
    assert verify_change(change, ()) == "CN=mail.contoso.com (AAAAAAAA) was not read back"
    assert verify_change(change, (replace_values(has, Services="Bogus"),)) == (
        "CN=mail.contoso.com (AAAAAAAA) serves (unknown), expected at least ['IMAP', 'SMTP']")


def test_a_renewal_replaces_the_certificate_with_a_new_self_signed_one_of_the_same_names():
    old = cert("E" * 40, "CN=EX01", services="IIS, SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=12)
    result = plan(declare(match=Match(subject="CN=EX01"), renew_days=30, at={"renew": AT_RENEW}), observed=(old,))
    (change,) = result.changes
    assert change == Change(f"ex01/{KIND}/{'E' * 40}", "ex01", KIND, "CN=EX01 (EEEEEEEE)", "E" * 40, "replace", (
        PropertyChange("thumbprint", "", "E" * 40, "(new, known after apply)", None, AT_RENEW),
        PropertyChange("valid_until", "", "2027-03-13", "(new self-signed, valid 5 years from its creation)", None, AT_RENEW),
    ), "expires 2027-03-13, within the 30 days of renew")  # subject, names and services stay: not shown
    work = change.payload
    assert (work.services, work.subject, work.domains, work.default, work.network_service, work.expect) == (
        "IIS", "CN=EX01", ("EX01", "ex01.contoso.com"), False, True, frozenset({"IIS", "SMTP"}))
    # not the default SMTP certificate: the new one gets SMTP through -NetworkServiceAllowed, no -Force
    assert steps_for(change) == (
        Step(f"{change.id}:new", "New-ExchangeCertificate", {"SubjectName": "CN=EX01", "DomainName": ["EX01", "ex01.contoso.com"],
                                                             "Services": "IIS", "Server": LOCAL_SERVER}, select=("Thumbprint",)),
        Step(f"{change.id}:enable", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef(f"{change.id}:new", "Thumbprint"), "Services": "None",
                                                                   "Server": LOCAL_SERVER, "NetworkServiceAllowed": True}),
        Step(f"{change.id}:remove", "Remove-ExchangeCertificate", {"Thumbprint": "E" * 40, "Server": LOCAL_SERVER, "Confirm": False}),
    )
    assert {p.prop: (p.expected, p.actual) for p in result.findings[0].properties}["thumbprint"] == ("(new, known after apply)", "E" * 40)
    new = cert("N" * 40, "CN=EX01", services="IIS, SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=1800)
    assert verify_change(change, (new,)) is None
    assert verify_change(change, (old, new)) == "CN=EX01 (EEEEEEEE) is still on the server"
    # the plan could only say "known after apply": the apply says which thumbprint the new one got
    until = (NOW + dt.timedelta(days=1800)).strftime("%Y-%m-%d")
    assert applied_note(change, (old, new)) == f"new thumbprint {'N' * 40} (valid until {until})"
    assert applied_note(change, (old, replace_values(new, Subject="CN=other"))) == ""
    assert applied_note(replace(change, action="update"), (new,)) == ""  # only a replacement has a new thumbprint to tell
    assert verify_change(change, (replace_values(new, Services="SMTP"),)) == "no replacement for CN=EX01 (EEEEEEEE) serving ['IIS', 'SMTP'] was read back"
    assert verify_change(change, (replace_values(new, Subject="CN=other"),)) == "no replacement for CN=EX01 (EEEEEEEE) serving ['IIS', 'SMTP'] was read back"


def test_services_beyond_the_exact_ones_replace_a_self_signed_certificate_and_refuse_a_third_party_one():
    own = cert("B" * 40, "CN=own.contoso.com", services="IMAP, SMTP", domains=("own.contoso.com", "ex01.contoso.com"), self_signed=True)
    result = plan(declare(match=Match(subject="CN=own.contoso.com"), services=frozenset({"SMTP"}), exact=True,
                          at={"services_mode": AT_MODE}), observed=(SMTP_SELF, own))
    (change,) = result.changes
    assert change.reason == "serves IMAP beyond the exact services; Exchange cannot remove a service"
    assert [(p.prop, p.before, p.after, p.source) for p in change.properties if p.prop == "services"] == [("services", ["IMAP", "SMTP"], ["SMTP"], AT_MODE)]
    bought = cert("C" * 40, "CN=mail.contoso.com", services="IMAP, POP, SMTP", domains=("ex01.contoso.com",))
    result = plan(declare(thumbprint="C" * 40, services=frozenset({"SMTP"}), exact=True), observed=(SMTP_SELF, bought))
    assert result.problems == ("inv.yaml:7:11: exchange.certificates: CN=mail.contoso.com (CCCCCCCC) serves IMAP, POP beyond the exact services "
                               "['SMTP']; Exchange cannot take a service away, and exconf replaces only self-signed certificates: "
                               "import a replacement and remove this one",)


def test_renew_declared_for_a_bought_certificate_warns_and_changes_nothing():
    bought = cert("C" * 40, "CN=mail.contoso.com", services="SMTP", domains=("ex01.contoso.com",), after=10)
    result = plan(declare(match=Match(subject="CN=mail.contoso.com"), renew_days=30, at={"renew": AT_RENEW}), observed=(SMTP_SELF, bought))
    assert result.changes == ()
    assert result.warnings[0] == ("EX01: CN=mail.contoso.com (CCCCCCCC) is not self-signed; renew (declared at inv.yaml:10:9) renews only "
                                  "self-signed certificates: import its successor instead")


def test_certificates_in_use_that_are_weak_or_sha1_or_expired_are_warned_about():
    weak = cert("A" * 40, "CN=x", services="SMTP", domains=("ex01.contoso.com",), key=1024, sig="sha1RSA")
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, weak))
    assert result.warnings == ("EX01: certificate CN=x (AAAAAAAA) has a 1024-bit key (under 2048 bits)",
                               "EX01: certificate CN=x (AAAAAAAA) is signed with SHA-1 (sha1RSA)")
    gone = cert("A" * 40, "CN=x", services="SMTP", domains=("ex01.contoso.com",), before=-400, after=-2, status="DateInvalid")
    result = plan(declare(thumbprint="A" * 40), observed=(SMTP_SELF, gone))
    assert result.warnings == ("EX01: certificate CN=x (AAAAAAAA) is not valid (status DateInvalid, valid until 2027-02-27)",)


def test_a_removal_shows_what_goes_and_sends_remove_without_confirmation():
    old = cert("A" * 40, "CN=old.contoso.com", services="IMAP", domains=("old.contoso.com",))
    result = plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, old))
    (change,) = result.changes
    assert change == Change(f"ex01/{KIND}/{'A' * 40}", "ex01", KIND, "CN=old.contoso.com (AAAAAAAA)", "A" * 40, "delete", (
        PropertyChange("thumbprint", "", "A" * 40, "(removed)", None, HERE),
        PropertyChange("services", "", ["IMAP"], [], None, HERE),
        PropertyChange("valid_until", "", "2027-12-26", "(removed)", None, HERE),
    ), "declared absent")
    assert result.findings == (Finding("ex01", KIND, "CN=old.contoso.com (AAAAAAAA)", FindingStatus.CHANGE, HERE, (
        FindingProperty("thumbprint", "(absent)", "A" * 40, HERE),
        FindingProperty("subject", "CN=old.contoso.com", "CN=old.contoso.com", HERE),
        FindingProperty("services", [], ["IMAP"], HERE),
        FindingProperty("self_signed", False, False, HERE),
        FindingProperty("not_after", "2027-12-26T00:00:00Z", "2027-12-26T00:00:00Z", HERE),
        FindingProperty("default_smtp", False, "(unknown)", HERE),  # a removed certificate is no default; the default was not read
    )),)
    assert steps_for(change) == (Step(f"{change.id}:remove", "Remove-ExchangeCertificate", {"Thumbprint": "A" * 40, "Server": LOCAL_SERVER, "Confirm": False}),)
    assert verify_change(change, ()) is None and verify_change(change, (old,)) == "CN=old.contoso.com (AAAAAAAA) is still on the server"


def test_an_expired_certificate_shows_its_date_and_that_it_expired():
    old = cert("A" * 40, "CN=old.contoso.com", services="IMAP", domains=("old.contoso.com",), before=-400, after=-1, status="DateInvalid")
    (change,) = plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, old)).changes
    assert change.properties[2].before == "2027-02-28 (expired)"
    unknown = replace_values(old, NotAfter=None)
    (change,) = plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, unknown)).changes
    assert change.properties[2].before == "(unknown)"


def test_replacements_and_removals_follow_every_import_and_enable_of_the_scope():
    a = cert("A" * 40, "CN=a", services="SMTP", domains=("ex01.contoso.com",))
    b = cert("B" * 40, "CN=b", domains=("ex01.contoso.com",))
    own = cert("C" * 40, "CN=own", services="IMAP, SMTP", domains=("ex01.contoso.com",), self_signed=True)
    result = plan(declare(thumbprint="A" * 40, absent=True), declare(match=Match(subject="CN=own"), services=frozenset({"SMTP"}), exact=True),
                  declare(thumbprint="B" * 40, services=frozenset({"SMTP"})), importing({"SMTP"}), observed=(SMTP_SELF, a, b, own))
    ids = {c.action: c.id for c in result.changes}
    assert [c.action for c in result.changes] == ["create", "update", "replace", "delete"]
    assert {c.action: c.after for c in result.changes} == {
        "create": (), "update": (), "replace": (ids["create"], ids["update"]), "delete": (ids["create"], ids["update"], ids["replace"])}


# --- the rails --------------------------------------------------------------------------------------------------------


def test_removing_the_last_smtp_certificate_is_refused_an_iis_only_or_auth_certificate_does_not_count():
    """The issue's mutant: the last-SMTP-certificate rail counted an IIS-only certificate as SMTP."""
    only = cert("A" * 40, "CN=mail.contoso.com", services="SMTP", domains=("ex01.contoso.com",))
    web = cert("W" * 40, "CN=web.contoso.com", services="IIS", domains=("ex01.contoso.com",))
    auth = cert("U" * 40, "CN=Microsoft Exchange Server Auth Certificate", services="SMTP", domains=())
    idle = cert("I" * 40, "CN=idle.contoso.com", domains=("ex01.contoso.com",))
    result = plan(declare(thumbprint="A" * 40, absent=True), observed=(only, web, auth, idle))
    assert result.refusals == (Refusal("smtp-certificate-kept", "ex01", "EX01: removing CN=mail.contoso.com (AAAAAAAA) would leave no valid "
                                       "certificate enabled for SMTP; declare its replacement (with services [SMTP]) in the same apply",
                                       f"ex01/{KIND}/{'A' * 40}"),)
    expired = cert("X" * 40, "CN=old.contoso.com", services="SMTP", domains=("ex01.contoso.com",), before=-400, after=-1, status="DateInvalid")
    assert [r.rail for r in plan(declare(thumbprint="A" * 40, absent=True), observed=(only, expired)).refusals] == ["smtp-certificate-kept"]
    assert plan(declare(thumbprint="A" * 40, absent=True), observed=(only, SMTP_SELF)).refusals == ()


def test_an_exact_replacement_that_drops_smtp_from_the_last_smtp_certificate_is_refused():
    own = cert("C" * 40, "CN=own", services="IIS, SMTP", domains=("ex01.contoso.com",), self_signed=True)
    result = plan(declare(match=Match(subject="CN=own"), services=frozenset({"IIS"}), exact=True), observed=(own,))
    assert [r.rail for r in result.refusals] == ["smtp-certificate-kept"]


def test_renewing_an_expired_smtp_certificate_keeps_smtp():
    old = cert("E" * 40, "CN=EX01", services="SMTP", domains=("ex01.contoso.com",), self_signed=True, before=-400, after=-1, status="DateInvalid")
    result = plan(declare(match=Match(subject="CN=EX01"), renew_days=30), observed=(old,))
    assert [c.action for c in result.changes] == ["replace"] and result.refusals == ()


def test_enabling_iis_elsewhere_or_on_the_smtp_certificate_keeps_smtp_for_the_removal_rail():
    a = cert("A" * 40, "CN=a", services="IMAP, SMTP", domains=("ex01.contoso.com",))
    old = cert("O" * 40, "CN=old", services="SMTP", domains=("ex01.contoso.com",))
    unread = replace_values(cert("U" * 40, "CN=unread", domains=("ex01.contoso.com",)), Services="Bogus")
    web = cert("W" * 40, "CN=web", services="IMAP", domains=("ex01.contoso.com",))
    for declared in (declare(thumbprint="A" * 40, services=frozenset({"SMTP", "IIS"})), declare(thumbprint="W" * 40, services=frozenset({"IIS"}))):
        result = plan(declared, declare(thumbprint="O" * 40, absent=True), observed=(a, old, unread, web))
        assert [r.rail for r in result.refusals] == [], declared


def test_a_connector_keeps_the_certificate_it_selects_unless_a_renewal_or_another_valid_match_takes_over():
    tls = "<I>CN=Public CA<S>CN=mail.contoso.com"
    legacy = cert("A" * 40, "CN=mail.contoso.com", services="IMAP", domains=("mail.contoso.com",))
    partner = connector("send", "Partner", "mail.contoso.com", tls)
    result = plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, legacy, partner))
    assert result.refusals == (Refusal("connector-certificate", "ex01", "EX01: CN=mail.contoso.com (AAAAAAAA) is the certificate the send connector "
                                       f"\"Partner\" selects (TlsCertificateName {tls}); removing it leaves the connector none", f"ex01/{KIND}/{'A' * 40}"),)
    twin = cert("B" * 40, "CN=mail.contoso.com", domains=("mail.contoso.com",), after=400)
    assert plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, legacy, twin, partner)).refusals == ()
    expired_twin = cert("B" * 40, "CN=mail.contoso.com", domains=("mail.contoso.com",), before=-400, after=-1, status="DateInvalid")
    assert [r.rail for r in plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, legacy, expired_twin, partner)).refusals] == [
        "connector-certificate"]
    own = cert("E" * 40, "CN=EX01", services="SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=12)
    selecting = connector("receive", "EX01\\Default", "ex01.contoso.com", "<I>CN=EX01<S>CN=EX01")
    assert plan(declare(match=Match(subject="CN=EX01"), renew_days=30), observed=(own, selecting)).refusals == ()
    assert plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, legacy, connector("send", "NoTls", "mail.contoso.com"))).refusals == ()


def test_only_send_connectors_this_server_sources_count_for_its_certificates():
    tls = "<I>CN=Public CA<S>CN=mail.contoso.com"
    legacy = cert("A" * 40, "CN=mail.contoso.com", domains=("mail.contoso.com",))
    refused = lambda *conns, ctx=MAILBOX: [r.rail for r in plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, legacy, *conns), ctx=ctx).refusals]  # noqa: E731
    assert refused(connector("send", "Theirs", "mail.contoso.com", tls, ["EX02"])) == []
    assert refused(connector("send", "Mine", "mail.contoso.com", tls, ["CONTOSO\\ex01", "EX02"])) == ["connector-certificate"]
    assert refused(connector("send", "One", "mail.contoso.com", tls, "EX01")) == ["connector-certificate"]
    assert refused(connector("send", "Any", "mail.contoso.com", tls, [])) == ["connector-certificate"]
    assert refused(connector("receive", "Recv", "mail.contoso.com", tls, ["EX02"])) == ["connector-certificate"]
    edge = replace_values(SMTP_SELF, CertificateDomains=["edge01.contoso.com"])
    assert [r.rail for r in plan(declare(thumbprint="A" * 40, absent=True), observed=(edge, legacy, connector("send", "EdgeSync", "mail.contoso.com", tls, ["EX02"])),
                                 ctx=EDGE).refusals] == ["connector-certificate"]  # an Edge presents it for connectors EdgeSync made


def test_a_certificate_for_smtp_must_name_the_server_or_a_connector():
    foreign = cert("A" * 40, "CN=x", domains=("mail.fabrikam.com", "smtp.fabrikam.com"))
    conns = (connector("receive", "EX01\\Inbound", "Mail.Contoso.com"), connector("send", "Out", "SMTP.contoso.com"), connector("send", "Blank"))
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, foreign, *conns))
    assert result.refusals == (Refusal("smtp-certificate-names", "ex01", "EX01: CN=x (AAAAAAAA) would serve SMTP, but its names "
                                       "(mail.fabrikam.com, smtp.fabrikam.com) cover neither the server's FQDN ex01.contoso.com nor a connector's FQDN "
                                       "(mail.contoso.com, smtp.contoso.com)", f"ex01/{KIND}/{'A' * 40}"),)
    nameless = cert("B" * 40, "CN=y", domains=())
    result = plan(declare(thumbprint="B" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, nameless))
    assert result.refusals[0].message == ("EX01: CN=y (BBBBBBBB) would serve SMTP, but its names (none) cover neither the server's FQDN "
                                          "ex01.contoso.com nor a connector's FQDN (none)")
    covered = cert("C" * 40, "CN=z", domains=("smtp.contoso.com",))
    assert plan(declare(thumbprint="C" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, covered, *conns)).refusals == ()


def test_a_self_signed_certificate_for_iis_is_refused_on_a_mailbox_server_only_with_the_reason():
    own = cert("A" * 40, "CN=x", domains=("ex01.contoso.com",), self_signed=True)
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"IIS"})), observed=(SMTP_SELF, own))
    assert result.refusals == (Refusal("iis-self-signed", "ex01", "EX01: CN=x (AAAAAAAA) is self-signed; Outlook Anywhere and ActiveSync clients "
                                       "reject it for IIS", f"ex01/{KIND}/{'A' * 40}"),)
    bought = cert("B" * 40, "CN=y", domains=("ex01.contoso.com",))
    assert plan(declare(thumbprint="B" * 40, services=frozenset({"IIS"})), observed=(SMTP_SELF, bought)).refusals == ()
    assert plan(declare(thumbprint="A" * 40, services=frozenset({"IMAP"})), observed=(SMTP_SELF, own)).refusals == ()


def test_binding_to_a_weak_or_expiring_certificate_is_refused_naming_what_it_would_bind():
    weak = cert("A" * 40, "CN=x", domains=("ex01.contoso.com",), key=1024, after=20)
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP", "IMAP"}), warn_days=30), observed=(SMTP_SELF, weak))
    assert [(r.rail, r.message) for r in result.refusals] == [
        ("certificate-expiring", "EX01: CN=x (AAAAAAAA) expires in 20 days (2027-03-21; warning threshold 30 days); exconf will not bind IMAP, SMTP to it"),
        ("certificate-weak-key", "EX01: CN=x (AAAAAAAA) has a 1024-bit key (under 2048 bits); exconf will not bind IMAP, SMTP to it"),
    ]
    assert plan(declare(thumbprint="A" * 40, services=frozenset({"IMAP"}), warn_days=10), observed=(SMTP_SELF, replace_values(weak, PublicKeySize=2048))).refusals == ()


# --- the rail that needs the whole plan -------------------------------------------------------------------------------


def finding(host: str, thumb: str, before, after, self_signed=False, status=None, props=("thumbprint", "services", "self_signed")) -> Finding:
    all_props = {"thumbprint": FindingProperty("thumbprint", thumb, thumb, HERE), "services": FindingProperty("services", after, before, HERE),
                 "self_signed": FindingProperty("self_signed", self_signed, self_signed, HERE)}
    status = status or (FindingStatus.CHANGE if before != after else FindingStatus.IN_SYNC)
    return Finding(host, KIND, f"CN=mail ({thumb[:8]})", status, HERE, tuple(all_props[p] for p in props))


def whole(*per_host: tuple[str, str, tuple[Finding, ...]], down=()) -> Plan:
    hosts = {}
    for host, role, findings in per_host:
        facts = ServerFacts(host.upper(), f"{host}.contoso.com", role, "15.2", "A")
        hosts[host] = HostPlan(host, HostStatus.FAILED if host in down else HostStatus.OK, facts, (), findings=findings)
    return Plan(hosts=hosts)


def test_one_certificate_bound_for_smtp_on_both_an_edge_and_a_mailbox_server_is_refused_where_this_plan_binds_it():
    t = "A" * 40
    refusals = plan_rails(whole(("edge01", "Edge", (finding("edge01", t, [], ["SMTP"]),)), ("ex01", "Mailbox", (finding("ex01", t, ["SMTP"], ["SMTP"]),)),
                                ("ex02", "Mailbox", (finding("ex02", t, ["IMAP", "SMTP"], ["IMAP", "SMTP"]),))))
    assert refusals == [Refusal("edge-mailbox-same-certificate", "edge01", "edge01: CN=mail (AAAAAAAA) would serve SMTP on this Edge server and also "
                                "serves SMTP on ex01, ex02; an Edge and the Mailbox servers it synchronises with must not present the same certificate "
                                "(keep the self-signed one for Edge ↔ Mailbox)", f"edge01/{KIND}/{t}")]
    both_new = plan_rails(whole(("edge01", "Edge", (finding("edge01", t, "(unknown)", ["SMTP"]),)), ("ex01", "Mailbox", (finding("ex01", t, [], ["SMTP"]),))))
    assert [r.host for r in both_new] == ["edge01", "ex01"]


@pytest.mark.parametrize("mailbox", [
    finding("ex01", "A" * 40, ["SMTP"], ["SMTP"], status=FindingStatus.ERROR),
    finding("ex01", "A" * 40, ["SMTP"], ["SMTP"], status=FindingStatus.REFUSED),
    finding("ex01", "A" * 40, ["SMTP"], ["SMTP"], props=("thumbprint", "services")),
    finding("ex01", "A" * 40, ["SMTP"], ["IIS"]),
    finding("ex01", "A" * 40, ["SMTP"], "(unknown)"),
    Finding("ex01", "receive_connector", "x", FindingStatus.CHANGE, HERE, finding("ex01", "A" * 40, ["SMTP"], ["SMTP"]).properties),
])
def test_the_edge_mailbox_rail_reads_only_certificate_findings_that_serve_smtp_after_the_plan(mailbox):
    assert plan_rails(whole(("edge01", "Edge", (finding("edge01", "A" * 40, [], ["SMTP"]),)), ("ex01", "Mailbox", (mailbox,)))) == []


def test_the_edge_mailbox_rail_counts_an_expiring_certificate_and_ignores_failed_hosts_and_two_mailbox_servers():
    t = "A" * 40
    expiring = finding("ex01", t, ["SMTP"], ["SMTP"], status=FindingStatus.EXPIRING)
    assert [r.host for r in plan_rails(whole(("edge01", "Edge", (finding("edge01", t, [], ["SMTP"]),)), ("ex01", "Mailbox", (expiring,))))] == ["edge01"]
    assert plan_rails(whole(("edge01", "Edge", (finding("edge01", t, [], ["SMTP"]),)), ("ex01", "Mailbox", (expiring,)), down=("ex01",))) == []
    assert plan_rails(whole(("ex02", "Mailbox", (finding("ex02", t, [], ["SMTP"]),)), ("ex01", "Mailbox", (expiring,)))) == []


# --- every finding, exactly; boundaries of dates ------------------------------------------------------------------------


def props_of(thumb_after, thumb_before, subject, services_after, services_before, self_signed, not_after, at=HERE, default=("(unknown)", "(unknown)")):
    return (FindingProperty("thumbprint", thumb_after, thumb_before, at), FindingProperty("subject", subject, subject, at),
            FindingProperty("services", services_after, services_before, at), FindingProperty("self_signed", self_signed, self_signed, at),
            FindingProperty("not_after", not_after, not_after, at), FindingProperty("default_smtp", default[0], default[1], at))


def default_is(thumb: str) -> ObservedObject:
    """The server's default SMTP certificate as Get-TransportService names it (read beside the certificates)."""
    return ObservedObject(SERVER_INFO, "", "", {"transport.InternalTransportCertificateThumbprint": thumb.lower()})


def test_every_finding_names_the_host_the_certificate_and_where_it_was_declared():
    a = cert("A" * 40, "CN=a", services="IMAP", domains=("ex01.contoso.com",))
    (update,) = plan(declare(thumbprint="A" * 40, services=frozenset({"IMAP", "POP", "SMTP"})), observed=(SMTP_SELF, a)).findings
    assert update == Finding("ex01", KIND, "CN=a (AAAAAAAA)", FindingStatus.CHANGE, HERE,
                             props_of("A" * 40, "A" * 40, "CN=a", ["IMAP", "POP", "SMTP"], ["IMAP"], False, "2027-12-26T00:00:00Z"))
    (change,) = plan(declare(thumbprint="A" * 40, services=frozenset({"IMAP", "POP", "SMTP"})), observed=(SMTP_SELF, a)).changes
    assert change.reason == "enable POP, SMTP" and change.properties[0].source == HERE  # no key of its own: the entry's place
    (in_sync,) = plan(declare(thumbprint="A" * 40), observed=(SMTP_SELF, a)).findings
    assert in_sync == Finding("ex01", KIND, "CN=a (AAAAAAAA)", FindingStatus.IN_SYNC, HERE,
                              props_of("A" * 40, "A" * 40, "CN=a", ["IMAP"], ["IMAP"], False, "2027-12-26T00:00:00Z"))
    for default, shown in (("A" * 40, True), ("D" * 40, False)):  # as it is, when the server's default was read and none is declared
        (in_sync,) = plan(declare(thumbprint="A" * 40), observed=(SMTP_SELF, a, default_is(default))).findings
        assert in_sync.properties == props_of("A" * 40, "A" * 40, "CN=a", ["IMAP"], ["IMAP"], False, "2027-12-26T00:00:00Z", default=(shown, shown))
    old = cert("E" * 40, "CN=EX01", services="SMTP", domains=("ex01.contoso.com",), self_signed=True, after=12)
    result = plan(declare(match=Match(subject="CN=EX01"), renew_days=30), observed=(old,))
    assert result.findings == (Finding("ex01", KIND, "CN=EX01 (EEEEEEEE)", FindingStatus.CHANGE, HERE,
                                       props_of("(new, known after apply)", "E" * 40, "CN=EX01", ["SMTP"], ["SMTP"], True, "2027-03-13T00:00:00Z")),)
    assert {p.source for p in result.changes[0].properties} == {HERE}
    soon = cert("S" * 40, "CN=s", services="IMAP, SMTP", domains=("ex01.contoso.com",), after=10)
    (expiring,) = plan(declare(thumbprint="S" * 40), observed=(SMTP_SELF, soon)).findings
    assert expiring == Finding("ex01", KIND, "CN=s (SSSSSSSS)", FindingStatus.EXPIRING, HERE, (
        FindingProperty("days_left", "at least 30", 10, HERE),
        *props_of("S" * 40, "S" * 40, "CN=s", ["IMAP", "SMTP"], ["IMAP", "SMTP"], False, "2027-03-11T00:00:00Z")),
        "CN=s (SSSSSSSS) serves IMAP, SMTP and expires in 10 days (2027-03-11; warning threshold 30 days)")


def test_a_certificate_whose_services_could_not_be_read_is_an_error_finding_with_what_is_known():
    unread = replace_values(cert("A" * 40, "CN=a", domains=("ex01.contoso.com",)), Services="Bogus", NotAfter=None)
    (finding,) = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, unread)).findings
    assert finding == Finding("ex01", KIND, "CN=a (AAAAAAAA)", FindingStatus.ERROR, HERE,
                              props_of("A" * 40, "A" * 40, "CN=a", "(unknown)", "(unknown)", False, "(unknown)"),
                              "the services of CN=a (AAAAAAAA) could not be read on EX01: unknown, so no change is proposed")
    (removal,) = plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, unread)).changes
    assert removal.properties[1] == PropertyChange("services", "", "(unknown)", [], None, HERE)


def test_expiry_dates_are_shown_in_utc_whatever_the_controllers_time_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        soon = cert("S" * 40, "CN=s", services="SMTP", domains=("ex01.contoso.com",), after=10)
        (finding,) = plan(declare(thumbprint="S" * 40), observed=(SMTP_SELF, soon)).findings
        assert {p.prop: p.actual for p in finding.properties}["not_after"] == "2027-03-11T00:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def at_hours(hours: float) -> ObservedObject:
    c = cert("H" * 40, "CN=h", domains=("ex01.contoso.com",), after=0)
    return replace_values(c, NotAfter=(NOW + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_a_certificate_expiring_in_hours_is_expiring_not_expired_and_one_expiring_now_is_expired():
    result = plan(declare(thumbprint="H" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, at_hours(12)))
    assert [r.rail for r in result.refusals] == ["certificate-expiring"]
    (removal,) = plan(declare(thumbprint="H" * 40, absent=True), observed=(SMTP_SELF, at_hours(12))).changes
    assert removal.properties[2].before == "2027-03-01"  # valid for 12 more hours: its date, not expired
    revoked = replace_values(cert("R" * 40, "CN=r", domains=("ex01.contoso.com",)), Status="Revoked")
    assert plan(declare(thumbprint="R" * 40, services=frozenset({"SMTP"})), observed=(SMTP_SELF, revoked)).refusals == (Refusal(
        "certificate-expired", "ex01", "EX01: CN=r (RRRRRRRR) is not valid (status Revoked, valid until 2027-12-26); exconf will not bind SMTP to it",
        f"ex01/{KIND}/{'R' * 40}"),)
    (removal,) = plan(declare(thumbprint="H" * 40, absent=True), observed=(SMTP_SELF, at_hours(0))).changes
    assert removal.properties[2].before == "2027-03-01 (expired)"


def test_the_thresholds_are_exclusive_at_exactly_so_many_days():
    thirty = cert("A" * 40, "CN=a", domains=("ex01.contoso.com",), after=30)
    assert plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"}), warn_days=30), observed=(SMTP_SELF, thirty)).refusals == ()
    own = cert("E" * 40, "CN=EX01", services="SMTP", domains=("ex01.contoso.com",), self_signed=True, after=30)
    assert plan(declare(match=Match(subject="CN=EX01"), renew_days=30), observed=(own,)).changes == ()


def test_the_newest_match_is_the_one_valid_longest_then_issued_last():
    longest = cert("A" * 40, "CN=mail", before=-50, after=400)
    later = cert("B" * 40, "CN=mail", before=-1, after=100)
    (change,) = plan(declare(match=Match(subject="CN=mail"), services=frozenset({"IMAP"})), observed=(SMTP_SELF, longest, later)).changes
    assert change.identity == "A" * 40
    same_end = (cert("G" * 40, "CN=mail", before=-10, after=300), cert("J" * 40, "CN=mail", before=-5, after=300))
    (change,) = plan(declare(match=Match(subject="CN=mail"), services=frozenset({"IMAP"})), observed=(SMTP_SELF, *same_end)).changes
    assert change.identity == "J" * 40
    twins = (cert("C" * 40, "CN=mail"), cert("F" * 40, "CN=mail"))
    assert plan(declare(match=Match(subject="CN=mail")), observed=(SMTP_SELF, *twins)).problems == (
        "inv.yaml:7:11: exchange.certificates: match (subject 'CN=mail') selects 2 equally new certificates: CN=mail (CCCCCCCC), CN=mail (FFFFFFFF); "
        "narrow the match or use a thumbprint on EX01",)
    expired = (cert("C" * 40, "CN=mail", after=-1, status="DateInvalid"), replace_values(cert("F" * 40, "CN=mail", status="DateInvalid"), NotAfter=None))
    assert plan(declare(match=Match(subject="CN=mail")), observed=(SMTP_SELF, *expired)).problems == (
        "inv.yaml:7:11: exchange.certificates: match (subject 'CN=mail') selects no valid certificate (found: CN=mail (CCCCCCCC) DateInvalid, "
        "until 2027-02-28; CN=mail (FFFFFFFF) DateInvalid, until (unknown)) on EX01",)


def test_state_absent_removes_every_certificate_it_selects_but_one_declared_elsewhere():
    a, b, c = (cert(t * 40, "CN=old", services="IMAP", domains=("old.contoso.com",)) for t in "ABC")
    result = plan(declare(thumbprint="A" * 40), declare(match=Match(subject="CN=old"), absent=True), observed=(SMTP_SELF, a, b, c))
    assert sorted(ch.identity for ch in result.changes) == ["B" * 40, "C" * 40]
    assert len(result.problems) == 1 and "CN=old (AAAAAAAA) is also declared at inv.yaml:7:11" in result.problems[0]


def test_exact_services_name_every_service_beyond_them_and_renew_on_a_bought_certificate_says_where_it_was_declared():
    own = cert("B" * 40, "CN=own", services="IMAP, POP, SMTP", domains=("ex01.contoso.com",), self_signed=True)
    result = plan(declare(match=Match(subject="CN=own"), services=frozenset({"SMTP"}), exact=True), observed=(SMTP_SELF, own))
    (change,) = result.changes
    assert change.reason == "serves IMAP, POP beyond the exact services; Exchange cannot remove a service"
    assert {p.prop: (p.expected, p.actual) for p in result.findings[0].properties}["services"] == (["SMTP"], ["IMAP", "POP", "SMTP"])
    assert {p.source for p in change.properties} == {HERE}
    bought = cert("C" * 40, "CN=mail", services="SMTP", domains=("ex01.contoso.com",))
    assert plan(declare(match=Match(subject="CN=mail"), renew_days=30), observed=(SMTP_SELF, bought)).warnings == (
        "EX01: CN=mail (CCCCCCCC) is not self-signed; renew (declared at inv.yaml:7:11) renews only self-signed certificates: import its successor instead",)


def test_each_renewal_that_adds_iis_is_refused_on_its_own():
    a = cert("A" * 40, "CN=a", services="SMTP", domains=("ex01.contoso.com",), self_signed=True, after=5)
    b = cert("B" * 40, "CN=b", services="SMTP", domains=("ex01.contoso.com",), self_signed=True, after=5)
    result = plan(declare(match=Match(subject="CN=a"), services=frozenset({"SMTP", "IIS"}), renew_days=30),
                  declare(match=Match(subject="CN=b"), services=frozenset({"SMTP", "IIS"}), renew_days=30), observed=(a, b))
    assert [(r.rail, r.change) for r in result.refusals] == [("iis-self-signed", f"ex01/{KIND}/{'A' * 40}"), ("iis-self-signed", f"ex01/{KIND}/{'B' * 40}")]


def test_a_send_connector_another_server_sources_does_not_hide_the_connectors_after_it():
    tls = "<I>CN=Public CA<S>CN=mail.contoso.com"
    legacy = cert("A" * 40, "CN=mail.contoso.com", domains=("mail.contoso.com",))
    result = plan(declare(thumbprint="A" * 40, absent=True), observed=(SMTP_SELF, legacy, connector("send", "Theirs", "x", tls, ["EX02"]),
                                                                      connector("receive", "EX01\\Mine", "x", tls)))
    assert [r.message.split('"')[1] for r in result.refusals] == ["EX01\\Mine"]


def test_the_edge_mailbox_rail_reads_every_host_and_finding_after_one_it_skips():
    t = "A" * 40
    noise = (Finding("edge01", "receive_connector", "x", FindingStatus.CHANGE, HERE), finding("edge01", "B" * 40, [], ["SMTP"], self_signed=True),
             finding("edge01", "C" * 40, [], ["SMTP"], props=("thumbprint", "services")))
    plan_ = whole(("ex09", "Mailbox", (finding("ex09", t, ["SMTP"], ["SMTP"]),)), ("edge01", "Edge", (*noise, finding("edge01", t, [], ["SMTP"]))),
                  ("ex01", "Mailbox", (finding("ex01", t, ["SMTP"], ["SMTP"]),)), down=("ex09",))
    assert [(r.host, r.message.split("also serves SMTP on ")[1].split(";")[0]) for r in plan_rails(plan_)] == [("edge01", "ex01")]
