"""A drift run as a value: every finding judged in sync, drift or not checked, with its severity, since when,
who changed it, an acknowledgement, and the transitions (events) of this run.

Pure: built from the plan (findings, changes, host status); the history adds since, culprits and events.
Every output (text, JSON, HTML, JUnit, Prometheus/OpenMetrics, notifications, syslog) is a function of this
value. Objects of the organisation (send connectors, the transport config) are keyed under the pseudo-host
``organization`` whichever Mailbox server read them, so that a change of carrier is not a new object.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import Any

from exconf.modules import KINDS, Kind
from exconf.modules.base import ORGANIZATION, SEVERITIES, DriftTraits

from ..model import Finding, FindingProperty, FindingStatus, HostStatus, Plan
from ..render import plan_json
from ..yamlsource import Location
from .audit import Culprit
from .episodes import Event, Key

HOST_KIND = "host"  # the finding a host that could not be read gets, declared objects or not
RUN_KIND = "inventory"  # the finding of a run that could not start (its inventory could not be used)
ORG_HOST = "organization"  # the pseudo-host of organisation-wide objects (limit.select_organization)
HOST_SEVERITY = "high"  # a host that cannot be read hides all of its objects

EXIT_NO_DRIFT, EXIT_ERROR, EXIT_DRIFT = 0, 1, 2


def differing(finding: Finding) -> tuple[FindingProperty, ...]:
    """The properties of a finding whose value differs (all of them when none visibly does, e.g. sensitive)."""
    moved = tuple(p for p in finding.properties if p.sensitive or p.expected != p.actual)
    return moved or finding.properties


class DriftState(str, Enum):
    IN_SYNC = "in_sync"
    DRIFT = "drift"
    ERROR = "error"  # not checked

    @property
    def label(self) -> str:
        return {"in_sync": "in sync", "drift": "drifted", "error": "not checked"}[self.value]


def state_of(finding: Finding) -> DriftState:
    """Generic: in sync is in sync, an error is an error, every other status a kind reports
    (a change to make, a refused change, an unhealthy or expiring object) is drift."""
    if finding.status is FindingStatus.IN_SYNC:
        return DriftState.IN_SYNC
    if finding.status is FindingStatus.ERROR:
        return DriftState.ERROR
    return DriftState.DRIFT


def traits(kind: str, kinds: tuple[Kind, ...] = KINDS) -> DriftTraits:
    found = next((k for k in kinds if k.kind == kind), None)
    return found.drift if found is not None else DriftTraits()


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True)
class AckInfo:
    owner: str
    reason: str
    expires: str
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "reason": self.reason, "expires": self.expires}


@dataclass(frozen=True)
class DriftItem:
    finding: Finding
    state: DriftState
    severity: str = "medium"
    scope_host: str = ""  # "organization" for organisation-wide objects; else the finding's host
    since: str = ""  # start of the first run of the current state (drift: of the episode, across runs not checked)
    culprit: Culprit | None = None  # who changed it (drift)
    ack: AckInfo | None = None
    corrected: bool = False  # drift --correct put it back in this run (made and verified)
    correction: str = ""  # why it was not corrected, when it was asked to be
    params: tuple[str, ...] = ()  # Exchange parameters of the drifted properties

    @cached_property
    def key(self) -> Key:
        return (self.scope_host or self.finding.host, self.finding.kind, self.finding.name)

    @property
    def who(self):  # the audit entry, when one was found
        return self.culprit.entry if self.culprit is not None else None

    @property
    def counts_as_drift(self) -> bool:
        """Drift that sets the exit code: not acknowledged, not corrected."""
        return self.state is DriftState.DRIFT and self.ack is None and not self.corrected

    def to_json(self) -> dict[str, Any]:
        doc = self.finding.to_json() | {"drift": self.state.value, "severity": self.severity}
        if self.scope_host and self.scope_host != self.finding.host:
            doc["host"], doc["read_on"] = self.scope_host, self.finding.host
        if self.since:
            doc["since"] = self.since
        if self.culprit is not None and self.state is DriftState.DRIFT:
            doc["changed_by"] = self.culprit.to_json()
        if self.ack is not None:
            doc["acknowledged"] = self.ack.to_json()
        if self.corrected:
            doc["corrected"] = True
        if self.correction:
            doc["correction"] = self.correction
        return doc


@dataclass(frozen=True)
class Undeclared:
    """An object that exists and that nothing declares (``--undeclared``)."""

    host: str
    kind: str
    name: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "resource": self.kind, "name": self.name} | ({"note": self.note} if self.note else {})


@dataclass(frozen=True)
class DriftReport:
    plan: Plan
    items: tuple[DriftItem, ...]
    started: str  # ISO 8601 UTC
    duration: float  # seconds the run took to read and plan
    audit_note: str = ""
    events: tuple[Event, ...] = ()
    notes: tuple[str, ...] = field(default=())  # what the run could not do (history, a report file, a notification)
    undeclared: tuple[Undeclared, ...] | None = None  # None: not asked for
    undelivered: tuple[dict[str, Any], ...] = ()  # messages still in the outbox: sink, created, attempts, error, next
    inventory: str = ""
    report_url: str = ""
    last_run: dict[str, Any] | None = None  # the run before this one (history)

    @property
    def drifted(self) -> list[DriftItem]:
        drift = DriftState.DRIFT
        return [i for i in self.items if i.state is drift]

    @property
    def errors(self) -> list[DriftItem]:
        error = DriftState.ERROR
        return [i for i in self.items if i.state is error]

    @property
    def resolved(self) -> list[Event]:
        return [e for e in self.events if e.type in ("drift_resolved", "drift_corrected", "no_longer_declared")
                and e.episode.type == "drift"]

    @property
    def appeared(self) -> list[Key]:
        return [e.key for e in self.events if e.type == "drift_appeared"]

    @property
    def exit_code(self) -> int:
        """1 when any host or object could not be checked (the answer is incomplete), else 2 on drift that is
        neither acknowledged nor corrected, else 0."""
        if self.errors:
            return EXIT_ERROR
        return EXIT_DRIFT if any(i.counts_as_drift for i in self.items) else EXIT_NO_DRIFT

    def counts(self) -> dict[str, int]:
        tally = Counter(i.state for i in self.items)
        odd = [i for i in self.items if i.corrected or i.ack is not None]  # few
        corrected = sum(1 for i in odd if i.corrected)
        out = {s.value: tally[s] for s in DriftState}
        out["drift"] -= corrected
        out["in_sync"] += corrected
        out["acknowledged"] = sum(1 for i in odd if i.ack is not None and i.state is DriftState.DRIFT)
        out["corrected"] = corrected
        return out

    def hosts_up(self) -> int:
        return sum(1 for hp in self.plan.hosts.values() if hp.status is HostStatus.OK)

    def worst_first(self, items: list[DriftItem] | None = None) -> list[DriftItem]:
        return sorted(self.items if items is None else items, key=lambda i: (severity_rank(i.severity), i.key))

    def to_json(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The plan's JSON shape (spec §2) with ``changes`` holding what drifted, plus drift's own fields."""
        doc = plan_json(self.plan, meta)
        drifted = {(i.finding.host, i.finding.kind, i.finding.name) for i in self.drifted}
        doc["changes"] = [c for c in doc["changes"] if (c["host"], c["resource"], c["name"]) in drifted]
        doc["findings"] = [i.to_json() for i in self.worst_first()]
        doc["drift"] = {
            "started": self.started,
            "duration_seconds": round(self.duration, 3),
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "appeared": [{"host": h, "resource": k, "name": n} for h, k, n in self.appeared],
            "resolved": [event_json(e) for e in self.resolved],
            "events": [event_json(e) for e in self.events],
            "audit": self.audit_note or "searched",
            "notes": list(self.notes),
            "undelivered": list(self.undelivered),
            "last_run": self.last_run,
        }
        if self.undeclared is not None:
            doc["drift"]["undeclared"] = [u.to_json() for u in self.undeclared]
        if self.report_url:
            doc["drift"]["report"] = self.report_url
        return doc


def event_json(e: Event) -> dict[str, Any]:
    ep = e.episode
    doc: dict[str, Any] = {"event": e.type, "host": e.key[0], "resource": e.key[1], "name": e.key[2], "at": e.at,
                           "since": ep.since, "severity": ep.severity}
    if ep.ended:
        doc["resolved"] = ep.ended
        doc["resolution"] = ep.resolution
    doc |= detail_json(ep.latest or ep.detail)
    if ep.culprit is not None and ep.type == "drift":
        doc["changed_by"] = ep.culprit.to_json()
    if ep.resolved_by is not None:
        doc["resolved_by"] = ep.resolved_by.to_json()
    if e.late:
        doc["late"] = e.late
    return doc


def detail_json(detail: dict[str, Any]) -> dict[str, Any]:
    """An episode's stored detail as reports show it: each property with where it was declared."""
    doc: dict[str, Any] = {k: detail[k] for k in ("message", "declared_at") if k in detail}
    if "properties" in detail:
        doc["properties"] = [{"declared_at": detail.get("declared_at", "")} | p for p in detail["properties"]]
    return doc


def host_location(plan_host: str, sources: dict[str, Location]) -> Location:
    return sources.get(plan_host) or Location("inventory", 1, 1)


def build(plan: Plan, *, started: str, duration: float, host_sources: dict[str, Location], kinds: tuple[Kind, ...] = KINDS,
          known: dict[str, list[tuple[str, str]]] | None = None, inventory: str = "") -> DriftReport:
    """Judge every finding; a host that could not be read is a finding of its own, and its objects keep the names
    the history knows them by (so that JUnit test names and episodes do not change while it is down)."""
    params: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for change in plan.changes:
        params[(change.host, change.kind, change.name)] = tuple(p.param for p in change.properties)
    org_kinds = {k.kind for k in kinds if k.scope == ORGANIZATION}
    items: list[DriftItem] = []
    for name, hp in plan.hosts.items():
        findings = list(hp.findings)
        if hp.status is not HostStatus.OK:
            where = host_location(name, host_sources)
            message = f"{hp.status.value}: {hp.error}"
            items.append(DriftItem(Finding(name, HOST_KIND, name, FindingStatus.ERROR, where, message=message),
                                   DriftState.ERROR, HOST_SEVERITY))
            names = (known or {}).get(name)
            if hp.facts is None and names:  # not read at all: the objects it had, by the names they had
                source = {f.kind: f.source for f in findings}
                findings = [Finding(name, kind, obj, FindingStatus.ERROR, source.get(kind, where), message=message) for kind, obj in names]
        for finding in findings:
            state = state_of(finding)
            scope = ORG_HOST if finding.kind in org_kinds else ""
            items.append(DriftItem(finding, state, traits(finding.kind, kinds).severity, scope,
                                   params=params.get((finding.host, finding.kind, finding.name), ())))
    return DriftReport(plan, tuple(items), started, duration, inventory=inventory)


def run_failed(started: str, duration: float, inventory: str, message: str, where: Location) -> DriftReport:
    """A run that failed before any host (the inventory cannot be used): one finding, not checked."""
    finding = Finding(RUN_KIND, RUN_KIND, inventory, FindingStatus.ERROR, where, message=message)
    return DriftReport(Plan(hosts={}), (DriftItem(finding, DriftState.ERROR, "critical"),), started, duration, inventory=inventory)


def with_items(report: DriftReport, items: list[DriftItem]) -> DriftReport:
    return replace(report, items=tuple(items))
