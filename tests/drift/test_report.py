"""Judging findings: a generic mapping from any finding status to in sync, drift or error; exit codes;
who changed it from the audit log; the JSON's plan shape."""

from __future__ import annotations

from exconf.drift import schedule
from exconf.drift.report import DriftState, build, state_of
from exconf.model import Change, Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan, PropertyChange, ServerFacts
from exconf.yamlsource import Location

import pytest

WHERE = Location("inventory.yaml", 3, 5)
FACTS = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")


def test_every_finding_status_maps_to_a_drift_state_with_no_kind_specific_code():
    assert {s: state_of(Finding("h", "k", "n", s, WHERE)) for s in FindingStatus} == {
        FindingStatus.IN_SYNC: DriftState.IN_SYNC, FindingStatus.CHANGE: DriftState.DRIFT,
        FindingStatus.ERROR: DriftState.ERROR, FindingStatus.REFUSED: DriftState.DRIFT,
        FindingStatus.EXPIRING: DriftState.DRIFT}


def plan_with_drift() -> Plan:
    prop = FindingProperty("protocol_logging_level", "Verbose", "None", WHERE)
    change = Change("c1", "ex01", "receive_connector", "Default EX01", "guid", "update",
                    (PropertyChange("protocol_logging_level", "ProtocolLoggingLevel", "None", "Verbose", "Verbose", WHERE),), "declared")
    findings = (Finding("ex01", "receive_connector", "Default EX01", FindingStatus.CHANGE, WHERE, (prop,)),
                Finding("ex01", "receive_connector", "Client Proxy EX01", FindingStatus.IN_SYNC, WHERE),
                Finding("ex01", "transport_config", "Transport Settings", FindingStatus.IN_SYNC, WHERE))
    return Plan(hosts={"ex01": HostPlan("ex01", HostStatus.OK, FACTS, (change,), findings=findings),
                       "ex09": HostPlan("ex09", HostStatus.UNREACHABLE, None, (), error="cannot connect",
                                        findings=(Finding("ex09", "receive_connector", "Default {server}", FindingStatus.ERROR, WHERE),))})


def test_a_host_that_could_not_be_read_is_a_finding_and_its_objects_keep_their_known_names():
    report = build(plan_with_drift(), started="2026-11-05T08:00:00Z", duration=1.0, host_sources={},
                   known={"ex09": [("receive_connector", "Default EX09"), ("receive_connector", "Client Proxy EX09")]})
    [host] = [i for i in report.errors if i.finding.kind == "host"]
    assert host.finding.host == "ex09" and "unreachable: cannot connect" in host.finding.message
    assert sorted(i.finding.name for i in report.errors if i.finding.kind != "host") == ["Client Proxy EX09", "Default EX09"]
    assert report.exit_code == 1  # an unchecked host makes the answer incomplete
    [drift] = report.drifted
    assert drift.params == ("ProtocolLoggingLevel",) and drift.severity == "low"
    org = [i for i in report.items if i.finding.kind == "transport_config"][0]
    assert org.key == ("organization", "transport_config", "Transport Settings")  # whichever server read it
    doc = report.to_json()
    assert [c["name"] for c in doc["changes"]] == ["Default EX01"] and doc["format_version"] == "1"
    assert doc["drift"]["counts"] == {"in_sync": 2, "drift": 1, "error": 3, "acknowledged": 0, "corrected": 0}
    assert [f["resource"] for f in doc["findings"]][:1] == ["host"]  # worst first: a host down (high) before a logging drift


def test_severity_is_declared_by_each_kind():
    from exconf.drift.report import traits

    assert traits("edge_subscription").severity == "critical" and traits("exchange_certificate").severity == "high"
    assert traits("transport_config").severity == "medium" and traits("receive_connector").severity == "low"
    assert traits("auth_certificate").severity == "high" and traits("certificate_urls").severity == "high"
    assert traits("auth_certificate").correctable is None and "Set-AuthConfig" in traits("auth_certificate").audit_cmdlets
    assert traits("no_such_kind").severity == "medium"


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("1h30m", 5400), ("90s", 90), ("1d", 86400), (" 2H ", 7200)])
def test_intervals(text, seconds):
    assert schedule.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15x", "m", "1.5h", "-5m", "0s", "15m garbage"])
def test_an_interval_that_is_not_a_duration(text):
    with pytest.raises(ValueError, match="--every"):
        schedule.parse_interval(text)


def test_the_loop_never_overlaps_adds_jitter_and_stops_when_told():
    import random
    import threading

    waits: list[float] = []
    calls: list[int] = []
    stop = threading.Event()

    def run() -> int:
        calls.append(1)
        if len(calls) == 3:
            stop.set()  # a signal arriving during the third run: that run finishes, no fourth starts
        return 2

    code = schedule.loop(run, 0, stop=stop, rng=random.Random(1), on_wait=waits.append)
    assert code == 2 and len(calls) == 3 and len(waits) == 2

    class Instant(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:  # the waits are recorded, not slept
            return False

    waits.clear()
    assert schedule.loop(lambda: 0, 100, count=3, stop=Instant(), rng=random.Random(7), on_wait=waits.append) == 0
    assert len(waits) == 2 and all(100 <= w <= 110 for w in waits) and waits[0] != waits[1]  # jitter up to 10 %


def test_only_the_changes_a_kind_declares_safe_can_be_corrected_unattended():
    from exconf.drift.report import traits

    def change(kind: str, action: str, prop: str, before, after) -> Change:
        return Change("c", "ex01", kind, "x", "x", action, (PropertyChange(prop, prop, before, after, after, WHERE),), "declared")

    assert traits("receive_connector").correctable(change("receive_connector", "update", "protocol_logging_level", "None", "Verbose"))
    safe = traits("exchange_certificate").correctable
    assert safe(change("exchange_certificate", "update", "services", ["SMTP"], ["SMTP", "IMAP"]))  # re-binds IMAP
    assert not safe(change("exchange_certificate", "update", "services", ["IMAP"], ["IMAP", "SMTP"]))  # SMTP: a new default certificate
    assert not safe(change("exchange_certificate", "create", "pfx", "(not on the server)", "certs/mail.pfx"))
    assert traits("edge_subscription").correctable is None
