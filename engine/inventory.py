"""Ansible-shaped inventories: groups, hosts, group_vars/host_vars, merged per host.

Merge order is Ansible's: the ``all`` group, then groups by depth (parents
before children; siblings by ``ansible_group_priority`` then name), then the
host; inventory-file vars before the group_vars/host_vars files of the same
group or host. Unlike Ansible's default (``hash_behaviour = replace``),
mappings merge key by key, so a host can override one property of a group's
``exchange:`` without repeating the rest. Every merged value remembers the
file, line and column it came from, for errors and for the plan's "reason".
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exconf.modules import RESOURCES, Resource, SettingsKind, by_scope
from exconf.modules.base import ORGANIZATION, SERVER, placeholder_error
from exconf.values import ValueError_

from .schema import CONNECTION_VARS, Issue, dotted, validate_block, vars_schema
from .yamlsource import Document, Location, PathKey, SourceError, load_file

VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
GROUP_KEYS = ("hosts", "vars", "children")


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


@dataclass
class Group:
    name: str
    parents: set[str] = field(default_factory=set)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    blocks: list[VarsBlock] = field(default_factory=list)


@dataclass(frozen=True)
class Host:
    name: str
    order: int
    groups: frozenset[str]  # every group it belongs to, ancestors included
    vars: dict[str, Any]
    sources: dict[PathKey, Location]

    def source(self, path: PathKey) -> Location | None:
        p = tuple(path)
        while p:
            if p in self.sources:
                return self.sources[p]
            p = p[:-1]
        return None


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: tuple[Host, ...]
    groups: dict[str, frozenset[str]]  # group -> names of its hosts (descendants included)
    organization: dict[str, Any]  # exchange_organization, as declared in the all group
    organization_sources: dict[PathKey, Location]

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)


def display_path(path: Path) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load(path: Path) -> Inventory:
    """Load, validate and merge an inventory; raise InventoryError listing every problem."""
    issues: list[Issue | str] = []
    try:
        root_doc = load_file(path, display_path(path))
    except SourceError as exc:
        raise InventoryError([str(exc)]) from None
    if not isinstance(root_doc.data, dict) or not root_doc.data:
        raise InventoryError([f"{root_doc.where(())}: an inventory is a mapping of groups, starting with 'all:'"])

    groups: dict[str, Group] = {"all": Group("all")}
    host_blocks: dict[str, list[VarsBlock]] = {}
    host_order: list[str] = []

    def walk(name: str, body: Any, path: PathKey, parent: str | None) -> None:
        group = groups.setdefault(name, Group(name))
        if parent is not None and name != parent:
            group.parents.add(parent)
            if name not in groups[parent].children:
                groups[parent].children.append(name)
        if body is None:
            return
        if not isinstance(body, dict):
            issues.append(Issue(str(root_doc.where(path)), dotted(path), f"a group is a mapping with {', '.join(GROUP_KEYS)}"))
            return
        for key in body:
            if key not in GROUP_KEYS:
                issues.append(
                    Issue(str(root_doc.where_key(path + (key,))), dotted(path), f"unknown key {key!r}; a group has only {', '.join(GROUP_KEYS)} (did you forget 'hosts:' or 'vars:'?)")
                )
        if body.get("vars") is not None:
            _add_block(group.blocks, root_doc, path + ("vars",), body["vars"], f"group {name}", issues)
        hosts = body.get("hosts")
        if hosts is not None:
            if not isinstance(hosts, dict):
                issues.append(Issue(str(root_doc.where(path + ("hosts",))), dotted(path + ("hosts",)), "expected a mapping of host names (write 'host:' with a colon)"))
            else:
                for host_name, host_vars in hosts.items():
                    host_name = str(host_name)
                    if host_name not in host_blocks:
                        host_blocks[host_name] = []
                        host_order.append(host_name)
                    if host_name not in group.hosts:
                        group.hosts.append(host_name)
                    if host_vars is not None:
                        _add_block(host_blocks[host_name], root_doc, path + ("hosts", host_name), host_vars, f"host {host_name}", issues)
        children = body.get("children")
        if children is not None:
            if not isinstance(children, dict):
                issues.append(Issue(str(root_doc.where(path + ("children",))), dotted(path + ("children",)), "expected a mapping of group names"))
            else:
                for child, child_body in children.items():
                    walk(str(child), child_body, path + ("children", child), name)

    for top, body in root_doc.data.items():
        walk(str(top), body, (top,), None if top == "all" else "all")

    _cycle_check(groups, issues)
    base_dir = path.parent
    for name, group in groups.items():
        group.blocks.extend(_vars_files(base_dir / "group_vars", name, f"group {name}", issues))
    for host_name in host_order:
        host_blocks[host_name].extend(_vars_files(base_dir / "host_vars", host_name, f"host {host_name}", issues))
    _unknown_vars_files(base_dir, groups, host_blocks, issues)

    if not host_order:
        issues.append(f"{root_doc.where(())}: the inventory declares no hosts")

    # exchange_organization is organisation-wide: only the all group may declare it.
    for group in groups.values():
        for block in group.blocks:
            if "exchange_organization" in block.data and group.name != "all":
                issues.append(_org_misplaced(block))
    for blocks in host_blocks.values():
        for block in blocks:
            if "exchange_organization" in block.data:
                issues.append(_org_misplaced(block))

    if issues:
        raise InventoryError(_sorted(issues))

    depth = _depths(groups)
    ordered = sorted(groups.values(), key=lambda g: (depth[g.name], _priority(g), g.name))
    members = {g.name: frozenset(_members(g.name, groups)) for g in groups.values()}
    members["all"] = frozenset(host_order)

    hosts = []
    for index, host_name in enumerate(host_order):
        merged: dict[str, Any] = {}
        sources: dict[PathKey, Location] = {}
        host_groups = frozenset(g for g, m in members.items() if host_name in m)
        for group in ordered:
            if group.name in host_groups:
                for block in group.blocks:
                    _merge(merged, sources, block, ())
        for block in host_blocks[host_name]:
            _merge(merged, sources, block, ())
        hosts.append(Host(host_name, index, host_groups, merged, sources))

    org: dict[str, Any] = {}
    org_sources: dict[PathKey, Location] = {}
    for block in groups["all"].blocks:
        if "exchange_organization" in block.data:
            sub = VarsBlock(block.doc, block.base + ("exchange_organization",), block.data["exchange_organization"] or {}, block.owner)
            _merge(org, org_sources, sub, ())
    return Inventory(path=path, hosts=tuple(hosts), groups=members, organization=org, organization_sources=org_sources)


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


def _add_block(blocks: list[VarsBlock], doc: Document, base: PathKey, data: Any, owner: str, issues: list[Issue | str]) -> None:
    if not isinstance(data, dict):
        issues.append(Issue(str(doc.where(base)), dotted(base), f"variables of {owner} must be a mapping, found {type(data).__name__}"))
        return
    found = validate_block(doc, base, data, vars_schema())
    reported = {(i.where, i.path) for i in found}
    found += [i for i in _semantic_issues(doc, base, data) if (i.where, i.path) not in reported]
    issues.extend(found)
    if not found:
        blocks.append(VarsBlock(doc, base, data, owner))


def _vars_files(folder: Path, name: str, owner: str, issues: list[Issue | str]) -> list[VarsBlock]:
    """group_vars/<name>[.yml|.yaml|.json] and the files of a group_vars/<name>/ folder, in lexical order."""
    blocks: list[VarsBlock] = []
    candidates = [folder / (name + ext) for ext in VARS_EXTENSIONS if (folder / (name + ext)).is_file()]
    if (folder / name).is_dir():
        candidates += sorted(p for p in (folder / name).rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml", ".json", ""))
    for file in candidates:
        try:
            doc = load_file(file, display_path(file))
        except SourceError as exc:
            issues.append(str(exc))
            continue
        if doc.data is None:
            continue
        _add_block(blocks, doc, (), doc.data, owner, issues)
    return blocks


def _unknown_vars_files(base_dir: Path, groups: dict[str, Group], hosts: dict[str, list[VarsBlock]], issues: list[Issue | str]) -> None:
    """A group_vars/host_vars file that matches no group or host is almost always a typo."""
    for folder, known, what in ((base_dir / "group_vars", set(groups), "group"), (base_dir / "host_vars", set(hosts), "host")):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            stem = entry.name if entry.is_dir() else entry.name.rsplit(".", 1)[0] if entry.suffix in (".yml", ".yaml", ".json") else entry.name
            if stem not in known:
                issues.append(f"{display_path(entry)}: no {what} named {stem!r} in the inventory")


def _semantic_issues(doc: Document, base: PathKey, data: dict[str, Any]) -> list[Issue]:
    """Checks JSON Schema cannot express: exconf_* names, {server} templates, Exchange value ranges."""
    issues: list[Issue] = []
    for key in data:
        if isinstance(key, str) and key.startswith("exconf_") and key not in CONNECTION_VARS:
            known = ", ".join(k for k in CONNECTION_VARS if k.startswith("exconf_"))
            issues.append(Issue(str(doc.where_key(base + (key,))), dotted(base), f"unknown key {key!r}; exconf variables are {known}"))
    for section_key, scope in (("exchange", SERVER), ("exchange_organization", ORGANIZATION)):
        section = data.get(section_key)
        if not isinstance(section, dict):
            continue
        for resource in by_scope(scope):
            declared = section.get(resource.section)
            path = base + (section_key, resource.section)
            if not isinstance(resource, SettingsKind):  # a kind with its own shape checks itself
                check = getattr(resource, "inventory_issues", None)
                for sub, message in check(declared, Path(doc.file).parent) if check else ():
                    issues.append(Issue(str(doc.where(path + sub)), dotted(path + sub), message))
                continue
            if not isinstance(declared, dict):
                continue
            if resource.named:
                for name, props in declared.items():
                    problem = placeholder_error(str(name))
                    if problem:
                        issues.append(Issue(str(doc.where_key(path + (name,))), dotted(path), f"name {name!r}: {problem}"))
                    if isinstance(props, dict):
                        issues.extend(_value_issues(doc, path + (name,), resource, props))
            else:
                issues.extend(_value_issues(doc, path, resource, declared))
    return issues


def _value_issues(doc: Document, path: PathKey, resource: Resource, props: dict[str, Any]) -> list[Issue]:
    issues = []
    for key, value in props.items():
        try:
            resource.prop(key).type.parse(value)
        except StopIteration:
            continue  # unknown keys are reported by the schema
        except ValueError_ as exc:
            issues.append(Issue(str(doc.where(path + (key,))), dotted(path + (key,)), str(exc)))
    return issues


def _merge(target: dict[str, Any], sources: dict[PathKey, Location], block: VarsBlock, prefix: PathKey) -> None:
    data = block.data
    for path in prefix:
        data = data[path]
    for key, value in data.items():
        here = prefix + (key,)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], sources, block, here)
            continue
        target[key] = copy.deepcopy(value)
        for sub in list(sources):
            if sub[: len(here)] == here:
                del sources[sub]
        _record(sources, block, here, value)


def _record(sources: dict[PathKey, Location], block: VarsBlock, here: PathKey, value: Any) -> None:
    # A mapping (a declared connector, a section) is best named by its key; a leaf by its value.
    path = block.base + here
    sources[here] = block.doc.where_key(path) if isinstance(value, dict) else block.doc.where(path)
    if isinstance(value, dict):
        for key, sub in value.items():
            _record(sources, block, here + (key,), sub)
    elif isinstance(value, list):  # a list of mappings (exchange.certificates): each item and its keys
        for index, sub in enumerate(value):
            if isinstance(sub, dict):
                sources[here + (index,)] = block.doc.where_key(block.base + here + (index,))
                for key, leaf in sub.items():
                    _record(sources, block, here + (index, key), leaf)


def _members(name: str, groups: dict[str, Group], seen: set[str] | None = None) -> list[str]:
    seen = seen if seen is not None else set()
    if name in seen:
        return []
    seen.add(name)
    out = list(groups[name].hosts)
    for child in groups[name].children:
        out += [h for h in _members(child, groups, seen) if h not in out]
    return out


def _depths(groups: dict[str, Group]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def of(name: str, trail: tuple[str, ...] = ()) -> int:
        if name in depth:
            return depth[name]
        parents = [p for p in groups[name].parents if p not in trail]
        depth[name] = 0 if name == "all" or not parents else 1 + max(of(p, trail + (name,)) for p in parents)
        return depth[name]

    for name in groups:
        of(name)
    return depth


def _priority(group: Group) -> int:
    for block in group.blocks:
        value = block.data.get("ansible_group_priority")
        if isinstance(value, int):
            return value
    return 1


def _cycle_check(groups: dict[str, Group], issues: list[Issue | str]) -> None:
    def visit(name: str, trail: tuple[str, ...]) -> None:
        for child in groups[name].children:
            if child in trail:
                issues.append(f"group {child!r} is its own ancestor: {' -> '.join(trail + (child,))}")
                continue
            visit(child, trail + (child,))

    visit("all", ("all",))


__all__ = ["Host", "Inventory", "InventoryError", "RESOURCES", "display_path", "load"]
