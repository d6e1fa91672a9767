"""The YAML (and JSON) inventory format: ``all:`` -> ``hosts:`` / ``vars:`` / ``children:``.

Follows ansible-core's yaml inventory plugin: top-level keys are groups
(``all`` among them), host keys may carry ranges and a ``:port``, and a
group with no parent becomes a child of ``all`` when the inventory is
reconciled. Unknown keys in a group are errors here (Ansible warns), because
they are almost always a missing ``hosts:`` or ``vars:``.
"""

from __future__ import annotations

from typing import Any

from .hostpattern import HostPatternError, expand_host
from .inventory_data import InventoryData, VarsBlock, as_mapping
from .schema import Issue, dotted
from .yamlsource import Document, PathKey

GROUP_KEYS = ("hosts", "vars", "children")


def read_yaml_inventory(doc: Document, data: InventoryData, secret: bool = False) -> None:
    """Add the groups, hosts and variables of one YAML inventory document."""
    issues = data.issues
    if not isinstance(doc.data, dict) or not doc.data:
        issues.append(f"{doc.where(())}: an inventory is a mapping of groups, starting with 'all:'")
        return

    def walk(name: str, body: Any, path: PathKey, parent: str | None) -> None:
        data.group(name)
        if parent is not None:
            data.add_child(parent, name)
        if body is None:
            return
        if not isinstance(body, dict):
            issues.append(Issue(str(doc.where(path)), dotted(path), f"a group is a mapping with {', '.join(GROUP_KEYS)}"))
            return
        for key in body:
            if key not in GROUP_KEYS:
                issues.append(Issue(str(doc.where_key(path + (key,))), dotted(path), f"unknown key {key!r}; a group has only {', '.join(GROUP_KEYS)} (did you forget 'hosts:' or 'vars:'?)"))
        if body.get("vars") is not None:
            block = as_mapping(doc, path + ("vars",), body["vars"], f"group {name}", issues)
            if block is not None:
                data.add_group_block(name, VarsBlock(doc, path + ("vars",), block, f"group {name}", secret))
        hosts = body.get("hosts")
        if hosts is not None:
            if not isinstance(hosts, dict):
                issues.append(Issue(str(doc.where(path + ("hosts",))), dotted(path + ("hosts",)), "expected a mapping of host names (write 'host:' with a colon)"))
            else:
                for key, host_vars in hosts.items():
                    _host(doc, data, name, path + ("hosts", key), str(key), host_vars, secret)
        children = body.get("children")
        if children is not None:
            if not isinstance(children, dict):
                issues.append(Issue(str(doc.where(path + ("children",))), dotted(path + ("children",)), "expected a mapping of group names"))
            else:
                for child, child_body in children.items():
                    walk(str(child), child_body, path + ("children", child), name)

    for top, body in doc.data.items():
        walk(str(top), body, (top,), None)



def _host(doc: Document, data: InventoryData, group: str, path: PathKey, key: str, host_vars: Any, secret: bool) -> None:
    try:
        names, port = expand_host(key)
    except HostPatternError as exc:
        data.issues.append(Issue(str(doc.where_key(path)), dotted(path[:-1]), str(exc)))
        return
    block = None
    if host_vars is not None:
        block = as_mapping(doc, path, host_vars, f"host {key}", data.issues)
    for name in names:
        data.add_host(group, name, doc.where_key(path))
        if port is not None:
            # Ansible sets ansible_port from a host:port key; it sits where the key is written.
            port_doc = Document(data=None, file=doc.file, locations={("port",): doc.where_key(path)}, key_locations={}, scalars={})
            data.add_host_block(name, VarsBlock(port_doc, ("port",), {"ansible_port": port}, f"host {name}"))
        if block is not None:
            data.add_host_block(name, VarsBlock(doc, path, block, f"host {name}", secret))
