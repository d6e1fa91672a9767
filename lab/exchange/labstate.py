"""The lab state as a value: objects keyed by (scope, kind key), the clock, and the kinds that give the keys
their meaning (how each dumps and loads).

Its own module so that the cmdlets' context can hold it without importing state.py, which builds and
persists it from every kind module (and so imports them all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .stored import Stored

Slot = tuple[str, str]  # (scope, kind key)


@dataclass
class LabState:
    created: datetime
    objects: dict[Slot, Any]
    roles: dict[str, str]  # server name (upper case) -> role, to notice a role change on load
    fault_counts: dict[str, int] = field(default_factory=dict)  # failures served per injected fault
    seeded: list[str] = field(default_factory=list)  # org-file send connectors already created
    clock_offset: float = 0.0  # seconds the lab clock is ahead of real time
    touched: set[Slot] = field(default_factory=set, repr=False, compare=False)  # read since reset
    _where: dict[tuple[str, Any], str] = field(default_factory=dict, repr=False, compare=False)  # (kind, Guid) -> scope
    kinds: Mapping[str, Stored] = field(default_factory=dict, repr=False, compare=False)  # by key (state.KINDS)

    def get(self, scope: str, key: str) -> Any:
        """The stored value of one kind in one scope, noted as touched.

        Cmdlets reach objects only through here: when a cmdlet changed something, the slots it
        touched are what the store journals, so a change made to an object reached another way
        would not be saved."""
        slot = (scope, key)
        value = self.objects[slot]
        self.touched.add(slot)
        return value

    def dumped(self, key: str, value: Any) -> Any:
        """A value of the kind ``key`` as the state file keeps it (JSON-ready): what EdgeSync copies to an Edge."""
        return self.kinds[key].dump(value)

    def holder(self, key: str, guid: Any) -> str | None:
        """The scope whose list of ``key`` objects holds the object with this Guid, without reading
        (and so touching) every scope: an identity given as a GUID costs what a name costs (issue 11).

        The index is built on first use and rebuilt when it misses or is stale (objects are created
        at build and reconcile; a Guid never changes)."""
        scope = self._where.get((key, guid))
        if scope is not None and any(o["Guid"] == guid for o in self.objects.get((scope, key), ())):
            return scope
        self._where = {
            (k, obj["Guid"]): s for (s, k), value in self.objects.items() if isinstance(value, list) for obj in value
        }
        return self._where.get((key, guid))

    def now(self, real: datetime | None = None) -> datetime:
        """The lab clock: real UTC time (whole seconds) plus the offset."""
        base = real or datetime.now(timezone.utc)
        return (base + timedelta(seconds=self.clock_offset)).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the lab clock only moves forward")
        self.clock_offset += seconds

    def meta(self) -> dict[str, Any]:
        """What is not an object: persisted with every journal record (it is small)."""
        return {"fault_counts": dict(self.fault_counts), "seeded": list(self.seeded), "clock_offset": self.clock_offset}

    def set_meta(self, raw: dict[str, Any]) -> None:
        self.fault_counts = {str(k): int(n) for k, n in raw.get("fault_counts", {}).items()}
        self.seeded = [str(s) for s in raw.get("seeded", [])]
        self.clock_offset = float(raw.get("clock_offset", 0.0))
