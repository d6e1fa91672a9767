"""Prometheus text exposition format, for node_exporter's textfile collector (metrics.py holds what is measured).

Label values are escaped as the format requires (backslash, double quote, newline). The file is written
atomically (outputs.write_atomic) so the collector never reads half a file.
"""

from __future__ import annotations

from .metrics import families, sample_lines
from .report import DriftReport


def render(report: DriftReport) -> bytes:
    lines: list[str] = []
    for f in families(report):
        lines += [f"# HELP {f.name} {f.help}", f"# TYPE {f.name} gauge", *sample_lines(f)]
    return ("\n".join(lines) + "\n").encode("utf-8")
