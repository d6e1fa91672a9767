"""Reports stay valid and safe whatever names servers and inventories hold: quotes, newlines,
markup, control and bidi characters; sensitive values never shown."""

from __future__ import annotations

from junitparser import Failure, JUnitXml
from prometheus_client.parser import text_string_to_metric_families

from exconf.drift import html, junit, notify, openmetrics, prometheus
from exconf.drift.episodes import Episode, Event
from exconf.drift.report import DriftItem, DriftReport, DriftState
from exconf.model import Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan, ServerFacts
from exconf.yamlsource import Location

HOSTILE = 'a"b\\c\nd<script>alert(1)</script>\x1b[2J\u202eevil\x00'
SECRET = "Hunter2-Secret"
WHERE = Location("inv.yaml", 4, 9)


def hostile_report() -> DriftReport:
    facts = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
    props = (FindingProperty("banner", HOSTILE, "220 ok", WHERE), FindingProperty("auth_password", SECRET, "other", WHERE, sensitive=True))
    finding = Finding(HOSTILE, "receive_connector", HOSTILE, FindingStatus.CHANGE, WHERE, props)
    plan = Plan(hosts={HOSTILE: HostPlan(HOSTILE, HostStatus.OK, facts, (), findings=(finding,))})
    item = DriftItem(finding, DriftState.DRIFT, since="2026-11-01T08:00:00Z")
    episode = Episode(item.key, "drift", "2026-11-01T08:00:00Z", "2026-11-01T08:00:10Z", "low",
                      {"properties": [p.to_json() for p in props]}, {"properties": [p.to_json() for p in props]})
    return DriftReport(plan, (item,), "2026-11-01T08:15:00Z", 1.0, events=(Event("drift_appeared", item.key, "2026-11-01T08:15:00Z", episode),),
                       inventory="inv.yaml")


def test_junit_stays_parseable_and_hides_sensitive_values(tmp_path):
    path = tmp_path / "d.xml"
    path.write_bytes(junit.render(hostile_report()))
    [suite] = list(JUnitXml.fromfile(str(path)))
    [case] = list(suite)
    [failure] = [r for r in case.result if isinstance(r, Failure)]
    assert "<script>" in case.name and "\\u0000" in case.name  # kept as text, the NUL escaped
    assert SECRET not in path.read_text(encoding="utf-8") and "(sensitive)" in failure.text


def test_prometheus_labels_are_escaped_and_parse_back_exactly():
    text = prometheus.render(hostile_report()).decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    hosts = {s.labels["host"] for s in families["exconf_drift_findings"].samples}
    assert hosts == {HOSTILE}


def test_html_escapes_markup_and_hides_sensitive_values(tmp_path):
    page = html.render(hostile_report(), tmp_path).decode("utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert SECRET not in page and "(sensitive)" in page
    assert "\u202e" not in page and "\\u202e" in page and "\x1b" not in page  # shown as escapes, never acted on


def test_notification_messages_hide_sensitive_values():
    report = hostile_report()
    records = notify.event_records(report)
    msg = notify.run_message(report, records)
    assert msg is not None and SECRET not in repr(msg) and "(sensitive)" in repr(msg)
    assert "banner" in msg["text"] and "auth_password" in msg["text"]
    assert "\x1b" not in msg["text"] and "\u202e" not in msg["text"]  # message text is terminal-safe
    digest = notify.digest(report)
    assert SECRET not in repr(digest) and "banner" in digest["text"]


def test_openmetrics_labels_are_escaped_and_parse_back_exactly():
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om

    families = {f.name: f for f in om(openmetrics.render(hostile_report()).decode("utf-8"))}
    assert {s.labels["name"] for s in families["exconf_drift_object"].samples} == {HOSTILE}
