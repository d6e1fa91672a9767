"""Drift history in SQLite: runs (one summary row each), objects, episodes (transitions), an outbox, acknowledgements.

The standard library's sqlite3, in WAL mode (readers never block the writer, a second run waits
``busy timeout`` seconds for the first instead of failing), each run written in one transaction (a crash
mid-write leaves the previous runs intact; the events of a run go into the outbox in the same
transaction as its episodes, so none is lost and none is made twice). What grows is what changed:
a run writes its summary, the hosts it read (when each was last read stands for "last seen" of every
object on it) and the objects whose state changed — never a row per in-sync object per run. Runs,
closed episodes and undelivered messages older than ``keep_days`` are deleted as each run is written.
``--no-history`` uses the same schema in memory (kept across the runs of one ``--every`` loop).

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .audit import Culprit
from .report import detail_json
from .episodes import EPISODE_DRIFT, EPISODE_NOT_CHECKED, GONE, Advance, Episode, Key, ObjState, Prior, Quiet

SCHEMA_VERSION = 2
BUSY_TIMEOUT = 10.0  # seconds a run waits for another run's write
DEFAULT_KEEP_DAYS = 90
MEMORY = ":memory:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    ended TEXT NOT NULL,
    inventory TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    in_sync INTEGER NOT NULL DEFAULT 0,
    drift INTEGER NOT NULL DEFAULT 0,
    error INTEGER NOT NULL DEFAULT 0,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    corrected INTEGER NOT NULL DEFAULT 0,
    hosts INTEGER NOT NULL DEFAULT 0,
    hosts_read INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT PRIMARY KEY,
    last_read TEXT NOT NULL,
    server TEXT NOT NULL DEFAULT '',
    fqdn TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    since TEXT NOT NULL,
    last_in_sync TEXT NOT NULL DEFAULT '',
    last_drift TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT 'medium',
    drift_episode INTEGER,
    check_episode INTEGER,
    UNIQUE (host, kind, name)
);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY,
    object_id INTEGER NOT NULL,
    type TEXT NOT NULL,
    since INTEGER NOT NULL,  -- Unix time (s): episodes are most of the history, so their times are numbers
    first_end INTEGER NOT NULL,
    last_seen INTEGER NOT NULL DEFAULT 0,
    ended INTEGER NOT NULL DEFAULT 0,  -- 0 while it lasts
    resolution TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT 'medium',
    notified INTEGER NOT NULL DEFAULT 1,
    culprit TEXT,
    resolved_by TEXT,
    detail TEXT,
    latest TEXT
);
CREATE INDEX IF NOT EXISTS episodes_object ON episodes(object_id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    created TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS acks (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    reason TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


# drift history: the newest episodes of a sort (type, since) and how many there are in a span (type, ended)
INDEXES = """
CREATE INDEX IF NOT EXISTS episodes_type_since ON episodes(type, since);
CREATE INDEX IF NOT EXISTS episodes_type_ended ON episodes(type, ended);
"""


class HistoryError(Exception):
    """The history database cannot be used; ``str(e)`` names the file and what to do."""


@dataclass(frozen=True)
class HostInfo:
    last_read: str
    server: str = ""
    fqdn: str = ""
    role: str = ""


@dataclass(frozen=True)
class RunSummary:
    started: str
    ended: str
    inventory: str
    exit_code: int
    counts: dict[str, int]  # in_sync, drift, error, acknowledged, corrected
    hosts: int
    hosts_read: int
    note: str = ""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    sink: str
    created: str
    payload: dict[str, Any]
    attempts: int
    next_attempt: str
    last_error: str


@dataclass(frozen=True)
class Ack:
    id: int
    host: str  # a host name or pattern (fnmatch: * and ?)
    kind: str  # a kind or *
    name: str  # an object name or pattern
    owner: str
    reason: str
    created: str
    expires: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "resource": self.kind, "name": self.name, "owner": self.owner,
                "reason": self.reason, "created": self.created, "expires": self.expires}


@dataclass(frozen=True)
class EpisodeRow:
    """One stored episode with its object, as `drift history` lists it (its JSON read only when asked for)."""

    host: str
    kind: str
    name: str
    row: tuple[Any, ...] = field(repr=False, compare=False)

    @cached_property
    def episode(self) -> Episode:
        try:
            return _episode((self.host, self.kind, self.name), self.row)
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"the drift history holds a damaged row ({exc})") from None

    @property
    def type(self) -> str:
        return str(self.row[1])

    def to_json(self) -> dict[str, Any]:
        """The episode as `drift history --json` lists it. Parses only the columns the document shows (an
        export of every episode is mostly JSON decoding): the first run's detail only when no later one is kept."""
        try:
            _, type_, since, _, last_seen, ended, resolution, severity, _, culprit, resolved_by, detail, latest = self.row
            shown = _load(latest) or _load(detail) or {}
            changed = Culprit.from_json(_load(culprit))
            resolver = Culprit.from_json(_load(resolved_by))
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"the drift history holds a damaged row ({exc})") from None
        doc: dict[str, Any] = {"host": self.host, "resource": self.kind, "name": self.name, "type": type_,
                               "severity": severity, "since": _text(since), "last_seen": _text(last_seen) or None,
                               "resolved": _text(ended) or None, "resolution": resolution or None}
        doc |= detail_json(shown)
        if changed is not None:
            doc["changed_by"] = changed.to_json()
        if resolver is not None:
            doc["resolved_by"] = resolver.to_json()
        return doc


def default_path(inventory: Path) -> Path:
    """Beside the inventory: inventory.yaml -> .inventory.drift.sqlite."""
    return inventory.with_name(f".{inventory.stem}.drift.sqlite")


def _explain(path: Path | str, exc: sqlite3.Error) -> HistoryError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return HistoryError(f"the drift history {path} is locked by another process (waited {BUSY_TIMEOUT:.0f} s); "
                            "this run was not recorded")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return HistoryError(f"the drift history {path} is damaged ({text}); move it away and a new one is started")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return HistoryError(f"cannot write the drift history {path} ({text})")
    return HistoryError(f"the drift history {path} cannot be used: {text}")


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _load(text: str | None) -> Any:
    return json.loads(text) if text else None


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
    """One open history database (a file, or MEMORY); use as a context manager. ``readonly`` for ``drift history``."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT, readonly: bool = False):
        self.path = path
        if readonly:
            self.db = _open_readonly(Path(path))
            return
        if str(path) != MEMORY:
            _make_private(Path(path))
        try:
            self.db = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if str(path) != MEMORY:
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                raise HistoryError(f"the drift history {path} was written by another exconf version (schema {version})")
            if version == 1:
                self._migrate_v1()
            elif version == 0:  # idempotent: two first runs at once both succeed
                self.db.executescript("BEGIN IMMEDIATE;" + SCHEMA + INDEXES + f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            if version == SCHEMA_VERSION and not self.db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'episodes_type_ended'").fetchone():
                self.db.executescript("BEGIN IMMEDIATE;" + INDEXES + "COMMIT;")
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

    def _migrate_v1(self) -> None:
        """Schema 1 kept one row per finding per run: its objects (state and since) carry over, an open drift
        as an open episode whose culprit is looked up again; the per-run rows are dropped."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            old = self.db.execute("SELECT host, kind, name, state, since FROM objects").fetchall()
            runs = self.db.execute("SELECT started, duration, inventory, exit_code FROM runs").fetchall()
            for table in ("findings", "objects", "runs"):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in (SCHEMA + INDEXES).split(";"):
                if statement.strip():
                    self.db.execute(statement)
            for started, duration, inventory, code in runs:
                ended = now_text(parse_time(started) + timedelta(seconds=float(duration)))
                self.db.execute("INSERT INTO runs (started, ended, inventory, exit_code) VALUES (?, ?, ?, ?)", (started, ended, inventory, code))
            for host, kind, name, state, since in old:
                oid = self.db.execute("INSERT INTO objects (host, kind, name, state, since) VALUES (?, ?, ?, ?, ?)",
                                      (host, kind, name, state, since)).lastrowid
                if state in ("drift", "error"):
                    kind_ = EPISODE_DRIFT if state == "drift" else EPISODE_NOT_CHECKED
                    eid = self.db.execute("INSERT INTO episodes (object_id, type, since, first_end, culprit) VALUES (?, ?, ?, ?, ?)",
                                          (oid, kind_, _secs(since), _secs(since), _json({"status": "not_searched", "window": {}}))).lastrowid
                    column = "drift_episode" if state == "drift" else "check_episode"
                    self.db.execute(f"UPDATE objects SET {column} = ? WHERE id = ?", (eid, oid))
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # --- reading -----------------------------------------------------------------------------

    def load(self, scopes: Iterable[str]) -> tuple[Prior, dict[str, HostInfo]]:
        """The stored state of every object of these hosts (and "organization"), with their open episodes,
        and when each host was last read. Objects in sync with nothing open come back as ``Quiet`` (cheap)."""
        scopes = sorted(set(scopes))
        try:
            states: Prior = {}
            open_ids: dict[int, tuple[Key, str]] = {}
            hosts: dict[str, HostInfo] = {}
            for part in _chunks(scopes):
                marks = ",".join("?" * len(part))
                for row in self.db.execute(f"SELECT name, last_read, server, fqdn, role FROM hosts WHERE name IN ({marks})", part):
                    hosts[row[0]] = HostInfo(*row[1:])
                quiet = "state = 'in_sync' AND drift_episode IS NULL AND check_episode IS NULL"
                states.update({(h, k, n): Quiet(oid, sev, since) for h, k, n, oid, sev, since in self.db.execute(
                    f"SELECT host, kind, name, id, severity, since FROM objects WHERE host IN ({marks}) AND {quiet}", part)})
                for oid, h, kind, name, state, since, lis, ld, sev, de, ce in self.db.execute(
                        "SELECT id, host, kind, name, state, since, last_in_sync, last_drift, severity, drift_episode, check_episode "
                        f"FROM objects WHERE host IN ({marks}) AND NOT ({quiet})", part):
                    key = (h, kind, name)
                    states[key] = ObjState(key, state, since, lis, ld, severity=sev, id=oid)
                    if de is not None:
                        open_ids[de] = (key, "drift")
                    if ce is not None:
                        open_ids[ce] = (key, "check")
            for part in _chunks(list(open_ids)):
                for row in self.db.execute(f"SELECT {_EPISODE_COLUMNS} FROM episodes WHERE id IN ({','.join('?' * len(part))})", part):
                    key, which = open_ids[row[0]]
                    setattr(states[key], which, _episode(key, row))
            return states, hosts
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise HistoryError(f"the drift history {self.path} holds a damaged row ({exc})") from None

    def known_objects(self, host: str) -> list[tuple[str, str]]:
        """The (kind, name) of every object last seen declared on this host, for a host that cannot be read now."""
        try:
            return [(k, n) for k, n in self.db.execute(
                "SELECT kind, name FROM objects WHERE host = ? AND state != ? AND kind != 'host' ORDER BY id", (host, GONE))]
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def _episode_filter(self, since: str | None, hosts: Iterable[str] | None, types: tuple[str, ...],
                        kinds: tuple[str, ...] | None, not_kinds: tuple[str, ...] | None) -> tuple[str, list[Any]]:
        where = [f"e.type IN ({','.join('?' * len(types))})"]
        args: list[Any] = list(types)
        if since:
            where.append("(e.ended = 0 OR e.ended >= ?)")
            args.append(_secs(since))
        if hosts is not None:  # the hosts' objects first (CROSS JOIN keeps that order), then their episodes
            chosen = sorted(set(hosts))
            where.append(f"o.host IN ({','.join('?' * len(chosen))})" if chosen else "0")
            args += chosen
        if kinds:
            where.append(f"e.object_id IN (SELECT id FROM objects WHERE kind IN ({','.join('?' * len(kinds))}))")
            args += list(kinds)
        if not_kinds:
            where.append(f"e.object_id NOT IN (SELECT id FROM objects WHERE kind IN ({','.join('?' * len(not_kinds))}))")
            args += list(not_kinds)
        return " AND ".join(where), args

    def episodes(self, *, since: str | None = None, hosts: Iterable[str] | None = None, types: tuple[str, ...] = (EPISODE_DRIFT,),
                 kinds: tuple[str, ...] | None = None, not_kinds: tuple[str, ...] | None = None,
                 newest: int | None = None) -> list[EpisodeRow]:
        """Episodes still open or ended at or after ``since``, oldest first (the ``newest`` N of them when given);
        ``hosts`` keeps those of these hosts, ``kinds``/``not_kinds`` those of (not of) these kinds."""
        where, args = self._episode_filter(since, hosts, types, kinds, not_kinds)
        tables = _tables(hosts, count=False)
        order = "ORDER BY e.since, o.host, o.kind, o.name"
        if newest is not None:
            order = "ORDER BY e.since DESC, e.id DESC LIMIT ?"
            args.append(newest)
        try:
            rows = self.db.execute(
                f"SELECT o.host, o.kind, o.name, {', '.join('e.' + c for c in _EPISODE_COLUMNS.split(', '))} FROM {tables} "
                f"WHERE {where} {order}", args).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        if newest is not None:
            rows.reverse()
        return [EpisodeRow(h, kind, name, tuple(rest)) for h, kind, name, *rest in rows]

    def count_episodes(self, *, since: str | None = None, hosts: Iterable[str] | None = None, types: tuple[str, ...] = (EPISODE_DRIFT,),
                       kinds: tuple[str, ...] | None = None, not_kinds: tuple[str, ...] | None = None) -> int:
        where, args = self._episode_filter(since, hosts, types, kinds, not_kinds)
        try:
            tables = _tables(hosts, count=True)
            return int(self.db.execute(f"SELECT COUNT(*) FROM {tables} WHERE {where}", args).fetchone()[0])
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def hosts_known(self) -> list[str]:
        try:
            return [h for (h,) in self.db.execute("SELECT DISTINCT host FROM objects")]
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def runs(self, *, since: str | None = None) -> list[dict[str, Any]]:
        try:
            rows = self.db.execute(
                "SELECT started, ended, exit_code, in_sync, drift, error, acknowledged, corrected, hosts, hosts_read, note FROM runs "
                "WHERE started >= ? ORDER BY id", (since or "",)).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        keys = ("started", "ended", "exit_code", "in_sync", "drift", "error", "acknowledged", "corrected", "hosts", "hosts_read", "note")
        return [dict(zip(keys, r)) for r in rows]

    def last_run(self) -> dict[str, Any] | None:
        try:
            row = self.db.execute("SELECT started, ended, exit_code FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        return {"started": row[0], "ended": row[1], "exit_code": row[2]} if row else None

    def meta(self, key: str) -> str:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        return row[0] if row else ""

    # --- acknowledgements --------------------------------------------------------------------

    def acks(self, now: str | None = None) -> list[Ack]:
        """Acknowledgements in force at ``now`` (all of them when None)."""
        try:
            rows = self.db.execute("SELECT id, host, kind, name, owner, reason, created, expires FROM acks "
                                   "WHERE expires > ? ORDER BY id", (now or "",)).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        return [Ack(*r) for r in rows]

    def add_ack(self, host: str, kind: str, name: str, owner: str, reason: str, created: str, expires: str) -> int:
        try:
            cur = self.db.execute("INSERT INTO acks (host, kind, name, owner, reason, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  (host, kind, name, owner, reason, created, expires))
            return int(cur.lastrowid or 0)
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def remove_ack(self, ack_id: int) -> bool:
        try:
            return self.db.execute("DELETE FROM acks WHERE id = ?", (ack_id,)).rowcount > 0
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    # --- the outbox --------------------------------------------------------------------------

    def pending(self) -> list[OutboxItem]:
        try:
            rows = self.db.execute("SELECT id, sink, created, payload, attempts, next_attempt, last_error FROM outbox ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        return [OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def settle(self, delivered: list[int], failed: list[tuple[int, int, str, str]]) -> None:
        """Delivered items leave the outbox; failed ones keep (attempts, next attempt, error)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in delivered])
                self.db.executemany("UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                                    [(a, n, e, i) for i, a, n, e in failed])
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    # --- writing -----------------------------------------------------------------------------

    def write_run(self, run: RunSummary, adv: Advance, hosts: dict[str, HostInfo], outbox: list[tuple[str, dict[str, Any]]],
                  *, keep_days: int = DEFAULT_KEEP_DAYS, meta: dict[str, str] | None = None) -> int:
        """One run in one transaction: its summary, the hosts read, what changed, and its messages; then retention."""
        cutoff = now_text(parse_time(run.started) - timedelta(days=keep_days))
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                c = run.counts
                run_id = self.db.execute(
                    "INSERT INTO runs (started, ended, inventory, exit_code, in_sync, drift, error, acknowledged, corrected, hosts, "
                    "hosts_read, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.started, run.ended, run.inventory, run.exit_code, c.get("in_sync", 0), c.get("drift", 0), c.get("error", 0),
                     c.get("acknowledged", 0), c.get("corrected", 0), run.hosts, run.hosts_read, run.note)).lastrowid
                self.db.executemany("INSERT INTO hosts (name, last_read, server, fqdn, role) VALUES (?, ?, ?, ?, ?) "
                                    "ON CONFLICT (name) DO UPDATE SET last_read = excluded.last_read, server = excluded.server, "
                                    "fqdn = excluded.fqdn, role = excluded.role",
                                    [(h, i.last_read, i.server, i.fqdn, i.role) for h, i in hosts.items()])
                self._write_states(adv)
                self.db.executemany("INSERT INTO outbox (sink, created, payload, next_attempt) VALUES (?, ?, ?, ?)",
                                    [(sink, run.started, _json(payload), run.started) for sink, payload in outbox])
                for key, value in (meta or {}).items():
                    self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
                self._retain(cutoff)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            return int(run_id or 0)
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def _write_states(self, adv: Advance) -> None:
        new = [o for o in adv.states.values() if o.id is None]
        for o in new:
            o.id = self.db.execute("INSERT INTO objects (host, kind, name, state, since, last_in_sync, last_drift, severity) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*o.key, o.state, o.since, o.last_in_sync, o.last_drift, o.severity)).lastrowid
            o.dirty = True
        episodes = [e for o in adv.states.values() for e in (o.drift, o.check) if e is not None and e.dirty] + adv.closed
        seen: set[int] = set()
        for e in episodes:
            if id(e) in seen:
                continue
            seen.add(id(e))
            oid = adv.states[e.key].id if e.key in adv.states else None
            values = (e.type, _secs(e.since), _secs(e.first_end), _secs(e.last_seen), _secs(e.ended), e.resolution, e.severity, int(e.notified),
                      _json(e.culprit.to_row() if e.culprit else None), _json(e.resolved_by.to_row() if e.resolved_by else None),
                      _json(e.detail), None if e.latest == e.detail else _json(e.latest))  # what changed while it lasted
            if e.id is None:
                e.id = self.db.execute("INSERT INTO episodes (object_id, type, since, first_end, last_seen, ended, resolution, severity, "
                                       "notified, culprit, resolved_by, detail, latest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                       (oid, *values)).lastrowid
            else:
                self.db.execute("UPDATE episodes SET type = ?, since = ?, first_end = ?, last_seen = ?, ended = ?, resolution = ?, "
                                "severity = ?, notified = ?, culprit = ?, resolved_by = ?, detail = ?, latest = ? WHERE id = ?", (*values, e.id))
            e.dirty = False
        self.db.executemany(
            "UPDATE objects SET state = ?, since = ?, last_in_sync = ?, last_drift = ?, severity = ?, drift_episode = ?, check_episode = ? "
            "WHERE id = ?",
            [(o.state, o.since, o.last_in_sync, o.last_drift, o.severity, o.drift.id if o.drift else None, o.check.id if o.check else None, o.id)
             for o in adv.states.values() if o.dirty])

    def _retain(self, cutoff: str) -> None:
        self.db.execute("DELETE FROM runs WHERE started < ?", (cutoff,))
        for kind in (EPISODE_DRIFT, EPISODE_NOT_CHECKED):
            self.db.execute("DELETE FROM episodes WHERE type = ? AND ended != 0 AND ended < ?", (kind, _secs(cutoff)))
        gone = [oid for (oid,) in self.db.execute("SELECT id FROM objects WHERE state = ? AND since < ?", (GONE, cutoff))]
        for part in _chunks(gone):
            marks = ",".join("?" * len(part))
            self.db.execute(f"DELETE FROM episodes WHERE object_id IN ({marks})", part)
            self.db.execute(f"DELETE FROM objects WHERE id IN ({marks})", part)
        self.db.execute("DELETE FROM outbox WHERE created < ?", (cutoff,))
        self.db.execute("DELETE FROM acks WHERE expires < ?", (cutoff,))


FEW_HOSTS = 200  # up to this many hosts, a query reads their objects' episodes; beyond, it reads the episodes in order


def _tables(hosts: Iterable[str] | None, *, count: bool) -> str:
    """The join order that keeps a query quick: a few hosts' objects first (their episodes by object), else the
    episodes in their index order (type, since or ended) with their objects (CROSS JOIN fixes SQLite's order)."""
    if hosts is not None and len(set(hosts)) <= FEW_HOSTS:
        return "objects o CROSS JOIN episodes e INDEXED BY episodes_object ON e.object_id = o.id"
    if hosts is None and count:
        return "episodes e"
    return "episodes e CROSS JOIN objects o ON o.id = e.object_id"


_EPISODE_COLUMNS = ("id, type, since, first_end, last_seen, ended, resolution, severity, notified, culprit, resolved_by, "
                    "detail, latest")


def _episode(key: Key, row: tuple[Any, ...]) -> Episode:
    eid, type_, since, first_end, last_seen, ended, resolution, severity, notified, culprit, resolved_by, detail, latest = row
    first = _load(detail) or {}
    return Episode(key, type_, _text(since), _text(first_end), severity, first, _load(latest) or first, _text(last_seen), _text(ended), resolution,
                   Culprit.from_json(_load(culprit)), Culprit.from_json(_load(resolved_by)), bool(notified), eid, dirty=False)


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
            if version == 1:
                raise HistoryError(f"the drift history {path} was written by an earlier exconf: one exconf drift run converts it")
            raise HistoryError(f"the drift history {path} was written by another exconf version (schema {version})")
        return db
    assert last is not None
    if "not a database" in str(last) or "malformed" in str(last):
        raise _explain(path, last)
    raise HistoryError(f"cannot read the drift history {path} ({last})") from None


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@lru_cache(maxsize=65536)  # runs' times repeat in every episode of the run
def _secs(text: str) -> int:
    """An ISO time as Unix seconds (0 for none)."""
    return int(datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()) if text else 0


@lru_cache(maxsize=65536)
def _text(secs: int) -> str:
    return datetime.fromtimestamp(int(secs), timezone.utc).strftime(TIME_FORMAT) if secs else ""


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> str:
    """--since: a span back from now (7d, 12h, 2w) or a date (2026-12-01) or a date and time, as the history's time text."""
    s = text.strip()
    if s[:-1].isdigit() and s[-1:].lower() in _SPAN_UNITS:
        return now_text((now or datetime.now(timezone.utc)) - timedelta(seconds=int(s[:-1]) * _SPAN_UNITS[s[-1].lower()]))
    try:
        moment = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r} is neither a span such as 7d, 12h or 2w nor a date such as 2026-12-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return now_text(moment)


parse_date = parse_since  # the name drift history used before spans
