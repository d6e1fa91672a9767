"""Where each kind of object lives in the lab state: what a kind module declares of it.

The state keys objects by (scope, kind): the scope is ``ORG`` for organisation-wide
objects or a server's name; the kind is a registered :class:`Stored` key. A kind
module says, once, which scopes hold it, how a fresh scope gets its objects, and how
they persist (a ``Stored`` value, often made by ``objects(...)`` or ``single(...)``), and
state.KINDS lists them. A new kind of object (certificates, Edge subscriptions) is then one
new module and a line in that list, not edits to the state's fields, its builder, its dump
and its load.
Cmdlets read the objects with ``ctx.state.get(scope, KEY)`` (what they touch is what a
change journals) and date changes with ``ctx.now``, the lab clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from .spec import OrgSpec, ServerEntry

ORG = "@org"  # the organisation's scope; server names (NetBIOS) never contain "@"
# The keys other modules read across kinds (EdgeSync copies the send connectors and transport settings).
SEND_CONNECTORS = "SendConnector"
TRANSPORT_CONFIG = "TransportConfig"

Holds = Callable[["ServerEntry | None"], bool]  # None asks about the organisation scope
New = Callable[["OrgSpec", "ServerEntry | None", datetime], Any]
Defaults = Callable[["OrgSpec", "ServerEntry | None", dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Stored:
    """One kind of stored value: what scopes hold it, how it starts, how it persists."""

    key: str
    holds: Holds
    new: New
    dump: Callable[[Any], Any]
    load: Callable[[Any, "OrgSpec", "ServerEntry | None"], Any]


def scope_of(entry: "ServerEntry | None") -> str:
    return ORG if entry is None else entry.name


# --- the usual shapes: a list of objects of a Kind, or one object of a Kind -----------------------


class Kind(Protocol):
    """What these shapes use of a kinds.Kind (declared here: the kinds' module reaches the state through the
    cmdlets' context, so this module does not import it back)."""

    def dump(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def load(self, raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]: ...


def objects(key: str, kind: Kind, holds: Holds, new: New, defaults: Defaults) -> Stored:
    """A list of objects (connectors …); ``defaults`` fills properties a state file lacks."""
    return Stored(
        key=key,
        holds=holds,
        new=new,
        dump=lambda objs: [kind.dump(o) for o in objs],
        load=lambda raw, org, entry: [kind.load(r, defaults(org, entry, r)) for r in raw],
    )


def single(key: str, kind: Kind, holds: Holds, new: New, defaults: Defaults) -> Stored:
    """One object per scope (a server's transport service, the transport config …)."""
    return Stored(
        key=key,
        holds=holds,
        new=new,
        dump=kind.dump,
        load=lambda raw, org, entry: kind.load(raw, defaults(org, entry, raw)),
    )


def on_servers(entry: "ServerEntry | None") -> bool:
    return entry is not None


def on_mailbox_servers(entry: "ServerEntry | None") -> bool:
    return entry is not None and not entry.is_edge


def on_org_and_edges(entry: "ServerEntry | None") -> bool:
    return entry is None or entry.is_edge
