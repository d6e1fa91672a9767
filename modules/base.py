"""The kind interface every resource module implements, and the generic settings kind.

A *kind* is one sort of Exchange object exconf manages. The engine knows
kinds only through the ``Kind`` protocol below: which inventory section
declares them and in which scope, how to read them (steps sent in the host's
one read command), how desired × observed becomes changes and findings, which
steps carry out a change, how to verify it, and which safety rails it has.

Most kinds are Exchange *settings objects* changed with one ``Set-*`` call:
``SettingsKind`` implements the protocol for all of them from data (cmdlets,
properties and value types), so each of those modules is a small data file.
Kinds with other life cycles (certificates, Edge subscriptions) implement
the protocol directly.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from exconf.model import Change, Desired, DesiredValue, Finding, ObservedObject, Operation, Refusal, ServerFacts
from exconf.remote import LOCAL_SERVER, STATUS_NOT_APPLICABLE, Answer, Step
from exconf.sensitive import is_sensitive
from exconf.values import ValueError_, ValueType, same
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


class Kind(Protocol):
    """What the engine needs of a resource kind (see docs/architecture.md, "Kinds")."""

    kind: str
    section: str
    scope: str
    title: str
    roles: frozenset[str]

    def schema(self) -> dict[str, Any]: ...

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


@dataclass(frozen=True)
class Prop:
    """A declarable property: inventory key, Exchange parameter/property name, type, help."""

    key: str
    param: str
    type: ValueType
    doc: str
    sensitive: bool = False


@dataclass(frozen=True)
class SettingsKind:
    """An Exchange object kind whose properties exconf sets with a Set-* cmdlet.

    ``named`` kinds are declared as a mapping of object names (``*``
    wildcards allowed, ``{server}`` expanded to the Exchange server name);
    single ones (a server's transport service, the organisation's transport
    config) are declared as one mapping of properties.
    """

    kind: str
    section: str
    scope: str
    title: str  # human name, e.g. "receive connector"
    get_cmdlet: str
    set_cmdlet: str
    props: tuple[Prop, ...]
    named: bool
    roles: frozenset[str] = frozenset({"Mailbox", "Edge"})
    get_params: dict[str, Any] = field(default_factory=dict)
    identity_property: str | None = "Guid"  # passed as -Identity to the Set cmdlet; None = no Identity
    doc: str = ""

    # --- schema -------------------------------------------------------------

    def props_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {p.key: {**p.type.schema(), "description": p.doc} for p in self.props},
        }

    def schema(self) -> dict[str, Any]:
        """JSON Schema of this kind's section in the inventory."""
        if not self.named:
            return {**self.props_schema(), "description": self.doc}
        return {
            "type": "object",
            "description": self.doc,
            "minProperties": 1,
            "propertyNames": {"minLength": 1},
            "additionalProperties": self.props_schema(),
        }

    def prop(self, key: str) -> Prop:
        return next(p for p in self.props if p.key == key)

    # --- desired state --------------------------------------------------------

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]:
        """The declared objects of this section (already schema-valid), values parsed once."""
        if not declared:
            return ()
        entries = declared.items() if self.named else [(None, declared)]
        out = []
        for name, props in entries:
            key: PathKey = (name,) if self.named else ()
            # A value that came from a vault stays sensitive whatever property holds it.
            values = tuple(
                DesiredValue(prop=k, value=self.prop(k).type.parse(v), source=where(key + (k,)), sensitive=self.prop(k).sensitive or is_sensitive(v))
                for k, v in (props or {}).items()
            )
            out.append(Desired(kind=self.kind, pattern=str(name) if self.named else "", values=values, source=where(key)))
        return tuple(out)

    # --- reading ------------------------------------------------------------

    def read_steps(self, prefix: str) -> list[Step]:
        select = ("Name", "Identity", "Guid", *(p.param for p in self.props))
        return [
            Step(
                id=f"{prefix}{self.kind}",
                cmdlet=self.get_cmdlet,
                params=dict(self.get_params),
                select=tuple(dict.fromkeys(select)),
                skip_on_edge="Edge" not in self.roles,
            )
        ]

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None:
        """The objects read, or None where the kind does not exist (an Edge server)."""
        result = answer.result(f"{prefix}{self.kind}")
        if result.status == STATUS_NOT_APPLICABLE:
            return None
        if not result.ok:
            message = result.error.message if result.error else result.status
            raise ReadError(f"{self.get_cmdlet} failed: {message}")
        out = []
        for obj in result.objects:
            name = str(obj.get("Name") or obj.get("Identity") or "")
            identity = str(obj.get(self.identity_property) or obj.get("Identity") or name) if self.identity_property else ""
            out.append(ObservedObject(kind=self.kind, name=name, identity=identity, values=dict(obj)))
        return tuple(out)

    # --- planning -------------------------------------------------------------

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
        from exconf.diff import diff  # the pure settings diff; imported here to keep modules importable alone

        return diff(self, desired, observed, ctx)

    # --- changing -----------------------------------------------------------

    def operations(self, change: Change) -> tuple[Operation, ...]:
        """One Set-* call carrying only the properties that differ, on the host that carries the change."""
        params: dict[str, Any] = {}
        if self.identity_property:
            params["Identity"] = change.identity
        for pc in change.properties:
            params[pc.param] = pc.wire
        step = Step(id=f"{change.id}:set", cmdlet=self.set_cmdlet, params=params)
        return (Operation(id=change.id, host=change.host, change=change.id, steps=(step,)),)

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        """None when the object read back has every changed property as planned; else what differs."""
        seen = next((o for o in readback if o.name == change.name), None)
        if seen is None:
            return "made, but could not be read back"
        off = []
        for pc in change.properties:
            t = self.prop(pc.prop).type
            want = t.parse(pc.wire)
            raw = seen.values.get(pc.param)
            try:
                got = t.parse(raw)
            except ValueError_:
                off.append(f"{pc.prop} is {raw!r}, expected {pc.after!r}")
                continue
            if not same(t, got, want):
                off.append(f"{pc.prop} is {t.show(got)!r}, expected {pc.after!r}")
        return "read back different: " + "; ".join(off) if off else None


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
    "SERVER",
    "Kind",
    "KindPlan",
    "PeerRead",
    "PlanContext",
    "Prop",
    "ReadError",
    "SettingsKind",
    "expand_name",
    "placeholder_error",
]
