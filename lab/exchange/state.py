"""The mutable state of the simulated organisation: objects keyed by (scope, kind), and a clock.

What the org file declares is built once into objects (default connectors of each
role, EdgeSync connectors, transport settings); after that the objects change only
through cmdlets and live in the state file. On a restart the state file wins; a
server added to the org file since gets its default objects, a server removed
from it is dropped, a server whose role changed is built afresh. The state file
holds no account or password: those stay in the org file.

Which kinds exist is ``KINDS``, built here from the kind modules (each says, in its ``Stored``
values, which scopes hold it and how it persists: stored.py); apart from that list this module
knows none of them by name except the organisation-wide seeding of send connectors. The state
value itself is labstate.py's.

The lab clock is real time plus an offset kept in the state, so tests and
``exconf lab clock advance 25h`` can move it (Edge subscription windows, certificate
expiry) and a restart keeps it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from . import (
    admin_audit_log, certificate_store, edge_sync, powershell_vdir, receive_connectors, send_connectors, stored,
    transport_config, transport_services,
)
from .context import lab_guid
from .labstate import LabState, Slot
from .param_types import DATETIME
from .spec import OrgSpec, ServerEntry

__all__ = ["FORMAT", "KINDS", "LabState", "Slot", "UnreadableState", "build", "dump", "dump_slot", "load", "reconcile"]

FORMAT = 2
# Every kind the lab keeps, in the order a fresh scope is filled and a snapshot lists them.
KINDS: tuple[stored.Stored, ...] = (
    admin_audit_log.STORED, certificate_store.SERVER_STORED, certificate_store.ORG_STORED, send_connectors.STORED,
    edge_sync.EDGE_STORED, edge_sync.ORG_STORED, powershell_vdir.STORED, receive_connectors.STORED,
    transport_config.STORED, transport_services.TRANSPORT_STORED, transport_services.FRONTEND_STORED,
)
_BY_KEY = {kind.key: kind for kind in KINDS}


class UnreadableState(Exception):
    """The state file cannot be read back."""


# --- building ------------------------------------------------------------------------------------


def _scopes(org: OrgSpec) -> Iterable[ServerEntry | None]:
    yield None
    yield from org.servers


def _fill(state: LabState, org: OrgSpec, entry: ServerEntry | None, now: datetime) -> None:
    """Give a scope the objects of every kind it holds and lacks."""
    scope = stored.scope_of(entry)
    for kind in KINDS:
        if kind.holds(entry) and (scope, kind.key) not in state.objects:
            state.objects[(scope, kind.key)] = kind.new(org, entry, now)


def _join_edgesync(state: LabState, org: OrgSpec, edge: ServerEntry, now: datetime) -> None:
    """What a subscription does to the organisation's connectors [EXD edge-subscriptions.md]: the
    site's EdgeSync connectors are created, or the Edge joins their source servers."""
    domain, site = org.organization.domain, edge.spec.site
    connectors = state.objects[(stored.ORG, send_connectors.STORED.key)]
    for values, which in zip(send_connectors.edgesync_values(site, (edge.name,)), ("internet", "inbound")):
        guid = lab_guid("edgesync", domain, site, which)
        existing = next((c for c in connectors if c["Guid"] == guid), None)
        if existing is None:
            connectors.append(send_connectors.KIND.new(values, guid=guid, created=now))
        elif edge.name not in existing["SourceTransportServers"]:
            existing["SourceTransportServers"] += (edge.name,)
            existing["WhenChanged"] = now


def _seed_send_connectors(state: LabState, org: OrgSpec, now: datetime) -> None:
    connectors = state.objects[(stored.ORG, send_connectors.STORED.key)]
    for declared in org.send_connectors:
        name = declared["Name"]
        if name.lower() in (s.lower() for s in state.seeded):
            continue
        connectors.append(send_connectors.new(send_connectors.declared_values(declared), org.organization.domain, now))
        state.seeded.append(name)


def build(org: OrgSpec, now: datetime) -> LabState:
    """The state of a fresh lab, from the org file alone."""
    state = LabState(created=now, objects={}, roles={}, kinds=_BY_KEY)
    reconcile(state, org, now)
    return state


def reconcile(state: LabState, org: OrgSpec, now: datetime) -> None:
    """Give servers that are new to the state their default objects; drop servers the org file lost
    (and take them out of the send connectors' source servers); rebuild servers whose role changed."""
    known = {e.name: e for e in org.servers}
    for name, role in list(state.roles.items()):
        if name not in known or known[name].spec.role != role:
            _drop_scope(state, name)
    _fill(state, org, None, now)
    for entry in org.servers:
        if entry.name not in state.roles:
            state.roles[entry.name] = entry.spec.role
            _fill(state, org, entry, now)
            if entry.is_edge and entry.subscribed:
                _join_edgesync(state, org, entry, now)
        else:
            _fill(state, org, entry, now)  # a kind registered since the state was saved
    for connector in state.objects[(stored.ORG, send_connectors.STORED.key)]:  # as removing a server does
        kept = tuple(n for n in connector["SourceTransportServers"] if n in known)
        if kept != connector["SourceTransportServers"]:
            connector["SourceTransportServers"], connector["WhenChanged"] = kept, now
    _seed_send_connectors(state, org, now)


def _drop_scope(state: LabState, name: str) -> None:
    del state.roles[name]
    for slot in [s for s in state.objects if s[0] == name]:
        del state.objects[slot]


# --- persistence ------------------------------------------------------------------------------------


def dump_slot(state: LabState, slot: Slot) -> Any:
    return state.dumped(slot[1], state.objects[slot])


def dump(state: LabState) -> dict[str, Any]:
    """The whole state as JSON-ready data (the snapshot)."""
    objects: dict[str, dict[str, Any]] = {}
    for slot in state.objects:
        objects.setdefault(slot[0], {})[slot[1]] = dump_slot(state, slot)
    return {
        "format": FORMAT,
        "created": DATETIME.dump(state.created),
        "roles": dict(state.roles),
        "objects": objects,
        **state.meta(),
    }


def real_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def load(raw: dict[str, Any], org: OrgSpec, replay: Iterable[dict[str, Any]] = ()) -> LabState:
    """Read a snapshot back, apply the journal records after it, then reconcile with the org file.

    A journal record is ``{"set": [[scope, kind, dumped], ...], "meta": {...}}``: the latest value
    of each slot a committed change touched, so applying records in order is idempotent.
    """
    if not isinstance(raw, dict) or raw.get("format") not in (1, FORMAT):
        raise UnreadableState(f"not a lab state file of format {FORMAT}")
    try:
        if raw["format"] == 1:
            raw = _from_format_1(raw)
        dumped: dict[Slot, Any] = {
            (scope, key): value for scope, kinds in raw["objects"].items() for key, value in kinds.items()
        }
        state = LabState(created=DATETIME.load(raw["created"]), objects={}, roles={}, kinds=_BY_KEY)
        state.set_meta(raw)
        for record in replay:
            for scope, key, value in record.get("set", []):
                dumped[(str(scope), str(key))] = value
            state.set_meta(record.get("meta", {}))
        entries = {e.name: e for e in org.servers}
        for name, role in raw["roles"].items():
            entry = entries.get(name)
            if entry is not None and entry.spec.role == role:
                state.roles[name] = role
        for (scope, key), value in dumped.items():
            kind = _BY_KEY.get(key)
            entry = None if scope == stored.ORG else entries.get(scope)
            if kind is None or (scope != stored.ORG and scope not in state.roles) or not kind.holds(entry):
                continue  # a kind this lab no longer has, or a server gone or rebuilt
            state.objects[(scope, key)] = kind.load(value, org, entry)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnreadableState(f"the state file is damaged ({type(exc).__name__} {_short(exc)})") from None
    reconcile(state, org, state.now())
    return state


def _short(exc: Exception) -> str:
    """An exception's text, bounded: never the whole content of a state file."""
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


_FORMAT_1_KEYS = {
    "receive_connectors": "ReceiveConnector", "transport_service": "TransportService",
    "frontend_transport_service": "FrontendTransportService", "send_connectors": "SendConnector",
    "transport_config": "TransportConfig",
}


def _from_format_1(raw: dict[str, Any]) -> dict[str, Any]:
    """A state file of the first lab version (one field per kind) in today's shape."""
    organization = raw["organization"]
    objects = {stored.ORG: {"SendConnector": organization["send_connectors"], "TransportConfig": organization["transport_config"]}}
    roles = {}
    for name, server in raw["servers"].items():
        objects[name] = {_FORMAT_1_KEYS[k]: v for k, v in server.items() if k in _FORMAT_1_KEYS}
        roles[name] = "Edge" if "transport_config" in server else "Mailbox"
    return {
        "format": FORMAT, "created": raw["created"], "roles": roles, "objects": objects,
        "fault_counts": raw.get("fault_counts", {}), "seeded": organization.get("seeded_send_connectors", []),
    }
