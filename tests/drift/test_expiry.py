"""Expiry dates in the reports, read generically from any finding that carries ``not_after``: the
Prometheus timestamp (parsed back by prometheus_client, hostile subjects escaped), the HTML
timeline (soonest first, to scale, escaped), and what has no readable date stays off both."""

from __future__ import annotations

import datetime as dt
import re

from prometheus_client.parser import text_string_to_metric_families

from exconf.drift import html, prometheus
from exconf.drift.expiry import expiries
from exconf.drift.report import DriftItem, DriftReport, DriftState
from exconf.model import Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan, ServerFacts
from exconf.yamlsource import Location

WHERE = Location("inv.yaml", 4, 9)
HOSTILE = 'CN=a"b\\c\nd<script>x</script>\u202e'
STARTED = "2026-12-01T00:00:00Z"


def cert_finding(host: str, subject: str, thumb: str, not_after: str, status: FindingStatus) -> Finding:
    props = (FindingProperty("thumbprint", thumb, thumb, WHERE), FindingProperty("subject", subject, subject, WHERE),
             FindingProperty("not_after", not_after, not_after, WHERE))
    return Finding(host, "exchange_certificate", f"{subject} ({thumb[:8]})", status, WHERE, props, "expires soon" if status is FindingStatus.EXPIRING else "")


def report() -> DriftReport:
    facts = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
    findings = (
        cert_finding("ex01", "CN=later", "B" * 40, "2027-06-19T00:00:00Z", FindingStatus.IN_SYNC),
        cert_finding("ex01", HOSTILE, "A" * 40, "2026-12-11T12:00:00Z", FindingStatus.EXPIRING),
        cert_finding("ex01", "CN=gone", "C" * 40, "2026-11-20T00:00:00Z", FindingStatus.EXPIRING),
        cert_finding("ex01", "CN=unknown", "D" * 40, "(unknown)", FindingStatus.IN_SYNC),
        Finding("ex01", "receive_connector", "Default EX01", FindingStatus.IN_SYNC, WHERE),
    )
    states = {FindingStatus.IN_SYNC: DriftState.IN_SYNC, FindingStatus.EXPIRING: DriftState.DRIFT}
    plan = Plan(hosts={"ex01": HostPlan("ex01", HostStatus.OK, facts, (), findings=findings)})
    return DriftReport(plan, tuple(DriftItem(f, states[f.status]) for f in findings), STARTED, 1.0)


def test_only_findings_with_a_readable_date_are_on_the_timeline_soonest_first():
    found = expiries(report())
    assert [e.prop("subject") for e in found] == ["CN=gone", HOSTILE, "CN=later"]
    assert found[1].not_after == dt.datetime(2026, 12, 11, 12, tzinfo=dt.timezone.utc)


def test_prometheus_has_one_expiry_timestamp_per_certificate_with_exact_labels():
    families = {f.name: f for f in text_string_to_metric_families(prometheus.render(report()).decode("utf-8"))}
    samples = {(s.labels["host"], s.labels["thumbprint"], s.labels["subject"]): s.value
               for s in families["exconf_certificate_expiry_timestamp_seconds"].samples}
    assert samples == {
        ("ex01", "A" * 40, HOSTILE): dt.datetime(2026, 12, 11, 12, tzinfo=dt.timezone.utc).timestamp(),
        ("ex01", "B" * 40, "CN=later"): dt.datetime(2027, 6, 19, tzinfo=dt.timezone.utc).timestamp(),
        ("ex01", "C" * 40, "CN=gone"): dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc).timestamp(),
    }


def test_html_timeline_is_to_scale_marks_drift_and_escapes_names(tmp_path):
    page = html.render(report(), tmp_path).decode("utf-8")
    table = page[page.index('<table id="expiry">'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr class="(\w+)" id="expiry-\d+">(.*?)</tr>', table, flags=re.S)
    assert [state for state, _ in rows] == ["drift", "drift", "in_sync"]
    assert "expired" in rows[0][1] and 'class="bar gone"' in rows[0][1]
    assert "10 d 12 h" in rows[1][1] and "expires soon" in rows[1][1] and "200 d 0 h" in rows[2][1]
    widths = [int(w) for w in re.findall(r'style="width: (\d+)px"', table)]
    assert widths == [2, int(400 * 10.5 / 200), 400]
    assert "<script>" not in table and "&lt;script&gt;" in table and "\u202e" not in table
