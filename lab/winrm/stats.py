"""Per-server counters, so a benchmark can report round trips and bytes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

# The keys of `lab stats`, in display order (a Contract for `exconf lab stats --json`).
STAT_KEYS = ("requests", "shells", "commands", "bytes_in", "bytes_out", "auth_failures")


@dataclass
class ServerStats:
    """Counters for one server. Every POST to /wsman counts as a request, authentication
    round trips included; bytes are HTTP bodies as they crossed the wire (sealed if encrypted)."""

    requests: int = 0
    shells: int = 0
    commands: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    auth_failures: int = 0
    # Not part of the `lab stats` shape; useful to tests and to explain a slow run.
    operation_timeouts: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)
            self.last_activity = time.monotonic()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {key: getattr(self, key) for key in STAT_KEYS}
