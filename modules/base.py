"""What every resource module declares, and the shared machinery for Exchange settings objects.

A resource module is data: which cmdlet reads its objects, which one changes
them, which properties can be declared and of what Exchange type. The engine
derives from that the inventory schema, the read step, the per-property diff
and the change steps, so a new kind is one small file.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from exconf.model import Change, ObservedObject
from exconf.remote import LOCAL_SERVER, Step
from exconf.values import ValueType

SERVER = "server"  # declared under `exchange:`, read and changed on each host
ORGANIZATION = "organization"  # declared under `exchange_organization:`, read and changed once

PLACEHOLDERS = ("server",)


@dataclass(frozen=True)
class Prop:
    """A declarable property: inventory key, Exchange parameter/property name, type, help."""

    key: str
    param: str
    type: ValueType
    doc: str


@dataclass(frozen=True)
class Resource:
    """An Exchange object kind whose properties exconf sets with a Set-* cmdlet.

    ``named`` resources are declared as a mapping of object names (``*``
    wildcards allowed, ``{server}`` expanded to the Exchange server name);
    single resources (a server's transport service, the organisation's
    transport config) are declared as one mapping of properties.
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
        """JSON Schema of this resource's section in the inventory."""
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

    # --- reading ------------------------------------------------------------

    def read_step(self, step_id: str) -> Step:
        select = ("Name", "Identity", "Guid", *(p.param for p in self.props))
        return Step(
            id=step_id,
            cmdlet=self.get_cmdlet,
            params=dict(self.get_params),
            select=tuple(dict.fromkeys(select)),
            skip_on_edge="Edge" not in self.roles,
        )

    def observe(self, objects: tuple[dict[str, Any], ...]) -> tuple[ObservedObject, ...]:
        out = []
        for obj in objects:
            name = str(obj.get("Name") or obj.get("Identity") or "")
            identity = str(obj.get(self.identity_property) or obj.get("Identity") or name) if self.identity_property else ""
            out.append(ObservedObject(kind=self.kind, name=name, identity=identity, values=dict(obj)))
        return tuple(out)

    # --- changing -----------------------------------------------------------

    def change_steps(self, change: Change, step_id: str) -> list[Step]:
        """One Set-* call carrying only the properties that differ."""
        params: dict[str, Any] = {}
        if self.identity_property:
            params["Identity"] = change.identity
        for pc in change.properties:
            params[pc.param] = pc.wire
        return [Step(id=step_id, cmdlet=self.set_cmdlet, params=params)]


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


__all__ = ["LOCAL_SERVER", "ORGANIZATION", "SERVER", "Prop", "Resource", "expand_name", "placeholder_error"]
