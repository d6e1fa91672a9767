"""Issue 14: the drift history is private to its owner, and ``drift history`` reads one it cannot write.

The history names every drifted object, its values and who changed it: created 0600 before SQLite
opens it (never readable by others, even for an instant, whatever the umask), its -wal and -shm files
too; one left readable by an earlier version is made private. A history whose file or folder cannot be
written is still listed (as root, write permission is taken away with capsh, since root ignores modes).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from exconf.drift import history

from .test_history import T0, item, record
from exconf.drift.report import DriftState


def modes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}


def test_a_new_history_is_private_before_sqlite_opens_it_whatever_the_umask(tmp_path, monkeypatch):
    path = tmp_path / "h.sqlite"
    seen: list[int] = []
    real = sqlite3.connect

    def connect(database, *args, **kwargs):  # what the file is at the moment SQLite first sees it
        seen.append(os.stat(database).st_mode & 0o777)
        return real(database, *args, **kwargs)

    monkeypatch.setattr(history.sqlite3, "connect", connect)
    old = os.umask(0)
    try:
        with history.History(path) as db:
            record(db, [item("ex01", "A", DriftState.DRIFT)], T0)
            during = modes(tmp_path)
    finally:
        os.umask(old)
    assert seen == [0o600]
    assert during == {"h.sqlite": 0o600, "h.sqlite-wal": 0o600, "h.sqlite-shm": 0o600}
    assert set(modes(tmp_path).values()) == {0o600}


def test_a_history_left_readable_by_others_is_made_private(tmp_path):
    path = tmp_path / "h.sqlite"
    with history.History(path) as db:
        record(db, [item("ex01", "A", DriftState.DRIFT)], T0)
    path.chmod(0o644)
    with history.History(path) as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0 + timedelta(minutes=15))
    assert modes(tmp_path) == {"h.sqlite": 0o600}


def _history_cli(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "exconf", "drift", "history", "--history", str(path), "--json"]
    if os.geteuid() == 0:
        if shutil.which("capsh") is None:
            pytest.skip("root without capsh: a history it cannot write cannot be made")
        argv = ["capsh", "--drop=cap_dac_override,cap_fowner", "--", "-c", " ".join(f"'{a}'" for a in argv)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})


@pytest.mark.parametrize("what", ["file", "folder"])
def test_drift_history_lists_a_history_it_cannot_write(tmp_path, what):
    folder = tmp_path / "hist"
    folder.mkdir()
    path = folder / "h.sqlite"
    with history.History(path) as db:
        record(db, [item("ex01", "A", DriftState.DRIFT)], T0)
    path.chmod(0o400)
    if what == "folder":
        folder.chmod(0o555)
    try:
        done = _history_cli(path)
        after = sorted(p.name for p in folder.iterdir())
    finally:
        folder.chmod(0o755)
        path.chmod(0o600)
    assert done.returncode == 0, done.stderr
    (episode,) = json.loads(done.stdout)["episodes"]
    assert (episode["host"], episode["name"], episode["since"]) == ("ex01", "A", "2026-11-01T08:00:00Z")
    assert "Traceback" not in done.stderr
    assert after == ["h.sqlite"] + (["h.sqlite-shm", "h.sqlite-wal"] if what == "file" else [])  # nothing was written in the folder
