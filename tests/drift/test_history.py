"""The drift history database: since when, resolved when, retention, one transaction per run."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from exconf.drift import history
from exconf.drift.report import DriftItem, DriftReport, DriftState, with_history
from exconf.model import Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan
from exconf.yamlsource import Location

WHERE = Location("inventory.yaml", 12, 7)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def item(host: str, name: str, state: DriftState) -> DriftItem:
    status = {DriftState.IN_SYNC: FindingStatus.IN_SYNC, DriftState.DRIFT: FindingStatus.CHANGE, DriftState.ERROR: FindingStatus.ERROR}[state]
    props = (FindingProperty("protocol_logging_level", "Verbose", "None", WHERE),) if state is DriftState.DRIFT else ()
    return DriftItem(Finding(host, "receive_connector", name, status, WHERE, props), state)


def report(items: list[DriftItem], at: datetime) -> DriftReport:
    hosts = {i.finding.host: HostPlan(i.finding.host, HostStatus.OK, None, ()) for i in items}
    return DriftReport(Plan(hosts=hosts), tuple(items), history.now_text(at), 1.5)


def record(db: history.History, items: list[DriftItem], at: datetime, keep_days: int = 90) -> DriftReport:
    r = report(items, at)
    previous = db.previous(sorted({i.finding.host for i in items}))
    since, resolved, appeared = history.transitions(r.items, previous, r.started)
    r = with_history(r, since, resolved, appeared)
    db.record(r, history.default_path, keep_days=keep_days)  # type: ignore[arg-type]
    return r


def test_since_is_the_first_run_of_the_streak_and_resolved_is_the_run_that_saw_it_in_sync(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        r1 = record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        assert r1.appeared == () and r1.resolved == ()
        r2 = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=15))
        assert r2.appeared == (("ex01", "receive_connector", "A"),) and r2.items[0].since == "2026-11-01T08:15:00Z"
        r3 = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=30))
        assert r3.appeared == () and r3.items[0].since == "2026-11-01T08:15:00Z"
        r4 = record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0 + timedelta(minutes=45))
        [resolved] = r4.resolved
        assert (resolved.since, resolved.resolved) == ("2026-11-01T08:15:00Z", "2026-11-01T08:45:00Z")
        [episode] = db.episodes()
        assert (episode.since, episode.last_seen, episode.resolved) == ("2026-11-01T08:15:00Z", "2026-11-01T08:30:00Z", "2026-11-01T08:45:00Z")
        assert episode.detail["properties"][0]["actual"] == "None"
        record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(hours=2))  # drifts again: a second episode
        assert [(e.since, e.resolved) for e in db.episodes()] == [
            ("2026-11-01T08:15:00Z", "2026-11-01T08:45:00Z"), ("2026-11-01T10:00:00Z", "")]
        assert [e.since for e in db.episodes(since="2026-11-01T09:00:00Z")] == ["2026-11-01T10:00:00Z"]
        assert db.episodes(host="ex02") == []


def test_retention_deletes_old_runs_and_their_findings(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        for day in range(10):
            record(db, [item(f"ex{n:02}", "A", DriftState.DRIFT) for n in range(5)], T0 + timedelta(days=day), keep_days=3)
        runs = db.db.execute("SELECT started FROM runs ORDER BY id").fetchall()
        assert [r[0][:10] for r in runs] == ["2026-11-07", "2026-11-08", "2026-11-09", "2026-11-10"]
        assert db.db.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 4 * 5
        # since when survives retention: it is carried from run to run
        assert {e.since for e in db.episodes()} == {"2026-11-01T08:00:00Z"}


def test_a_failure_mid_write_leaves_the_previous_runs_intact(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.DRIFT)], T0)
        # The drifted (second) finding row fails inside the transaction, as a crash or a full disk would.
        db.db.execute("CREATE TRIGGER boom BEFORE INSERT ON findings WHEN NEW.detail IS NOT NULL BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        with pytest.raises(history.HistoryError, match="disk I/O error"):
            record(db, [item("ex01", "A", DriftState.IN_SYNC), item("ex01", "B", DriftState.DRIFT)], T0 + timedelta(hours=1))
        assert db.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        assert db.db.execute("SELECT COUNT(*) FROM findings").fetchone()[0] == 1


def test_two_writers_wait_for_each_other_instead_of_failing(tmp_path):
    path = tmp_path / "h.sqlite"
    history.History(path).close()
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")
    import threading

    threading.Timer(0.5, lambda: first.execute("COMMIT")).start()
    with history.History(path) as second:
        record(second, [item("ex01", "A", DriftState.DRIFT)], T0)  # waits for the first writer, then writes
        assert second.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    first.close()


def test_a_locked_database_is_a_clear_error(tmp_path):
    path = tmp_path / "h.sqlite"
    history.History(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        db = history.History(path, busy_timeout=0.2)
        with pytest.raises(history.HistoryError, match="is locked by another process"):
            record(db, [item("ex01", "A", DriftState.DRIFT)], T0)
        db.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_file_that_is_not_a_database_is_named(tmp_path):
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(history.HistoryError, match=r"h\.sqlite is damaged .*move it away"):
        history.History(path)


def test_the_default_database_sits_beside_the_inventory(tmp_path):
    assert history.default_path(tmp_path / "prod.yaml") == tmp_path / ".prod.drift.sqlite"
