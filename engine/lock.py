"""One apply at a time per organisation: a lock file beside the inventory.

The lock is an advisory ``flock`` on ``.exconf-<organisation>.lock``, which
the kernel releases when its holder dies however it dies; the file also
records who holds it (host, pid, since when, command), so a second apply
says whom it waits for. A record left by a process that is gone (the lock is
free but the record names a holder) is taken over with a warning.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path


class LockHeld(Exception):
    """Another apply holds the organisation's lock; the message names it."""


@dataclass
class ApplyLock:
    path: Path
    fd: int
    taken_over: str = ""  # who held it before, if that holder had died

    def release(self) -> None:
        try:
            os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)

    def __enter__(self) -> ApplyLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def organisation_of(inventory) -> str:
    """The organisation a lock is per: ``exconf_organization`` of the first host that sets it, else the inventory's name."""
    for host in inventory.hosts:
        name = host.vars.get("exconf_organization")
        if name:
            return str(name)
    return inventory.path.stem


def lock_path(inventory: Path, organisation: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", organisation).strip("._") or "organisation"
    return inventory.resolve().parent / f".exconf-{safe}.lock"


def _describe(record: dict[str, object]) -> str:
    return f"{record.get('command', 'exconf apply')} on {record.get('host', '?')}, pid {record.get('pid', '?')}, since {record.get('since', '?')}"


def acquire(inventory: Path, organisation: str, command: str) -> ApplyLock:
    """Take the organisation's lock now or raise LockHeld naming its holder."""
    path = lock_path(inventory, organisation)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        record = _read(fd)
        os.close(fd)
        who = _describe(record) if record else "another exconf process"
        raise LockHeld(f"another apply holds the lock of organisation {organisation!r} ({path}): {who}. Wait for it to finish.") from None
    previous = _read(fd)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": command}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    return ApplyLock(path, fd, taken_over=_describe(previous) if previous else "")


def _read(fd: int) -> dict[str, object]:
    try:
        data = os.pread(fd, 4096, 0)
        record = json.loads(data) if data.strip() else {}
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}
