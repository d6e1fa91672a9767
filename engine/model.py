"""Typed data that flows through the engine: facts → desired → changes → plan → results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .yamlsource import Location


class HostStatus(str, Enum):
    OK = "ok"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


# --- what a server reported --------------------------------------------------


@dataclass(frozen=True)
class ObservedObject:
    """One Exchange object as read from a server (raw values as the program serialised them)."""

    kind: str
    name: str
    identity: str  # what to pass as -Identity when changing it (a Guid where there is one)
    values: dict[str, Any]


@dataclass(frozen=True)
class ServerFacts:
    """What exconf knows about one server after reading it."""

    name: str  # Exchange server name (EX01)
    fqdn: str
    role: str  # "Mailbox" | "Edge"
    version: str  # 15.2.1544.4
    site: str  # AD site name
    objects: dict[str, tuple[ObservedObject, ...]] = field(default_factory=dict)  # kind -> objects


# --- what the inventory declares --------------------------------------------


@dataclass(frozen=True)
class DesiredValue:
    prop: str  # inventory key, e.g. protocol_logging_level
    value: Any  # canonical value (see values.py)
    source: Location


@dataclass(frozen=True)
class Desired:
    """One declared object: a name or ``*`` pattern and the properties it must have."""

    kind: str
    pattern: str  # after {server} expansion
    values: tuple[DesiredValue, ...]
    source: Location


# --- what must change --------------------------------------------------------


@dataclass(frozen=True)
class PropertyChange:
    prop: str
    param: str  # Exchange parameter name
    before: str  # shown value
    after: str  # shown value
    wire: Any  # value sent as the parameter
    source: Location


@dataclass(frozen=True)
class Change:
    """One object to change on one host; a host applies its changes in one round trip."""

    id: str
    host: str  # inventory host that carries the change
    kind: str
    name: str
    identity: str
    action: str  # create | update | delete | replace
    properties: tuple[PropertyChange, ...]
    reason: str
    depends_on: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "resource": self.kind,
            "name": self.name,
            "action": self.action,
            "properties": {p.prop: {"before": p.before, "after": p.after} for p in self.properties},
            "reason": self.reason,
        }


@dataclass(frozen=True)
class HostPlan:
    host: str
    status: HostStatus
    facts: ServerFacts | None
    changes: tuple[Change, ...]
    error: str = ""  # why unreachable/failed
    in_sync: int = 0  # declared objects already as declared


@dataclass(frozen=True)
class Plan:
    hosts: dict[str, HostPlan]
    warnings: tuple[str, ...] = ()

    @property
    def changes(self) -> list[Change]:
        return [c for hp in self.hosts.values() for c in hp.changes]

    def summary(self) -> dict[str, int]:
        counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
        key = {"create": "add", "update": "change", "delete": "destroy", "replace": "replace"}
        for change in self.changes:
            counts[key[change.action]] += 1
        counts["unreachable"] = sum(1 for h in self.hosts.values() if h.status is HostStatus.UNREACHABLE)
        counts["failed"] = sum(1 for h in self.hosts.values() if h.status is HostStatus.FAILED)
        return counts


# --- what apply did ----------------------------------------------------------


class ChangeOutcome(str, Enum):
    APPLIED = "applied"  # made and verified
    FAILED = "failed"  # the cmdlet failed
    UNVERIFIED = "unverified"  # made, but the read-back still differs
    NOT_RUN = "not_run"  # not attempted because something before it failed


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: ChangeOutcome
    message: str = ""


@dataclass(frozen=True)
class HostResult:
    host: str
    status: HostStatus
    results: tuple[ChangeResult, ...]
    in_sync: int = 0
    error: str = ""

    @property
    def changed(self) -> int:
        return sum(1 for r in self.results if r.outcome is ChangeOutcome.APPLIED)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.outcome in (ChangeOutcome.FAILED, ChangeOutcome.UNVERIFIED))
