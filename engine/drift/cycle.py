"""One drift run between the read and the outputs, pure: which admin audit log searches to send (from what the
history knows), what this run saw, the transitions, who changed and who resolved each episode, and the report
with since, culprits and acknowledgements."""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Any

from exconf.modules import KINDS, Kind
from exconf.remote import Step

from . import audit
from .audit import AuditLog, Culprit, Target
from .episodes import DRIFT, ERROR, GONE, IN_SYNC, PENDING, Advance, Episode, Key, Prior, Quiet, Seen, advance
from .history import Ack, HostInfo
from .report import HOST_KIND, ORG_HOST, RUN_KIND, AckInfo, DriftItem, DriftReport, DriftState, traits

NOT_AUDITED = (HOST_KIND, RUN_KIND)
_IN_SYNC, _DRIFT, _ERROR = DriftState.IN_SYNC, DriftState.DRIFT, DriftState.ERROR  # enum members, looked up once


def _audited_cmdlets(kinds: tuple[Kind, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for k in kinds for c in traits(k.kind, kinds).audit_cmdlets))


def _has_log(host: str, hosts: dict[str, HostInfo]) -> bool:
    """Changes to an object are in the admin audit log unless it lives on an Edge Transport server."""
    return host == ORG_HOST or hosts.get(host, HostInfo("")).role != "Edge"


def target(key: Key, detail: dict[str, Any], hosts: dict[str, HostInfo], kinds: tuple[Kind, ...] = KINDS) -> Target:
    """What an audit entry must name: the object's name (and a certificate's thumbprint) on its server."""
    host, kind, name = key
    names = [name]
    for prop in detail.get("properties", ()):
        if isinstance(prop, dict) and prop.get("property") == "thumbprint":
            names += [v for v in (prop.get("actual"), prop.get("expected")) if isinstance(v, str) and v and not v.startswith("(")]
    info = hosts.get(host)
    servers = () if host == ORG_HOST or info is None else tuple(s for s in (info.server, info.fqdn) if s)
    return Target(tuple(dict.fromkeys(names)), servers, traits(kind, kinds).audit_cmdlets, tuple(detail.get("params", ())))


def audit_steps(prior: Prior, hosts: dict[str, HostInfo], kinds: tuple[Kind, ...] = KINDS) -> tuple[Step, ...]:
    """The searches this run sends: since the earliest time an object was last seen in sync (or drifting, for who
    resolves it), by the kinds' cmdlets; and, for drift whose culprit an earlier run could not establish, by its
    objects in its window. None when no object was ever seen (nothing could be named)."""
    starts: list[str] = []
    open_eps: list[Episode] = []
    reads: dict[str, str] = {}
    for key, o in prior.items():
        if isinstance(o, Quiet):  # in sync: its window would start at its host's last read
            if key[0] not in reads and key[1] not in NOT_AUDITED and _has_log(key[0], hosts):
                reads[key[0]] = hosts.get(key[0], HostInfo("")).last_read
            continue
        if key[1] in NOT_AUDITED or o.state == GONE or not _has_log(key[0], hosts):
            continue
        read = hosts.get(key[0], HostInfo("")).last_read
        if o.state in (IN_SYNC, DRIFT) and read:
            starts.append(read)
        elif o.state == ERROR and (o.last_in_sync or o.last_drift):
            starts.append(min(t for t in (o.last_in_sync, o.last_drift) if t))
        ep = o.drift
        if ep is not None and ep.culprit is not None and ep.culprit.status not in audit.SETTLED and ep.culprit.window[0]:
            open_eps.append(ep)
    starts += [r for r in reads.values() if r]
    steps: list[Step] = []
    cmdlets = _audited_cmdlets(kinds)
    if starts:
        steps.append(audit.search_step(audit.STEP_ID, after=min(starts), cmdlets=cmdlets))
    if open_eps:
        objects = tuple(dict.fromkeys(i for ep in open_eps for i in target(ep.key, ep.detail, hosts, kinds).object_ids()))
        steps.append(audit.search_step(audit.OPEN_STEP_ID, after=min(ep.culprit.window[0] for ep in open_eps if ep.culprit),
                                       until=max(ep.culprit.window[1] for ep in open_eps if ep.culprit),
                                       cmdlets=tuple(dict.fromkeys(c for ep in open_eps for c in traits(ep.key[1], kinds).audit_cmdlets)),
                                       objects=objects[:1000]))
    return tuple(steps)


def find_ack(key: Key, acks: list[Ack]) -> Ack | None:
    host, kind, name = key
    for a in acks:
        if fnmatch.fnmatchcase(host.lower(), a.host.lower()) and (a.kind in ("*", kind)) and fnmatch.fnmatchcase(name.lower(), a.name.lower()):
            return a
    return None


def detail_of(item: DriftItem) -> dict[str, Any]:
    """What an episode keeps of what a run saw: the values of a drift (expected, actual, where declared), the
    message of what could not be checked."""
    doc = item.finding.to_json()
    if item.state is _ERROR:
        return {"message": doc["message"]} if doc.get("message") else {}
    out: dict[str, Any] = {k: doc[k] for k in ("declared_at", "message") if k in doc}
    # a property declared where the object is says so once
    out["properties"] = [{k: v for k, v in p.items() if not (k == "declared_at" and v == doc.get("declared_at"))}
                         for p in doc.get("properties", [])]
    if item.params:
        out["params"] = list(item.params)
    return out


def seen_of(report: DriftReport, acks: list[Ack]) -> tuple[list[Seen], dict[Key, AckInfo]]:
    """What this run saw of each object, for the transitions; objects of a host that is down are announced by the host."""
    down = {i.finding.host for i in report.items if i.finding.kind == HOST_KIND and i.state is _ERROR}
    seen: list[Seen] = []
    acked: dict[Key, AckInfo] = {}
    for item in report.items:
        if item.state is _IN_SYNC and not item.corrected:  # most of them: the cheapest possible record
            seen.append(Seen(item.key, IN_SYNC, {}, item.severity))
            continue
        ack = find_ack(item.key, acks) if item.state is _DRIFT and acks else None
        if ack is not None:
            acked[item.key] = AckInfo(ack.owner, ack.reason, ack.expires, ack.id)
        host_down = item.finding.kind != HOST_KIND and item.finding.host in down
        seen.append(Seen(item.key, item.state.value, detail_of(item), item.severity, host_down, ack is not None, item.corrected))
    return seen, acked


def attribute(adv: Advance, log: AuditLog, hosts: dict[str, HostInfo], *, ended: str, kinds: tuple[Kind, ...] = KINDS) -> None:
    """Who changed each drift episode not settled yet (an episode keeps what it found), and who resolved those that
    ended in sync in this run; in place."""
    for o in adv.states.values():
        ep = o.drift
        if ep is None or o.key[1] in NOT_AUDITED:
            continue
        current = ep.culprit or Culprit(PENDING, window=("", ep.first_end))
        if current.status in audit.SETTLED:
            continue
        after, until = current.window
        found = audit.blame(log, target(o.key, ep.detail, hosts, kinds), after, until, no_log=not _has_log(o.key[0], hosts))
        if found != current:
            ep.culprit, ep.dirty = found, True
    for ep in adv.closed:
        if ep.type != "drift" or ep.resolution != "in_sync" or ep.key[1] in NOT_AUDITED:
            continue
        found = audit.blame(log, target(ep.key, ep.detail, hosts, kinds), ep.last_seen, ended, no_log=not _has_log(ep.key[0], hosts))
        ep.resolved_by = found if found.entry is not None else Culprit(found.status, window=found.window, note=found.note)


def finish(report: DriftReport, adv: Advance, acked: dict[Key, AckInfo]) -> DriftReport:
    """The report with since, culprits, acknowledgements and this run's events."""
    items = []
    for item in report.items:
        o = adv.states.get(item.key)
        if o is None or (item.state is _IN_SYNC and not item.corrected):
            items.append(item)  # in sync (most objects, most runs): nothing to add; since is told for the rest
            continue
        since = o.since
        culprit = o.drift.culprit if o.drift is not None else None
        if item.corrected:
            closed = next((e for e in adv.closed if e.key == item.key and e.resolution == "corrected"), None)
            culprit = closed.culprit if closed is not None else culprit
        items.append(replace(item, since=since, culprit=culprit, ack=acked.get(item.key)))
    return replace(report, items=tuple(items), events=tuple(adv.events))


def run_once(report: DriftReport, prior: Prior, hosts: dict[str, HostInfo], log: AuditLog, acks: list[Ack], *,
             ended: str, read_scopes: set[str], kinds: tuple[Kind, ...] = KINDS) -> tuple[DriftReport, Advance]:
    seen, acked = seen_of(report, acks)
    last_read = {h: i.last_read for h, i in hosts.items()}
    adv = advance(prior, last_read, seen, started=report.started, ended=ended, read_scopes=read_scopes)
    attribute(adv, log, hosts, ended=ended, kinds=kinds)
    return finish(report, adv, acked), adv
