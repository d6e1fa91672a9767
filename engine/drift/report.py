"""A drift run as a value: every finding judged in sync, drift or error, with since when and by whom.

Pure: built from the plan (findings, changes, host status) and the audit log; the history adds
``since``/``resolved``. Every output (text, JSON, HTML, JUnit, Prometheus, notifications) is a
function of this value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from ..model import Finding, FindingProperty, FindingStatus, HostStatus, Plan
from ..render import plan_json
from ..yamlsource import Location
from .audit import AuditEntry, AuditLog, who_changed

HOST_KIND = "host"  # the finding a host that could not be read gets, declared objects or not

EXIT_NO_DRIFT, EXIT_ERROR, EXIT_DRIFT = 0, 1, 2


def differing(finding: Finding) -> tuple[FindingProperty, ...]:
    """The properties of a finding whose value differs (all of them when none visibly does, e.g. sensitive)."""
    moved = tuple(p for p in finding.properties if p.sensitive or p.expected != p.actual)
    return moved or finding.properties


class DriftState(str, Enum):
    IN_SYNC = "in_sync"
    DRIFT = "drift"
    ERROR = "error"


def state_of(finding: Finding) -> DriftState:
    """Generic: in sync is in sync, an error is an error, every other status a kind reports
    (a change to make, a refused change, an unhealthy or expiring object) is drift."""
    if finding.status is FindingStatus.IN_SYNC:
        return DriftState.IN_SYNC
    if finding.status is FindingStatus.ERROR:
        return DriftState.ERROR
    return DriftState.DRIFT


@dataclass(frozen=True)
class DriftItem:
    finding: Finding
    state: DriftState
    who: AuditEntry | None = None
    since: str = ""  # ISO time of the first run of the current streak of this state (history)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.finding.host, self.finding.kind, self.finding.name)

    def to_json(self) -> dict[str, Any]:
        doc = self.finding.to_json() | {"drift": self.state.value}
        if self.since:
            doc["since"] = self.since
        if self.who is not None:
            doc["changed_by"] = self.who.to_json()
        return doc


@dataclass(frozen=True)
class Resolved:
    """A finding that drifted in the previous run and no longer does."""

    host: str
    kind: str
    name: str
    since: str  # when the drift was first seen
    resolved: str  # this run's time

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "resource": self.kind, "name": self.name, "since": self.since, "resolved": self.resolved}


@dataclass(frozen=True)
class DriftReport:
    plan: Plan
    items: tuple[DriftItem, ...]
    started: str  # ISO 8601 UTC
    duration: float  # seconds the read and plan took
    audit_note: str = ""
    resolved: tuple[Resolved, ...] = ()
    appeared: tuple[tuple[str, str, str], ...] = ()  # keys that drift now and did not in the previous run
    notes: tuple[str, ...] = field(default=())  # what the run could not do (history, a report file)

    @property
    def drifted(self) -> list[DriftItem]:
        return [i for i in self.items if i.state is DriftState.DRIFT]

    @property
    def errors(self) -> list[DriftItem]:
        return [i for i in self.items if i.state is DriftState.ERROR]

    @property
    def exit_code(self) -> int:
        """1 when any host or object could not be checked (the answer is incomplete), else 2 on drift, else 0."""
        if self.errors:
            return EXIT_ERROR
        return EXIT_DRIFT if self.drifted else EXIT_NO_DRIFT

    def hosts_up(self) -> int:
        return sum(1 for hp in self.plan.hosts.values() if hp.status is HostStatus.OK)

    def to_json(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The plan's JSON shape (spec §2) with ``changes`` holding what drifted, plus drift's own fields."""
        doc = plan_json(self.plan, meta)
        drifted = {(i.finding.host, i.finding.kind, i.finding.name) for i in self.drifted}
        doc["changes"] = [c for c in doc["changes"] if (c["host"], c["resource"], c["name"]) in drifted]
        doc["findings"] = [i.to_json() for i in self.items]
        doc["drift"] = {
            "started": self.started,
            "duration_seconds": round(self.duration, 3),
            "exit_code": self.exit_code,
            "counts": {s.value: sum(1 for i in self.items if i.state is s) for s in DriftState},
            "appeared": [{"host": h, "resource": k, "name": n} for h, k, n in self.appeared],
            "resolved": [r.to_json() for r in self.resolved],
            "audit": self.audit_note or "searched",
            "notes": list(self.notes),
        }
        return doc


def host_location(plan_host: str, sources: dict[str, Location]) -> Location:
    return sources.get(plan_host) or Location("inventory", 1, 1)


def build(plan: Plan, audit: AuditLog, *, started: str, duration: float, host_sources: dict[str, Location]) -> DriftReport:
    """Judge every finding; a host that could not be read is a finding of its own."""
    params: dict[tuple[str, str, str], set[str]] = {}
    for change in plan.changes:
        params.setdefault((change.host, change.kind, change.name), set()).update(p.param for p in change.properties)
    items: list[DriftItem] = []
    for name, hp in plan.hosts.items():
        if hp.status is not HostStatus.OK:
            host_finding = Finding(name, HOST_KIND, name, FindingStatus.ERROR, host_location(name, host_sources),
                                   message=f"{hp.status.value}: {hp.error}")
            items.append(DriftItem(host_finding, DriftState.ERROR))
        server = hp.facts.name if hp.facts else ""
        for finding in hp.findings:
            state = state_of(finding)
            who = None
            if state is DriftState.DRIFT:
                who = who_changed(audit.entries, finding.name, server, params.get((finding.host, finding.kind, finding.name), set()))
            items.append(DriftItem(finding, state, who))
    return DriftReport(plan, tuple(items), started, duration, audit.note)


def with_history(report: DriftReport, since: dict[tuple[str, str, str], str], resolved: tuple[Resolved, ...],
                 appeared: tuple[tuple[str, str, str], ...]) -> DriftReport:
    items = tuple(replace(i, since=since.get(i.key, "")) for i in report.items)
    return replace(report, items=items, resolved=resolved, appeared=appeared)
