"""``drift --undeclared``: what exists and nothing declares, from what the run read anyway.

Generic: for each kind read on a host, every object read whose name no finding of that kind carries (on that
host; on any host for a kind read everywhere, such as Edge Subscriptions read on the Mailbox servers too) — a
new receive connector (the open-relay risk), a certificate nobody declared (a new default SMTP certificate), an
Edge subscribed that no inventory host declares. Only kinds a host declares are read on it, so only those are
reported: declare an empty list to watch a kind.
"""

from __future__ import annotations

from typing import Any

from exconf.modules import KINDS, Kind

from ..model import HostStatus, Plan
from .report import DriftReport, Undeclared

DESCRIBE = ("Subject", "Services", "Bindings", "Site", "Fqdn")  # shown beside an undeclared object, where it has them


def _names(report: DriftReport) -> tuple[dict[tuple[str, str], set[str]], dict[str, set[str]]]:
    per_host: dict[tuple[str, str], set[str]] = {}
    anywhere: dict[str, set[str]] = {}
    for item in report.items:
        f = item.finding
        names = {f.name.lower()} | {str(p.actual).lower() for p in f.properties if p.prop == "thumbprint" and isinstance(p.actual, str)} \
            | {str(p.expected).lower() for p in f.properties if p.prop == "thumbprint" and isinstance(p.expected, str)}
        per_host.setdefault((f.host, f.kind), set()).update(names)
        anywhere.setdefault(f.kind, set()).update(names)
    return per_host, anywhere


def undeclared(plan: Plan, reads: dict[str, Any], report: DriftReport, kinds: tuple[Kind, ...] = KINDS) -> tuple[Undeclared, ...]:
    per_host, anywhere = _names(report)
    peers = {k.kind for k in kinds if k.reads_peers}
    out: list[Undeclared] = []
    seen: set[tuple[str, str]] = set()
    for host, read in reads.items():
        hp = plan.hosts.get(host)
        if hp is None or hp.status is not HostStatus.OK:
            continue
        for kind, objects in (read.objects or {}).items():
            for obj in objects or ():
                if obj.kind != kind:
                    continue
                declared = anywhere.get(kind, set()) if kind in peers else per_host.get((host, kind), set())
                if obj.name.lower() in declared:
                    continue
                where = "" if kind in peers else host
                if (where, kind + "\0" + obj.name.lower()) in seen:
                    continue
                seen.add((where, kind + "\0" + obj.name.lower()))
                note = ", ".join(f"{k} {_show(obj.values[k])}" for k in DESCRIBE if obj.values.get(k) not in (None, "", []))
                out.append(Undeclared(host, kind, obj.name, note))
    return tuple(sorted(out, key=lambda u: (u.host, u.kind, u.name)))


def _show(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
