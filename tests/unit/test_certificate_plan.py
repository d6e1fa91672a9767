"""Planning certificates, pure: which certificate a declaration means, what changes, what the rails refuse,
which steps carry a change, how a saved plan holds a PFX and its password. No server: observed objects as data."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from exconf.controllerfiles import PfxBytes, RefSecret
from exconf.model import (
    Change, Desired, DesiredValue, FileRef, Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, ObservedObject,
    Plan, SecretRef, ServerFacts,
)
from exconf.modules.base import PlanContext
from exconf.modules.certificate_plan import CertWork, steps_for, verify_change
from exconf.modules.certificate_values import Match, parse_services
from exconf.modules.exchange_certificate import CONNECTOR, KIND, CertificateKind, CertSpec
from exconf.remote import LOCAL_SERVER, OutputRef
from exconf.modules.certificate_plan import plan_rails as global_checks
from exconf.yamlsource import Location

NOW = dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc)
HERE = Location("inv.yaml", 7, 11)
KINDS = CertificateKind(clock=lambda: NOW)
MAILBOX = PlanContext("ex01.contoso.com", ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam"), "EX01")


def day(offset: int) -> str:
    return (NOW + dt.timedelta(days=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cert(thumb: str, subject: str, *, services="None", domains=("mail.contoso.com",), issuer="CN=Public CA", before=-10, after=300,
         self_signed=False, status="Valid", key=2048, sig="sha256RSA") -> ObservedObject:
    values = {"Thumbprint": thumb, "Subject": subject, "Issuer": subject if self_signed else issuer, "CertificateDomains": list(domains),
              "NotBefore": day(before), "NotAfter": day(after), "Services": services, "Status": status, "IsSelfSigned": self_signed,
              "HasPrivateKey": True, "PublicKeySize": key, "SignatureAlgorithm.FriendlyName": sig}
    return ObservedObject(KIND, thumb, thumb, values)


DEFAULT = cert("D" * 40, "CN=EX01", services="IMAP, POP, IIS, SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=1000)


def declare(**kw) -> Desired:
    spec = CertSpec(**kw)
    return Desired(KIND, spec.describe(), (DesiredValue("certificate", spec, HERE),), HERE)


def plan(*declared: Desired, observed=(), ctx=MAILBOX):
    return KINDS.plan(tuple(declared), (DEFAULT, *observed), ctx)


def test_the_newest_valid_match_wins_and_survives_renewal():
    old = cert("A" * 40, "CN=mail.contoso.com, O=Contoso", after=20)
    new = cert("B" * 40, "CN=mail.contoso.com, O=Contoso", before=-1, after=400)
    expired = cert("C" * 40, "CN=mail.contoso.com, O=Contoso", before=-500, after=-1, status="DateInvalid")
    result = plan(declare(match=Match(subject="CN=mail.contoso.com", issuer="*Public*"), services=frozenset({"SMTP"})), observed=(old, new, expired))
    (change,) = result.changes
    assert (change.identity, change.action) == ("B" * 40, "update")
    assert change.name == "CN=mail.contoso.com, O=Contoso (BBBBBBBB)"
    assert [(p.prop, p.before, p.after) for p in change.properties][0] == ("services", [], ["SMTP"])


def test_equally_new_matches_are_an_error_listing_them():
    twins = (cert("A" * 40, "CN=mail.contoso.com"), cert("B" * 40, "CN=mail.contoso.com"))
    result = plan(declare(match=Match(subject="CN=mail.contoso.com")), observed=twins)
    (problem,) = result.problems
    assert "selects 2 equally new certificates: CN=mail.contoso.com (AAAAAAAA), CN=mail.contoso.com (BBBBBBBB)" in problem
    assert problem.startswith("inv.yaml:7:11: exchange.certificates:") and not result.changes


def test_unknown_services_are_never_none_and_propose_nothing():
    unread = ObservedObject(KIND, "A" * 40, "A" * 40, {**cert("A" * 40, "CN=mail.contoso.com").values, "Services": None})
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(unread,))
    assert not result.changes and not result.problems
    (finding,) = result.findings
    assert finding.status is FindingStatus.ERROR and "could not be read" in finding.message
    assert parse_services(None) is None and parse_services("None") == frozenset() and parse_services("IMAP, Bogus") is None


def test_at_least_adds_what_is_missing_and_exact_replaces_a_self_signed_certificate():
    has = cert("A" * 40, "CN=mail.contoso.com", services="IMAP, SMTP")
    assert not plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"})), observed=(has,)).changes
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"}), exact=True), observed=(has,))
    assert "Exchange cannot take a service away" in result.problems[0]
    own = cert("B" * 40, "CN=own.contoso.com", services="IMAP, SMTP", domains=("own.contoso.com", "ex01.contoso.com"), self_signed=True)
    (change,) = plan(declare(match=Match(subject="CN=own.contoso.com"), services=frozenset({"SMTP"}), exact=True), observed=(own,)).changes
    assert change.action == "replace"
    # Not the default SMTP certificate: its replacement gets SMTP without -Force (NETWORK SERVICE reads its key).
    new, enable, remove = steps_for(change)
    assert (new.cmdlet, new.params["Services"], "Force" in new.params) == ("New-ExchangeCertificate", "None", False)
    assert new.params["SubjectName"] == "CN=own.contoso.com" and new.params["DomainName"] == ["own.contoso.com", "ex01.contoso.com"]
    assert enable.params == {"Thumbprint": OutputRef(new.id, "Thumbprint"), "Services": "None", "Server": LOCAL_SERVER, "NetworkServiceAllowed": True}
    assert (remove.cmdlet, remove.params) == ("Remove-ExchangeCertificate", {"Thumbprint": "B" * 40, "Server": LOCAL_SERVER, "Confirm": False})


def test_a_renewal_replaces_first_so_the_smtp_rail_holds():
    only = cert("E" * 40, "CN=EX01", services="SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=12)
    result = KINDS.plan((declare(match=Match(subject="CN=EX01"), renew_days=30),), (only,), MAILBOX)
    (change,) = result.changes
    assert change.action == "replace" and not result.refusals
    assert [p.after for p in change.properties if p.prop == "thumbprint"] == ["(new, known after apply)"]
    removal = KINDS.plan((declare(match=Match(subject="CN=EX01"), absent=True),), (only,), MAILBOX)
    assert [r.rail for r in removal.refusals] == ["smtp-certificate-kept"]


def test_a_connector_that_selects_a_certificate_keeps_it():
    legacy = cert("A" * 40, "CN=mail.contoso.com", services="SMTP", domains=("mail.contoso.com",))
    connector = ObservedObject(CONNECTOR, "EX01\\Partner", "receive", {"Identity": "EX01\\Partner", "Fqdn": "mail.contoso.com",
                                                                      "TlsCertificateName": "<I>CN=Public CA<S>CN=mail.contoso.com"})
    result = plan(declare(thumbprint="A" * 40, absent=True), observed=(legacy, connector))
    assert [r.rail for r in result.refusals] == ["connector-certificate"]
    assert 'the receive connector "EX01\\Partner" selects (TlsCertificateName <I>CN=Public CA<S>CN=mail.contoso.com)' in result.refusals[0].message


@pytest.mark.parametrize("kw, services, rails", [
    ({"domains": ("other.fabrikam.com",)}, {"SMTP"}, ["smtp-certificate-names"]),
    ({"domains": ("*.contoso.com",)}, {"SMTP"}, []),  # a wildcard covers ex01.contoso.com
    ({"self_signed": True, "domains": ("ex01.contoso.com",)}, {"IIS"}, ["iis-self-signed"]),
    ({"after": 10, "domains": ("ex01.contoso.com",)}, {"SMTP"}, ["certificate-expiring"]),
    ({"key": 1024, "sig": "sha1RSA", "domains": ("ex01.contoso.com",)}, {"SMTP"}, ["certificate-weak-key", "certificate-sha1"]),
    ({"before": -400, "after": -1, "status": "DateInvalid", "domains": ("ex01.contoso.com",)}, {"IMAP"}, ["certificate-expired"]),
    ({"domains": ("ex01.contoso.com",)}, {"SMTP"}, []),
])
def test_binding_rails(kw, services, rails):
    obs = cert("A" * 40, "CN=x", **kw)
    result = plan(declare(thumbprint="A" * 40, services=frozenset(services)), observed=(obs,))
    assert [r.rail for r in result.refusals] == rails
    assert all(r.change == result.changes[0].id for r in result.refusals)


def test_a_certificate_in_sync_near_expiry_is_a_warning():
    obs = cert("A" * 40, "CN=x", services="SMTP", domains=("ex01.contoso.com",), after=10)
    result = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"}), warn_days=30), observed=(obs,))
    assert not result.changes and not result.refusals
    assert result.warnings == ("EX01: certificate CN=x (AAAAAAAA) expires in 10 days (2027-03-11; warning threshold 30 days) (renew it: declare renew, or import its successor)",)


def test_a_certificate_in_use_near_expiry_is_an_expiring_finding_for_drift():
    at = {"warn_within_days": Location("inv.yaml", 9, 29)}
    soon = cert("A" * 40, "CN=x", services="SMTP", domains=("ex01.contoso.com",), after=10)
    (finding,) = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP"}), warn_days=30, at=at), observed=(soon,)).findings
    assert finding.status is FindingStatus.EXPIRING
    props = {p.prop: p for p in finding.properties}
    assert (props["days_left"].expected, props["days_left"].actual, props["days_left"].source) == ("at least 30", 10, at["warn_within_days"])
    assert props["not_after"].actual == props["not_after"].expected == "2027-03-11T00:00:00Z"
    assert props["subject"].actual == "CN=x" and props["thumbprint"].actual == "A" * 40
    assert finding.message == "CN=x (AAAAAAAA) serves SMTP and expires in 10 days (2027-03-11; warning threshold 30 days)"
    # outside the threshold, or not in use (no service), it is in sync: plan and drift have nothing to say
    for obs, days in ((soon, 10), (cert("A" * 40, "CN=x", domains=("ex01.contoso.com",), after=10), 30)):
        (other,) = plan(declare(thumbprint="A" * 40, warn_days=days), observed=(obs,)).findings
        assert other.status is FindingStatus.IN_SYNC and "days_left" not in {p.prop for p in other.properties}
    gone = cert("A" * 40, "CN=x", services="SMTP", domains=("ex01.contoso.com",), before=-400, after=-2, status="DateInvalid")
    (expired,) = plan(declare(thumbprint="A" * 40), observed=(gone,)).findings
    assert expired.status is FindingStatus.EXPIRING and {p.prop: p.actual for p in expired.properties}["days_left"] == 0
    assert "is not valid (status DateInvalid" in expired.message


def test_an_expiring_certificate_still_counts_as_in_sync_for_the_recap_and_the_edge_mailbox_rail():
    host = HostPlan("ex01", HostStatus.OK, MAILBOX.facts, (), findings=(_finding("ex01", "A" * 40, ["SMTP"], ["SMTP"]),))
    assert host.in_sync == 1
    expiring = Finding("ex01", KIND, "CN=mail", FindingStatus.EXPIRING, HERE, _finding("ex01", "A" * 40, ["SMTP"], ["SMTP"]).properties)
    assert HostPlan("ex01", HostStatus.OK, MAILBOX.facts, (), findings=(expiring,)).in_sync == 1
    refusals = global_checks(_plan_of(_finding("edge", "A" * 40, [], ["SMTP"]), expiring))
    assert [r.rail for r in refusals] == ["edge-mailbox-same-certificate"]


def test_smtp_is_bound_without_replacing_the_default_and_iis_keeps_the_web_site_ssl_setting():
    obs = cert("A" * 40, "CN=x", domains=("ex01.contoso.com",))
    (change,) = plan(declare(thumbprint="A" * 40, services=frozenset({"SMTP", "IIS"})), observed=(obs,)).changes
    (enable,) = steps_for(change)
    assert enable.params == {"Thumbprint": "A" * 40, "Services": "IIS", "Server": LOCAL_SERVER, "NetworkServiceAllowed": True, "DoNotRequireSsl": True}
    readback = (ObservedObject(KIND, "A" * 40, "A" * 40, {**obs.values, "Services": "IIS, SMTP"}),)
    assert verify_change(change, readback) is None
    assert "expected at least" in verify_change(change, (obs,))


def _import_change(tmp_path) -> Change:
    data = b"0\x82pfx-bytes"
    path = tmp_path / "mail.pfx"
    path.write_bytes(data)
    ref = FileRef(str(path), __import__("hashlib").sha256(data).hexdigest())
    from exconf.model import PropertyChange
    props = (
        PropertyChange("pfx", "", "(not on the server)", f"{path}", None, HERE),
        PropertyChange("password", "", None, "from env UNIT_PFX_PW", None, HERE),
        PropertyChange("services", "", [], ["SMTP"], None, HERE),
    )
    work = CertWork(services="SMTP", pfx=PfxBytes(data, ref), password=RefSecret(SecretRef("env", "UNIT_PFX_PW")), default=True)
    return Change("ex01/exchange_certificate/" + "A" * 40, "ex01", KIND, "CN=x (AAAAAAAA)", "A" * 40, "create", props, "import", payload=work)


def test_import_and_enable_travel_together_enable_names_the_pfxs_own_thumbprint(tmp_path):
    change = _import_change(tmp_path)
    imp, enable = steps_for(change)
    assert imp.cmdlet == "Import-ExchangeCertificate" and isinstance(imp.params["FileData"], bytes)
    # the certificate exconf read from the PFX: no answer of the import is needed, so both share a pipeline
    assert enable.params["Thumbprint"] == change.identity == "A" * 40 and enable.params["Force"] is True  # default_smtp: true
    assert not any(isinstance(v, OutputRef) for v in enable.params.values())


def test_the_review_holds_the_pfx_and_password_by_reference_never_their_content(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIT_PFX_PW", "Unit-Secret-42")
    from exconf.review import command

    imp, enable = steps_for(_import_change(tmp_path))
    shown = json.dumps([command(imp), command(enable)])
    assert "Unit-Secret-42" not in shown and "pfx-bytes" not in shown
    assert command(imp)["parameters"]["Password"] == {"secret": "from env UNIT_PFX_PW", "origin": "env", "name": "UNIT_PFX_PW"}
    assert command(imp)["parameters"]["FileData"] == {"file": str(tmp_path / "mail.pfx"), "sha256": __import__("hashlib").sha256(b"0\x82pfx-bytes").hexdigest()}
    assert command(enable)["parameters"]["Thumbprint"] == "A" * 40


def _finding(host: str, thumb: str, before: list[str], after: list[str], self_signed: bool = False) -> Finding:
    props = (FindingProperty("thumbprint", thumb, thumb, HERE), FindingProperty("services", after, before, HERE),
             FindingProperty("self_signed", self_signed, self_signed, HERE))
    return Finding(host, KIND, f"CN=mail ({thumb[:8]})", FindingStatus.CHANGE if before != after else FindingStatus.IN_SYNC, HERE, props)


def _plan_of(edge: Finding, mailbox: Finding) -> Plan:
    facts = {"edge": ServerFacts("EDGE01", "edge01.contoso.com", "Edge", "15.2", ""), "ex01": ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2", "A")}
    hosts = {h: HostPlan(h, HostStatus.OK, facts[h], (), findings=(f,)) for h, f in (("edge", edge), ("ex01", mailbox))}
    return Plan(hosts=hosts)


def test_one_third_party_certificate_for_smtp_on_edge_and_mailbox_is_refused_where_it_is_bound():
    refusals = global_checks(_plan_of(_finding("edge", "A" * 40, [], ["SMTP"]), _finding("ex01", "A" * 40, ["SMTP"], ["SMTP"])))
    assert [(r.rail, r.host, r.change) for r in refusals] == [("edge-mailbox-same-certificate", "edge", "edge/exchange_certificate/" + "A" * 40)]
    assert not global_checks(_plan_of(_finding("edge", "A" * 40, [], ["SMTP"]), _finding("ex01", "B" * 40, [], ["SMTP"])))
    assert not global_checks(_plan_of(_finding("edge", "A" * 40, [], ["SMTP"], True), _finding("ex01", "A" * 40, [], ["SMTP"], True)))


def test_an_edge_serves_only_smtp():
    edge = PlanContext("edge01", ServerFacts("EDGE01", "edge01.contoso.com", "Edge", "15.2.1544.4", ""), "EDGE01")
    obs = cert("A" * 40, "CN=x", domains=("edge01.contoso.com",))
    result = KINDS.plan((declare(thumbprint="A" * 40, services=frozenset({"SMTP", "IMAP"})),), (obs,), edge)
    assert not result.changes
    assert "EDGE01 is an Edge Transport server, where a certificate serves only SMTP (declared: IMAP, SMTP)" in result.problems[0]


def test_a_renewal_that_adds_iis_on_a_mailbox_server_is_refused_but_its_age_is_not():
    old = cert("E" * 40, "CN=EX01", services="SMTP", domains=("EX01", "ex01.contoso.com"), self_signed=True, after=12)
    result = KINDS.plan((declare(match=Match(subject="CN=EX01"), services=frozenset({"SMTP", "IIS"}), renew_days=30),), (old,), MAILBOX)
    (change,) = result.changes
    assert change.action == "replace" and [r.rail for r in result.refusals] == ["iis-self-signed"]


def test_no_renewal_from_an_unknown_expiry_date():
    unknown = ObservedObject(KIND, "E" * 40, "E" * 40, {**cert("E" * 40, "CN=EX01", services="SMTP", domains=("ex01.contoso.com",), self_signed=True).values, "NotAfter": None})
    result = KINDS.plan((declare(match=Match(subject="CN=EX01"), renew_days=30),), (unknown,), MAILBOX)
    assert not result.changes


def test_removals_run_after_the_certificates_that_take_over():
    old = cert("E" * 40, "CN=EDGE01", services="SMTP", domains=("EDGE01", "edge01.contoso.com"), self_signed=True)
    new = cert("A" * 40, "CN=smtp.contoso.com", domains=("edge01.contoso.com",))
    edge = PlanContext("edge01", ServerFacts("EDGE01", "edge01.contoso.com", "Edge", "15.2.1544.4", ""), "EDGE01")
    declared = (declare(thumbprint="E" * 40, absent=True), declare(thumbprint="A" * 40, services=frozenset({"SMTP"})))
    result = KINDS.plan(declared, (old, new), edge)
    assert [c.action for c in result.changes] == ["update", "delete"] and not result.refusals
    update, delete = result.changes
    assert delete.after == (update.id,) and update.after == ()  # said as an order the planner keeps, not by list position


@pytest.mark.parametrize("prop", ["Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "Status",
                                  "IsSelfSigned", "PublicKeySize", "SignatureAlgorithm.FriendlyName"])
@pytest.mark.parametrize("junk", [None, 7, [1, {"a": 2}], {"x": "y"}, "\u202e\x1b[31m"])
def test_a_hostile_reading_never_raises_and_never_invents_services(prop, junk):
    obs = cert("A" * 40, "CN=mail.contoso.com", services="IMAP", domains=("ex01.contoso.com",))
    odd = ObservedObject(KIND, "A" * 40, "A" * 40, {**obs.values, prop: junk})
    result = plan(declare(match=Match(subject="CN=mail.contoso.com"), services=frozenset({"SMTP"})), observed=(odd,))
    for change in result.changes:  # a change only from a reading of Services that was understood
        assert change.properties[0].before == ["IMAP"]


@pytest.mark.parametrize("prop", ["Identity", "Fqdn", "TlsCertificateName", "SourceTransportServers"])
@pytest.mark.parametrize("junk", [None, 7, [1, None], {"x": "y"}])
def test_a_hostile_connector_reading_never_raises(prop, junk):
    legacy = cert("A" * 40, "CN=mail.contoso.com", services="SMTP", domains=("mail.contoso.com",))
    values = {"Identity": "EX01\\Partner", "Fqdn": "mail.contoso.com", "TlsCertificateName": "<I>CN=Public CA<S>CN=mail.contoso.com",
              "SourceTransportServers": ["EX01"], prop: junk}
    result = plan(declare(thumbprint="A" * 40, absent=True), observed=(legacy, ObservedObject(CONNECTOR, str(values["Identity"]), "send", values)))
    assert [c.action for c in result.changes] == ["delete"]
