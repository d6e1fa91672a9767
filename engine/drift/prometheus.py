"""Prometheus text exposition format, for node_exporter's textfile collector.

Metrics: findings by host, kind and state; hosts up; last run time, duration and exit code;
and the expiry time of every finding that carries one (certificates: ``not_after``), so that an
alert can fire on ``exconf_certificate_expiry_timestamp_seconds - time() < 30 * 86400``.
Label values are escaped as the format requires (backslash, double quote, newline). The file
is written atomically (outputs.write_atomic) so the collector never reads half a file.
"""

from __future__ import annotations

from collections import Counter

from .expiry import expiries
from .history import parse_time
from .report import DriftReport, DriftState


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(report: DriftReport) -> bytes:
    counts: Counter[tuple[str, str, str]] = Counter((i.finding.host, i.finding.kind, i.state.value) for i in report.items)
    hosts = {i.finding.host for i in report.items} | set(report.plan.hosts)
    lines = [
        "# HELP exconf_drift_findings Declared objects by host, kind and drift state in the last run.",
        "# TYPE exconf_drift_findings gauge",
    ]
    for host, kind in sorted({(h, k) for h, k, _ in counts}):
        for state in DriftState:
            lines.append(f'exconf_drift_findings{{host="{_label(host)}",kind="{_label(kind)}",state="{state.value}"}} {counts[(host, kind, state.value)]}')
    lines += [
        "# HELP exconf_drift_host_up Whether the host could be read (1) or not (0) in the last run.",
        "# TYPE exconf_drift_host_up gauge",
    ]
    for host in sorted(hosts):
        hp = report.plan.hosts.get(host)
        up = 1 if hp is not None and hp.status.value == "ok" else 0
        lines.append(f'exconf_drift_host_up{{host="{_label(host)}"}} {up}')
    lines += [
        "# HELP exconf_certificate_expiry_timestamp_seconds When each declared certificate expires (NotAfter, Unix time).",
        "# TYPE exconf_certificate_expiry_timestamp_seconds gauge",
    ]
    seen: set[tuple[str, str, str]] = set()
    for e in expiries(report):  # one series per host and certificate: the same labels twice would be invalid
        labels = (e.item.finding.host, e.prop("thumbprint"), e.prop("subject") or e.item.finding.name)
        if labels in seen:
            continue
        seen.add(labels)
        host, thumbprint, subject = (_label(v) for v in labels)
        lines.append(f'exconf_certificate_expiry_timestamp_seconds{{host="{host}",thumbprint="{thumbprint}",subject="{subject}"}} {e.not_after.timestamp():.0f}')
    lines += [
        "# HELP exconf_drift_hosts_up Hosts read in the last run.",
        "# TYPE exconf_drift_hosts_up gauge",
        f"exconf_drift_hosts_up {report.hosts_up()}",
        "# HELP exconf_drift_last_run_timestamp_seconds When the last drift run started (Unix time).",
        "# TYPE exconf_drift_last_run_timestamp_seconds gauge",
        f"exconf_drift_last_run_timestamp_seconds {parse_time(report.started).timestamp():.0f}",
        "# HELP exconf_drift_last_run_duration_seconds How long the last drift run took to read and plan.",
        "# TYPE exconf_drift_last_run_duration_seconds gauge",
        f"exconf_drift_last_run_duration_seconds {report.duration:.3f}",
        "# HELP exconf_drift_last_run_exit_code 0 no drift, 2 drift, 1 error.",
        "# TYPE exconf_drift_last_run_exit_code gauge",
        f"exconf_drift_last_run_exit_code {report.exit_code}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")
