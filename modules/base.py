"""The kind interface every resource module implements.

A *kind* is one sort of Exchange object exconf manages. The engine knows
kinds only through the ``Kind`` protocol below: which inventory section
declares them and in which scope, how to read them (steps sent in the host's
one read command), how desired × observed becomes changes and findings, which
steps carry out a change, how to verify it, and which safety rails it has.

Most kinds are Exchange *settings objects* changed with one ``Set-*`` call:
``settings.SettingsKind`` implements the protocol for all of them from data
(cmdlets, properties and value types), so each of those modules is a small
data file. Kinds with other life cycles (certificates, Edge subscriptions)
implement the protocol directly.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from exconf.model import Change, ControllerError, Desired, Finding, ObservedObject, Operation, Plan, Refusal, ServerFacts
from exconf.remote import LOCAL_SERVER, Answer, FromOperation, Step
from exconf.yamlsource import Location, PathKey

SERVER = "server"  # declared under `exchange:`, read and changed on each host
ORGANIZATION = "organization"  # declared under `exchange_organization:`, read and changed through one Mailbox server

PLACEHOLDERS = ("server",)


class ReadError(Exception):
    """A read step failed or answered something the kind cannot use."""


@dataclass(frozen=True)
class PeerRead:
    """What another host read of the same kind (for a kind that ``reads_peers``)."""

    host: str
    facts: ServerFacts
    objects: tuple[ObservedObject, ...]
    declared: tuple[Desired, ...] = ()  # what that host declares of the kind (an Edge declared twice)
    clean: bool = True  # it planned without a problem (known in the planner's second pass): a peer to pick for work


@dataclass(frozen=True)
class PlanContext:
    """What a kind may know while planning one scope: the carrying host and its server.

    ``peers``: for a kind with ``reads_peers`` (it is then read on every selected host as soon as one
    host declares it), what each other host read of it; an Edge Subscription is planned on the Edge
    from both sides, the Edge's and the Mailbox servers'.
    """

    host: str  # inventory name of the host that carries the changes
    facts: ServerFacts
    where: str  # how messages name the scope: "EX01", "the organisation"
    peers: tuple[PeerRead, ...] = ()  # the other hosts read; a kind picks a peer to work through among the ``clean`` ones
    planned: tuple[Change, ...] = ()  # for a kind that ``sees_planned``: what every other kind changes in this scope


@dataclass(frozen=True)
class KindPlan:
    """A kind's verdict on one scope: changes to make, a finding per declared object, and problems."""

    changes: tuple[Change, ...] = ()
    findings: tuple[Finding, ...] = ()
    problems: tuple[str, ...] = ()  # declarations that cannot be resolved: the host fails at plan time
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = ()  # shown in the plan, change nothing (a certificate near its expiry)


SEVERITIES = ("critical", "high", "medium", "low")  # worst first


@dataclass(frozen=True)
class DriftTraits:
    """How ``exconf drift`` treats a kind's objects: the optional member ``drift`` (defaults when absent).

    ``severity``: how bad a drift of it is (reports list the worst first). ``audit_cmdlets``: the
    cmdlets that change its objects, searched for in the admin audit log to say who changed one.
    ``correctable(change)``: whether ``drift --correct`` may make this change unattended (never when None).
    """

    severity: str = "medium"
    audit_cmdlets: tuple[str, ...] = ()
    correctable: Callable[[Change], bool] | None = None


class Kind(Protocol):
    """What the engine needs of a resource kind (see docs/architecture.md, "Kinds").

    Names are read-only properties, so a frozen dataclass implements them. The optional members
    have ordinary defaults in ``KindDefaults``, which every kind inherits: the engine never probes
    a kind with getattr.
    """

    @property
    def kind(self) -> str: ...

    @property
    def section(self) -> str: ...

    @property
    def scope(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def reads_peers(self) -> bool:
        """Read on every selected host as soon as one declares it; its plan gets what the others read (``ctx.peers``)."""
        ...

    @property
    def sees_planned(self) -> bool:
        """Planned a second time, with every change the other kinds planned in its scope (``ctx.planned``)."""
        ...

    @property
    def reads_per_site(self) -> bool:
        """For a kind that ``reads_peers``: hosts that do not declare it read it only as the one Mailbox server of
        their AD site that reads it for the site (a second command on that server), not each on its own."""
        ...

    def needed_sites(self, desired: tuple[Desired, ...]) -> frozenset[str]:
        """For a kind that ``reads_per_site``: the AD sites (casefolded) whose own side these declarations of one
        host need read; none: any one site's read will do."""
        ...

    def schema(self) -> dict[str, Any]: ...

    def inventory_issues(self, declared: Any, base: Path) -> list[tuple[PathKey, str]]:
        """What JSON Schema cannot check in the section (``base``: the declaring file's folder), each
        problem with its path under the section; found when the inventory is loaded, before any host."""
        ...

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]: ...

    def read_steps(self, prefix: str) -> list[Step]: ...

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None: ...

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan: ...

    def operations(self, change: Change) -> tuple[Operation, ...]: ...

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None: ...

    def verify_operation(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        """One operation of a change, judged on its own host's read-back (a change made on several hosts)."""
        ...

    def polls(self, op: Operation) -> tuple[int, float]:
        """(count, seconds): read an operation's effect back again, bounded, before calling it unverified."""
        ...

    def applied_note(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str:
        """What apply says of an operation made and verified, beyond its change (the thumbprint a renewal got)."""
        ...

    def answers(self, change: Change, warning: str) -> bool:
        """Whether this change, made after another in the same plan, does what that one's cmdlet warned must be
        done (a resubscription after Exchange's "subscribe it again"): the warning is then not shown."""
        ...

    def plan_rails(self, plan: Plan) -> list[Refusal]:
        """Rails that need the whole plan (several hosts), judged after every scope is planned."""
        ...

    def resolve(self, op: Operation, carried: Mapping[tuple[str, str], Any]) -> Operation:
        """The operation as it is sent: each FromOperation replaced by what the operation it names carried
        (``carried``: (operation id, step id) -> value, in memory); a kind may build steps from those values."""
        ...

    def run_on_controller(self, op: Operation, change: Change, carried: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
        """Run an operation whose ``where`` is CONTROLLER: what it hands on, by step id (ControllerError on failure)."""
        ...

    @property
    def drift(self) -> DriftTraits:
        """How ``exconf drift`` treats its objects: severity, the cmdlets that change them, what ``--correct`` may make."""
        ...


class KindDefaults:
    """The ordinary answers of the optional members of ``Kind``; every kind inherits them."""

    reads_peers: bool = False
    sees_planned: bool = False
    reads_per_site: bool = False
    drift: DriftTraits = DriftTraits()

    def needed_sites(self, desired: tuple[Desired, ...]) -> frozenset[str]:
        return frozenset()

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        raise NotImplementedError

    def verify_operation(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return self.verify(change, readback)

    def polls(self, op: Operation) -> tuple[int, float]:
        return (0, 0.0)

    def applied_note(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str:
        return ""

    def answers(self, change: Change, warning: str) -> bool:
        return False

    def plan_rails(self, plan: Plan) -> list[Refusal]:
        return []

    def resolve(self, op: Operation, carried: Mapping[tuple[str, str], Any]) -> Operation:
        return resolve_from_operations(op, carried)

    def run_on_controller(self, op: Operation, change: Change, carried: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
        raise ControllerError(f"{op.id} runs on the controller, and its kind does not say how")


class MissingOutput(Exception):
    """A FromOperation whose operation carried nothing (it did not run, or its step returned nothing)."""


def resolve_from_operations(op: Operation, carried: Mapping[tuple[str, str], Any]) -> Operation:
    """The operation with each FromOperation (a parameter, a list item, a step's web_file) replaced by the value
    that operation's step carried, in memory; MissingOutput names what is missing."""

    def one(name: str, value: Any) -> Any:
        if isinstance(value, FromOperation):
            if (value.operation, value.step) not in carried or carried[(value.operation, value.step)] is None:
                raise MissingOutput(f"not attempted: {value.operation} returned nothing for -{name}")
            return carried[(value.operation, value.step)]
        if isinstance(value, (list, tuple)) and any(isinstance(v, FromOperation) for v in value):
            return [one(name, v) for v in value]
        return value

    if not any(isinstance(v, FromOperation) or (isinstance(v, (list, tuple)) and any(isinstance(i, FromOperation) for i in v))
               for s in op.steps for v in (*s.params.values(), s.web_file)):
        return op
    steps = tuple(replace(s, params={k: one(k, v) for k, v in s.params.items()}, web_file=one("web_file", s.web_file))
                  for s in op.steps)
    return replace(op, steps=steps)


def expand_name(template: str, server: str) -> str:
    """Expand ``{server}`` in a declared object name (``{{``/``}}`` are literal braces)."""
    return template.format(server=server)


def placeholder_error(template: str) -> str | None:
    """Why a declared name template is malformed, or None."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"{exc} (write {{{{ and }}}} for literal braces)"
    unknown = [f"{f}{'!' + conv if conv else ''}{':' + spec if spec else ''}" for f, spec, conv in fields if f not in PLACEHOLDERS or spec or conv]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}} (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
    return None


__all__ = [
    "LOCAL_SERVER",
    "MissingOutput",
    "ORGANIZATION",
    "SEVERITIES",
    "DriftTraits",
    "SERVER",
    "Kind",
    "KindDefaults",
    "KindPlan",
    "PeerRead",
    "PlanContext",
    "ReadError",
    "expand_name",
    "placeholder_error",
    "resolve_from_operations",
]
