"""OpenMetrics text format (the same metrics as prometheus.py, metrics.py): ``# EOF`` at the end, HELP escaped,
every family a gauge; accepted by prometheus_client's ``openmetrics.parser`` (checked in the tests)."""

from __future__ import annotations

from .metrics import families, sample_lines
from .report import DriftReport


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(report: DriftReport) -> bytes:
    lines: list[str] = []
    for f in families(report):
        lines += [f"# TYPE {f.name} gauge", f"# HELP {f.name} {_help(f.help)}", *sample_lines(f)]
    lines.append("# EOF")
    return ("\n".join(lines) + "\n").encode("utf-8")
