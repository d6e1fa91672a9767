"""How many sockets the controller may hold at once, after raising its open-file limit.

Each host in flight holds one socket (one HTTP connection, kept from read to
apply unless released); a process also needs descriptors for its own files.
With the common soft limit of 1,024 a 1,100-host run failed hosts with "Too
many open files" (issue 11). The soft limit may be raised up to the hard limit
without privileges (setrlimit(2)); the lab does the same for its listeners.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Descriptors kept free for everything that is not a host's socket: the inventory and
# state files, the terminal, logs, the lab's control socket, imports, a TLS CA file per handshake.
RESERVED = 64
UNLIMITED_TARGET = 65536  # what "no hard limit" is raised to


@dataclass(frozen=True)
class FileLimit:
    """The open-file limit after raising it, and what it leaves for host connections."""

    soft: int
    hard: int | None  # None: no hard limit
    in_use: int  # descriptors open when measured
    raised: bool

    @property
    def sockets(self) -> int:
        """Sockets the controller may still open (at least 1)."""
        return max(1, self.soft - self.in_use - RESERVED)


def raise_open_file_limit() -> FileLimit:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; say how many sockets that leaves.

    A runner bounds its concurrency (hosts in flight) by ``.sockets`` instead of
    letting hosts fail with EMFILE. Never raises: where the limit cannot be read
    or changed (no ``resource`` module), it reports what it can.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux/macOS
        return FileLimit(soft=512, hard=None, in_use=_open_descriptors(), raised=False)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = False
    target = hard if hard != resource.RLIM_INFINITY else max(soft, UNLIMITED_TARGET)
    if soft == resource.RLIM_INFINITY:
        target = soft
    elif soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft, raised = target, True
        except (ValueError, OSError):
            # macOS refuses values above OPEN_MAX (kern.maxfilesperproc) even under an unlimited hard limit.
            for fallback in (10240, 4096):
                if soft < fallback <= target:
                    try:
                        resource.setrlimit(resource.RLIMIT_NOFILE, (fallback, hard))
                        soft, raised = fallback, True
                        break
                    except (ValueError, OSError):
                        continue
    soft_value = soft if soft != resource.RLIM_INFINITY else UNLIMITED_TARGET * 16
    return FileLimit(soft=soft_value, hard=None if hard == resource.RLIM_INFINITY else hard, in_use=_open_descriptors(), raised=raised)


def _open_descriptors() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder)) - 1  # the listing's own descriptor
        except OSError:
            continue
    return 0


def bound_forks(forks: int, limit: FileLimit, sockets_per_host: int = 1) -> int:
    """The number of hosts that may be in flight at once without running out of descriptors."""
    return max(1, min(forks, limit.sockets // max(1, sockets_per_host)))
