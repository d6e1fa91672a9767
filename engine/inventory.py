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
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exconf.modules import RESOURCES, by_scope
from exconf.modules.base import ORGANIZATION, SERVER

from . import safepath
from .connection import cleartext_connection, unsupported_connection
from .host import Host
from .inventory_data import ALL, UNGROUPED, Group, InventoryData, InventoryError, VarsBlock, group_hosts
from .inventory_sources import display_path, extra_vars, is_host_list, read_host_list, read_source, vars_blocks, vars_files
from .schema import CONNECTION_VARS, Issue, dotted, validate_block, vars_schema
from .sensitive import mark
from .template_plugins import OMIT
from .templating import Renderer, RenderError, Scope, nearest
from .vault import VaultError, VaultSecrets
from .yamlsource import Document, Location, PathKey, ScalarSource

_JINJA_KEY = re.compile(r"\{\{.*\}\}|\{%|\{#")


# The variables exconf itself reads of a host: what a command needs rendered and valid before any host is contacted.
def _needed(key: str) -> bool:
    return key in CONNECTION_VARS or key.startswith("exconf_") or key == "exchange"


@dataclass(frozen=True, eq=False)
class Inventory:
    path: Path  # the first source (for a directory: the first file read in it; for a host list: the working folder)
    hosts: tuple[Host, ...]
    groups: dict[str, frozenset[str]]  # group -> names of its hosts (descendants included)
    paths: tuple[Path, ...] = ()  # every source, in order
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> its direct children
    direct_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> hosts declared in it
    warnings: list[str] = field(default_factory=list)
    resolver: _Resolver | None = field(default=None, repr=False)
    sources: tuple[str, ...] = ()  # the sources as given (-i), for reports

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the inventory are resolved against."""
        return self.path.parent

    @property
    def declares_organization(self) -> bool:
        """Whether the all group declares exchange_organization (without rendering it)."""
        return self.resolver is not None and "exchange_organization" in self.resolver.merged(None).vars

    @property
    def organization(self) -> dict[str, Any]:
        """exchange_organization, as declared for the all group, rendered."""
        if not self.declares_organization:
            return {}
        assert self.resolver is not None
        value = self.resolver.renderer.variable(None, "exchange_organization")
        return value if isinstance(value, dict) else {}

    @property
    def organization_sources(self) -> dict[PathKey, Location]:
        if self.resolver is None:
            return {}
        sources = self.resolver.merged(None).sources
        return {k[1:]: v for k, v in sources.items() if k[:1] == ("exchange_organization",) and len(k) > 1}

    def value(self, host: Host, key: str, default: Any = None) -> Any:
        """A host's variable, or ``default`` when it is not set or cannot be rendered (a host outside
        ``--limit`` whose variables were never checked must not stop the run)."""
        try:
            return host.vars.get(key, default)
        except (RenderError, VaultError):
            return default

    def files(self) -> list[Path]:
        """Every file the inventory's values may come from, found without reading them: the sources'
        files and every group_vars/host_vars file of every group and host (for a plan file's digest)."""
        assert self.resolver is not None
        return self.resolver.files_found()

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def check(self, names: Sequence[str], *, organization: bool = True, every: bool = False) -> None:
        """Render and validate what the selected hosts need (every variable of theirs, with ``every``) and,
        when selected, the organisation's objects; raise InventoryError listing every problem.

        This is ansible-core's laziness, with exconf's promise: a variable no selected host needs is
        never rendered (a lookup or a vault id it uses is never asked for), and a variable one needs
        is an error here, at its file:line:col, before any host is contacted.
        """
        assert self.resolver is not None
        issues = self.resolver.check(names, organization=organization, every=every)
        _stop_on(issues)


def open_inventory(
    path: Path | Sequence[Path | str],
    *,
    vault: VaultSecrets | None = None,
    extra: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Inventory:
    """Read the inventory's sources and its shape (groups and hosts); variables are merged and
    rendered when first read. Raise InventoryError listing every problem of the sources."""
    vault = vault or VaultSecrets()
    given = (path,) if isinstance(path, (str, Path)) else tuple(path)
    data = InventoryData()
    paths: list[Path] = []
    for source in given:
        if isinstance(source, str) and is_host_list(source):
            read_host_list(source, data)
            continue
        paths.append(Path(source))
        read_source(Path(source), data, vault)
    if not data.issues:
        data.reconcile()
        _cycle_check(data.groups, data.issues)
    _stop_on(data.issues)

    extras = extra_vars(tuple(extra), vault, data.issues)
    if not data.host_order:
        first = display_path(paths[0]) if paths else str(given[0])
        data.issues.append(f"{first}: the inventory declares no hosts")
    _stop_on(data.issues)
    for name in sorted(set(data.groups) & set(data.host_order)):
        data.warnings.append(f"Found both group and host with same name: {name} (as ansible-core warns; a --limit naming it selects the host)")

    tree = _Tree.of(data)
    basedirs = _basedirs(tuple(paths))
    for base in basedirs:
        data.warnings += _unknown_vars_files(base, data)
    main_file = _main_file(paths[0], data) if paths else Path.cwd() / "inventory"  # a host list: the working folder
    resolver = _Resolver(data, tree, basedirs, vault, extras, main_file.parent, environ)
    hosts = tuple(
        Host(name, index, frozenset(tree.groups_of[name]), _LazyVars(resolver, name), _LazySources(resolver, name, "sources"),
             _LazySources(resolver, name, "key_sources"))
        for index, name in enumerate(data.host_order)
    )
    return Inventory(
        path=main_file,
        hosts=hosts,
        groups={name: frozenset(hs) for name, hs in tree.members.items()},
        paths=tuple(paths),
        children=tree.children,
        direct_hosts=tree.direct,
        warnings=list(dict.fromkeys(data.warnings)),
        resolver=resolver,
        sources=tuple(str(s) for s in given),
    )


def load(
    path: Path | Sequence[Path | str],
    *,
    vault: VaultSecrets | None = None,
    extra: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Inventory:
    """Open an inventory and check every variable of every host (what ``exconf inventory`` without
    ``--limit`` shows); raise InventoryError listing every problem."""
    inventory = open_inventory(path, vault=vault, extra=extra, environ=environ)
    inventory.check([h.name for h in inventory.hosts], organization=True, every=True)
    return inventory


def _stop_on(issues: list[Issue | str]) -> None:
    if issues:
        raise InventoryError(_sorted(issues))


def _basedirs(paths: tuple[Path, ...]) -> list[Path]:
    """The folders whose group_vars/ and host_vars/ are read: beside each source (inside it, for a directory)."""
    basedirs: list[Path] = []
    for source in paths:
        base = source if source.is_dir() else source.parent
        if base.resolve() not in [b.resolve() for b in basedirs]:
            basedirs.append(base)
    return basedirs


class _Resolver:
    """A host's variables, merged and rendered when first needed, and the problems found on the way.

    group_vars/ and host_vars/ files are read when a host that needs them is merged (so a
    vault-encrypted file of a group no selected host is in is never decrypted), every group's
    inventory vars ranking below every group_vars file, as in ansible-core.
    """

    def __init__(self, data: InventoryData, tree: _Tree, basedirs: list[Path], vault: VaultSecrets,
                 extras: list[VarsBlock], base_dir: Path, environ: Mapping[str, str] | None):
        self.data, self.tree, self.basedirs, self.vault, self.extras = data, tree, basedirs, vault, extras
        self.base_dir = base_dir  # the inventory's folder: relative paths (lookup('file'), exconf_lab) inside it
        self._files: dict[tuple[str, str], list[VarsBlock]] = {}
        self._file_issues: dict[tuple[str, str], list[Issue | str]] = {}
        self._merged: dict[str | None, _Merged] = {}
        self._lock = threading.RLock()
        self.renderer = Renderer(_Scopes(self), base_dir=base_dir, secrets=vault, environ=environ)

    def files(self, what: str, name: str) -> list[VarsBlock]:
        """The blocks of group_vars/NAME (what="group") or host_vars/NAME (what="host"), read once."""
        key = (what, name)
        with self._lock:
            if key not in self._files:
                issues: list[Issue | str] = []
                blocks: list[VarsBlock] = []
                for base in self.basedirs:
                    found = vars_files(base / f"{what}_vars", name, issues)
                    blocks += vars_blocks(found, f"{what} {name}", self.vault, issues)
                self._files[key], self._file_issues[key] = blocks, issues
            return self._files[key]

    def files_found(self) -> list[Path]:
        found: set[Path] = {p.resolve() for p in self.data.files_read}
        found |= {Path(b.doc.file).resolve() for b in self.extras if Path(b.doc.file).is_file()}  # -e @file
        ignored: list[Issue | str] = []  # problems are reported when a selected host needs the file
        for base in self.basedirs:
            for what, names in (("group", list(self.data.groups)), ("host", list(self.data.host_order))):
                for name in names:
                    found |= {p.resolve() for p in vars_files(base / f"{what}_vars", name, ignored)}
        return sorted(found)

    def merged(self, host: str | None) -> _Merged:
        with self._lock:
            if host not in self._merged:
                self._merged[host] = self._merge(host)
            return self._merged[host]

    def _merge(self, host: str | None) -> _Merged:
        """A host's variables in Ansible's precedence (see the module's docstring); None is the organisation's (all group's)."""
        all_group = self.data.groups[ALL]
        m = _Merged()
        if host is None:
            for block in all_group.blocks:
                m.add(block, group_inventory=True)
            for block in self.files("group", ALL) + self.extras:
                m.add(block)
            return m
        mine = [g for g in self.tree.ordered if g.name in self.tree.groups_of[host]]
        for block in all_group.blocks + [b for g in mine for b in g.blocks]:
            m.add(block, group_inventory=True)
        group_files = self.files("group", ALL) + [b for g in mine for b in self.files("group", g.name)]
        for block in group_files + self.data.host_blocks[host] + self.files("host", host) + self.extras:
            m.add(block)
        return m

    def _read_issues(self, host: str | None) -> list[Issue | str]:
        """Problems of the files a host's variables come from, and exchange_organization set where it cannot be."""
        groups = [ALL] if host is None else sorted(self.tree.groups_of[host])
        keys = [("group", g) for g in groups] + ([("host", host)] if host is not None else [])
        out: list[Issue | str] = []
        for key in keys:
            self.files(*key)
            out += self._file_issues.get(key, [])
        if host is not None:
            for g in groups:
                group = self.data.groups[g]
                for block in group.blocks + self.files("group", g):
                    if "exchange_organization" in block.data and g != ALL:
                        out.append(_org_misplaced(block))
            for block in self.data.host_blocks[host] + self.files("host", host):
                if "exchange_organization" in block.data:
                    out.append(_org_misplaced(block))
        return out

    def check(self, names: Sequence[str], *, organization: bool, every: bool) -> list[Issue | str]:
        issues: list[Issue | str] = []
        seen: set[str] = set()
        renderer = self.renderer
        for name in names:
            m = self.merged(name)
            keys = list(m.vars) if every else [k for k in m.vars if _needed(k)]
            rendered: dict[str, Any] = {}
            for key in keys:
                try:
                    value = renderer.variable(name, key)
                except RenderError as exc:
                    _add_once(issues, seen, str(exc))
                    continue
                if value is not OMIT:
                    rendered[key] = value
            for issue in _validate(rendered, m, name) + list(_lab_issue(name, rendered, m, self.base_dir)):
                _add_once(issues, seen, issue)
        if organization and "exchange_organization" in self.merged(None).vars:
            try:
                value = renderer.variable(None, "exchange_organization")
                for found in _validate({"exchange_organization": value or {}}, self.merged(None)):
                    _add_once(issues, seen, found)
            except RenderError as exc:
                _add_once(issues, seen, str(exc))
        # Problems of every file read for them, those of hosts their templates reached (hostvars) included.
        with self._lock:
            merged = [h for h in self._merged]
        for host in merged:
            for read_issue in self._read_issues(host):
                _add_once(issues, seen, read_issue)
        return issues


class _Scopes(Mapping[str | None, Scope]):
    """Each host's Scope (raw merged variables, magic variables, locations), built when a template first needs it."""

    def __init__(self, resolver: _Resolver):
        self.resolver = resolver
        self._cache: dict[str | None, Scope] = {}

    def __getitem__(self, host: str | None) -> Scope:
        if host not in self._cache:
            if host is not None and host not in self.resolver.data.host_blocks:
                raise KeyError(host)
            m = self.resolver.merged(host)
            self._cache[host] = Scope(host, m.vars, _magic(host, self.resolver.data, self.resolver.tree), m.sources)
        return self._cache[host]

    def __contains__(self, host: object) -> bool:
        return host is None or host in self.resolver.data.host_blocks

    def __iter__(self) -> Iterator[str | None]:
        return iter(self.resolver.data.host_order)

    def __len__(self) -> int:
        return len(self.resolver.data.host_order)


class _LazyVars(Mapping[str, Any]):
    """A host's variables, each rendered when first read (RenderError if it cannot be); ``omit`` reads as not set."""

    def __init__(self, resolver: _Resolver, host: str):
        self.resolver, self.host = resolver, host

    def __getitem__(self, key: str) -> Any:
        if key not in self.resolver.merged(self.host).vars:
            raise KeyError(key)
        value = self.resolver.renderer.variable(self.host, key)
        if value is OMIT:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return (k for k in list(self.resolver.merged(self.host).vars) if k in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<variables of {self.host}>"


class _LazySources(Mapping[PathKey, Location]):
    """Where each of a host's values was written, known once the host is merged."""

    def __init__(self, resolver: _Resolver, host: str, table: str):
        self.resolver, self.host, self.table = resolver, host, table

    def _map(self) -> dict[PathKey, Location]:
        return getattr(self.resolver.merged(self.host), self.table)

    def __getitem__(self, key: PathKey) -> Location:
        return self._map()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._map()

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


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


def _magic(name: str | None, data: InventoryData, tree: _Tree) -> dict[str, Any]:
    """Ansible's magic variables for a host (for the organisation: groups only)."""
    magic: dict[str, Any] = {"groups": tree.groups_magic}
    if name is not None:
        source_file = data.host_source[name]  # every host is declared by a file read_source names, or a host list
        magic.update(
            inventory_hostname=name,
            inventory_hostname_short=name.split(".")[0],
            group_names=sorted(g for g in tree.groups_of[name] if g != ALL),
            inventory_file=str(source_file),
            inventory_dir=str(source_file.parent) if isinstance(source_file, Path) else "None",  # ansible-core's, for a host list
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


def _validate(rendered: dict[str, Any], m: _Merged, name: str | None = None) -> list[Issue]:
    """Schema and Exchange checks on a host's rendered variables, located where each value was written."""
    doc = Document(data=rendered, file="", locations=dict(m.sources), key_locations=dict(m.key_sources), scalars=dict(m.scalars))
    checked = dict(rendered)
    port = checked.get("ansible_port")
    if isinstance(port, str) and port.strip().isdigit():
        checked["ansible_port"] = int(port)  # Ansible takes the port as a text too; the connection reads it as a number
    found = validate_block(doc, (), checked, vars_schema())
    reported = {(i.where, i.path) for i in found}
    found += [i for i in _semantic_issues(doc, (), checked) if (i.where, i.path) not in reported]
    if name is not None:
        found += _connection_issues(doc, checked, name)
    return found


def _connection_issues(doc: Document, v: dict[str, Any], name: str) -> list[Issue]:
    """Transports exconf does not have yet, doors a host cannot have, and cleartext it did not accept are refused
    now, before any host is contacted."""
    found = unsupported_connection(v, name) + cleartext_connection(v)
    return [Issue(str(doc.where((key,))), key, message) for key, message in found]


def _lab_issue(host: str, rendered: dict[str, Any], m: _Merged, base: Path) -> tuple[Issue] | tuple[()]:
    """exconf_lab names a file exconf starts a server from: only one inside the inventory's folder (links resolved)."""
    name = rendered.get("exconf_lab")
    if not isinstance(name, str) or not name or safepath.inside(base, name) is not None:
        return ()
    where = nearest(m.sources, ("exconf_lab",))
    return (Issue(str(where) if where else host, "exconf_lab",
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
