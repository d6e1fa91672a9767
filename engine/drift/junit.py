"""JUnit XML: one test case per declared object, so CI systems show drift natively.

Passed = in sync (or corrected), failure = drift (expected versus actual in the message), skipped = drift that
is acknowledged (who, why, until when), error = the object or its host could not be checked. One test suite per
host (the organisation's objects under ``organization``), its cases worst first; a case is named after the
object, and an object of a host that is down keeps the name it had when last read. Built with the standard
library's ElementTree, which escapes what needs escaping; characters XML 1.0 cannot hold are escaped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..render import value_text
from .report import DriftReport, DriftState, differing

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def render(report: DriftReport) -> bytes:
    root = ET.Element("testsuites", name="exconf drift", tests=str(len(report.items)),
                      failures=str(sum(1 for i in report.items if i.counts_as_drift)), errors=str(len(report.errors)), time=f"{report.duration:.3f}",
                      timestamp=report.started)
    by_host: dict[str, list] = {}
    for item in report.worst_first():
        by_host.setdefault(item.key[0], []).append(item)
    for host, items in by_host.items():
        suite = ET.SubElement(root, "testsuite", name=_x(host), tests=str(len(items)),
                              failures=str(sum(1 for i in items if i.counts_as_drift)),
                              errors=str(sum(1 for i in items if i.state is DriftState.ERROR)),
                              skipped=str(sum(1 for i in items if i.ack is not None and i.state is DriftState.DRIFT)),
                              timestamp=report.started, time="0")
        for item in items:
            f = item.finding
            case = ET.SubElement(suite, "testcase", classname=_x(f"{host}.{f.kind}"), name=_x(f.name), file=_x(f.source.file),
                                 line=str(f.source.line), time="0")
            if item.state is DriftState.DRIFT and item.corrected:
                ET.SubElement(case, "system-out").text = _x("drifted, and put back by exconf drift --correct")
            elif item.state is DriftState.DRIFT and item.ack is not None:
                skipped = ET.SubElement(case, "skipped", message=_x(f"acknowledged by {item.ack.owner} until {item.ack.expires}: {item.ack.reason}"))
                skipped.text = _x("\n".join(f"{p.prop}: expected {value_text(p.expected)}, actual {value_text(p.actual)}"
                                            for p in differing(f) if not p.sensitive))
            elif item.state is DriftState.DRIFT:
                lines = [f"{p.prop}: expected {'(sensitive)' if p.sensitive else value_text(p.expected)}, "
                         f"actual {'(sensitive)' if p.sensitive else value_text(p.actual)} (declared at {p.source})"
                         for p in differing(f)] or [f.message or f.status.value]
                if item.since:
                    lines.append(f"drifting since {item.since}")
                if item.culprit is not None:
                    lines.append(item.culprit.text())
                failure = ET.SubElement(case, "failure", message=_x(lines[0]), type=f"drift ({item.severity})")
                failure.text = _x("\n".join(lines))
            elif item.state is DriftState.ERROR:
                error = ET.SubElement(case, "error", message=_x((f.message or "error").splitlines()[0] if f.message else "error"), type="error")
                error.text = _x(f.message)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
