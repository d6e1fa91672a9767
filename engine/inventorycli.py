"""``exconf inventory``: the resolved inventory as ``ansible-inventory`` shows it, and the inventory options of every command.

``--list`` prints ansible-inventory's JSON (groups, ``_meta.hostvars``),
``--graph`` its tree, ``--host`` one host's variables. The variables are
exconf's: merged, with templates rendered; sensitive values (vault, and what
is rendered from it) show as ``********``; ``--provenance`` adds the
file:line:col of every value. Printed names are escaped so that a control or
bidi character in an inventory cannot rewrite the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from . import exitcodes
from . import inventory as inv
from .inventory_data import ALL
from .inventory_sources import is_host_list
from .limit import LimitError, select, select_organization
from .render import FORMAT_VERSION, document_meta
from .schema import dotted
from .schema import is_secret
from .sensitive import MASK, masked
from .templating import RenderError
from .vault import Encrypted, VaultError, VaultOptions, load_secrets


def add_inventory_options(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """-i, -l, -e and the vault options, as Ansible's commands spell them."""
    if positional:
        parser.add_argument("inventory", type=Path, nargs="?", help="inventory file or directory (or use -i)")
    parser.add_argument("-i", "--inventory", dest="inventories", type=Path, action="append", default=[], metavar="SOURCE", help="inventory file, directory or script; repeat to merge several")
    parser.add_argument("-l", "--limit", metavar="PATTERN", help="hosts or groups, comma-separated; !x excludes, &x intersects, ~regex, group[0], @file")
    parser.add_argument("-e", "--extra-vars", dest="extra_vars", action="append", default=[], metavar="VARS", help="key=value, a YAML/JSON mapping, or @file; overrides every other variable")
    parser.add_argument("--vault-password-file", "--vault-pass-file", dest="vault_password_files", action="append", default=[], metavar="FILE", help="file (or executable script) holding the vault password")
    parser.add_argument("-J", "--ask-vault-pass", "--ask-vault-password", dest="ask_vault_pass", action="store_true", help="ask for the vault password")
    parser.add_argument("--vault-id", dest="vault_ids", action="append", default=[], metavar="ID@SOURCE", help="a vault id and its password file (or 'prompt')")


def sources_of(args: argparse.Namespace) -> list[Path]:
    sources = list(getattr(args, "inventories", []) or [])
    if getattr(args, "inventory", None) is not None:
        sources.insert(0, args.inventory)
    return sources


class InventoryUnusable(Exception):
    """The inventory could not be loaded; ``lines`` is what to print."""

    def __init__(self, lines: list[str]):
        self.lines = [safe(line) for line in lines]  # names in messages come from files: escape them for the terminal
        super().__init__("\n".join(self.lines))


class NoInventoryGiven(InventoryUnusable):
    """The command line names no inventory: a usage error."""


def load_from_args(args: argparse.Namespace, *, every: bool = False, limit: str | None = None) -> inv.Inventory:
    """Open the inventory the options name, select ``--limit``'s hosts and check what they need (with
    ``every``: all their variables); raise InventoryUnusable with every problem, LimitError for the limit.

    Only the selected hosts' variables are rendered, as ansible-core renders only what a task uses: a
    lookup, a broken template or a vault id of hosts outside ``--limit`` is never reached.
    """
    sources: list[Path | str] = [str(s) if is_host_list(str(s)) else s for s in sources_of(args)]
    if not sources:
        raise NoInventoryGiven(["no inventory given: name it, or use -i SOURCE"])
    missing = [s for s in sources if isinstance(s, Path) and not s.exists()]
    if missing:
        raise InventoryUnusable([f"no inventory file or directory at {m}" for m in missing])
    limit = limit or getattr(args, "limit", None)
    try:
        secrets = load_secrets(VaultOptions(tuple(args.vault_password_files), args.ask_vault_pass, tuple(args.vault_ids)))
        inventory = inv.open_inventory(sources, vault=secrets, extra=tuple(args.extra_vars))
        warnings: list[str] = []
        names = select(inventory, limit, warnings)
        for warning in warnings:
            inventory.warn(warning)
        inventory.check(names, organization=select_organization(limit), every=every)
        return inventory
    except VaultError as exc:
        raise InventoryUnusable([str(exc)]) from None
    except inv.InventoryError as exc:
        name = ", ".join(str(s) for s in sources)
        head = f"{name} is not a valid inventory ({len(exc.issues)} problem{'s' if len(exc.issues) != 1 else ''}):"
        raise InventoryUnusable([head] + [f"  {i}" for i in exc.issues]) from None


def register(sub: Any) -> None:
    """Add the ``inventory`` subcommand to the top-level parser's subparsers."""
    p = sub.add_parser("inventory", help="show the resolved inventory as ansible-inventory does (--list, --graph, --host)", allow_abbrev=False)
    add_inventory_options(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="every group and host with its variables, as JSON")
    what.add_argument("--graph", nargs="?", const=ALL, metavar="GROUP", help="the group tree (from GROUP, default all)")
    what.add_argument("--host", metavar="HOST", help="one host's variables, as JSON")
    p.add_argument("--vars", action="store_true", help="with --graph: show each host's variables")
    p.add_argument("--provenance", action="store_true", help="add the file:line:col each value comes from")


def inventory_main(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """Run ``exconf inventory``; print to stdout, errors to stderr; return the exit code."""
    write = (out.write if out is not None and hasattr(out, "write") else sys.stdout.write)
    warn = (err.write if err is not None and hasattr(err, "write") else sys.stderr.write)
    try:
        # --host shows one host: only that host's variables are rendered (and checked).
        inventory = load_from_args(args, limit=args.host if args.host is not None and not args.limit else None)
        names = select(inventory, args.host if args.host is not None and not args.limit else args.limit)
    except InventoryUnusable as exc:
        warn("Error: " + "\n".join(exc.lines) + "\n")
        return exitcodes.USAGE if isinstance(exc, NoInventoryGiven) else exitcodes.ERROR
    except LimitError as exc:
        if args.host is not None and not args.limit:
            warn(f"Error: no host named {safe(args.host)!s} in the inventory\n")
        else:
            warn(f"Error: {safe(str(exc))}\n")
        return 1
    shown_vars = _Shown(inventory)
    if args.host is not None:
        if args.host not in names:
            warn(f"Error: no host named {safe(args.host)!s} in the inventory\n")
            return 1
        host = inventory.host(args.host)
        warn(door_note(host, inventory.base_dir) + "\n")  # stdout stays what ansible-inventory prints
        body: dict[str, Any] = shown_vars(host)
        if args.provenance:
            body = {"vars": body, "provenance": provenance(host)}
        output = json.dumps(body, indent=4, sort_keys=True, ensure_ascii=True, default=str) + "\n"
    elif args.list:
        listed = list_json(inventory, names, args.provenance, shown_vars)
        # ansible-inventory's document, exconf's head where ansible-core keeps its own (_meta), so it loads back as an inventory
        listed["_meta"]["exconf"] = {"format_version": FORMAT_VERSION, **document_meta(inventory.sources, args.limit)}
        output = json.dumps(listed, indent=4, sort_keys=True, ensure_ascii=True, default=str) + "\n"
    elif args.graph not in inventory.groups:
        _warnings(inventory, warn)
        warn(f"Error: no group named {safe(args.graph)} in the inventory\n")
        return 1
    else:
        output = "\n".join(graph(inventory, args.graph, set(names), args.vars, shown_vars)) + "\n"
    _warnings(inventory, warn)
    write(output)
    return 0


def _warnings(inventory: inv.Inventory, warn: Any) -> None:
    for warning in inventory.warnings:
        warn(f"Warning: {safe(warning)}\n")


class _Shown:
    """A host's variables as ``exconf inventory`` shows them: rendered; a variable exconf does not use that
    cannot be rendered (a lookup exconf does not offer) is shown as written, as ansible-inventory shows
    every template, with a warning saying why (the variables exconf uses were checked, and are errors)."""

    def __init__(self, inventory: inv.Inventory):
        self.inventory = inventory

    def __call__(self, host: inv.Host) -> dict[str, Any]:
        out: dict[str, Any] = {}
        assert self.inventory.resolver is not None
        raw = self.inventory.resolver.merged(host.name).vars
        for key in raw:
            try:
                out[key] = host.vars[key]
            except KeyError:
                continue  # omit: as if it were not set
            except RenderError as exc:
                self.inventory.warn(f"{exc}; shown as written")
                out[key] = _as_written(raw[key])
        return shown(out)


def _as_written(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    return MASK if isinstance(value, Encrypted) else value


def door_note(host: inv.Host, base_dir: Path) -> str:
    """Which door exconf takes to the host, where, and why (door.py)."""
    from . import sshvars
    from .connection import ConnectionConfigError, psrp_settings_for, settings_for
    from .door import PSRP, SSH, DoorError, door_of

    try:
        door = door_of(host.name, host.vars)
    except DoorError as exc:
        return f"Door: {safe(host.name)}: none: {exc.variable}: {safe(str(exc))}"
    try:
        if door.connection == SSH:
            endpoint = sshvars.endpoint(host)
        else:
            endpoint = (psrp_settings_for(host, base_dir, env={}) if door.connection == PSRP else settings_for(host, base_dir, env={})).endpoint
    except ConnectionConfigError:
        endpoint = str(host.vars.get("ansible_host") or host.name)
    how = {PSRP: "Exchange remote PowerShell", SSH: "exconf's program over SSH"}.get(door.connection, "exconf's program over WinRM")
    return f"Door: {safe(host.name)}: {how} ({safe(endpoint)}): {safe(door.why)}"


def shown(value: Any, path: tuple[Any, ...] = ()) -> Any:
    """A host's variables as they may be shown: vaulted values and every value under a secret's key
    (``ansible_password``, ``*_pass``, ``*secret*`` …) masked; a ``*_file`` key names a file, not a secret."""
    if isinstance(value, dict):
        return {k: shown(v, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v, path) for v in value]
    if path and is_secret(path) and not (isinstance(path[-1], str) and path[-1].endswith("_file")):
        return MASK
    return masked(value)


def provenance(host: inv.Host) -> dict[str, str]:
    return {dotted(path): str(where) for path, where in sorted(host.sources.items(), key=lambda kv: [str(p) for p in kv[0]])}


def list_json(inventory: inv.Inventory, names: list[str], with_provenance: bool = False, vars_of: Any = None) -> dict[str, Any]:
    """ansible-inventory --list: groups with their direct hosts and children, and _meta.hostvars (masked)."""
    keep = set(names)
    vars_of = vars_of or _Shown(inventory)
    out: dict[str, Any] = {"_meta": {"hostvars": {h.name: vars_of(h) for h in inventory.hosts if h.name in keep}}}
    if with_provenance:
        out["_meta"]["provenance"] = {h.name: provenance(h) for h in inventory.hosts if h.name in keep}
    for group, children in inventory.children.items():
        entry: dict[str, Any] = {}
        hosts = [h for h in inventory.direct_hosts.get(group, ()) if h in keep and group != ALL]
        if hosts:
            entry["hosts"] = hosts
        if children:
            entry["children"] = list(children)
        if entry:
            out[group] = entry
    return out


def graph(inventory: inv.Inventory, group: str, keep: set[str], with_vars: bool, vars_of: Any = None, depth: int = 0) -> list[str]:
    """ansible-inventory --graph: a group's children, then its hosts, in the order the inventory declares them."""
    vars_of = vars_of or _Shown(inventory)

    def line(text: str, level: int) -> str:
        return ("  |" * level + "--" + text) if level else text

    lines = [line(f"@{safe(group)}:", depth)]
    for child in inventory.children.get(group, ()):
        lines += graph(inventory, child, keep, with_vars, vars_of, depth + 1)
    if group != ALL:
        for name in inventory.direct_hosts.get(group, ()):
            if name not in keep:
                continue
            lines.append(line(safe(name), depth + 1))
            if with_vars:
                for key, value in sorted(vars_of(inventory.host(name)).items()):
                    lines.append(line(safe(f"{{{key} = {value}}}"), depth + 2))
    return lines


def safe(text: str) -> str:
    """Text safe for a terminal: control, format (bidi) and other invisible characters escaped."""
    out = []
    for ch in str(text):
        if ch in "\n\t" or unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ":
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
    return "".join(out)


__all__ = ["InventoryUnusable", "add_inventory_options", "inventory_main", "load_from_args", "register", "sources_of"]
