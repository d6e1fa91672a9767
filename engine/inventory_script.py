"""Dynamic inventories: an executable script (``--list``), or the JSON that ``ansible-inventory --list`` prints.

Both use the script protocol of ansible-core's script inventory plugin: a
JSON object of groups (``{"hosts": [...], "vars": {...}, "children": [...]}``
or a plain list of hosts) and ``_meta.hostvars``; without ``_meta`` the
script is asked ``--host NAME`` for each host. So an estate kept in AD, a
CMDB or a cloud plugin reaches exconf through Ansible's own tooling
(``ansible-inventory -i plugin.yml --list > estate.json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
import subprocess
from pathlib import Path
from typing import Any

from .inventory_data import InventoryData, VarsBlock
from .yamlsource import Document, Location

SCRIPT_TIMEOUT = 120  # seconds; a CMDB query can be slow, a hung script must not hang the run


def run_script(path: Path, display: str, *args: str) -> str:
    """The script's standard output; a failure raises ScriptError naming the script."""
    try:
        done = subprocess.run([str(path.resolve()), *args], capture_output=True, timeout=SCRIPT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ScriptError(f"{display}: inventory script did not answer {' '.join(args)} within {SCRIPT_TIMEOUT} s") from None
    except FileNotFoundError:
        raise ScriptError(f"{display}: cannot run the inventory script: the interpreter on its #! line was not found") from None
    except OSError as exc:
        raise ScriptError(f"{display}: cannot run the inventory script: {exc.strerror}") from None
    if done.returncode != 0:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        said = f": {first[0][:200]}" if first else ""
        raise ScriptError(f"{display}: inventory script {' '.join(args)} exited with status {done.returncode}{said}")
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ScriptError(f"{display}: inventory script {' '.join(args)} printed something that is not UTF-8") from None


class ScriptError(Exception):
    """A dynamic inventory that cannot be used; the message names the script or file."""


def parse_json(text: str, display: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"{display}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None


def looks_like_list_output(value: Any) -> bool:
    """True for the JSON of ``ansible-inventory --list`` or a script's ``--list`` (not a YAML-style inventory)."""
    if not isinstance(value, dict):
        return False
    if "_meta" in value:
        return True
    return any(isinstance(v, list) or (isinstance(v, dict) and isinstance(v.get("hosts"), list)) for v in value.values())


def read_list_json(value: Any, display: str, data: InventoryData, host_vars_of=None) -> None:
    """Add the groups, hosts and variables of a ``--list`` document; ``host_vars_of(name)`` answers ``--host``."""
    doc = Document(data=None, file=display, locations={(): Location(display, 1, 1)}, key_locations={}, scalars={})
    where = Location(display, 1, 1)
    if not isinstance(value, dict):
        data.issues.append(f"{display}: a --list inventory is a JSON object of groups, found {type(value).__name__}")
        return
    meta = value.get("_meta")
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    if meta is not None and not isinstance(hostvars, dict):
        data.issues.append(f"{display}: _meta.hostvars must be an object of host names")
        return
    mine: list[str] = []
    for name, body in value.items():
        if name == "_meta":
            continue
        data.group(name)
        if isinstance(body, list):
            body = {"hosts": body}
        if not isinstance(body, dict):
            data.issues.append(f"{display}: group {name!r} must be an object or a list of hosts")
            continue
        bad = [key for key in ("hosts", "children") if body.get(key) is not None and not isinstance(body.get(key), list)]
        if bad:
            data.issues.append(f"{display}: {bad[0]} of group {name!r} must be a list of names")
            continue
        for host in body.get("hosts") or []:
            data.add_host(name, str(host), where)
            if str(host) not in mine:
                mine.append(str(host))
        for child in body.get("children") or []:
            data.add_child(name, str(child))
        group_vars = body.get("vars")
        if group_vars:
            if isinstance(group_vars, dict):
                data.add_group_block(name, VarsBlock(doc, ("groups", name, "vars"), group_vars, f"group {name}"))
            else:
                data.issues.append(f"{display}: vars of group {name!r} must be an object")
    for host in mine:
        if hostvars is not None:
            found = hostvars.get(host)
        elif host_vars_of is not None:
            found = host_vars_of(host)
        else:
            found = None
        if found:
            if isinstance(found, dict):
                data.add_host_block(host, VarsBlock(doc, ("_meta", "hostvars", host), found, f"host {host}"))
            else:
                data.issues.append(f"{display}: variables of host {host!r} must be an object")


def read_script(path: Path, display: str, data: InventoryData, tags: Callable[[Any, str], Any] = lambda v, _: v) -> None:
    """Run an executable inventory script with ``--list`` (and ``--host`` when it has no ``_meta``); ``tags`` reads vault/unsafe values."""
    source = f"{display} --list"
    value = tags(parse_json(run_script(path, display, "--list"), source), source)

    def host_vars_of(host: str) -> Any:
        where = f"{display} --host {host}"
        return tags(parse_json(run_script(path, display, "--host", host), where), where)

    read_list_json(value, source, data, host_vars_of)
