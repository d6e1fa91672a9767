"""The mutable state of the simulated organisation, and how it persists.

What the org file declares is built once into objects (default connectors of each
role, EdgeSync connectors, transport settings); after that the objects change only
through cmdlets and live in the state file. On a restart the state file wins; a
server added to the org file since gets its default objects, a server removed
from it is dropped. The state file holds no account or password: those stay in
the org file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import certificate_store, receive_connectors, send_connectors, transport_config, transport_services
from .context import lab_guid
from .spec import OrgSpec, ServerEntry
from .values import DATETIME

FORMAT = 1


class UnreadableState(Exception):
    """The state file cannot be read back."""


@dataclass
class ServerState:
    receive_connectors: list[dict[str, Any]]
    transport_service: dict[str, Any]
    frontend_transport_service: dict[str, Any] | None = None  # Mailbox servers
    send_connectors: list[dict[str, Any]] = field(default_factory=list)  # an Edge's own (while not subscribed)
    transport_config: dict[str, Any] | None = None  # an Edge's local copy


@dataclass
class LabState:
    created: datetime
    send_connectors: list[dict[str, Any]]  # the organisation's
    transport_config: dict[str, Any]  # the organisation's
    servers: dict[str, ServerState]  # by server name (upper case)
    fault_counts: dict[str, int] = field(default_factory=dict)  # failures served per injected fault
    seeded: list[str] = field(default_factory=list)  # org-file send connectors already created
    # [h-certs] every server's certificate store and the lab's CA, owned by certificate_store.py
    certificates: dict[str, Any] = field(default_factory=certificate_store.new_state)


# --- building ------------------------------------------------------------------------------------


def _new_server(org: OrgSpec, entry: ServerEntry, now: datetime) -> ServerState:
    domain = org.organization.domain
    server = ServerState(
        receive_connectors=receive_connectors.new_defaults(entry, domain, now),
        transport_service=transport_services.new_transport(entry, domain, now),
    )
    if entry.is_edge:
        server.transport_config = transport_config.new(transport_config.defaults(), domain, entry.name, now)
        server.send_connectors = [
            send_connectors.new(send_connectors.declared_values(c), domain, now, scope=entry.name)
            for c in entry.send_connectors
        ]
    else:
        server.frontend_transport_service = transport_services.new_frontend(entry, domain, now)
    return server


def _join_edgesync(state: LabState, org: OrgSpec, edge: ServerEntry, now: datetime) -> None:
    """What a subscription does to the organisation's connectors [EXD edge-subscriptions.md]: the
    site's EdgeSync connectors are created, or the Edge joins their source servers."""
    domain, site = org.organization.domain, edge.spec.site
    for values, which in zip(send_connectors.edgesync_values(site, (edge.name,)), ("internet", "inbound")):
        guid = lab_guid("edgesync", domain, site, which)
        existing = next((c for c in state.send_connectors if c["Guid"] == guid), None)
        if existing is None:
            state.send_connectors.append(send_connectors.KIND.new(values, guid=guid, created=now))
        elif edge.name not in existing["SourceTransportServers"]:
            existing["SourceTransportServers"] += (edge.name,)
            existing["WhenChanged"] = now


def _seed_send_connectors(state: LabState, org: OrgSpec, now: datetime) -> None:
    for declared in org.send_connectors:
        name = declared["Name"]
        if name.lower() in (s.lower() for s in state.seeded):
            continue
        state.send_connectors.append(send_connectors.new(send_connectors.declared_values(declared), org.organization.domain, now))
        state.seeded.append(name)


def build(org: OrgSpec, now: datetime) -> LabState:
    """The state of a fresh lab, from the org file alone."""
    config = {**transport_config.defaults(), **org.transport_config}
    state = LabState(
        created=now,
        send_connectors=[],
        transport_config=transport_config.new(config, org.organization.domain, "org", now),
        servers={},
    )
    reconcile(state, org, now)
    return state


def reconcile(state: LabState, org: OrgSpec, now: datetime) -> None:
    """Give servers that are new to the state their default objects; drop servers the org file lost
    (and take them out of the send connectors' source servers)."""
    for entry in org.servers:
        if entry.name not in state.servers:
            state.servers[entry.name] = _new_server(org, entry, now)
            if entry.is_edge and entry.subscribed:
                _join_edgesync(state, org, entry, now)
    known = {e.name for e in org.servers}
    for name in [n for n in state.servers if n not in known]:
        del state.servers[name]
    for name in [n for n in state.certificates["servers"] if n not in known]:  # [h-certs]
        del state.certificates["servers"][name]
    for connector in state.send_connectors:  # as removing a server or subscription does
        kept = tuple(n for n in connector["SourceTransportServers"] if n in known)
        if kept != connector["SourceTransportServers"]:
            connector["SourceTransportServers"], connector["WhenChanged"] = kept, now
    _seed_send_connectors(state, org, now)


# --- persistence ------------------------------------------------------------------------------------


def dump(state: LabState) -> dict[str, Any]:
    rc, sc = receive_connectors.KIND, send_connectors.KIND
    servers: dict[str, Any] = {}
    for name, server in state.servers.items():
        raw: dict[str, Any] = {
            "receive_connectors": [rc.dump(c) for c in server.receive_connectors],
            "transport_service": transport_services.TRANSPORT.dump(server.transport_service),
        }
        if server.frontend_transport_service is not None:
            raw["frontend_transport_service"] = transport_services.FRONTEND.dump(server.frontend_transport_service)
        if server.transport_config is not None:
            raw["send_connectors"] = [sc.dump(c) for c in server.send_connectors]
            raw["transport_config"] = transport_config.KIND.dump(server.transport_config)
        servers[name] = raw
    return {
        "format": FORMAT,
        "created": DATETIME.dump(state.created),
        "organization": {
            "send_connectors": [sc.dump(c) for c in state.send_connectors],
            "transport_config": transport_config.KIND.dump(state.transport_config),
            "seeded_send_connectors": list(state.seeded),
        },
        "servers": servers,
        "fault_counts": dict(state.fault_counts),
        "certificates": certificate_store.dump(state.certificates),  # [h-certs]
    }


def load(raw: dict[str, Any], org: OrgSpec, now: datetime) -> LabState:
    """Read a state file back, then reconcile it with the (possibly edited) org file."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise UnreadableState(f"not a lab state file of format {FORMAT}")
    try:
        organization = raw["organization"]
        state = LabState(
            created=DATETIME.load(raw["created"]),
            send_connectors=[
                send_connectors.KIND.load(c, send_connectors.base_values(c["Name"]))
                for c in organization["send_connectors"]
            ],
            transport_config=transport_config.KIND.load(organization["transport_config"], transport_config.defaults()),
            servers={},
            fault_counts={str(k): int(n) for k, n in raw.get("fault_counts", {}).items()},
            seeded=list(organization.get("seeded_send_connectors", [])),
            certificates=certificate_store.load(raw.get("certificates")),  # [h-certs]
        )
        for entry in org.servers:
            saved = raw["servers"].get(entry.name)
            if saved is None or ("transport_config" in saved) != entry.is_edge:
                continue  # new to the state, or its role changed: reconcile builds it afresh
            state.servers[entry.name] = _load_server(entry, saved)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnreadableState(f"the state file is damaged ({type(exc).__name__}: {exc})") from None
    reconcile(state, org, now)
    return state


def _load_server(entry: ServerEntry, raw: dict[str, Any]) -> ServerState:
    rc_defaults = receive_connectors.base_defaults(entry)
    server = ServerState(
        receive_connectors=[
            receive_connectors.KIND.load(c, {**rc_defaults, "Name": c.get("Name", "")}) for c in raw["receive_connectors"]
        ],
        transport_service=transport_services.TRANSPORT.load(
            raw["transport_service"], transport_services.transport_defaults(entry)
        ),
    )
    if "frontend_transport_service" in raw:
        server.frontend_transport_service = transport_services.FRONTEND.load(
            raw["frontend_transport_service"], transport_services.frontend_defaults(entry)
        )
    if "transport_config" in raw:
        server.transport_config = transport_config.KIND.load(raw["transport_config"], transport_config.defaults())
        server.send_connectors = [
            send_connectors.KIND.load(c, send_connectors.base_values(c["Name"])) for c in raw["send_connectors"]
        ]
    return server
