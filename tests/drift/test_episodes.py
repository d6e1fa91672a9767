"""Episodes and transitions, run after run: one event per opening and one per closing — no duplicate, no missed
resolve — whatever the sequence of in sync, drift and not checked; an outage's since is its own; "drift → not
checked → in sync" is one episode, resolved; an acknowledgement holds the announcement back until it expires."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from exconf.drift import history
from exconf.drift.report import DriftState

from .helpers import item, record

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
S, D, E = DriftState.IN_SYNC, DriftState.DRIFT, DriftState.ERROR


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=15 * n)


def events(r) -> list[tuple[str, str]]:
    return [(e.type, e.key[2]) for e in r.events]


def test_drift_then_not_checked_then_in_sync_is_one_episode_resolved_once(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", S)], at(0))
        assert events(record(db, [item("ex01", "A", D)], at(1))) == [("drift_appeared", "A")]
        r = record(db, [item("ex01", "A", E)], at(2))  # an object-level error: not checked
        assert events(r) == [("not_checked", "A")] and r.items[0].since == history.now_text(at(2))
        r = record(db, [item("ex01", "A", D)], at(3))  # drifting again: the same episode, not a new one
        assert events(r) == [("checked_again", "A")] and r.items[0].since == history.now_text(at(1))
        record(db, [item("ex01", "A", E)], at(4))
        r = record(db, [item("ex01", "A", S)], at(5))  # drift → not checked → in sync: resolved
        assert events(r) == [("checked_again", "A"), ("drift_resolved", "A")]
        [episode] = [x for x in db.episodes() if x.episode.type == "drift"]
        assert (episode.episode.since, episode.episode.ended) == (history.now_text(at(1)), history.now_text(at(5)))


def test_each_outage_has_its_own_since(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        host = lambda s: item("ex02", "ex02", s, kind="host")  # noqa: E731
        record(db, [host(S)], at(0))
        r1 = record(db, [host(E)], at(1), down=("ex02",))
        record(db, [host(E)], at(2), down=("ex02",))
        record(db, [host(S)], at(3))
        r2 = record(db, [host(E)], at(4), down=("ex02",))
        assert r1.items[0].since == history.now_text(at(1)) and r2.items[0].since == history.now_text(at(4))
        outages = db.episodes(types=("not_checked",))
        assert [(o.episode.since, o.episode.ended) for o in outages] == [
            (history.now_text(at(1)), history.now_text(at(3))), (history.now_text(at(4)), "")]


def test_objects_of_a_host_that_is_down_are_announced_by_the_host_alone(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        objs = lambda s, h=S: [item("ex02", "ex02", h, kind="host")] + [item("ex02", n, s) for n in "ABC"]  # noqa: E731
        record(db, objs(S), at(0))
        r = record(db, objs(E, E), at(1), down=("ex02",))
        assert events(r) == [("not_checked", "ex02")]
        r = record(db, objs(S), at(2))
        assert events(r) == [("checked_again", "ex02")]


def test_no_duplicate_and_no_missed_resolve_over_a_thousand_random_runs(tmp_path):
    """Property: for each object, the events announce exactly the changes of drift (appeared/resolved), in order."""
    rng = random.Random(18)
    names = [f"C{n}" for n in range(6)]
    state = {n: S for n in names}
    expected: list[tuple[str, str]] = []
    got: list[tuple[str, str]] = []
    drifting = {n: False for n in names}
    with history.History(tmp_path / "h.sqlite") as db:
        for run in range(1000):
            for n in names:
                if rng.random() < 0.15:
                    state[n] = rng.choice([S, S, D, D, E])
            r = record(db, [item("ex01", n, state[n]) for n in names], at(run))
            for n in names:  # what a drift announcement must be: drift episodes open at D, end at S; E changes nothing
                if state[n] is D and not drifting[n]:
                    expected.append(("drift_appeared", n))
                    drifting[n] = True
                elif state[n] is S and drifting[n]:
                    expected.append(("drift_resolved", n))
                    drifting[n] = False
            got += [(t, k) for t, k in events(r) if t.startswith("drift_")]
        assert sorted(got) == sorted(expected) and len(got) > 100
        per_object = {n: [t for t, k in got if k == n] for n in names}
        for seq in per_object.values():  # alternate: never two appeared (or two resolved) in a row
            assert all(a != b for a, b in zip(seq, seq[1:]))


def test_an_acknowledged_drift_is_not_announced_until_the_acknowledgement_expires(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", S)], at(0))
        db.add_ack("ex0*", "receive_connector", "A", "alice", "change window CHG-42", history.now_text(at(0)), history.now_text(at(3)))
        r = record(db, [item("ex01", "A", D)], at(1))
        assert events(r) == [] and r.items[0].ack is not None and r.items[0].ack.owner == "alice" and r.exit_code == 0
        assert record(db, [item("ex01", "A", D)], at(2)).events == ()
        r = record(db, [item("ex01", "A", D)], at(4))  # expired: announced now, once, and counted again
        assert events(r) == [("drift_appeared", "A")] and r.events[0].late == "its acknowledgement expired" and r.exit_code == 2
        assert record(db, [item("ex01", "A", D)], at(5)).events == ()


def test_a_resolve_that_was_never_announced_is_not_announced(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", S)], at(0))
        db.add_ack("ex01", "*", "*", "bob", "known", history.now_text(at(0)), history.now_text(at(9)))
        record(db, [item("ex01", "A", D)], at(1))
        assert record(db, [item("ex01", "A", S)], at(2)).events == ()


def test_an_object_no_longer_declared_closes_its_episode(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", S), item("ex01", "B", S)], at(0))
        record(db, [item("ex01", "A", D), item("ex01", "B", S)], at(1))
        r = record(db, [item("ex01", "B", S)], at(2))
        assert events(r) == [("no_longer_declared", "A")]
        assert db.known_objects("ex01") == [("receive_connector", "B")]
