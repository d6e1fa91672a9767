"""Per-server counters, so a benchmark can report round trips and bytes, per endpoint."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

# The keys of `lab stats`, in display order (a Contract for `exconf lab stats --json`); each is the
# server's total over its endpoints. "endpoints" breaks them down per path (/wsman, /PowerShell).
STAT_KEYS = ("requests", "shells", "commands", "bytes_in", "bytes_out", "auth_failures")
WSMAN = "/wsman"
POWERSHELL = "/PowerShell"
SSH = "ssh"  # Windows OpenSSH Server (lab/ssh): not an HTTP path, the server's sshd
# Per endpoint: the HTTP-level counters, and what each endpoint's resource counts. Over SSH a request is a
# round trip the client waited for (docs/ssh.md): the handshake's three, the service request, each
# authentication attempt, each channel opened, each exec request, each command's answer and keep-alive probe.
ENDPOINT_KEYS = {
    WSMAN: ("requests", "shells", "commands", "sends", "bytes_in", "bytes_out", "auth_failures"),
    POWERSHELL: ("requests", "runspace_pools", "pipelines", "bytes_in", "bytes_out", "auth_failures"),
    SSH: ("requests", "connections", "channels", "commands", "bytes_in", "bytes_out", "auth_failures"),
}
_RESOURCE_ENDPOINT = {"shells": WSMAN, "commands": WSMAN, "sends": WSMAN, "runspace_pools": POWERSHELL, "pipelines": POWERSHELL,
                      "connections": SSH, "channels": SSH}


@dataclass
class ServerStats:
    """Counters for one server. Every POST to /wsman or /PowerShell counts as a request,
    authentication round trips included; bytes are HTTP bodies as they crossed the wire (sealed if
    encrypted), and over SSH every byte of the connection (encrypted)."""

    requests: int = 0
    shells: int = 0
    commands: int = 0
    sends: int = 0  # WinRS Sends (a command's input): one per round trip of exconf's long-lived program
    bytes_in: int = 0
    bytes_out: int = 0
    auth_failures: int = 0
    runspace_pools: int = 0
    pipelines: int = 0
    connections: int = 0
    channels: int = 0
    # Not part of the `lab stats` shape; useful to tests and to explain a slow run.
    operation_timeouts: int = 0
    endpoints: dict[str, dict[str, int]] = field(default_factory=lambda: {e: {k: 0 for k in keys} for e, keys in ENDPOINT_KEYS.items()})
    last_activity: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, endpoint: str | None = None, **deltas: int) -> None:
        """Add to the totals, and to ``endpoint``'s counters (a resource's own counters know their endpoint)."""
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)
                where = endpoint or _RESOURCE_ENDPOINT.get(key)
                if where in self.endpoints and key in self.endpoints[where]:
                    self.endpoints[where][key] += value
            self.last_activity = time.monotonic()

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            out: dict[str, object] = {key: getattr(self, key) for key in STAT_KEYS}
            out["endpoints"] = {e: dict(counters) for e, counters in self.endpoints.items()}
            return out
