"""The drift run as metric families, written as Prometheus text (prometheus.py) or OpenMetrics (openmetrics.py).

Per host and kind: how many objects are in each state; per object (so an alert can name it):
``exconf_drift_object{host,kind,name,severity,state} 1`` with state in_sync, drift, acknowledged or
not_checked, and since when it has had it; hosts up; the last run's time, duration and exit code — written
by every run, even one that failed before any host; undelivered messages; and the expiry time of every finding
that carries one (certificates: ``not_after``), for an alert such as
``exconf_certificate_expiry_timestamp_seconds - time() < 30 * 86400``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .expiry import expiries
from .history import parse_time
from .report import HOST_KIND, RUN_KIND, DriftItem, DriftReport, DriftState


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    samples: tuple[tuple[tuple[tuple[str, str], ...], float], ...]  # (labels, value)


def object_state(item: DriftItem) -> str:
    if item.state is DriftState.ERROR:
        return "not_checked"
    if item.state is DriftState.DRIFT and not item.corrected:
        return "acknowledged" if item.ack is not None else "drift"
    return "in_sync"


def families(report: DriftReport) -> list[Family]:
    objects = [i for i in report.items if i.finding.kind not in (RUN_KIND,)]
    counts: Counter[tuple[str, str, str]] = Counter((i.key[0], i.finding.kind, i.state.value) for i in objects)
    out = [Family("exconf_drift_findings", "Declared objects by host, kind and drift state in the last run.", tuple(
        ((("host", h), ("kind", k), ("state", s.value)), float(counts[(h, k, s.value)]))
        for h, k in sorted({(h, k) for h, k, _ in counts}) for s in DriftState))]
    seen: set[tuple[str, str, str]] = set()
    per_object = []
    since = []
    for i in objects:
        if i.key in seen or i.finding.kind == HOST_KIND:
            continue
        seen.add(i.key)
        labels = (("host", i.key[0]), ("kind", i.key[1]), ("name", i.key[2]))
        per_object.append((labels + (("severity", i.severity), ("state", object_state(i))), 1.0))
        if i.since:
            since.append((labels, parse_time(i.since).timestamp()))
    out.append(Family("exconf_drift_object", "One series per declared object: its state in the last run (1).", tuple(per_object)))
    out.append(Family("exconf_drift_object_since_timestamp_seconds", "Since when each object not in sync has had its state (Unix time).", tuple(since)))
    hosts = sorted({i.finding.host for i in report.items if i.finding.kind == HOST_KIND} | set(report.plan.hosts))
    out.append(Family("exconf_drift_host_up", "Whether the host could be read (1) or not (0) in the last run.", tuple(
        ((("host", h),), 1.0 if (hp := report.plan.hosts.get(h)) is not None and hp.status.value == "ok" else 0.0) for h in hosts)))
    certs = []
    labelled: set[tuple[str, str, str]] = set()
    for e in expiries(report):  # one series per host and certificate: the same labels twice would be invalid
        cert = (e.item.key[0], e.prop("thumbprint"), e.prop("subject") or e.item.finding.name)
        if cert in labelled:
            continue
        labelled.add(cert)
        certs.append(((("host", cert[0]), ("thumbprint", cert[1]), ("subject", cert[2])), e.not_after.timestamp()))
    out.append(Family("exconf_certificate_expiry_timestamp_seconds", "When each declared certificate expires (NotAfter, Unix time).", tuple(certs)))
    started = parse_time(report.started).timestamp()
    out += [
        Family("exconf_drift_hosts_up", "Hosts read in the last run.", (((), float(report.hosts_up())),)),
        Family("exconf_drift_last_run_timestamp_seconds", "When the last drift run started (Unix time).", (((), started),)),
        Family("exconf_drift_last_run_duration_seconds", "How long the last drift run took to read and plan.", (((), round(report.duration, 3)),)),
        Family("exconf_drift_last_run_exit_code", "0 no drift, 2 drift, 1 error (also a run that could not start).", (((), float(report.exit_code)),)),
        Family("exconf_drift_notifications_undelivered", "Messages waiting in the outbox (sent again on later runs).",
               (((), float(len(report.undelivered))),)),
    ]
    return out


def label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def sample_lines(f: Family) -> list[str]:
    out = []
    for labels, value in f.samples:
        body = ",".join(f'{k}="{label(v)}"' for k, v in labels)
        out.append(f"{f.name}{{{body}}} {number(value)}" if labels else f"{f.name} {number(value)}")
    return out
