"""The drift history database: episodes (since, resolved), one summary row per run, retention, one transaction per
run, an outbox written with the episodes, and a size that does not grow with in-sync objects."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from exconf.drift import history
from exconf.drift.report import DriftState

from .helpers import item, record

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
KEY = ("ex01", "receive_connector", "A")


def test_since_is_the_first_run_of_the_episode_and_resolved_is_the_run_that_saw_it_in_sync(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        r1 = record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        assert r1.appeared == [] and r1.resolved == []
        r2 = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=15))
        assert r2.appeared == [KEY] and r2.items[0].since == "2026-11-01T08:15:00Z"
        r3 = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=30))
        assert r3.appeared == [] and r3.items[0].since == "2026-11-01T08:15:00Z"
        r4 = record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0 + timedelta(minutes=45))
        [resolved] = r4.resolved
        assert (resolved.episode.since, resolved.episode.ended) == ("2026-11-01T08:15:00Z", "2026-11-01T08:45:00Z")
        [episode] = db.episodes()
        e = episode.episode
        assert (e.since, e.last_seen, e.ended) == ("2026-11-01T08:15:00Z", "2026-11-01T08:31:00Z", "2026-11-01T08:45:00Z")
        assert e.detail["properties"][0]["actual"] == "None"
        record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(hours=2))  # drifts again: a second episode
        assert [(r.episode.since, r.episode.ended) for r in db.episodes()] == [
            ("2026-11-01T08:15:00Z", "2026-11-01T08:45:00Z"), ("2026-11-01T10:00:00Z", "")]
        assert [r.episode.since for r in db.episodes(since="2026-11-01T09:00:00Z")] == ["2026-11-01T10:00:00Z"]
        assert db.episodes(hosts={"ex02"}) == []


def test_a_run_writes_a_summary_and_what_changed_never_a_row_per_in_sync_object(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        objects = [item(f"ex{h:02}", f"C{n}", DriftState.IN_SYNC) for h in range(20) for n in range(10)]
        for run in range(30):
            record(db, objects, T0 + timedelta(minutes=15 * run))
        count = lambda table: db.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
        assert count("runs") == 30 and count("objects") == 200 and count("episodes") == 0 and count("hosts") == 20
        row = db.db.execute("SELECT in_sync, drift, error, exit_code FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        assert row == (200, 0, 0, 0)


def test_retention_deletes_old_runs_and_closed_episodes_but_an_open_episode_keeps_its_since(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC), item("ex01", "B", DriftState.IN_SYNC)], T0 - timedelta(days=1))
        record(db, [item("ex01", "A", DriftState.DRIFT), item("ex01", "B", DriftState.DRIFT)], T0)
        record(db, [item("ex01", "A", DriftState.DRIFT), item("ex01", "B", DriftState.IN_SYNC)], T0 + timedelta(days=1))
        for day in range(2, 10):
            record(db, [item("ex01", "A", DriftState.DRIFT), item("ex01", "B", DriftState.IN_SYNC)], T0 + timedelta(days=day), keep_days=3)
        runs = db.db.execute("SELECT started FROM runs ORDER BY id").fetchall()
        assert [r[0][:10] for r in runs] == ["2026-11-07", "2026-11-08", "2026-11-09", "2026-11-10"]
        # B's episode ended on day 1: gone; A's is still open: since when survives retention
        assert [(r.name, r.episode.since) for r in db.episodes()] == [("A", "2026-11-01T08:00:00Z")]


def test_a_failure_mid_write_leaves_the_previous_runs_intact(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        # The episode row fails inside the transaction, as a crash or a full disk would.
        db.db.execute("CREATE TRIGGER boom BEFORE INSERT ON episodes BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        with pytest.raises(history.HistoryError, match="disk I/O error"):
            record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(hours=1))
        assert db.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        assert db.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0  # its message was not made either
        db.db.execute("DROP TRIGGER boom")
        again = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(hours=2))
        assert again.appeared == [KEY]  # the transition is seen (and announced) by the next run that is recorded


def test_two_writers_wait_for_each_other_instead_of_failing(tmp_path):
    path = tmp_path / "h.sqlite"
    history.History(path).close()
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")
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


def test_a_schema_1_history_is_converted_keeping_open_drift(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE runs (id INTEGER PRIMARY KEY, started TEXT, duration REAL, inventory TEXT, exit_code INTEGER);
        CREATE TABLE objects (id INTEGER PRIMARY KEY, host TEXT, kind TEXT, name TEXT, state TEXT, since TEXT, UNIQUE (host, kind, name));
        CREATE TABLE findings (run_id INTEGER, object_id INTEGER, state TEXT, since TEXT, detail TEXT);
        INSERT INTO runs VALUES (1, '2026-11-01T08:00:00Z', 2.0, 'inv.yaml', 2);
        INSERT INTO objects VALUES (1, 'ex01', 'receive_connector', 'A', 'drift', '2026-10-30T08:00:00Z');
        INSERT INTO objects VALUES (2, 'ex01', 'receive_connector', 'B', 'in_sync', '2026-10-01T08:00:00Z');
        PRAGMA user_version = 1;""")
    old.close()
    with history.History(path) as db:
        r = record(db, [item("ex01", "A", DriftState.DRIFT), item("ex01", "B", DriftState.IN_SYNC)], T0)
        assert r.appeared == [] and r.items[0].since == "2026-10-30T08:00:00Z"  # the same episode, not a new one
        assert db.db.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION


@pytest.mark.parametrize(("text", "expected"), [("7d", "2026-10-25T08:00:00Z"), ("12h", "2026-10-31T20:00:00Z"),
                                                ("2026-10-01", "2026-10-01T00:00:00Z"), ("2w", "2026-10-18T08:00:00Z")])
def test_since_takes_a_span_or_a_date(text, expected):
    assert history.parse_since(text, now=T0) == expected


def test_since_that_is_neither_is_named():
    with pytest.raises(ValueError, match="neither a span"):
        history.parse_since("yesterday")


def test_the_outbox_backs_off_after_the_second_failure():
    from exconf.drift.outbox import next_attempt

    now = "2026-11-01T08:00:00Z"
    assert [next_attempt(now, n) for n in (1, 2, 3, 4, 12)] == [
        now, "2026-11-01T08:01:00Z", "2026-11-01T08:02:00Z", "2026-11-01T08:04:00Z", "2026-11-01T14:00:00Z"]


def test_drift_history_shows_the_newest_episodes_of_each_sort_and_counts_the_rest(tmp_path, capsys):
    import argparse
    import io
    import json

    from rich.console import Console

    from exconf.drift.historycli import history_main

    path = tmp_path / "h.sqlite"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with history.History(path) as db:
        record(db, [item("ex01", n, DriftState.IN_SYNC) for n in "ABC"], now - timedelta(hours=3))
        for step, name in enumerate("ABC"):
            record(db, [item("ex01", n, DriftState.DRIFT if n <= name else DriftState.IN_SYNC) for n in "ABC"],
                   now - timedelta(hours=2 - step))
    args = argparse.Namespace(history=path, since=None, host=None, json=True, html=None, max=2)
    assert history_main(args, None, Console(file=io.StringIO()), Console(file=io.StringIO())) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in doc["episodes"]] == ["B", "C"] and doc["totals"]["drift"] == 3
    text = io.StringIO()
    args.json = False
    history_main(args, None, Console(file=text, width=300), Console(file=io.StringIO()))
    assert "1 earlier drift episodes since" in text.getvalue() and "(--max 0 shows all)" in text.getvalue()
    args.max = 0
    text = io.StringIO()
    history_main(args, None, Console(file=text, width=300), Console(file=io.StringIO()))
    assert text.getvalue().count("still drifting") == 3
