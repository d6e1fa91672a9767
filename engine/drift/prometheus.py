"""Prometheus text exposition format, for node_exporter's textfile collector.

Metrics: findings by host, kind and state; hosts up; last run time, duration and exit code.
Label values are escaped as the format requires (backslash, double quote, newline). The file
is written atomically (outputs.write_atomic) so the collector never reads half a file.
"""

from __future__ import annotations

from collections import Counter

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
