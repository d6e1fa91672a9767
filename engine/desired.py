"""The desired state: the inventory's declarations parsed once into typed, located values.

Reading and planning take this as data; nothing after it reaches back into
``host.vars``. Server-scope objects come from each host's ``exchange:``,
organisation-wide ones from ``exchange_organization:`` of the ``all`` group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exconf.modules import KINDS, ORGANIZATION, SERVER, Kind

from .inventory import Inventory
from .model import Desired
from .yamlsource import Location, PathKey

UNKNOWN = Location("?", 0, 0)


@dataclass(frozen=True)
class DesiredState:
    """Every declared object: per host (server scope) and for the organisation."""

    hosts: dict[str, tuple[Desired, ...]]
    organization: tuple[Desired, ...]

    def kinds_of(self, host: str) -> frozenset[str]:
        return frozenset(d.kind for d in self.hosts.get(host, ()))

    @property
    def organization_kinds(self) -> frozenset[str]:
        return frozenset(d.kind for d in self.organization)


def locator(sources: Mapping[PathKey, Location], base: PathKey) -> Callable[[PathKey], Location]:
    """Where a declared path was written: the nearest recorded ancestor of ``base + path``."""

    def where(path: PathKey) -> Location:
        p = base + tuple(path)
        while p and p not in sources:
            p = p[:-1]
        return sources.get(p, UNKNOWN)

    return where


def _section(kinds: tuple[Kind, ...], scope: str, declared: dict[str, Any], sources: Mapping[PathKey, Location], base: PathKey) -> tuple[Desired, ...]:
    out: list[Desired] = []
    for kind in kinds:
        if kind.scope == scope and declared.get(kind.section):
            out += kind.desired(declared[kind.section], locator(sources, base + (kind.section,)))
    return tuple(out)


def parse(inventory: Inventory, names: Iterable[str] | None = None, kinds: tuple[Kind, ...] = KINDS, *, organization: bool = True) -> DesiredState:
    """The desired state of the selected hosts (every host without ``names``) and, unless told otherwise, of the
    organisation (values already checked by Inventory.check). Hosts outside the selection are not rendered."""
    keep = None if names is None else set(names)
    hosts = {
        h.name: _section(kinds, SERVER, h.vars.get("exchange") or {}, h.sources, ("exchange",))
        for h in inventory.hosts
        if keep is None or h.name in keep
    }
    declared = organization and inventory.organization
    org = _section(kinds, ORGANIZATION, declared or {}, inventory.organization_sources, ()) if declared else ()
    return DesiredState(hosts=hosts, organization=org)
