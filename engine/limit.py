"""``--limit`` patterns as Ansible reads them.

Terms are separated by ``,`` or ``:``; a term is a host or group name, a
``*`` wildcard over both, or ``~regex``. ``!term`` excludes, ``&term``
intersects; unions are taken first, then intersections, then exclusions
(Ansible's intro_patterns). A term that matches nothing is an error, so a
typo never silently shrinks a run to nothing.
"""

from __future__ import annotations

import fnmatch
import re

from .inventory import Inventory


class LimitError(ValueError):
    pass


def _split(pattern: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,:]", pattern) if t.strip()]


def _term_hosts(term: str, inventory: Inventory) -> set[str]:
    names = [h.name for h in inventory.hosts]
    if term.startswith("~"):
        try:
            rx = re.compile(term[1:])
        except re.error as exc:
            raise LimitError(f"--limit: bad regular expression {term!r}: {exc}") from None
        hosts = {n for n in names if rx.search(n)}
        for group, members in inventory.groups.items():
            if rx.search(group):
                hosts |= members
        return hosts
    hosts = {n for n in names if fnmatch.fnmatchcase(n.lower(), term.lower())}
    for group, members in inventory.groups.items():
        if fnmatch.fnmatchcase(group.lower(), term.lower()):
            hosts |= members
    return hosts


def select(inventory: Inventory, pattern: str | None) -> list[str]:
    """Host names selected by the pattern, in inventory order."""
    if not pattern:
        return [h.name for h in inventory.hosts]
    union: set[str] = set()
    intersections: list[set[str]] = []
    exclusions: set[str] = set()
    terms = _split(pattern)
    if not terms:
        raise LimitError(f"--limit {pattern!r} names no host or group")
    for term in terms:
        op, name = (term[0], term[1:]) if term[0] in "!&" else ("", term)
        matched = _term_hosts(name, inventory)
        if not matched:
            raise LimitError(f"--limit: {name!r} matches no host or group in {inventory.path}")
        if op == "!":
            exclusions |= matched
        elif op == "&":
            intersections.append(matched)
        else:
            union |= matched
    if not union and (intersections or exclusions):
        union = {h.name for h in inventory.hosts}
    for other in intersections:
        union &= other
    union -= exclusions
    return [h.name for h in inventory.hosts if h.name in union]
