"""Episodes per object, and the transitions one run makes: pure, so that "no duplicate, no missed resolve" is a
property of one function.

Each declared object (and each host, and the run itself) is in sync, drifted or not checked. A *drift
episode* opens at the first run that sees it drift and closes at the first run that sees it in sync again
(or corrected, or no longer declared); a run that cannot check it (the host is down, the object could
not be read) neither ends nor splits it: "drift → not checked → in sync" is one drift episode, resolved.
A *not-checked episode* is separate, with its own since: an outage's since is never the next outage's.
Every opening and closing is one event; the history stores episodes and per-run summaries, never a row per
object per run, and remembers per host when it was last read (so "last seen in sync" costs nothing per run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from .audit import Culprit

PENDING = "pending"  # a new episode's culprit, before the admin audit log is read

Key = tuple[str, str, str]  # host (or "organization"), kind, name

IN_SYNC, DRIFT, ERROR, GONE = "in_sync", "drift", "error", "gone"
EPISODE_DRIFT, EPISODE_NOT_CHECKED = "drift", "not_checked"

# Event types (one per transition)
APPEARED = "drift_appeared"
RESOLVED = "drift_resolved"
CORRECTED = "drift_corrected"
NOT_CHECKED = "not_checked"
CHECKED = "checked_again"
NO_LONGER_DECLARED = "no_longer_declared"


@dataclass
class Episode:
    key: Key
    type: str  # EPISODE_DRIFT | EPISODE_NOT_CHECKED
    since: str  # start of the first run that saw it
    first_end: str  # end of that run (the culprit's window closes there)
    severity: str = "medium"
    detail: dict[str, Any] = field(default_factory=dict)  # what the first run saw (properties, message, where declared)
    latest: dict[str, Any] = field(default_factory=dict)  # what the last run saw
    last_seen: str = ""  # end of the last run that saw it (kept when it closes)
    ended: str = ""  # start of the run that ended it ("" while open)
    resolution: str = ""  # in_sync | corrected | checked | no_longer_declared
    culprit: Culprit | None = None
    resolved_by: Culprit | None = None
    notified: bool = True  # its opening was announced (not while acknowledged, not an object of a host that is down)
    id: int | None = None
    dirty: bool = True  # to be written


@dataclass
class ObjState:
    """What the history knows of one object between runs."""

    key: Key
    state: str  # in_sync | drift | error | gone
    since: str  # start of the run that began the current state
    last_in_sync: str = ""  # end of the last run that saw it in sync ("" never; while in sync: its host's last read)
    last_drift: str = ""  # end of the last run that saw it drift (while drifting: its host's last read)
    drift: Episode | None = None
    check: Episode | None = None
    severity: str = "medium"
    id: int | None = None
    dirty: bool = False


class Quiet(NamedTuple):
    """An object in sync with no open episode, as loaded (most of them): enough to leave it alone."""

    id: int
    severity: str
    since: str

    def full(self, key: Key) -> ObjState:
        return ObjState(key, IN_SYNC, self.since, severity=self.severity, id=self.id)


Prior = dict[Key, "ObjState | Quiet"]


class Seen(NamedTuple):
    """What this run saw of one object (a tuple: a run makes one per object)."""

    key: Key
    state: str  # in_sync | drift | error
    detail: dict[str, Any]
    severity: str = "medium"
    host_down: bool = False  # not checked because its host could not be read (the host's own event says so)
    acked: bool = False
    corrected: bool = False  # drifted, and drift --correct put it back (verified) in this run


@dataclass(frozen=True)
class Event:
    type: str
    key: Key
    at: str  # the run's start
    episode: Episode
    late: str = ""  # why it is announced later than it began (an acknowledgement expired)


@dataclass
class Advance:
    states: dict[Key, ObjState]
    events: list[Event]
    closed: list[Episode]  # episodes that ended in this run (written with the states)
    opened: list[Episode]


def advance(prior: Prior, last_read: dict[str, str], seen: list[Seen], *, started: str, ended: str,
            read_scopes: set[str]) -> Advance:
    """The transitions of one run. ``last_read``: per host (or "organization") the end of the last run that read
    it; ``read_scopes``: the hosts (and "organization") read now, whose objects not seen are no longer declared."""
    states: dict[Key, ObjState] = {}
    events: list[Event] = []
    opened: list[Episode] = []
    closed: list[Episode] = []

    def close(ep: Episode, how: str, last_seen: str) -> None:
        ep.ended, ep.resolution, ep.last_seen, ep.dirty = started, how, last_seen, True
        closed.append(ep)

    for s in seen:
        p = prior.get(s.key)
        if isinstance(p, Quiet):
            if s.state == IN_SYNC and p.severity == s.severity:
                continue  # in sync and still in sync: nothing to write (its host's last read says when it was seen)
            p = p.full(s.key)
        read_before = last_read.get(s.key[0], "")
        if p is None or p.state == GONE:
            p = ObjState(s.key, GONE, started, last_in_sync=p.last_in_sync if p else "", last_drift=p.last_drift if p else "",
                         id=p.id if p else None)
        last_in_sync = read_before if p.state == IN_SYNC else p.last_in_sync
        last_drift = read_before if p.state == DRIFT else p.last_drift
        o = ObjState(s.key, s.state, p.since if p.state == s.state else started, last_in_sync, last_drift,
                     p.drift, p.check, s.severity, p.id, dirty=p.state != s.state or p.severity != s.severity)
        if s.state != ERROR and o.check is not None:  # checked again
            ep = o.check
            close(ep, "checked", "")
            if ep.notified:
                events.append(Event(CHECKED, s.key, started, ep))
            o.check, o.dirty = None, True
        if s.state == IN_SYNC:
            o.last_in_sync = ended
            if o.drift is not None:
                ep = o.drift
                close(ep, "in_sync", last_drift)
                if ep.notified:
                    events.append(Event(RESOLVED, s.key, started, ep))
                o.drift, o.dirty = None, True
        elif s.state == DRIFT:
            o.last_drift = ended
            if o.drift is None:
                # Who changed it is looked up in its window: after the last run that saw it in sync, up to this run.
                ep = Episode(s.key, EPISODE_DRIFT, started, ended, s.severity, s.detail, s.detail,
                             culprit=Culprit(PENDING, window=(last_in_sync, ended)), notified=not s.acked)
                o.drift, o.since, o.dirty = ep, started, True
                opened.append(ep)
                if s.corrected:
                    close(ep, "corrected", ended)
                    events.append(Event(CORRECTED, s.key, started, ep))
                    o.drift, o.state, o.last_in_sync = None, IN_SYNC, ended
                elif ep.notified:
                    events.append(Event(APPEARED, s.key, started, ep))
            else:
                ep = o.drift
                o.since = ep.since
                if ep.latest != s.detail or ep.severity != s.severity:  # an open episode is rewritten only when it moved
                    ep.latest, ep.severity, ep.dirty = s.detail, s.severity, True
                if s.corrected:
                    close(ep, "corrected", ended)
                    events.append(Event(CORRECTED, s.key, started, ep))
                    o.drift, o.state, o.since, o.last_in_sync = None, IN_SYNC, started, ended
                elif not ep.notified and not s.acked:  # its acknowledgement expired: announced now
                    ep.notified, ep.dirty = True, True
                    events.append(Event(APPEARED, s.key, started, ep, late="its acknowledgement expired"))
        else:  # ERROR: a drift episode stays open, neither ended nor split
            if s.host_down and o.check is None:
                pass  # its host's outage is the episode (one row, one event), not each of its objects
            elif o.check is None:
                ep = Episode(s.key, EPISODE_NOT_CHECKED, started, ended, s.severity, s.detail, s.detail,
                             notified=not s.host_down)
                o.check, o.since, o.dirty = ep, started, True
                opened.append(ep)
                if ep.notified:
                    events.append(Event(NOT_CHECKED, s.key, started, ep))
            else:
                o.since = o.check.since
                if o.check.latest != s.detail:
                    o.check.latest, o.check.dirty = s.detail, True
        states[s.key] = o

    seen_keys = {s.key for s in seen}
    for key, p in prior.items():
        if key[0] not in read_scopes or key in seen_keys:
            continue
        if isinstance(p, Quiet):
            p = p.full(key)
        if p.state == GONE:
            continue
        o = replace(p, state=GONE, since=started, dirty=True)
        for open_ep in (p.drift, p.check):
            if open_ep is None:
                continue
            close(open_ep, "no_longer_declared", last_read.get(key[0], ""))
            if open_ep.notified:
                events.append(Event(NO_LONGER_DECLARED, key, started, open_ep))
        o.drift = o.check = None
        states[key] = o
    return Advance(states, events, closed, opened)
