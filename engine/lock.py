"""One apply at a time per organisation: a lock file beside the inventory.

The lock is an advisory ``flock`` on ``.exconf-<organisation>.lock``, which
the kernel releases when its holder dies however it dies; the file also
records who holds it (host, pid, since when, command), so a second apply
says whom it waits for. A record left by a process that is gone (the lock is
free but the record names a holder) is taken over with a warning.

The file is opened without following a symbolic link (one would make exconf
truncate whatever it points to), without blocking (a FIFO), and must be a
regular file; after locking, exconf checks that the path still names the file
it locked (a lock taken on a file that was deleted or replaced meanwhile
locks nothing: it opens the one there now). A holder whose file is deleted
while it runs cannot stop a second apply from creating a new one; it says so
when it lets the lock go (``lost``), so that the user knows two applies may
have run at once.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import re
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class LockError(Exception):
    """The lock cannot be taken; the message names the file and what is wrong with it."""


class LockHeld(LockError):
    """Another apply holds the organisation's lock; the message names it."""


@dataclass
class ApplyLock:
    path: Path
    fd: int
    taken_over: str = ""  # who held it before, if that holder had died
    on_lost: Callable[[str], None] | None = None  # told at release when the file was deleted or replaced meanwhile

    def lost(self) -> str:
        """"" while the path still names the file this lock holds; otherwise what happened to it."""
        try:
            if _same_file(self.fd, self.path):
                return ""
        except OSError:
            pass
        return (f"the apply lock {self.path} was deleted or replaced while this apply held it: "
                "another apply may have run at the same time; run exconf plan to see where each server stands")

    def release(self) -> None:
        problem = self.lost()
        if problem and self.on_lost is not None:
            self.on_lost(problem)
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
        name = inventory.value(host, "exconf_organization")
        if name:
            return str(name)
    return inventory.path.stem


def lock_path(inventory: Path, organisation: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", organisation).strip("._") or "organisation"
    return inventory.resolve().parent / f".exconf-{safe}.lock"


def _describe(record: dict[str, object]) -> str:
    return f"{record.get('command', 'exconf apply')} on {record.get('host', '?')}, pid {record.get('pid', '?')}, since {record.get('since', '?')}"


def acquire(inventory: Path, organisation: str, command: str) -> ApplyLock:
    """Take the organisation's lock now, or raise LockHeld naming its holder (LockError when it cannot be used)."""
    path = lock_path(inventory, organisation)
    for _ in range(3):
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read(fd)
            os.close(fd)
            who = _describe(record) if record else "another exconf process"
            raise LockHeld(f"another apply holds the lock of organisation {organisation!r} ({path}): {who}. Wait for it to finish.") from None
        except OSError as exc:
            os.close(fd)
            raise LockError(f"cannot lock {path}: {exc.strerror or exc}") from None
        try:
            same = _same_file(fd, path)
        except OSError:
            same = False
        if same:
            break
        os.close(fd)  # deleted or replaced between open and lock: what we locked guards nothing; take the one there now
    else:
        raise LockError(f"the apply lock {path} keeps being deleted or replaced while exconf takes it; is another program removing it?")
    previous = _read(fd)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": command}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    return ApplyLock(path, fd, taken_over=_describe(previous) if previous else "")


def _open(path: Path) -> int:
    """The lock file, created 0600 if missing: never through a link, never blocking, only a regular file."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError(f"the apply lock {path} is a symbolic link; exconf does not follow one (it would write where "
                            "it leads): remove it") from None
        if exc.errno == errno.EISDIR:
            raise LockError(f"the apply lock {path} is a folder, not a file: remove it") from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            where = "the inventory's folder is read-only" if not os.access(path.parent, os.W_OK) else "the file cannot be written"
            raise LockError(f"cannot take the apply lock {path}: {exc.strerror} ({where}); apply needs to write its lock "
                            "beside the inventory") from None
        raise LockError(f"cannot take the apply lock {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        raise LockError(f"the apply lock {path} is {kind}, not a regular file: remove it")
    return fd


def _same_file(fd: int, path: Path) -> bool:
    mine, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _read(fd: int) -> dict[str, object]:
    try:
        data = os.pread(fd, 4096, 0)
        record = json.loads(data) if data.strip() else {}
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}
