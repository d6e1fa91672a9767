"""Typed data that flows through the engine: desired → facts → changes → operations → plan → results.

Everything here is a plain value: a plan can be saved, loaded and applied by
another process (planfile.py), and every rendering (text, JSON, reports) is
a function of these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from collections.abc import Mapping
from typing import Any, Protocol

from exconf.remote import Answer, Step

from .yamlsource import Location


class HostStatus(str, Enum):
    OK = "ok"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


# --- what the inventory declares (desired.py parses it once) -----------------


@dataclass(frozen=True)
class DesiredValue:
    prop: str  # inventory key, e.g. protocol_logging_level
    value: Any  # canonical value (see values.py)
    source: Location
    sensitive: bool = False


@dataclass(frozen=True)
class Desired:
    """One declared object: a name (``*`` patterns and ``{server}`` allowed) and its properties."""

    kind: str
    pattern: str  # as declared; "" for a kind with one object per scope
    values: tuple[DesiredValue, ...]
    source: Location


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from; only the reference is ever stored or shown."""

    origin: str  # env | file | prompt
    name: str  # variable name or file path; "" for a prompt

    def describe(self) -> str:
        return {"env": f"from env {self.name}", "file": f"from file {self.name}", "prompt": "typed at a prompt"}[self.origin]


@dataclass(frozen=True)
class FileRef:
    """A controller-side file a change needs (a PFX): its path and the SHA-256 it had at plan time."""

    path: str
    digest: str


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
    site: str  # AD site name; "" where the server has none (an Edge)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "fqdn": self.fqdn, "role": self.role, "version": self.version, "site": self.site}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> ServerFacts:
        return ServerFacts(str(doc["name"]), str(doc["fqdn"]), str(doc["role"]), str(doc["version"]), str(doc["site"]))


# --- what must change --------------------------------------------------------


@dataclass(frozen=True)
class PropertyChange:
    """One property as the plan shows it (``before`` -> ``after``); ``param``/``wire`` are what a settings
    kind sends as the Set-* parameter. Kinds with other life cycles keep what they send in ``Change.payload``."""

    prop: str
    param: str  # Exchange parameter name ("" where the property is only shown)
    before: Any  # shown value: a string, or a list for a multi-valued property
    after: Any
    wire: Any  # value sent as the parameter (None where the property is only shown)
    source: Location
    sensitive: bool = False


@dataclass(frozen=True)
class Change:
    """One object to change, carried out by its kind's operations (on one host or several).

    ``after``: ids of changes (of any kind, on any host) that must be made first; the planner turns
    them into ``needs`` of this change's first operations: order between changes comes only from
    these and from the needs a kind gives its own operations, never from the order of kinds.
    ``payload``: what the kind needs to derive its operations that the shown properties do not
    carry (a PFX's bytes and password reference, the Mailbox server that imports a subscription);
    typed by the kind, never written to a plan file: a saved plan is re-derived, not loaded.
    """

    id: str
    host: str  # inventory host that carries the change
    kind: str
    name: str
    identity: str
    action: str  # create | update | delete | replace
    properties: tuple[PropertyChange, ...]
    reason: str
    after: tuple[str, ...] = ()
    payload: Any = field(default=None, compare=False)
    # What making it does beyond the object itself, said before it happens ("AD LDS is restarted on
    # EDGE01", "the EdgeSync connectors are made again"): shown in the plan, kept in its review.
    effects: tuple[str, ...] = ()
    # Objects of other kinds that making it creates anew, with Exchange's defaults, as (kind, name): an Edge
    # Subscription makes its site's EdgeSync send connectors. A kind that ``sees_planned`` plans its declared
    # settings of them after this change, in the same plan.
    makes: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "host": self.host,
            "resource": self.kind,
            "name": self.name,
            "action": self.action,
            "properties": {
                p.prop: {"before": "(sensitive)", "after": "(sensitive)"} if p.sensitive else {"before": p.before, "after": p.after}
                for p in self.properties
            },
            "reason": self.reason,
        }
        if self.effects:
            doc["effects"] = list(self.effects)
        return doc


@dataclass(frozen=True)
class Operation:
    """Steps that one host runs for one change; ``needs`` names operations (on any host) that must succeed first.

    ``within``: (operation id, seconds): this operation must be sent no later than that many seconds
    after that operation was sent (an Edge Subscription file's bootstrap window); the runner checks it
    between waves and does not send it late. ``role``: what the operation does within its change, as
    its kind names it ("import", "restart"); a kind reads it back, never the id.
    ``kind``: the kind that made it (set by the planner, so that the runner never looks one up by name).
    ``where``: how its steps reach ``host``: "" through the host's door; PROGRAM through exconf's program over
    WinRM even where the host takes remote PowerShell (a file of IIS, an app pool: nothing an Exchange session
    holds); CONTROLLER not at all: its kind runs it on the controller (``run_on_controller``: an issuer signs a
    request), for ``host``, whose wave and failures it shares. ``cleanup``: it runs once what it needs has run,
    whether that succeeded or not (it removes what an earlier operation left: an ACME challenge file).
    """

    id: str
    host: str
    change: str  # Change.id
    steps: tuple[Step, ...]
    needs: tuple[str, ...] = ()
    within: tuple[str, int] | None = None
    role: str = ""
    kind: OperationKind | None = field(default=None, compare=False, repr=False)
    where: str = ""
    cleanup: bool = False


PROGRAM = "program"  # Operation.where: exconf's program over WinRM
CONTROLLER = "controller"  # Operation.where: on the controller, by the operation's kind


class ControllerError(Exception):
    """An operation run on the controller failed; the message says what and where (never a secret)."""


class OperationKind(Protocol):
    """What the runner needs of the kind that made an operation: read it back and judge it, and for an
    operation whose parameters come from earlier ones, resolve it; for one run on the controller, run it."""

    def resolve(self, op: Operation, carried: Mapping[tuple[str, str], Any]) -> Operation: ...

    def run_on_controller(self, op: Operation, change: Change, carried: Mapping[tuple[str, str], Any]) -> dict[str, Any]: ...

    def read_steps(self, prefix: str) -> list[Step]: ...

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None: ...

    def verify_operation(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None: ...

    def polls(self, op: Operation) -> tuple[int, float]: ...

    def applied_note(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str: ...

    def answers(self, change: Change, warning: str) -> bool: ...


# --- findings: every declared object ends as one -----------------------------


class FindingStatus(str, Enum):
    IN_SYNC = "in_sync"
    CHANGE = "change"
    ERROR = "error"
    REFUSED = "refused"
    EXPIRING = "expiring"  # as declared, nothing to change, but it expires within its declared threshold (drift reports it)


AS_DECLARED = frozenset({FindingStatus.IN_SYNC, FindingStatus.EXPIRING})  # nothing for plan or apply to change


@dataclass(frozen=True)
class FindingProperty:
    prop: str
    expected: Any
    actual: Any
    source: Location
    sensitive: bool = False

    def to_json(self) -> dict[str, Any]:
        hidden = "(sensitive)"
        return {
            "property": self.prop,
            "expected": hidden if self.sensitive else self.expected,
            "actual": hidden if self.sensitive else self.actual,
            "declared_at": str(self.source),
        }


@dataclass(frozen=True)
class Finding:
    """The verdict on one declared object (or one object it matched) on one host."""

    host: str
    kind: str
    name: str
    status: FindingStatus
    source: Location
    properties: tuple[FindingProperty, ...] = ()
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "host": self.host,
            "resource": self.kind,
            "name": self.name,
            "status": self.status.value,
            "declared_at": str(self.source),
            "properties": [p.to_json() for p in self.properties],
        }
        if self.message:
            doc["message"] = self.message
        return doc


@dataclass(frozen=True)
class Refusal:
    """A safety rail that stops the whole plan unless the user overrides ``rail`` by name."""

    rail: str
    host: str
    message: str
    change: str = ""  # the Change.id it stops, if it is about one change

    def to_json(self) -> dict[str, Any]:
        return {"rail": self.rail, "host": self.host, "message": self.message}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Refusal:
        return Refusal(str(doc["rail"]), str(doc["host"]), str(doc["message"]), str(doc.get("change", "")))


# --- the plan ------------------------------------------------------------------


@dataclass(frozen=True)
class HostPlan:
    host: str
    status: HostStatus
    facts: ServerFacts | None
    changes: tuple[Change, ...]
    error: str = ""  # why unreachable/failed
    findings: tuple[Finding, ...] = ()
    endpoint: str = ""

    @property
    def in_sync(self) -> int:
        return sum(1 for f in self.findings if f.status in AS_DECLARED)


@dataclass(frozen=True)
class Plan:
    """The plan as a value: per host its status and changes, the operations that make them, and the
    schedule apply runs (``schedule``: waves of operation ids; see graph.py)."""

    hosts: dict[str, HostPlan]
    operations: tuple[Operation, ...] = ()
    warnings: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    overridden: tuple[str, ...] = ()  # rails the user overrode by name
    schedule: tuple[tuple[str, ...], ...] = ()

    @property
    def changes(self) -> list[Change]:
        return [c for hp in self.hosts.values() for c in hp.changes]

    @property
    def findings(self) -> list[Finding]:
        return [f for hp in self.hosts.values() for f in hp.findings]

    @property
    def blocking(self) -> tuple[Refusal, ...]:
        """Refusals not overridden: any of them means nothing is applied."""
        return tuple(r for r in self.refusals if r.rail not in self.overridden)

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
    FAILED = "failed"  # the cmdlet failed, or the result is unknown
    UNVERIFIED = "unverified"  # made, but the read-back still differs
    NOT_RUN = "not_run"  # not attempted because something it needs failed


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: ChangeOutcome
    message: str = ""
    warnings: tuple[str, ...] = ()  # what the cmdlets warned while making it (Exchange's own words)
    unknown: bool = False  # sent, and no answer came back: made or not, nobody knows (exit 4, docs/faults.md)


@dataclass(frozen=True)
class HostResult:
    host: str
    status: HostStatus
    results: tuple[ChangeResult, ...]
    in_sync: int = 0
    error: str = ""
    notes: tuple[str, ...] = field(default=())  # what the transport had to do (a reconnect, …)

    @property
    def changed(self) -> int:
        return sum(1 for r in self.results if r.outcome is ChangeOutcome.APPLIED)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.outcome in (ChangeOutcome.FAILED, ChangeOutcome.UNVERIFIED))

    @property
    def not_run(self) -> int:
        return sum(1 for r in self.results if r.outcome is ChangeOutcome.NOT_RUN)
