"""The INI inventory format, read as ansible-core's ini plugin reads it.

``[group]`` lists hosts (with inline ``key=value`` variables, split as a
shell would and typed by ``ast.literal_eval``: ``5986`` is a number,
``"5986"`` a text, ``True`` a boolean, ``yes`` a text), ``[group:vars]``
holds one ``key=value`` a line (typed the same way, as ansible-core 2.19's
code does), ``[group:children]`` names subgroups, which may be declared
further down. Lines before the first section are hosts of ``ungrouped``.
Every value keeps the line and column it was written at.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from .hostpattern import HostPatternError, expand_host
from .inventory_data import UNGROUPED, InventoryData, VarsBlock
from .yamlsource import Document, Location

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


def parse_value(text: str) -> Any:
    """Ansible's ``_parse_value``: a Python literal when it is one, the text otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if value is ... or isinstance(value, complex):
        return text if value is ... else str(value)
    if isinstance(value, bytes):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, set, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read_ini_inventory(text: str, file: str, data: InventoryData, secret: bool = False) -> None:
    """Add the groups, hosts and variables of one INI inventory."""
    doc = Document(data=None, file=file, locations={}, key_locations={}, scalars={})
    pending: dict[str, tuple[Location, bool, list[str]]] = {}  # group -> (where, named by a [g:vars] section, parents)
    declared: set[str] = set(data.groups)
    group, state = UNGROUPED, "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        column = len(raw) - len(raw.lstrip()) + 1
        where = Location(file, number, column)
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                data.issues.append(f"{where}: section [{group}:{state}] has unknown type {state!r}; use [{group}], [{group}:vars] or [{group}:children]")
                state = "skip"
                continue
            if state != "vars":
                declared.add(group)
            elif group not in declared:
                pending.setdefault(group, (where, True, []))
            data.group(group)
            continue
        if line.startswith("[") and line.endswith("]"):
            data.issues.append(f"{where}: invalid section {line!r}: a section is [name], [name:vars] or [name:children], without spaces")
            state = "skip"
            continue
        if state == "skip":
            continue
        if state == "hosts":
            _host_line(doc, raw, line, where, group, data, secret)
        elif state == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                data.issues.append(f"{where}: expected key=value in [{group}:vars], found {line!r}")
                continue
            key = key.strip()
            if not key:
                data.issues.append(f"{where}: expected key=value in [{group}:vars], found no key before '='")
                continue
            path = (f"[{group}:vars]", key)
            doc.key_locations[path] = where
            doc.locations[path] = Location(file, number, raw.index("=") + 2 + (len(value) - len(value.lstrip())))
            data.add_group_block(group, VarsBlock(doc, (f"[{group}:vars]",), {key: parse_value(value.strip())}, f"group {group}", secret))
        else:  # children
            m = _GROUP_NAME.match(line)
            if not m:
                data.issues.append(f"{where}: expected a group name in [{group}:children], found {line!r}")
                continue
            child = m.group(1)
            data.add_child(group, child)
            if child not in declared:
                pending.setdefault(child, (where, False, []))[2].append(group)
    for name, (where, from_vars, parents) in pending.items():
        if name in declared:
            continue
        if from_vars:
            data.issues.append(f"{where}: section [{name}:vars] is for a group {name!r} this file does not declare")
        else:
            data.issues.append(f"{where}: section [{parents[-1]}:children] includes a group {name!r} this file does not declare")


def _host_line(doc: Document, raw: str, line: str, where: Location, group: str, data: InventoryData, secret: bool) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        data.issues.append(f"{where}: cannot read the host line: {exc}")
        return
    if not tokens:
        return
    pattern = tokens[0]
    if pattern.endswith(":"):
        data.issues.append(f"{where}: host {pattern!r} ends in ':', which is reserved for a port")
        return
    try:
        names, port = expand_host(pattern)
    except HostPatternError as exc:
        data.issues.append(f"{where}: {exc}")
        return
    values: dict[str, Any] = {}
    base = (f"[{group}]", pattern)
    offset = raw.index(pattern) + len(pattern)
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        at = raw.find(key + "=", offset)
        col = (at if at >= 0 else offset) + 1
        if not sep or not key:
            data.issues.append(f"{Location(doc.file, where.line, col)}: expected key=value after host {pattern!r}, found {token!r}")
            return
        doc.key_locations[base + (key,)] = Location(doc.file, where.line, col)
        doc.locations[base + (key,)] = Location(doc.file, where.line, col + len(key) + 1)
        offset = max(offset, at + len(key) + 1)
        values[key] = parse_value(value)
    doc.locations[base] = where
    for name in names:
        data.add_host(group, name, where)
        if port is not None:
            data.add_host_block(name, VarsBlock(doc, base, {"ansible_port": port}, f"host {name}"))
        if values:
            data.add_host_block(name, VarsBlock(doc, base, values, f"host {name}", secret))
