"""The organisation's Edge subscriptions as the lab keeps them (one record per subscribed Edge), and the Edge's
own side's key: what the cmdlets' context reads to know which Edges the organisation sees.

Its own module because the context reads the records and edge_sync.py, which keeps them up to date, runs on
the context: neither imports the other for them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from . import stored
from .labstate import LabState
from .spec import OrgSpec, ServerEntry

EDGE_KEY = "EdgeSubscriptionEdge"  # per Edge: its side of the subscription
ORG_KEY = "EdgeSubscriptions"  # the organisation: subscribed Edges by name


class Reader(Protocol):
    """What reading the records needs of a cmdlet's context (context.Context)."""

    org: OrgSpec
    state: LabState
    now: datetime
    changed: bool


def iso(when: datetime | None) -> str | None:
    """A lab-clock moment as the state keeps it."""
    return None if when is None else when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def seeded_record(entry: ServerEntry, now: datetime) -> dict[str, Any]:
    return {"name": entry.name, "fqdn": entry.spec.fqdn, "site": entry.spec.site, "certificate": None,
            "subscribed_at": iso(now), "bootstrap": None, "last_sync": iso(now), "lease_holder": None}


def records(ctx: Reader) -> dict[str, dict[str, Any]]:
    """The organisation's subscriptions, by Edge name. An Edge the org file declares ``subscribed`` after
    the state was made gets its record here (its side carries ``seed`` until a removal in the
    organisation clears it); reading changes nothing otherwise."""
    blob: dict[str, dict[str, Any]] = ctx.state.get(stored.ORG, ORG_KEY)
    for entry in ctx.org.servers:
        if entry.is_edge and entry.subscribed and entry.name not in blob:
            peek = ctx.state.objects.get((entry.name, EDGE_KEY))  # a read without touching
            if peek is not None and peek.get("seed"):
                blob[entry.name] = seeded_record(entry, ctx.now)
                ctx.changed = True
    return blob
