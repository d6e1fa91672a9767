"""The inventory as its sources declare it, before merging: groups, hosts, blocks of variables.

Every source format (YAML, INI, a script's JSON) fills one ``InventoryData``
through the same few calls, as ansible-core's ``InventoryData`` is filled by
its inventory plugins; merging and rendering then never care which format a
value came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import Issue
from .yamlsource import Document, Location, PathKey

ALL, UNGROUPED = "all", "ungrouped"


class InventoryError(Exception):
    """The inventory cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue | str]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True)
class VarsBlock:
    """One block of variables and where it was written."""

    doc: Document
    base: PathKey
    data: dict[str, Any]
    owner: str  # "group all", "host ex01"
    secret: bool = False  # from a vault-encrypted file: every text in it is sensitive


@dataclass
class Group:
    name: str
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    blocks: list[VarsBlock] = field(default_factory=list)  # from inventory sources
    files: list[VarsBlock] = field(default_factory=list)  # from group_vars/


@dataclass
class InventoryData:
    """Groups and hosts in the order the sources declared them."""

    groups: dict[str, Group] = field(default_factory=lambda: {ALL: Group(ALL), UNGROUPED: Group(UNGROUPED, parents=[ALL])})
    host_order: list[str] = field(default_factory=list)
    host_blocks: dict[str, list[VarsBlock]] = field(default_factory=dict)
    host_files: dict[str, list[VarsBlock]] = field(default_factory=dict)
    host_where: dict[str, Location] = field(default_factory=dict)
    host_source: dict[str, Path | str] = field(default_factory=dict)  # the file that first declared the host (inventory_file); a host list's text
    current_source: Path | None = None  # set by the reader of each file
    files_read: list[Path] = field(default_factory=list)
    _membership: set[tuple[str, str]] = field(default_factory=set, repr=False)
    issues: list[Issue | str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if UNGROUPED not in self.groups[ALL].children:
            self.groups[ALL].children.append(UNGROUPED)

    def group(self, name: str) -> Group:
        return self.groups.setdefault(name, Group(name))

    def add_child(self, parent: str, child: str) -> None:
        p, c = self.group(parent), self.group(child)
        if child != parent and child not in p.children:
            p.children.append(child)
        if parent != child and parent not in c.parents:
            c.parents.append(parent)

    def add_host(self, group: str, host: str, where: Location) -> None:
        if host not in self.host_blocks:
            self.host_order.append(host)
            self.host_blocks[host] = []
            self.host_files[host] = []
            self.host_where[host] = where
            if self.current_source is not None:
                self.host_source[host] = self.current_source
        g = self.group(group)
        if (group, host) not in self._membership:
            self._membership.add((group, host))
            g.hosts.append(host)

    def add_group_block(self, name: str, block: VarsBlock) -> None:
        """Variables declared for a group inside an inventory source."""
        self.group(name).blocks.append(block)

    def add_host_block(self, name: str, block: VarsBlock) -> None:
        """Variables declared for a host (already added) inside an inventory source."""
        self.host_blocks[name].append(block)

    def reconcile(self) -> None:
        """Ansible's reconcile_inventory: a group with no parent is a child of all; a host in no group is in ungrouped."""
        for name, group in self.groups.items():
            if name != ALL and not group.parents:
                self.add_child(ALL, name)
        grouped = {h for n, g in self.groups.items() if n not in (ALL, UNGROUPED) for h in g.hosts}
        ungrouped = self.groups[UNGROUPED]
        ungrouped.hosts = [h for h in ungrouped.hosts if h not in grouped]
        listed = set(ungrouped.hosts)
        for host in self.host_order:
            if host not in grouped and host not in listed:
                ungrouped.hosts.append(host)


def group_hosts(children: Mapping[str, Sequence[str]], direct: Mapping[str, Sequence[str]], group: str) -> list[str]:
    """A group's hosts in ansible-core's order (Group.get_hosts): its own, then its descendants' level by level, each once."""
    out: list[str] = []
    taken: set[str] = set()
    level, seen = [group], {group}
    while level:
        for g in level:
            for h in direct.get(g, ()):
                if h not in taken:
                    taken.add(h)
                    out.append(h)
        following = []
        for g in level:
            for child in children.get(g, ()):
                if child not in seen:
                    seen.add(child)
                    following.append(child)
        level = following
    return out


def as_mapping(doc: Document, base: PathKey, data: Any, owner: str, issues: list[Issue | str]) -> dict[str, Any] | None:
    """The variables of a block, or None after recording why they are not a mapping."""
    from .schema import dotted

    if isinstance(data, dict):
        return data
    issues.append(Issue(str(doc.where(base)), dotted(base), f"variables of {owner} must be a mapping, found {type(data).__name__}"))
    return None
