"""Drift history in SQLite: runs, one row per finding per run, since when and resolved when.

The standard library's sqlite3, in WAL mode (readers never block the writer, a second run
waits ``busy timeout`` seconds for the first instead of failing), each run written in one
transaction (a crash mid-write leaves the previous runs intact), and bounded: runs older than
``keep_days`` are deleted with their findings as each run is written. ``objects`` names each
finding once (host, kind, name) and keeps its last state and since when it has had it, so that
a run costs what it writes, not what the database holds; a finding row is then a few numbers
(its details only when it is not in sync).

The history is private to its owner, as plan files are (it names every drifted object, its
values and who changed it): the file is created 0600 before SQLite opens it, so it is never
readable by others even for an instant, and SQLite gives its -wal and -shm files the database
file's mode (sqlite.org/tempfiles.html: "the same permissions as the original database");
a history made readable by others earlier is made private again when a run writes it.
``drift history`` only reads: it opens the database read-only, and a history in a folder it
cannot write (where SQLite cannot make the -shm file WAL readers need) as immutable.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .report import DriftItem, DriftReport, DriftState, Resolved

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 10.0  # seconds a run waits for another run's write
DEFAULT_KEEP_DAYS = 90

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    duration REAL NOT NULL,
    inventory TEXT NOT NULL,
    exit_code INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    since TEXT NOT NULL,
    UNIQUE (host, kind, name)
);
CREATE TABLE IF NOT EXISTS findings (
    run_id INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    since TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (run_id, object_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS findings_object ON findings(object_id, run_id);
"""

Key = tuple[str, str, str]


class HistoryError(Exception):
    """The history database cannot be used; ``str(e)`` names the file and what to do."""


@dataclass(frozen=True)
class Previous:
    state: str
    since: str


@dataclass(frozen=True)
class Episode:
    """One stretch of drift of one finding: since when, last seen, resolved when (or still open)."""

    host: str
    kind: str
    name: str
    since: str
    last_seen: str
    resolved: str  # "" while it still drifts
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "resource": self.kind, "name": self.name, "since": self.since,
                "last_seen": self.last_seen, "resolved": self.resolved or None} | self.detail


def default_path(inventory: Path) -> Path:
    """Beside the inventory: inventory.yaml -> .inventory.drift.sqlite."""
    return inventory.with_name(f".{inventory.stem}.drift.sqlite")


def _explain(path: Path, exc: sqlite3.Error) -> HistoryError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return HistoryError(f"the drift history {path} is locked by another process (waited {BUSY_TIMEOUT:.0f} s); "
                            "this run was not recorded")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return HistoryError(f"the drift history {path} is damaged ({text}); move it away and a new one is started")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return HistoryError(f"cannot write the drift history {path} ({text})")
    return HistoryError(f"the drift history {path} cannot be used: {text}")


PRIVATE = 0o600


def _make_private(path: Path) -> None:
    """Create the database file 0600 if it is missing (SQLite would create it 0644); make it and its
    -wal and -shm files private if an earlier version left them readable by others."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise HistoryError(f"cannot create the drift history {path} ({exc.strerror or exc})") from None
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = file.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(file, PRIVATE)
        except OSError:
            pass


class History:
    """One open history database; use as a context manager. ``readonly`` for ``drift history``."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT, readonly: bool = False):
        self.path = path
        if readonly:
            self.db = _open_readonly(path)
            return
        _make_private(path)
        try:
            self.db = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise HistoryError(f"the drift history {path} was written by another exconf version (schema {version})")
            if version == 0:  # idempotent: two first runs at once both succeed
                self.db.executescript("BEGIN IMMEDIATE;" + SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except sqlite3.Error as exc:
            self.db.close()
            raise _explain(path, exc) from None
        except HistoryError:
            self.db.close()
            raise

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- reading -----------------------------------------------------------------------------

    def previous(self, hosts: list[str]) -> dict[Key, Previous]:
        """The last recorded state of every finding of these hosts."""
        try:
            out: dict[Key, Previous] = {}
            for chunk in range(0, len(hosts), 500):
                part = hosts[chunk:chunk + 500]
                rows = self.db.execute(
                    f"SELECT host, kind, name, state, since FROM objects WHERE host IN ({','.join('?' * len(part))})", part)
                for host, kind, name, state, since in rows:
                    out[(host, kind, name)] = Previous(state, since)
            return out
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def episodes(self, *, host: str | None = None, since: str | None = None) -> list[Episode]:
        """Every stretch of drift, oldest first; ``since`` keeps those still open or seen after it."""
        where, args = "f.state = 'drift'", []
        if host:
            where += " AND o.host = ?"
            args.append(host)
        try:
            rows = self.db.execute(
                "SELECT o.id, o.host, o.kind, o.name, f.since, MAX(f.run_id), MAX(r.started) FROM findings f "
                "JOIN objects o ON o.id = f.object_id JOIN runs r ON r.id = f.run_id "
                f"WHERE {where} GROUP BY o.id, f.since ORDER BY f.since, o.host, o.kind, o.name", args).fetchall()
            out = []
            for oid, h, kind, name, started, last_run, last_seen in rows:
                after = self.db.execute(
                    "SELECT r.started FROM findings f JOIN runs r ON r.id = f.run_id WHERE f.object_id = ? AND f.run_id > ? "
                    "AND f.state != 'drift' ORDER BY f.run_id LIMIT 1", (oid, last_run)).fetchone()
                detail = self.db.execute("SELECT detail FROM findings WHERE run_id = ? AND object_id = ?", (last_run, oid)).fetchone()
                resolved = after[0] if after else ""
                if since and resolved and resolved < since and last_seen < since:
                    continue
                out.append(Episode(h, kind, name, started, last_seen, resolved, json.loads(detail[0]) if detail and detail[0] else {}))
            return out
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"the drift history {self.path} holds a damaged row ({exc})") from None

    # --- writing -----------------------------------------------------------------------------

    def record(self, report: DriftReport, inventory: Path, *, keep_days: int = DEFAULT_KEEP_DAYS) -> int:
        """Write one run in one transaction; drop runs older than keep_days. Returns the run's id."""
        cutoff = (parse_time(report.started) - timedelta(days=keep_days)).strftime(TIME_FORMAT)
        rows = [(i.finding.host, i.finding.kind, i.finding.name, i.state.value, i.since or report.started,
                 None if i.state is DriftState.IN_SYNC else json.dumps(_detail(i))) for i in report.items]
        hosts = sorted({r[0] for r in rows})
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                run_id = self.db.execute("INSERT INTO runs (started, duration, inventory, exit_code) VALUES (?, ?, ?, ?)",
                                         (report.started, report.duration, str(inventory), report.exit_code)).lastrowid
                self.db.executemany(
                    "INSERT INTO objects (host, kind, name, state, since) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (host, kind, name) DO UPDATE SET state = excluded.state, since = excluded.since",
                    [row[:5] for row in rows])
                ids: dict[Key, int] = {}
                for chunk in range(0, len(hosts), 500):
                    part = hosts[chunk:chunk + 500]
                    for oid, h, kind, name in self.db.execute(
                            f"SELECT id, host, kind, name FROM objects WHERE host IN ({','.join('?' * len(part))})", part):
                        ids[(h, kind, name)] = oid
                self.db.executemany("INSERT INTO findings (run_id, object_id, state, since, detail) VALUES (?, ?, ?, ?, ?)",
                                    [(run_id, ids[row[:3]], *row[3:]) for row in rows])
                oldest = self.db.execute("SELECT MAX(id) FROM runs WHERE started < ?", (cutoff,)).fetchone()[0]
                if oldest is not None:  # runs are numbered in time order: a range delete
                    self.db.execute("DELETE FROM findings WHERE run_id <= ?", (oldest,))
                    self.db.execute("DELETE FROM runs WHERE id <= ?", (oldest,))
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            assert run_id is not None
            return run_id
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None


def _open_readonly(path: Path) -> sqlite3.Connection:
    """The history for reading only. A WAL database needs its -shm file: when it is missing and the folder
    cannot be written (SQLite cannot make it), the file is opened as immutable — nobody can be writing it."""
    from urllib.parse import quote

    base = "file:" + quote(str(path.resolve()))
    last: sqlite3.Error | None = None
    for uri in (base + "?mode=ro", base + "?mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            db.close()
            last = exc
            continue
        if version not in (0, SCHEMA_VERSION):
            db.close()
            raise HistoryError(f"the drift history {path} was written by another exconf version (schema {version})")
        return db
    assert last is not None
    if "not a database" in str(last) or "malformed" in str(last):
        raise _explain(path, last)
    raise HistoryError(f"cannot read the drift history {path} ({last})") from None


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


def parse_date(text: str) -> str:
    """--since: a date (2026-12-01) or a date and time, as the history's time text."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r} is not a date such as 2026-12-01 or 2026-12-01T08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return now_text(moment)


def _detail(item: DriftItem) -> dict[str, Any]:
    doc = item.to_json()
    return {k: doc[k] for k in ("declared_at", "properties", "message", "changed_by") if k in doc}


def transitions(items: tuple[DriftItem, ...], previous: dict[Key, Previous], now: str) -> tuple[dict[Key, str], tuple[Resolved, ...], tuple[Key, ...]]:
    """Pure: since when each finding has had its state, what stopped drifting, what started."""
    since: dict[Key, str] = {}
    resolved: list[Resolved] = []
    appeared: list[Key] = []
    for item in items:
        before = previous.get(item.key)
        same = before is not None and before.state == item.state.value
        since[item.key] = before.since if same and before is not None else now
        if item.state is DriftState.DRIFT and not same:
            appeared.append(item.key)
        if item.state is DriftState.IN_SYNC and before is not None and before.state == DriftState.DRIFT.value:
            resolved.append(Resolved(*item.key, since=before.since, resolved=now))
    return since, tuple(resolved), tuple(appeared)
