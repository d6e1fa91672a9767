"""Who holds a loopback address and port: another lab (from the registry) or some process.

Used when a lab cannot listen, so the message names what to stop (issue 7, "The lab
beside other labs"). Linux's /proc/net/tcp lists listening sockets with their inode;
/proc/<pid>/fd links name the inode of each socket a process holds.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

from .registry import RunningLab

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def lab_holding(labs: list[RunningLab], address: str, port: int) -> RunningLab | None:
    """The running lab that has a server listening on address:port, if any."""
    for lab in labs:
        for server in lab.servers:
            if server.address == address and port in (server.http_port, server.https_port, server.powershell_port,
                                                      server.powershell_tls_port, server.ssh_port):
                return lab
    return None


def process_holding(address: str, port: int, proc: Path = Path("/proc")) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on address:port, when this user may see it."""
    inode = _listening_inode(address, port, proc)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(pid_dir.name), _cmdline(pid_dir)
        except OSError:  # another user's process, or gone meanwhile
            continue
    return None


def _listening_inode(address: str, port: int, proc: Path) -> str | None:
    try:
        packed = socket.inet_aton(address)
        lines = (proc / "net" / "tcp").read_text().splitlines()[1:]
    except (OSError, ValueError):
        return None
    # /proc/net/tcp prints the address as the host-order integer of the network-order bytes.
    wanted = {f"{struct.unpack('<I', packed)[0]:08X}:{port:04X}", f"00000000:{port:04X}"}
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1] in wanted and fields[3] == _LISTEN:
            return fields[9]
    return None


def _cmdline(pid_dir: Path) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200] or "?"


def describe(labs: list[RunningLab], address: str, port: int) -> str:
    """What holds address:port and what to do about it, as one sentence for the user."""
    lab = lab_holding(labs, address, port)
    if lab is not None:
        return (f"{address}:{port} is held by the lab {lab.org_file} (pid {lab.pid}, state {lab.state_file}); "
                f"stop it with: exconf lab stop {lab.org_file}, or give this lab's servers other addresses")
    holder = process_holding(address, port)
    if holder is not None:
        pid, cmdline = holder
        return (f"{address}:{port} is held by process {pid} ({cmdline}); stop that process, "
                "or give this lab's servers other addresses")
    return (f"{address}:{port} is held by another process (not one of this user's labs); "
            "give this lab's servers other addresses")
