"""``exconf ssh-keyscan INVENTORY``: accept the host keys of the hosts reached over SSH, explicitly.

exconf never trusts a host key by itself (transport/hostkeys.py). This command is how a user says "these
keys are right", as OpenSSH's ssh-keyscan or a first interactive ssh would: for each selected host whose
door is SSH it runs the key exchange only (no logon, nothing else is sent), prints the key's fingerprint
(SHA256, as ssh-keygen -l prints it, to compare with ``ssh-keygen -lf
C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub`` on the server) and records a key no known_hosts file holds
in the host's first UserKnownHostsFile (or ``--known-hosts FILE``). A key that differs from the one
known is never written unless ``--replace`` says so, which drops the host's old lines from that file first
(as ``ssh-keygen -R``). Exit 0 when every selected SSH host's key is known afterwards, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from .commands import error, inventory_unusable, start_labs
from .connection import ConnectionConfigError
from .door import SSH, DoorError, door_of
from .exitcodes import ERROR as EXIT_ERROR, OK as EXIT_OK
from .inventorycli import InventoryUnusable, add_inventory_options, load_from_args
from .limit import LimitError, select
from .sshvars import SSHConfigError, ssh_settings
from .termsafe import safe
from .transport import TransportError, hostkeys
from .transport.ssh import scan


def register(sub: Any) -> None:
    p = sub.add_parser("ssh-keyscan", help="fetch the SSH host keys of the hosts reached over SSH and accept them in known_hosts")
    add_inventory_options(p)
    p.add_argument("--known-hosts", type=Path, metavar="FILE", help="record keys in this file (default: each host's first UserKnownHostsFile)")
    p.add_argument("--replace", action="store_true", help="replace a host's key that differs from the known one (after checking it on the server)")


def keyscan_main(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        inventory = load_from_args(args)
        names = select(inventory, args.limit)
    except InventoryUnusable as exc:
        return inventory_unusable(err, exc)
    except LimitError as exc:
        return error(err, safe(str(exc)))
    hosts = []
    for name in names:
        host = inventory.host(name)
        try:
            if door_of(host.name, host.vars).connection == SSH:
                hosts.append(host)
        except DoorError:
            continue
    if not hosts:
        return error(err, "no selected host is reached over SSH (ansible_connection: ssh)")
    if not start_labs(inventory, err):
        return EXIT_ERROR
    ok = True
    for host in hosts:
        try:
            settings = ssh_settings(host, inventory.path.parent, keys=None, credentials=False)
        except (SSHConfigError, ConnectionConfigError) as exc:
            err.print(Text(safe(f"{host.name}: {getattr(exc, 'variable', '')}: {exc}")))
            ok = False
            continue
        ok = _one(host.name, settings, args, out, err) and ok
    return EXIT_OK if ok else EXIT_ERROR


def _one(name: str, settings: Any, args: argparse.Namespace, out: Console, err: Console) -> bool:
    where = settings.known_hosts_name
    try:
        key = scan(settings)
        known = hostkeys.read_known(settings.known_hosts_files, where)
    except (TransportError, hostkeys.KnownHostsError) as exc:
        err.print(Text(safe(f"{name}: {exc}")))
        return False
    offered = hostkeys.describe(key)
    found = hostkeys.verdict(known, key)
    target = str(args.known_hosts.resolve()) if args.known_hosts else (settings.user_known_hosts[0] if settings.user_known_hosts else None)
    lines = ", ".join(f"{k.file}:{k.line}" for k in found.others)
    try:
        if found.status == "known":
            out.print(Text(safe(f"{name} ({where}): {offered}: already known")))
            return True
        if found.status == "revoked":
            err.print(Text(safe(f"{name} ({where}): {offered} is marked @revoked in {lines}; not recorded")))
            return False
        if target is None:
            err.print(Text(safe(f"{name} ({where}): {offered}: no known_hosts file to record it in (UserKnownHostsFile none); "
                                "name one with --known-hosts")))
            return False
        if found.status == "unknown":
            hostkeys.record(target, where, key)
            out.print(Text(safe(f"{name} ({where}): {offered}: added to {target}")))
            return True
        if not args.replace:
            held = "; ".join(f"{hostkeys.key_kind(k.key_type)} key {k.fingerprint} ({k.file}:{k.line})" for k in found.others)
            err.print(Text(safe(f"{name} ({where}): the host key has CHANGED: the server presents {offered}, known_hosts "
                                f"holds {held}; not recorded. Check the key on the server; if the change is expected, "
                                "run again with --replace")))
            return False
        dropped = hostkeys.replace(target, where, key)
        out.print(Text(safe(f"{name} ({where}): {offered}: replaced {dropped} old line{'s' if dropped != 1 else ''} in {target}")))
        elsewhere = [k for k in found.others if k.file != target]
        if elsewhere:
            err.print(Text(safe(f"{name}: other known_hosts files still hold another key for {where}: "
                                f"{', '.join(f'{k.file}:{k.line}' for k in elsewhere)}; exconf will refuse the host until "
                                "they are removed")))
            return False
        return True
    except hostkeys.KnownHostsError as exc:
        err.print(Text(safe(f"{name}: {exc}")))
        return False
