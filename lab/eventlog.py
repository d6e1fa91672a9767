"""A lab server's PowerShell module logging: the events Windows writes when module logging is on.

With "Turn on Module Logging" (Group Policy, Windows Components > Windows PowerShell; module names
``*``, a common hardening baseline), Windows PowerShell writes event 4103 to the
Microsoft-Windows-PowerShell/Operational log for each command of a logged module or snap-in, with
one line per bound parameter (about_Group_Policy_Settings, "Turn on Module Logging";
about_Logging_Windows). The lines are PowerShell's own (PipelineStrings.resx):
``CommandInvocation(Name): "Name"`` and ``ParameterBinding(Name): name="P"; value="V"``, where V is
what Windows PowerShell 5.1's ParameterBinderBase.BindParameter logs: an enumerable's items joined
with ", " (a byte[] becomes its numbers, whole), anything else its ToString() (a SecureString
shows only its type name), "" for $null. So whatever a script binds to a parameter is in the log in
clear, as microsoft/azure-pipelines-tasks#15465 saw with passwords.

The lab keeps these events for exconf's program path (the only PowerShell it runs for a client's
command line): ``exconf lab events SERVER`` shows them. Bounded: the newest 10,000 per server,
as a real log has a maximum size (Operational: 15 MB by default).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

MODULE_LOGGING = 4103
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class Event:
    """One event 4103: a command and what was bound to its parameters."""

    time: datetime
    user: str  # DOMAIN\user the command ran as
    command: str
    payload: tuple[str, ...]  # the event's Payload lines
    event_id: int = MODULE_LOGGING

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "time": self.time.isoformat(), "user": self.user, "command": self.command,
                "payload": list(self.payload)}


def binding_value(value: Any) -> str:
    """The text Windows PowerShell 5.1 logs for a bound value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (bytes, bytearray)):
        return ", ".join(str(b) for b in value)
    if isinstance(value, (list, tuple)):
        return ", ".join(binding_value(v) if not isinstance(v, (list, tuple, bytes)) else str(v) for v in value)
    return str(value)


def invocation(command: str, parameters: Iterable[tuple[str, Any]]) -> tuple[str, ...]:
    lines = [f'CommandInvocation({command}): "{command}"']
    lines += [f'ParameterBinding({command}): name="{name}"; value="{binding_value(value)}"' for name, value in parameters]
    return tuple(lines)


class EventLogs:
    """Every server's module logging events, newest last."""

    def __init__(self, limit: int = MAX_EVENTS):
        self._limit = limit
        self._lock = threading.Lock()
        self._logs: dict[str, deque[Event]] = {}

    def record(self, server: str, user: str, when: datetime, command: str, parameters: Iterable[tuple[str, Any]]) -> None:
        event = Event(when, user, command, invocation(command, parameters))
        with self._lock:
            self._logs.setdefault(server.upper(), deque(maxlen=self._limit)).append(event)

    def events(self, server: str) -> list[Event]:
        with self._lock:
            return list(self._logs.get(server.upper(), ()))

    def all(self) -> dict[str, list[Event]]:
        with self._lock:
            return {name: list(log) for name, log in self._logs.items()}
