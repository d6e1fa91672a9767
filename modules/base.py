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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from exconf.model import Change, Desired, Finding, ObservedObject, Operation, Refusal, ServerFacts
from exconf.remote import LOCAL_SERVER, Answer, Step
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


@dataclass(frozen=True)
class PlanContext:
    """What a kind may know while planning one scope: the carrying host and its server.

    ``peers``: for a kind with ``reads_peers = True`` (an optional member: the kind is then read on
    every selected host as soon as one host declares it), what each other host read of it; an Edge
    Subscription is planned on the Edge from both sides, the Edge's and the Mailbox servers'.
    """

    host: str  # inventory name of the host that carries the changes
    facts: ServerFacts
    where: str  # how messages name the scope: "EX01", "the organisation"
    peers: tuple[PeerRead, ...] = ()
    planned: tuple[Change, ...] = ()  # what the kinds before this one (in KINDS order) change in this scope


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
    """What the engine needs of a resource kind (see docs/architecture.md, "Kinds")."""

    kind: str
    section: str
    scope: str
    title: str
    roles: frozenset[str]

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

    # Optional members (read with getattr, so the settings kinds need not carry them):
    #   reads_peers: bool -- read on every selected host when one declares it; the plan gets ``ctx.peers``.
    #   verify_operation(op, change, readback) -> str | None -- for a change made of several operations
    #     on several hosts: each operation is verified on its own host's read-back instead of ``verify``.
    #   polls(op) -> (count, seconds) -- with verify_operation: read back an operation whose effect comes
    #     later (synchronisation) up to count more times, seconds apart, before it is unverified.
    #   drift: DriftTraits -- severity, the cmdlets that change its objects, which changes drift --correct may make.


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
    "ORGANIZATION",
    "SEVERITIES",
    "DriftTraits",
    "SERVER",
    "Kind",
    "KindPlan",
    "PeerRead",
    "PlanContext",
    "ReadError",
    "expand_name",
    "placeholder_error",
]
