"""One inventory host as a command sees it: its name, groups and rendered variables, with where each came from.

Its own module because the inventory builds it and the connection settings read it: neither imports the other
for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .templating import nearest
from .yamlsource import Location, PathKey


@dataclass(frozen=True, eq=False)
class Host:
    name: str
    order: int
    groups: frozenset[str]  # every group it belongs to, ancestors included
    vars: Mapping[str, Any]  # merged and rendered (each variable when it is first read)
    sources: Mapping[PathKey, Location]
    key_sources: Mapping[PathKey, Location] = field(default_factory=dict, repr=False)

    def source(self, path: PathKey) -> Location | None:
        return nearest(self.sources, path)
