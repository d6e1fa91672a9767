"""Ansible inventories: groups, hosts, group_vars/host_vars, merged and rendered per host.

Sources are read as ansible-core reads them (YAML, INI, scripts, the JSON of
``ansible-inventory --list``, directories, several ``-i``; see
inventory_sources). Variables merge in Ansible's default precedence: the
``all`` group's inventory vars, then every other group's inventory vars
(parents before children; siblings by ``ansible_group_priority`` then name),
then ``group_vars/all``, then the other groups' ``group_vars``, then the
host's inventory vars, its ``host_vars``, and ``-e`` extra vars on top.
Unlike Ansible's default (``hash_behaviour = replace``), mappings merge key
by key, so a host can override one property of a group's ``exchange:``
without repeating the rest. Templates are then rendered per host
(templating), and the rendered variables are validated. Every value
remembers the file, line and column it came from, for errors and for the
plan's "reason".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exconf.modules import RESOURCES, by_scope
from exconf.modules.base import ORGANIZATION, SERVER

from . import safepath
from .inventory_data import ALL, UNGROUPED, Group, InventoryData, InventoryError, VarsBlock, group_hosts
from .inventory_sources import display_path, extra_vars, read_source, vars_blocks, vars_files
from .schema import CONNECTION_VARS, Issue, dotted, validate_block, vars_schema
from .sensitive import mark
from .templating import Renderer, RenderError, Scope, nearest
from .vault import VaultSecrets
from .yamlsource import Document, Location, PathKey, ScalarSource

_JINJA_KEY = re.compile(r"\{\{.*\}\}|\{%|\{#")


@dataclass(frozen=True)
class Host:
    name: str
    order: int
    groups: frozenset[str]  # every group it belongs to, ancestors included
    vars: dict[str, Any]  # merged and rendered
    sources: dict[PathKey, Location]
    key_sources: dict[PathKey, Location] = field(default_factory=dict, repr=False)

    def source(self, path: PathKey) -> Location | None:
        return nearest(self.sources, path)


@dataclass(frozen=True)
class Inventory:
    path: Path  # the first source (for a directory: the first file read in it)
    hosts: tuple[Host, ...]
    groups: dict[str, frozenset[str]]  # group -> names of its hosts (descendants included)
    organization: dict[str, Any]  # exchange_organization, as declared for the all group
    organization_sources: dict[PathKey, Location]
    paths: tuple[Path, ...] = ()  # every source, in order
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> its direct children
    direct_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> hosts declared in it
    warnings: tuple[str, ...] = ()

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the inventory are resolved against."""
        return self.path.parent


def load(
    path: Path | Sequence[Path],
    *,
    vault: VaultSecrets | None = None,
    extra: Sequence[str] = (),
) -> Inventory:
    """Load, merge, render and validate an inventory; raise InventoryError listing every problem."""
    vault = vault or VaultSecrets()
    paths = (Path(path),) if isinstance(path, (str, Path)) else tuple(Path(p) for p in path)
    data = InventoryData()
    for source in paths:
        read_source(source, data, vault)
    if not data.issues:
        data.reconcile()
        _cycle_check(data.groups, data.issues)
    _stop_on(data.issues)

    group_files = _read_vars_files(paths, data, vault)
    extras = extra_vars(tuple(extra), vault, data.issues)
    if not data.host_order:
        data.issues.append(f"{display_path(paths[0])}: the inventory declares no hosts")
    data.issues.extend(_misplaced_organization(data, group_files))
    _stop_on(data.issues)

    tree = _Tree.of(data)
    merged = _merge_all(data, tree, group_files, extras)
    renderer = Renderer({name: Scope(name, m.vars, _magic(name, data, tree), m.sources) for name, m in merged.items()})
    issues: list[Issue | str] = []
    seen: set[str] = set()
    hosts = []
    for index, name in enumerate(data.host_order):
        try:
            rendered = renderer.variables(name)
        except RenderError as exc:
            _add_once(issues, seen, str(exc))
            continue
        for issue in _validate(rendered, merged[name]):
            _add_once(issues, seen, issue)
        hosts.append(Host(name, index, frozenset(tree.groups_of[name]), rendered, merged[name].sources, merged[name].key_sources))
    organization: dict[str, Any] = {}
    try:
        # Only exchange_organization is rendered for the organisation: the all group's other variables may need a host.
        if "exchange_organization" in merged[None].vars:
            organization = renderer.variable(None, "exchange_organization") or {}
            for issue in _validate({"exchange_organization": organization}, merged[None]):
                _add_once(issues, seen, issue)
    except RenderError as exc:
        _add_once(issues, seen, str(exc))
    main_file = _main_file(paths[0], data)
    for host in hosts:
        for issue in _lab_issue(host, main_file.parent):
            _add_once(issues, seen, issue)
    _stop_on(issues)
    org_sources = {k[1:]: v for k, v in merged[None].sources.items() if k[:1] == ("exchange_organization",) and len(k) > 1}
    return Inventory(
        path=main_file,
        hosts=tuple(hosts),
        groups={name: frozenset(hs) for name, hs in tree.members.items()},
        organization=organization,
        organization_sources=org_sources,
        paths=paths,
        children=tree.children,
        direct_hosts=tree.direct,
        warnings=tuple(data.warnings),
    )


def _stop_on(issues: list[Issue | str]) -> None:
    if issues:
        raise InventoryError(_sorted(issues))


def _read_vars_files(paths: tuple[Path, ...], data: InventoryData, vault: VaultSecrets) -> dict[str, list[VarsBlock]]:
    """group_vars/ and host_vars/ beside each source (inside it, for a directory), in source order.

    Host files go to ``data.host_files``; group files are returned, apart from the
    groups' inventory vars, because Ansible ranks every group's inventory vars below
    every group_vars file.
    """
    basedirs: list[Path] = []
    for source in paths:
        base = source if source.is_dir() else source.parent
        if base.resolve() not in [b.resolve() for b in basedirs]:
            basedirs.append(base)
    group_files: dict[str, list[VarsBlock]] = {name: [] for name in data.groups}
    for base in basedirs:
        for name in data.groups:
            group_files[name] += vars_blocks(vars_files(base / "group_vars", name, data.issues), f"group {name}", vault, data.issues)
        for host in data.host_order:
            data.host_files[host] += vars_blocks(vars_files(base / "host_vars", host, data.issues), f"host {host}", vault, data.issues)
        data.warnings += _unknown_vars_files(base, data)
    return group_files


def _misplaced_organization(data: InventoryData, group_files: dict[str, list[VarsBlock]]) -> list[Issue]:
    out = []
    for group in data.groups.values():
        for block in group.blocks + group_files[group.name]:
            if "exchange_organization" in block.data and group.name != ALL:
                out.append(_org_misplaced(block))
    for host in data.host_order:
        for block in data.host_blocks[host] + data.host_files[host]:
            if "exchange_organization" in block.data:
                out.append(_org_misplaced(block))
    return out


@dataclass(frozen=True)
class _Tree:
    """The group tree: children and hosts as declared, every group's hosts, every host's groups, and the merge order."""

    children: dict[str, tuple[str, ...]]
    direct: dict[str, tuple[str, ...]]
    members: dict[str, tuple[str, ...]]
    groups_of: dict[str, frozenset[str]]
    ordered: tuple[Group, ...]  # every group but all, parents before children, then by priority and name
    groups_magic: dict[str, list[str]]  # the ``groups`` variable, one for every host (the sandbox keeps it unchanged)

    @staticmethod
    def of(data: InventoryData) -> _Tree:
        children = {name: tuple(g.children) for name, g in data.groups.items()}
        direct = {name: tuple(g.hosts) for name, g in data.groups.items()}
        members = {name: tuple(group_hosts(children, direct, name)) for name in data.groups}
        members[ALL] = tuple(data.host_order)
        groups_of: dict[str, set[str]] = {host: set() for host in data.host_order}
        for group_name, hosts_in in members.items():
            for h in hosts_in:
                groups_of[h].add(group_name)
        depth = _depths(data.groups)
        ordered = tuple(sorted((g for g in data.groups.values() if g.name != ALL), key=lambda g: (depth[g.name], _priority(g), g.name)))
        groups_magic = {group: list(hosts) for group, hosts in members.items()}
        return _Tree(children, direct, members, {h: frozenset(gs) for h, gs in groups_of.items()}, ordered, groups_magic)


def _merge_all(data: InventoryData, tree: _Tree, group_files: dict[str, list[VarsBlock]], extras: list[VarsBlock]) -> dict[str | None, _Merged]:
    """Every host's variables in Ansible's precedence (see the module's docstring); None is the organisation's (all group's)."""
    all_group = data.groups[ALL]
    merged: dict[str | None, _Merged] = {}
    for host in data.host_order:
        mine = [g for g in tree.ordered if g.name in tree.groups_of[host]]
        m = _Merged()
        for block in all_group.blocks + [b for g in mine for b in g.blocks]:
            m.add(block, group_inventory=True)
        for block in group_files[ALL] + [b for g in mine for b in group_files[g.name]] + data.host_blocks[host] + data.host_files[host] + extras:
            m.add(block)
        merged[host] = m
    org = _Merged()
    for block in all_group.blocks:
        org.add(block, group_inventory=True)
    for block in group_files[ALL] + extras:
        org.add(block)
    merged[None] = org
    return merged


def _magic(name: str | None, data: InventoryData, tree: _Tree) -> dict[str, Any]:
    """Ansible's magic variables for a host (for the organisation: groups only)."""
    magic: dict[str, Any] = {"groups": tree.groups_magic}
    if name is not None:
        source_file = data.host_source[name]  # every host is declared by a file read_source names
        magic.update(
            inventory_hostname=name,
            inventory_hostname_short=name.split(".")[0],
            group_names=sorted(g for g in tree.groups_of[name] if g != ALL),
            inventory_file=str(source_file),
            inventory_dir=str(source_file.parent),
            ansible_host=name,  # Ansible's fallback when the host does not set it (a task sees it so)
        )
    return magic


def _main_file(first: Path, data: InventoryData) -> Path:
    """The inventory's file: the first source, or for a directory the first file read in it (so that
    ``path.parent`` is the folder relative paths such as ``exconf_lab`` are resolved against)."""
    if not first.is_dir():
        return first
    inside = [p for p in data.files_read if first.resolve() in p.parents]
    return inside[0] if inside else first / "."


def _add_once(issues: list[Issue | str], seen: set[str], issue: Issue | str) -> None:
    if str(issue) not in seen:
        seen.add(str(issue))
        issues.append(issue)


@dataclass
class _Merged:
    """One host's variables merged key by key, with where each value (and key) was written."""

    vars: dict[str, Any] = field(default_factory=dict)
    sources: dict[PathKey, Location] = field(default_factory=dict)
    key_sources: dict[PathKey, Location] = field(default_factory=dict)
    scalars: dict[PathKey, ScalarSource] = field(default_factory=dict)

    def add(self, block: VarsBlock, group_inventory: bool = False) -> None:
        data = block.data
        if group_inventory and "ansible_group_priority" in data:
            # Ansible's Group.set_variable: the priority orders groups; it is not a variable.
            data = {k: v for k, v in data.items() if k != "ansible_group_priority"}
        self._merge(self.vars, block, (), data)

    def _merge(self, target: dict[str, Any], block: VarsBlock, prefix: PathKey, data: dict[str, Any]) -> None:
        for key, value in data.items():
            here = prefix + (key,)
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                self.key_sources[here] = block.doc.where_key(block.base + here)
                self._merge(target[key], block, here, value)
                continue
            target[key] = mark(copy.deepcopy(value)) if block.secret else copy.deepcopy(value)
            for table in (self.sources, self.key_sources, self.scalars):
                for sub in [p for p in table if p[: len(here)] == here]:
                    del table[sub]
            self._record(block, here, value)

    def _record(self, block: VarsBlock, here: PathKey, value: Any) -> None:
        # A mapping (a declared connector, a section) is best named by its key; a leaf by its value.
        path = block.base + here
        self.sources[here] = block.doc.where_key(path) if isinstance(value, dict) else block.doc.where(path)
        self.key_sources[here] = block.doc.where_key(path)
        if path in block.doc.scalars:
            self.scalars[here] = block.doc.scalars[path]
        if isinstance(value, dict):
            for key, sub in value.items():
                self._record(block, here + (key,), sub)
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                if isinstance(sub, dict):  # a list of mappings (exchange.certificates): each item and its keys
                    self._record(block, here + (i,), sub)
                elif isinstance(sub, list) or block.base + here + (i,) in block.doc.locations:
                    self.sources[here + (i,)] = block.doc.where(path + (i,))


def _validate(rendered: dict[str, Any], m: _Merged) -> list[Issue]:
    """Schema and Exchange checks on a host's rendered variables, located where each value was written."""
    doc = Document(data=rendered, file="", locations=dict(m.sources), key_locations=dict(m.key_sources), scalars=dict(m.scalars))
    checked = dict(rendered)
    port = checked.get("ansible_port")
    if isinstance(port, str) and port.strip().isdigit():
        checked["ansible_port"] = int(port)  # Ansible takes the port as a text too; the connection reads it as a number
    found = validate_block(doc, (), checked, vars_schema())
    reported = {(i.where, i.path) for i in found}
    found += [i for i in _semantic_issues(doc, (), checked) if (i.where, i.path) not in reported]
    found += _connection_issues(doc, checked)
    return found


def _connection_issues(doc: Document, v: dict[str, Any]) -> list[Issue]:
    """Transports exconf does not have yet are refused now, before any host is contacted."""
    from .connection import cleartext_connection, unsupported_connection  # connection imports this module

    found = unsupported_connection(v) + cleartext_connection(v)
    return [Issue(str(doc.where((key,))), key, message) for key, message in found]


def _lab_issue(host: Host, base: Path) -> tuple[Issue] | tuple[()]:
    """exconf_lab names a file exconf starts a server from: only one inside the inventory's folder (links resolved)."""
    name = host.vars.get("exconf_lab")
    if not isinstance(name, str) or not name or safepath.inside(base, name) is not None:
        return ()
    where = host.source(("exconf_lab",))
    return (Issue(str(where) if where else host.name, "exconf_lab",
                  f"{name!r} is outside the inventory's folder ({base.resolve()}); the lab's organisation file must be inside it"),)


def _org_misplaced(block: VarsBlock) -> Issue:
    where = block.doc.where_key(block.base + ("exchange_organization",))
    return Issue(str(where), "exchange_organization", f"is organisation-wide and cannot be set for {block.owner}; declare it under all: vars: or in group_vars/all")


def _sorted(issues: list[Issue | str]) -> list[Issue | str]:
    def key(issue: Issue | str) -> tuple[str, int, int]:
        text = issue.where if isinstance(issue, Issue) else str(issue)
        parts = text.split(":")
        try:
            return (parts[0], int(parts[1]), int(parts[2]))
        except (IndexError, ValueError):
            return (text, 0, 0)

    return sorted(issues, key=key)


def _unknown_vars_files(base_dir: Path, data: InventoryData) -> list[str]:
    """A group_vars/host_vars file that matches no group or host: Ansible ignores it; exconf says so, since it is often a typo."""
    out = []
    for folder, known, what in ((base_dir / "group_vars", set(data.groups), "group"), (base_dir / "host_vars", set(data.host_order), "host")):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            stem = entry.name if entry.is_dir() else entry.name.rsplit(".", 1)[0] if entry.suffix in (".yml", ".yaml", ".json") else entry.name
            if stem not in known:
                out.append(f"{display_path(entry)}: no {what} named {stem!r} in the inventory; ignored (as Ansible ignores it)")
    return out


def _jinja_keys(doc: Document, path: PathKey, value: Any) -> list[Issue]:
    """Ansible does not render mapping keys; a Jinja-looking name would reach Exchange as written, so it is refused."""
    out: list[Issue] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(key, str) and _JINJA_KEY.search(key):
                out.append(Issue(str(doc.where_key(path + (key,))), dotted(path), f"name {key!r} looks like a Jinja template, and names (mapping keys) are not rendered, in Ansible as in exconf; use {{server}} for the server's name"))
            out += _jinja_keys(doc, path + (key,), sub)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _jinja_keys(doc, path + (i,), sub)
    return out


def _semantic_issues(doc: Document, base: PathKey, data: dict[str, Any]) -> list[Issue]:
    """Checks JSON Schema cannot express: exconf_* names, {server} templates, Exchange value ranges."""
    issues: list[Issue] = []
    for section_key in ("exchange", "exchange_organization"):
        issues += _jinja_keys(doc, base + (section_key,), data.get(section_key))
    for key in data:
        if isinstance(key, str) and key.startswith("exconf_") and key not in CONNECTION_VARS:
            known = ", ".join(k for k in CONNECTION_VARS if k.startswith("exconf_"))
            issues.append(Issue(str(doc.where_key(base + (key,))), dotted(base), f"unknown key {key!r}; exconf variables are {known}"))
    for section_key, scope in (("exchange", SERVER), ("exchange_organization", ORGANIZATION)):
        section = data.get(section_key)
        if not isinstance(section, dict):
            continue
        for kind in by_scope(scope):
            declared = section.get(kind.section)
            path = base + (section_key, kind.section)
            for sub, message in kind.inventory_issues(declared, Path(doc.where(path).file).parent):
                # A declared object (a mapping) is named by its key, under its parent; a value where it is written.
                if isinstance(_at(declared, sub), dict) and sub:
                    issues.append(Issue(str(doc.where_key(path + sub)), dotted(path + sub[:-1]), message))
                else:
                    issues.append(Issue(str(doc.where(path + sub)), dotted(path + sub), message))
    return issues


def _at(value: Any, sub: PathKey) -> Any:
    """The value a kind's issue points at, under its section."""
    for part in sub:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return None
    return value


def _depths(groups: dict[str, Group]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def of(name: str, trail: tuple[str, ...] = ()) -> int:
        if name in depth:
            return depth[name]
        parents = [p for p in groups[name].parents if p not in trail]
        depth[name] = 0 if name == ALL or not parents else 1 + max(of(p, trail + (name,)) for p in parents)
        return depth[name]

    for name in groups:
        of(name)
    return depth


def _priority(group: Group) -> int:
    """ansible_group_priority as Ansible's Group.set_variable takes it: the last value set (an INI
    ``[g:vars]`` line is a block of its own); 1 when unset or not a number."""
    values = [block.data["ansible_group_priority"] for block in group.blocks if "ansible_group_priority" in block.data]
    try:
        return int(values[-1]) if values else 1
    except (TypeError, ValueError):
        return 1


def _cycle_check(groups: dict[str, Group], issues: list[Issue | str]) -> None:
    """Every group that is its own ancestor, reported once per cycle.

    Depth-first, each group finished once: a lattice of groups that are children of several
    parents has exponentially many paths, and walking them all took minutes for 22 levels.
    """
    reported: set[frozenset[str]] = set()
    finished: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        for child in groups[name].children:
            if child in trail:
                cycle = trail[trail.index(child) :] + (child,)
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    issues.append(f"group {child!r} is its own ancestor: {' -> '.join(cycle)}")
            elif child not in finished:
                visit(child, trail + (child,))
        finished.add(name)

    for name in groups:
        if name not in finished:
            visit(name, (name,))


__all__ = ["Host", "Inventory", "InventoryError", "RESOURCES", "UNGROUPED", "display_path", "load"]
