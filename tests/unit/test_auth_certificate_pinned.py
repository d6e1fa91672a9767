"""The Auth certificate (modules/auth_certificate.py): which step of Microsoft's rotation is due and why, at the
boundaries of its dates (renewal due, effective date reached, expired), its effective date, which servers import
it, every operation and parameter it sends, and what it reads back and says, exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from exconf.model import PROGRAM, Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Operation, PropertyChange, ServerFacts
from exconf.modules import auth_certificate as auth
from exconf.modules.auth_certificate import CERT, CONFIG, DEFAULT, FRIENDLY, KIND, SERVERS, SUBJECT, AuthSpec, AuthWork, ServerAuth
from exconf.modules.base import ORGANIZATION, PeerRead, PlanContext, ReadError
from exconf.modules.certificate_requests import TransitPassword
from exconf.remote import LOCAL_SERVER, Answer, FromOperation, OutputRef, Step, StepError, StepResult
from exconf.yamlsource import Location

CLOCK = dt.datetime(2030, 3, 10, 15, 30, 45, tzinfo=dt.timezone.utc)
HERE = Location("org.yaml", 2, 3)
A, B, C, D, E = ("A" * 40, "B" * 40, "C" * 40, "D" * 40, "E" * 40)
EX01 = ServerFacts("EX01", "ex01.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam")
EX02 = ServerFacts("EX02", "ex02.contoso.com", "Mailbox", "15.2.1544.4", "Amsterdam")
EX03 = ServerFacts("EX03", "ex03.contoso.com", "Mailbox", "15.2.1544.4", "Berlin")
EDGE = ServerFacts("EDGE01", "edge01.contoso.com", "Edge", "15.2.1544.4", "")


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cert(thumb: str, not_after: dt.datetime, key: bool = True, status: str = "Valid", subject: str = "CN=Microsoft Exchange Server Auth Certificate",
         not_before: str = "2029-01-01T00:00:00Z") -> ObservedObject:
    return ObservedObject(CERT, thumb, "", {"Thumbprint": thumb, "Subject": subject, "NotBefore": not_before, "NotAfter": iso(not_after),
                                           "HasPrivateKey": key, "Status": status})


def config(current: str = A, nxt: str = "", effective: str | None = None, previous: str = "", utc: str | None = iso(CLOCK)) -> ObservedObject:
    return ObservedObject(CONFIG, "", "", {"CurrentCertificateThumbprint": current, "NextCertificateThumbprint": nxt,
                                           "NextCertificateEffectiveDate": effective, "PreviousCertificateThumbprint": previous, "UtcNow": utc})


def servers(*names: str) -> tuple[ObservedObject, ...]:
    return tuple(ObservedObject(SERVERS, n, "", {"Name": n}) for n in names)


def default(thumb: str | None) -> ObservedObject:
    return ObservedObject(DEFAULT, "", "", {"InternalTransportCertificateThumbprint": thumb})


def want(renew: int = 60, effective: int = 30) -> Desired:
    return Desired(KIND, "", (DesiredValue("auth_certificate", AuthSpec(renew, effective), HERE),), HERE)


def ctx(*peers: PeerRead) -> PlanContext:
    return PlanContext("ex01", EX01, "the organisation", peers=peers)


def days(n: float) -> dt.datetime:
    return CLOCK + dt.timedelta(days=n)


def plan(observed, *peers, spec=None, now=CLOCK):
    return auth.plan_auth(spec or want(), tuple(observed), ctx(*peers), now)


def peer(host: str, facts: ServerFacts, *objects: ObservedObject) -> PeerRead:
    return PeerRead(host, facts, tuple(objects))


def both(current_days: float = 500, **more):
    """EX01 (carrier) and EX02 both hold the current certificate A; EX01's default SMTP certificate is D."""
    mine = (config(**more), cert(A, days(current_days)), default(D.lower()), *servers("EX01", "EX02"))
    return mine, peer("ex02", EX02, cert(A, days(current_days)))


# --- constants, the kind, the declaration ------------------------------------------------------------------------


def test_the_names_and_the_kind():
    assert (KIND, CONFIG, CERT, SERVERS, DEFAULT) == ("auth_certificate", "auth_certificate.config", "auth_certificate.certificate",
                                                      "auth_certificate.servers", "auth_certificate.default_smtp")
    assert SUBJECT == "cn=Microsoft Exchange Server Auth Certificate" and FRIENDLY == "Microsoft Exchange Server Auth Certificate"
    assert auth.APP_POOLS == ("MSExchangeOWAAppPool", "MSExchangeECPAppPool")
    assert (auth.NEW, auth.IMPORT, auth.STAGE, auth.PUBLISH, auth.CLEAR, auth.RESTART, auth.EXPORT) == (
        "new", "import:", "stage", "publish", "clear", "restart:", "export")
    k = auth.KIND_INSTANCE
    assert (k.kind, k.section, k.scope, k.title, k.roles, k.reads_peers) == ("auth_certificate", "auth_certificate", ORGANIZATION, "Auth certificate",
                                                                            frozenset({"Mailbox"}), True)
    assert k.drift.severity == "high" and k.drift.correctable is None
    assert k.drift.audit_cmdlets == ("Set-AuthConfig", "New-ExchangeCertificate", "Import-ExchangeCertificate", "Remove-ExchangeCertificate")
    assert k.schema() is auth.SCHEMA
    assert auth.__all__ == ["KIND", "KIND_INSTANCE", "AuthCertificateKind", "plan_auth"]
    assert AuthSpec() == AuthSpec(60, 30)
    assert AuthWork("stage", "ex01", ()) == AuthWork("stage", "ex01", (), (), "", "", "", "", None)
    before = dt.datetime.now(dt.timezone.utc)
    assert before <= k.clock() <= dt.datetime.now(dt.timezone.utc)


def test_the_schema_bounds():
    props = auth.SCHEMA["properties"]
    assert props["renew_within_days"] == {"type": "integer", "minimum": 3, "maximum": 1800,
                                          "description": "Stage the next certificate when the current one expires within this many days (default 60)."}
    assert (props["effective_in_days"]["minimum"], props["effective_in_days"]["maximum"]) == (2, 1800)
    assert auth.SCHEMA["additionalProperties"] is False


def test_inventory_issues_effective_before_renewal():
    k = auth.KIND_INSTANCE
    issue = [(("effective_in_days",), "effective_in_days must be less than renew_within_days: the next certificate takes over before the current "
                                      "one expires")]
    assert k.inventory_issues({}, None) == []
    assert k.inventory_issues(None, None) == [] and k.inventory_issues("x", None) == []
    assert k.inventory_issues({"effective_in_days": 59}, None) == []
    assert k.inventory_issues({"effective_in_days": 60}, None) == issue
    assert k.inventory_issues({"renew_within_days": 31}, None) == []
    assert k.inventory_issues({"renew_within_days": 30}, None) == issue
    assert k.inventory_issues({"renew_within_days": 10, "effective_in_days": 9}, None) == []
    assert k.inventory_issues({"renew_within_days": 10, "effective_in_days": 11}, None) == issue


def test_desired():
    k = auth.KIND_INSTANCE
    where = {(): HERE}.__getitem__
    assert k.desired(None, where) == ()
    assert k.desired({}, where) == (Desired(KIND, "", (DesiredValue("auth_certificate", AuthSpec(60, 30), HERE),), HERE),)
    assert k.desired({"renew_within_days": 90, "effective_in_days": 45}, where)[0].values[0].value == AuthSpec(90, 45)


# --- reading -------------------------------------------------------------------------------------------------------


def test_the_reads():
    config_step = Step("orgx/auth_certificate:config", "Get-AuthConfig", {}, select=("CurrentCertificateThumbprint", "NextCertificateThumbprint",
                                                                                     "NextCertificateEffectiveDate", "PreviousCertificateThumbprint"),
                       skip_on_edge=True)
    certs = Step("orgx/auth_certificate:certificates", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER},
                 select=("Thumbprint", "Subject", "Issuer", "NotBefore", "NotAfter", "HasPrivateKey", "Status"), skip_on_edge=True)
    smtp = Step("orgx/auth_certificate:default", "Get-TransportService", {"Identity": LOCAL_SERVER}, select=("InternalTransportCertificateThumbprint",),
                skip_on_edge=True)
    org = Step("orgx/auth_certificate:servers", "Get-ExchangeServer", {}, select=("Name", "ServerRole"), skip_on_edge=True)
    assert auth.KIND_INSTANCE.read_steps("orgx/") == [config_step, certs, smtp, org]
    assert [s.id for s in auth.KIND_INSTANCE.read_steps("peer/")] == ["peer/auth_certificate:config", "peer/auth_certificate:certificates",
                                                                       "peer/auth_certificate:default"]
    assert [s.id for s in auth.KIND_INSTANCE.read_steps("xorg/")][-1] == "xorg/auth_certificate:default"


def _answer(results: dict, edge: bool = False, utc: str | None = "2030-03-10T15:30:45Z") -> Answer:
    return Answer("EX01", edge, {f"p/auth_certificate:{k}": v for k, v in results.items()}, utc)


def test_observe_each_answer():
    seen = auth.KIND_INSTANCE.observe(_answer({
        "config": StepResult("p/auth_certificate:config", "ok", ({"CurrentCertificateThumbprint": "aa"},)),
        "certificates": StepResult("p/auth_certificate:certificates", "ok", ({"Thumbprint": "ab12"}, {})),
        "default": StepResult("p/auth_certificate:default", "ok", ({"InternalTransportCertificateThumbprint": "dd"},)),
        "servers": StepResult("p/auth_certificate:servers", "ok", ({"Name": "EX01", "ServerRole": "Mailbox"}, {"Name": "EDGE01", "ServerRole": "Edge"},
                                                                   {"Name": "EX09", "ServerRole": "Mailbox, ClientAccess"}, {"ServerRole": "Mailbox"},
                                                                   {"Name": "X"})),
    }), "p/")
    assert seen == (
        ObservedObject(CONFIG, "", "", {"CurrentCertificateThumbprint": "aa", "UtcNow": "2030-03-10T15:30:45Z"}),
        ObservedObject(CERT, "AB12", "", {"Thumbprint": "ab12"}),
        ObservedObject(CERT, "", "", {}),
        ObservedObject(DEFAULT, "", "", {"InternalTransportCertificateThumbprint": "dd"}),
        ObservedObject(SERVERS, "EX01", "", {"Name": "EX01", "ServerRole": "Mailbox"}),
        ObservedObject(SERVERS, "EX09", "", {"Name": "EX09", "ServerRole": "Mailbox, ClientAccess"}),
        ObservedObject(SERVERS, "", "", {"ServerRole": "Mailbox"}),
    )


def test_observe_a_prefix_holding_a_colon():
    results = {"h:1/auth_certificate:config": StepResult("h:1/auth_certificate:config", "ok", ({},)),
               "h:1/auth_certificate:default": StepResult("h:1/auth_certificate:default", "error", error=StepError("gone"))}
    with pytest.raises(ReadError) as err:
        auth.KIND_INSTANCE.observe(Answer("EX01", False, results), "h:1/")
    assert str(err.value) == "default: gone"


def test_observe_without_authconfig():
    na = StepResult("p/auth_certificate:config", "not_applicable")
    assert auth.KIND_INSTANCE.observe(_answer({}, edge=True), "p/") is None
    assert auth.KIND_INSTANCE.observe(_answer({}, edge=False), "p/") == ()
    assert auth.KIND_INSTANCE.observe(_answer({"config": na}, edge=True), "p/") is None
    assert auth.KIND_INSTANCE.observe(_answer({"config": na}, edge=False), "p/") == ()
    only = _answer({"config": StepResult("p/auth_certificate:config", "ok", ({},)), "certificates": StepResult("c", "not_applicable")}, utc=None)
    assert auth.KIND_INSTANCE.observe(only, "p/") == (ObservedObject(CONFIG, "", "", {"UtcNow": None}),)


def test_observe_a_failed_read():
    def failed(which: str, result: StepResult) -> str:
        results = {"config": StepResult("p/auth_certificate:config", "ok", ({},)), which: result}
        with pytest.raises(ReadError) as err:
            auth.KIND_INSTANCE.observe(_answer(results), "p/")
        return str(err.value)

    assert failed("certificates", StepResult("p/auth_certificate:certificates", "error", error=StepError("denied"))) == "certificates: denied"
    assert failed("default", StepResult("p/auth_certificate:default", "not_run")) == "default: not_run"
    assert failed("config", StepResult("p/auth_certificate:config", "error", error=StepError("no AuthConfig"))) == "config: no AuthConfig"
    assert failed("servers", StepResult("p/auth_certificate:servers", "error")) == "servers: error"


def test_dates_and_days():
    assert auth.utc_instant(None) is None and auth.utc_instant("") is None and auth.utc_instant(5) is None and auth.utc_instant("soon") is None
    assert auth.utc_instant("2030-03-10T15:30:45Z") == CLOCK
    assert auth.utc_instant("2030-03-10T15:30:45") == CLOCK
    assert auth.utc_instant("2030-03-10T16:30:45+01:00") == CLOCK and auth.utc_instant("2030-03-10T16:30:45+01:00").utcoffset() == dt.timedelta(hours=1)
    assert auth._day(CLOCK) == "2030-03-10" and auth._day(None) == "(unknown)"
    assert auth._iso(dt.datetime(2030, 3, 10, 17, 30, 45, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == "2030-03-10T15:30:45Z"


def test_iso_is_utc_whatever_the_controllers_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert auth._iso(CLOCK) == "2030-03-10T15:30:45Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_what_each_server_read():
    observed = (cert(A, days(10)), default("ab"), default("cd"), config())
    assert auth._servers(observed, "ex01", "EX01") == ServerAuth("ex01", "EX01", {A: auth.cert_from_answer(observed[0].values)}, "AB")
    assert auth._servers((default(None),), "h", "N") == ServerAuth("h", "N", {}, "")
    assert auth._servers((), "h", "N").default_smtp == ""


# --- the plan: nothing to read, in sync -----------------------------------------------------------------------------


def test_no_authconfig_is_a_problem():
    result = plan([cert(A, days(10))])
    problem = "org.yaml:2:3: exchange_organization.auth_certificate: Get-AuthConfig answered nothing on the organisation"
    assert result.problems == (problem,) and result.changes == ()
    assert result.findings == (Finding("ex01", KIND, FRIENDLY, FindingStatus.ERROR, HERE, (), problem),)


def test_in_sync_with_every_property():
    mine, ex02 = both(500)
    result = plan(mine, ex02)
    assert result.changes == () and result.problems == ()
    assert result.findings == (Finding("ex01", KIND, FRIENDLY, FindingStatus.IN_SYNC, HERE, (
        FindingProperty("current_thumbprint", A, A, HERE),
        FindingProperty("current_not_after", "2031-07-23", "2031-07-23", HERE),
        FindingProperty("days_left", "at least 60", 500, HERE),
        FindingProperty("next_thumbprint", "(none)", "(none)", HERE),
        FindingProperty("next_effective_date", "(none)", "(none)", HERE))),)


def test_thumbprints_compare_in_upper_case():
    mine = (config(current=A.lower()), cert(A, days(500)), *servers("EX01"))
    assert plan(mine).findings[0].properties[0] == FindingProperty("current_thumbprint", A, A, HERE)


def test_the_servers_clock_else_the_controllers():
    mine, ex02 = both(60)  # exactly 60 days left at the server's clock: not yet due
    assert plan(mine, ex02, now=CLOCK - dt.timedelta(days=5)).changes == ()
    assert plan(mine, ex02).findings[0].properties[2] == FindingProperty("days_left", "at least 60", 60, HERE)
    unknown, ex02 = both(60, utc=None)
    assert plan(unknown, ex02, now=CLOCK).changes == ()
    assert plan(unknown, ex02, now=CLOCK + dt.timedelta(seconds=1)).changes[0].payload.action == "stage"
    assert plan(unknown, ex02, now=CLOCK - dt.timedelta(days=1)).findings[0].properties[2].actual == 61
    due_there, ex02 = both(59)  # due at the server's clock, not five days earlier at the controller's
    assert plan(due_there, ex02, now=CLOCK - dt.timedelta(days=5)).changes[0].payload.action == "stage"
    bad, ex02 = both(60, utc="not a date")
    assert plan(bad, ex02, now=CLOCK + dt.timedelta(seconds=1)).changes[0].payload.action == "stage"


# --- staging ---------------------------------------------------------------------------------------------------


def test_staging_becomes_due_below_renew_within_days():
    mine, ex02 = both(60 - 1 / 86400)
    (change,) = plan(mine, ex02).changes
    assert change.payload.action == "stage"
    mine, ex02 = both(30)
    assert plan(mine, ex02, spec=want(31, 2)).changes[0].payload.action == "stage"
    assert plan(mine, ex02, spec=want(30, 2)).changes == ()


def test_staging_the_change_exactly():
    mine, ex02 = both(50)  # renewal became due 10 days ago (2030-02-28): effective 30 days after that
    result = plan(mine, ex02)
    (change,) = result.changes
    reason = ("the current Auth certificate AAAAAAAA expires on 2030-04-29, within the 60 days of renew_within_days: the next one is made on EX01, "
              "imported on every Mailbox server and takes over on 2030-03-30")
    assert change == Change("ex01/auth_certificate/stage", "ex01", KIND, FRIENDLY, A, "replace", (
        PropertyChange("next_thumbprint", "", "(none)", "(new, known after apply)", None, HERE),
        PropertyChange("next_effective_date", "", "(none)", "2030-03-30", None, HERE)), reason)
    assert change.effects == ()
    work = change.payload
    assert (work.action, work.carrier, work.mailboxes, work.imports, work.source, work.thumbprint, work.default_smtp, work.effective) == (
        "stage", "ex01", ("ex01", "ex02"), ("ex02",), "", "", "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD", "2030-03-30T00:00:00Z")
    assert isinstance(work.transit, TransitPassword)
    assert result.findings == (Finding("ex01", KIND, FRIENDLY, FindingStatus.CHANGE, HERE, plan(mine, ex02).findings[0].properties, reason),)
    assert result.findings[0].properties[2] == FindingProperty("days_left", "at least 60", 50, HERE)


def test_the_effective_date_is_at_least_two_days_away_at_midnight():
    mine, ex02 = both(10)  # due 50 days ago: 20 days after that has passed; two days from today's midnight
    assert plan(mine, ex02).changes[0].payload.effective == "2030-03-12T00:00:00Z"
    mine, ex02 = both(31 + 15.5 / 24)  # due + 30 = 2030-03-12T07:00:45: later than 2030-03-12T00:00, at its midnight
    assert plan(mine, ex02, spec=want(60, 30)).changes[0].payload.effective == "2030-03-12T00:00:00Z"
    mine, ex02 = both(33)  # due + 30 = 2030-03-13T15:30:45
    assert plan(mine, ex02).changes[0].payload.effective == "2030-03-13T00:00:00Z"
    mine, ex02 = both(50)
    assert plan(mine, ex02, spec=want(60, 2)).changes[0].payload.effective == "2030-03-12T00:00:00Z"
    assert plan(mine, ex02, spec=want(60, 45)).changes[0].payload.effective == "2030-04-14T00:00:00Z"


def test_staging_without_a_default_smtp_certificate_and_alone():
    mine = (config(), cert(A, days(20)), *servers("EX01"))
    work = plan(mine).changes[0].payload
    assert (work.default_smtp, work.imports, work.mailboxes) == ("", (), ("ex01",))


def test_staging_needs_every_mailbox_server_in_the_run():
    mine = (config(), cert(A, days(20)), *servers("EX01", "ex02", "EX03", "EX04"))
    result = plan(mine, peer("ex02", EX02, cert(A, days(20))))
    reason = ("the current Auth certificate AAAAAAAA expires on 2030-03-30, within the 60 days of renew_within_days: the next one is made on EX01, "
              "imported on every Mailbox server and takes over on 2030-03-12")
    problem = (f"org.yaml:2:3: exchange_organization.auth_certificate: the Auth certificate must be on every Mailbox server, and EX03, EX04 are not "
               f"in this run (--limit, or not read): {reason}; run with every Mailbox server")
    assert result.changes == () and result.problems == (problem,)
    assert result.findings[0].status == FindingStatus.ERROR and result.findings[0].message == problem
    assert (result.findings[0].host, result.findings[0].kind, result.findings[0].name, result.findings[0].source) == ("ex01", KIND, FRIENDLY, HERE)
    assert [p.prop for p in result.findings[0].properties] == ["current_thumbprint", "current_not_after", "days_left", "next_thumbprint",
                                                                "next_effective_date"]
    one = plan((config(), cert(A, days(20)), *servers("EX01", "EX03")))
    assert "and EX03 is not in this run" in one.problems[0]


def test_an_edge_peer_is_no_mailbox_server():
    mine = (config(), cert(A, days(20)), *servers("EX01"))
    work = plan(mine, peer("edge01", EDGE, cert(A, days(20)))).changes[0].payload
    assert work.mailboxes == ("ex01",) and work.imports == ()


# --- replacing an expired or missing one ------------------------------------------------------------------------------


def test_an_expired_certificate_is_replaced_at_once():
    mine, ex02 = both(0)  # expires at this very second: no longer valid
    result = plan(mine, ex02)
    (change,) = result.changes
    reason = "the current Auth certificate AAAAAAAA expired on 2030-03-10: replaced at once (Microsoft's ReplaceExpiredAuthCertificate)"
    assert change == Change("ex01/auth_certificate/replace", "ex01", KIND, FRIENDLY, A, "replace", (
        PropertyChange("current_thumbprint", "", A, "(new, known after apply)", None, HERE),), reason, effects=change.effects)
    assert change.effects == ("OAuth signs with the new certificate at once",
                              "MSExchangeServiceHost is restarted and the app pools MSExchangeOWAAppPool, MSExchangeECPAppPool recycled on EX01, EX02 "
                              "(they cache the Auth certificate)")
    work = change.payload
    assert (work.action, work.carrier, work.imports, work.default_smtp, work.effective, work.mailboxes) == (
        "replace", "ex01", ("ex02",), D, "2030-03-10T15:30:45Z", ("ex01", "ex02"))
    assert isinstance(work.transit, TransitPassword)
    assert result.findings[0].status == FindingStatus.CHANGE and result.findings[0].message == reason
    assert result.findings[0].properties[2] == FindingProperty("days_left", "at least 60", 0, HERE)


def test_an_untrusted_certificate_is_replaced():
    mine = (config(), cert(A, days(500), status="Untrusted"), *servers("EX01"))
    assert plan(mine).changes[0].reason == ("the current Auth certificate AAAAAAAA expired on 2031-07-23: replaced at once (Microsoft's "
                                            "ReplaceExpiredAuthCertificate)")


def test_a_certificate_on_no_server_is_replaced():
    mine = (config(current=C), cert(A, days(500)), *servers("EX01"))
    result = plan(mine)
    change = result.changes[0]
    assert change.reason == ("the current Auth certificate CCCCCCCC is on no Mailbox server read: replaced at once (Microsoft's "
                             "ReplaceExpiredAuthCertificate)")
    assert result.findings[0].properties[:3] == (FindingProperty("current_thumbprint", C, C, HERE),
                                                  FindingProperty("current_not_after", "(not on any Mailbox server read)", "(not on any Mailbox server read)",
                                                                  HERE),
                                                  FindingProperty("days_left", "at least 60", "(unknown)", HERE))
    none = plan((config(current=""), *servers("EX01")))
    assert none.changes[0].properties == (PropertyChange("current_thumbprint", "", "(none)", "(new, known after apply)", None, HERE),)
    assert none.changes[0].identity == "" and none.changes[0].reason.startswith("the current Auth certificate  is on no Mailbox server read")
    assert none.findings[0].properties[0] == FindingProperty("current_thumbprint", "(none)", "(none)", HERE)


def test_replacing_needs_every_mailbox_server_too():
    result = plan((config(), cert(A, days(-1)), *servers("EX01", "EX02")))
    assert result.changes == () and "EX02 is not in this run" in result.problems[0]


# --- the next certificate: waiting, publishing; the previous one cleared ----------------------------------------------


def test_waiting_for_the_effective_date():
    mine, ex02 = both(40, nxt=B, effective="2030-03-10T15:30:46Z")
    ex02 = peer("ex02", EX02, cert(A, days(40)), cert(B, days(400)))
    result = plan((*mine, cert(B, days(400))), ex02)
    assert result.changes == ()
    assert result.findings == (Finding("ex01", KIND, FRIENDLY, FindingStatus.IN_SYNC, HERE, (
        FindingProperty("current_thumbprint", A, A, HERE), FindingProperty("current_not_after", "2030-04-19", "2030-04-19", HERE),
        FindingProperty("days_left", "at least 60", 40, HERE), FindingProperty("next_thumbprint", B, B, HERE),
        FindingProperty("next_effective_date", "2030-03-10", "2030-03-10", HERE)), "the next Auth certificate BBBBBBBB takes over on 2030-03-10"),)
    no_date, ex02b = both(40, nxt=B)
    assert plan((*no_date, cert(B, days(400))), ex02).findings[0].message == "the next Auth certificate BBBBBBBB takes over on (unknown)"
    assert plan((*no_date, cert(B, days(400))), ex02).findings[0].properties[4] == FindingProperty("next_effective_date", "(none)", "(none)", HERE)


def test_publishing_once_the_effective_date_is_reached():
    mine, _ = both(40, nxt=B, effective="2030-03-10T15:30:45Z", previous=E)
    ex02 = peer("ex02", EX02, cert(A, days(40)), cert(B, days(400)))
    result = plan((*mine, cert(B, days(400))), ex02)
    (change,) = result.changes
    reason = "the next Auth certificate BBBBBBBB became effective on 2030-03-10: published, the previous one cleared"
    assert change == Change("ex01/auth_certificate/publish", "ex01", KIND, FRIENDLY, A, "update", (
        PropertyChange("current_thumbprint", "", A, B, None, HERE), PropertyChange("next_thumbprint", "", B, "(none)", None, HERE)), reason, effects=change.effects)
    assert change.effects == ("OAuth signs with BBBBBBBB from now on",
                              "MSExchangeServiceHost is restarted and the app pools MSExchangeOWAAppPool, MSExchangeECPAppPool recycled on EX01, EX02 "
                              "(they cache the Auth certificate)")
    assert change.payload == AuthWork("publish", "ex01", ("ex01", "ex02"))
    assert result.findings[0].status == FindingStatus.CHANGE and result.findings[0].message == reason


def test_publishing_does_not_need_every_mailbox_server():
    mine = (config(nxt=B, effective="2030-01-01T00:00:00Z"), cert(A, days(40)), cert(B, days(400)), *servers("EX01", "EX02"))
    assert plan(mine).changes[0].payload.action == "publish" and plan(mine).problems == ()


def test_clearing_the_previous_certificate():
    mine = (config(previous=E.lower()), cert(A, days(500)), *servers("EX01", "EX09"))
    result = plan(mine)
    (change,) = result.changes
    reason = "AAAAAAAA was published (the AuthAdmin servicelet), the previous certificate EEEEEEEE is still kept"
    assert change == Change("ex01/auth_certificate/clear", "ex01", KIND, FRIENDLY, A, "update", (
        PropertyChange("previous_thumbprint", "", E, "(none)", None, HERE),), reason, effects=change.effects)
    assert change.effects == ("MSExchangeServiceHost is restarted and the app pools MSExchangeOWAAppPool, MSExchangeECPAppPool recycled on EX01 "
                              "(they cache the Auth certificate)",)
    assert change.payload == AuthWork("clear", "ex01", ("ex01",))
    assert result.problems == ()


def test_a_previous_certificate_with_a_next_one_waits():
    mine = (config(nxt=B, effective="2031-01-01T00:00:00Z", previous=E), cert(A, days(500)), cert(B, days(600)), *servers("EX01"))
    assert plan(mine).changes == ()


# --- a server that lacks the current or next certificate ----------------------------------------------------------------


def test_a_server_lacking_the_current_certificate_imports_it():
    mine = (config(), cert(A, days(500)), *servers("EX01", "EX02", "EX03"))
    result = plan(mine, peer("ex02", EX02), peer("ex03", EX03, cert(A, days(500))))
    (change,) = result.changes
    assert change == Change("ex01/auth_certificate/import", "ex01", KIND, FRIENDLY, A, "update", (
        PropertyChange("current_on", "", ["EX01", "EX03"], ["EX01", "EX02", "EX03"], None, HERE),),
        "the current Auth certificate AAAAAAAA is missing on EX02")
    work = change.payload
    assert (work.action, work.carrier, work.mailboxes, work.imports, work.source, work.thumbprint) == (
        "import", "ex01", ("ex01", "ex02", "ex03"), ("ex02",), "ex01", A, )
    assert isinstance(work.transit, TransitPassword) and work.default_smtp == "" and work.effective == ""


def test_the_source_is_the_first_that_holds_the_key():
    mine = (config(), cert(A, days(500), key=False), *servers("EX01", "EX02", "EX03"))
    work = plan(mine, peer("ex02", EX02), peer("ex03", EX03, cert(A, days(500)))).changes[0].payload
    assert (work.source, work.imports) == ("ex03", ("ex02",))


def test_without_a_source_with_its_key_nothing_is_imported():
    mine = (config(), cert(A, days(500), key=False), *servers("EX01", "EX02"))
    assert plan(mine, peer("ex02", EX02)).changes == ()


def test_a_server_lacking_the_next_certificate_imports_it_before_publishing():
    mine = (config(nxt=B, effective="2030-01-01T00:00:00Z"), cert(A, days(40)), cert(B, days(400)), *servers("EX01", "EX02"))
    change = plan(mine, peer("ex02", EX02, cert(A, days(40)))).changes[0]
    assert change.reason == "the next Auth certificate BBBBBBBB is missing on EX02"
    assert change.properties == (PropertyChange("next_on", "", ["EX01"], ["EX01", "EX02"], None, HERE),)
    assert (change.payload.thumbprint, change.payload.imports, change.payload.source) == (B, ("ex02",), "ex01")


def test_without_a_current_thumbprint_the_next_is_still_imported():
    mine = (config(current="", nxt=B, effective="2031-01-01T00:00:00Z"), cert(B, days(400)), *servers("EX01", "EX02"))
    change = plan(mine, peer("ex02", EX02)).changes[0]
    assert change.reason == "the next Auth certificate BBBBBBBB is missing on EX02" and change.payload.imports == ("ex02",)


def test_every_server_lacking_it_is_named():
    mine = (config(), cert(A, days(500)), *servers("EX01", "EX02", "EX03"))
    change = plan(mine, peer("ex02", EX02), peer("ex03", EX03)).changes[0]
    assert change.reason == "the current Auth certificate AAAAAAAA is missing on EX02, EX03" and change.payload.imports == ("ex02", "ex03")


def test_importing_needs_every_mailbox_server():
    mine = (config(), cert(A, days(500)), *servers("EX01", "EX02", "EX05"))
    result = plan(mine, peer("ex02", EX02))
    assert result.changes == () and result.problems[0].endswith(
        "EX05 is not in this run (--limit, or not read): the current Auth certificate AAAAAAAA is missing on EX02; run with every Mailbox server")


# --- operations ----------------------------------------------------------------------------------------------------


def _ops(work: AuthWork, cid: str = "ex01/auth_certificate/stage") -> tuple[Operation, ...]:
    return auth.KIND_INSTANCE.operations(Change(cid, "ex01", KIND, FRIENDLY, A, "replace", (), "", payload=work))


def test_staging_operations():
    pw = TransitPassword()
    b = "ex01/auth_certificate/stage"
    ops = _ops(AuthWork("stage", "ex01", ("ex01", "ex02"), ("ex02", "ex03"), default_smtp=D, effective="2030-03-30T00:00:00Z", transit=pw))
    new = Step(f"{b}#new:new", "New-ExchangeCertificate", {"KeySize": 2048, "PrivateKeyExportable": True, "SubjectName": SUBJECT, "FriendlyName": FRIENDLY,
                                                          "DomainName": [], "Force": True, "Server": LOCAL_SERVER}, select=("Thumbprint",), carry="Thumbprint")
    give_back = Step(f"{b}#new:default", "Enable-ExchangeCertificate", {"Thumbprint": D, "Services": "SMTP", "Server": LOCAL_SERVER, "Force": True})
    export = Step(f"{b}#new:export", "Export-ExchangeCertificate", {"Thumbprint": OutputRef(f"{b}#new:new", "Thumbprint"), "BinaryEncoded": True,
                                                                    "Password": pw, "Server": LOCAL_SERVER}, select=("FileData",), carry="FileData")
    imports = [Operation(f"{b}#import:{h}", h, b, (Step(f"{b}#import:{h}:import", "Import-ExchangeCertificate", {
        "FileData": FromOperation(f"{b}#new", f"{b}#new:export"), "Password": pw, "PrivateKeyExportable": True, "Server": LOCAL_SERVER},
        select=("Thumbprint",)),), needs=(f"{b}#new",), role=f"import:{h}") for h in ("ex02", "ex03")]
    stage = Operation(f"{b}#stage", "ex01", b, (Step(f"{b}#stage:set", "Set-AuthConfig", {
        "NewCertificateThumbprint": FromOperation(f"{b}#new", f"{b}#new:new"), "NewCertificateEffectiveDate": "2030-03-30T00:00:00Z", "Force": True}),),
        needs=(f"{b}#new", f"{b}#import:ex02", f"{b}#import:ex03"), role="stage")
    assert ops == (Operation(f"{b}#new", "ex01", b, (new, give_back, export), role="new"), *imports, stage)
    assert [o.where for o in ops] == ["", "", "", ""]


def test_staging_alone_without_a_default():
    b = "c"
    ops = _ops(AuthWork("stage", "ex01", ("ex01",), default_smtp="", effective="2030-03-30T00:00:00Z"), cid=b)
    assert [s.id for s in ops[0].steps] == ["c#new:new"]
    assert ops[1] == Operation("c#stage", "ex01", "c", (Step("c#stage:set", "Set-AuthConfig", {
        "NewCertificateThumbprint": FromOperation("c#new", "c#new:new"), "NewCertificateEffectiveDate": "2030-03-30T00:00:00Z", "Force": True}),),
        needs=("c#new",), role="stage")
    assert len(ops) == 2


def test_replacing_operations_publish_clear_and_restart():
    b = "r"
    ops = _ops(AuthWork("replace", "ex01", ("ex01", "ex02"), ("ex02",), default_smtp=D, effective="2030-03-10T15:30:45Z", transit=TransitPassword()), cid=b)
    assert [o.id for o in ops] == ["r#new", "r#import:ex02", "r#stage", "r#restart:ex01", "r#restart:ex02"]
    assert ops[2].steps == (
        Step("r#stage:set", "Set-AuthConfig", {"NewCertificateThumbprint": FromOperation("r#new", "r#new:new"),
                                               "NewCertificateEffectiveDate": "2030-03-10T15:30:45Z", "Force": True}),
        Step("r#stage:publish", "Set-AuthConfig", {"PublishCertificate": True, "Force": True}),
        Step("r#stage:clear", "Set-AuthConfig", {"ClearPreviousCertificate": True, "Force": True}))
    assert ops[3] == Operation("r#restart:ex01", "ex01", "r", (
        Step("r#restart:ex01:servicehost", "Restart-Service", {"Name": "MSExchangeServiceHost"}),
        Step("r#restart:ex01:MSExchangeOWAAppPool", "Restart-WebAppPool", {"Name": "MSExchangeOWAAppPool"}),
        Step("r#restart:ex01:MSExchangeECPAppPool", "Restart-WebAppPool", {"Name": "MSExchangeECPAppPool"})),
        needs=("r#stage",), role="restart:ex01", where=PROGRAM)
    assert ops[4].host == "ex02" and ops[4].where == PROGRAM


def test_import_operations():
    pw = TransitPassword()
    ops = _ops(AuthWork("import", "ex01", ("ex01", "ex02"), ("ex02",), "ex03", B, transit=pw), cid="i")
    assert ops == (
        Operation("i#export", "ex03", "i", (Step("i#export:export", "Export-ExchangeCertificate", {
            "Thumbprint": B, "BinaryEncoded": True, "Password": pw, "Server": LOCAL_SERVER}, select=("FileData",), carry="FileData"),), role="export"),
        Operation("i#import:ex02", "ex02", "i", (Step("i#import:ex02:import", "Import-ExchangeCertificate", {
            "FileData": FromOperation("i#export", "i#export:export"), "Password": pw, "PrivateKeyExportable": True, "Server": LOCAL_SERVER},
            select=("Thumbprint",)),), needs=("i#export",), role="import:ex02"))


def test_publish_and_clear_operations():
    ops = _ops(AuthWork("publish", "ex01", ("ex01", "ex02")), cid="p")
    assert ops[0] == Operation("p#publish", "ex01", "p", (Step("p#publish:publish", "Set-AuthConfig", {"PublishCertificate": True, "Force": True}),
                                                           Step("p#publish:clear", "Set-AuthConfig", {"ClearPreviousCertificate": True, "Force": True})),
                               role="publish")
    assert [(o.id, o.needs, o.where) for o in ops[1:]] == [("p#restart:ex01", ("p#publish",), PROGRAM), ("p#restart:ex02", ("p#publish",), PROGRAM)]
    ops = _ops(AuthWork("clear", "ex01", ("ex01",)), cid="c")
    assert ops[0] == Operation("c#publish", "ex01", "c", (Step("c#publish:clear", "Set-AuthConfig", {"ClearPreviousCertificate": True, "Force": True}),),
                               role="publish")
    assert [o.id for o in ops] == ["c#publish", "c#restart:ex01"]


# --- verification and notes --------------------------------------------------------------------------------------------


def _verify(role: str, work: AuthWork, *readback: ObservedObject, identity: str = A, host: str = "ex01") -> str | None:
    change = Change("x", "ex01", KIND, FRIENDLY, identity, "replace", (), "", payload=work)
    return auth.KIND_INSTANCE.verify_operation(Operation(f"x#{role}", host, "x", (), role=role), change, tuple(readback))


def test_verify_the_new_certificate():
    stage = AuthWork("stage", "ex01", ("ex01",), default_smtp=D)
    assert _verify("new", stage, cert(B, days(700)), default(D.lower())) is None
    assert _verify("new", stage, cert(B, days(700), subject="CN=MICROSOFT EXCHANGE SERVER AUTH CERTIFICATE")) is None
    assert _verify("new", stage, cert(A, days(700))) == "no new Auth certificate was read back on ex01"
    assert _verify("new", stage, cert(B, days(700), key=False)) == "no new Auth certificate was read back on ex01"
    assert _verify("new", stage, cert(B, days(700), subject="CN=Other")) == "no new Auth certificate was read back on ex01"
    assert _verify("new", stage, cert(B, days(700)), default(B)) == "the default SMTP certificate of ex01 is BBBBBBBB, not DDDDDDDD as before"
    assert _verify("new", stage, cert(B, days(700)), default(None)) is None
    assert _verify("new", AuthWork("stage", "ex01", ()), cert(B, days(700)), default(B)) is None


def test_verify_an_import():
    assert _verify("import:ex02", AuthWork("import", "ex01", (), thumbprint=B), cert(B, days(1)), host="ex02") is None
    assert _verify("import:ex02", AuthWork("import", "ex01", (), thumbprint=B), cert(A, days(1)), host="ex02") == \
        "the Auth certificate was not read back on ex02"
    assert _verify("import:ex02", AuthWork("import", "ex01", (), thumbprint=B), cert(C, days(1)), host="ex02") == \
        "the Auth certificate was not read back on ex02"  # another Auth certificate is not the one copied
    stage = AuthWork("stage", "ex01", ())
    assert _verify("import:ex02", stage, cert(B, days(1)), host="ex02") is None
    assert _verify("import:ex02", stage, cert(A, days(1)), host="ex02") == "the Auth certificate was not read back on ex02"
    assert _verify("import:ex02", stage, cert(B, days(1), subject="CN=x"), host="ex02") == "the Auth certificate was not read back on ex02"


def test_verify_staging_and_replacing():
    assert _verify("stage", AuthWork("stage", "ex01", ()), config(nxt=B)) is None
    assert _verify("stage", AuthWork("stage", "ex01", ()), config(nxt="")) == "AuthConfig names no next certificate"
    assert _verify("stage", AuthWork("stage", "ex01", ())) == "AuthConfig names no next certificate"
    replace = AuthWork("replace", "ex01", ())
    assert _verify("stage", replace, config(current=B)) is None
    assert _verify("stage", replace, config(current=A.lower())) == "AuthConfig still names the old certificate as current"
    assert _verify("stage", replace, config(current="")) == "AuthConfig still names the old certificate as current"
    assert _verify("stage", replace, config(current=B), identity="") is None


def test_verify_publishing_and_the_rest():
    publish = AuthWork("publish", "ex01", ())
    assert _verify("publish", publish, config(current=B)) is None
    assert _verify("publish", publish, config(current=B, nxt=C)) == "AuthConfig still names a next or previous certificate"
    assert _verify("publish", publish, config(current=B, previous=A)) == "AuthConfig still names a next or previous certificate"
    assert _verify("restart:ex01", publish, config(nxt=C)) is None
    assert _verify("export", AuthWork("import", "ex01", (), thumbprint=B)) is None
    assert auth.KIND_INSTANCE.verify(Change("x", "ex01", KIND, FRIENDLY, A, "update", (), ""), ()) is None


def test_applied_notes():
    def note(role: str, *readback: ObservedObject) -> str:
        change = Change("x", "ex01", KIND, FRIENDLY, A, "replace", (), "", payload=AuthWork("stage", "ex01", ()))
        return auth.KIND_INSTANCE.applied_note(Operation(f"x#{role}", "ex01", "x", (), role=role), change, readback)

    assert note("stage", config(current=A, nxt=B, effective="2030-03-30T00:00:00Z")) == f"next Auth certificate {B}, effective 2030-03-30"
    assert note("stage", config(current=A, nxt=B)) == f"next Auth certificate {B}, effective (unknown)"
    assert note("stage", config(current=B)) == f"current Auth certificate {B}"
    assert note("publish", config(current=B, nxt=C)) == f"current Auth certificate {B}"
    assert note("publish") == "current Auth certificate "
    assert note("new", config(current=B, nxt=C)) == "" and note("import:ex02", config(current=B)) == ""


def test_the_kind_plans_at_its_clock():
    mine, ex02 = both(60)
    kind = auth.AuthCertificateKind(clock=lambda: CLOCK)
    unknown = tuple(o if o.kind != CONFIG else config(utc=None) for o in mine)
    assert kind.plan((want(),), unknown, ctx(ex02)).changes == ()
    later = auth.AuthCertificateKind(clock=lambda: CLOCK + dt.timedelta(seconds=1))
    assert later.plan((want(),), unknown, ctx(ex02)).changes[0].payload.action == "stage"
