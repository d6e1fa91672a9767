"""SSH keys on the lab's side: each server's host key, kept with the lab's state, and public key lines.

Windows OpenSSH makes its host keys once, when sshd first starts, in %ProgramData%\\ssh
(ssh_host_ed25519_key and its .pub, learn.microsoft.com/windows-server/administration/openssh/
openssh_server_configuration), and keeps them across restarts: a client that trusted a server once
recognises it again. The lab does the same with an Ed25519 key per server in a private (0700) folder
beside the lab's state, the key files 0600. A server with the ``ssh_host_key_changed`` fault presents
a second key, kept beside the first: what a client sees after the server was reinstalled, or when
someone sits in between.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exconf.lab.tlsca import write_atomic

KEY_FOLDER = "ssh"  # under the lab's state folder
KNOWN_HOSTS_NAME = "ssh_known_hosts"  # the lab's servers' host keys, for clients to name (public, 0644)


class KeyLineError(ValueError):
    """A public key line that sshd would not read; str() says why."""


def parse_public_key(line: str) -> paramiko.PKey:
    """An OpenSSH public key line (``ssh-ed25519 AAAA… comment``), as authorized_keys holds one."""
    parts = line.strip().split()
    if len(parts) < 2:
        raise KeyLineError("expected an OpenSSH public key line: a key type, the key in base64 and an optional comment")
    kind, blob = parts[0], parts[1]
    try:
        data = base64.b64decode(blob, validate=True)
        key = paramiko.PKey.from_type_string(kind, data)
    except (binascii.Error, ValueError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise KeyLineError(f"not a public key sshd can read ({kind!r}: {exc})") from None
    return key


def host_key(folder: Path, server: str, *, changed: bool = False) -> paramiko.PKey:
    """The server's host key, made the first time (Ed25519), then read back; ``changed``: its replacement."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in server)
    path = folder / (f"{safe}_replaced_ed25519_key" if changed else f"{safe}_ed25519_key")
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        text = _new_key_text()
        write_atomic(path, text.encode("ascii"), mode=0o600)
    try:
        return paramiko.Ed25519Key(file_obj=io.StringIO(text))
    except (paramiko.SSHException, ValueError) as exc:
        raise KeyLineError(f"{path}: cannot read the lab server's host key ({exc}); delete it to make a new one "
                           "(clients that trusted the old one will refuse the new one)") from None


def _new_key_text() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode("ascii")


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: the address, or ``[address]:port`` off port 22 (sshd(8))."""
    return address if port == 22 else f"[{address}]:{port}"


def write_known_hosts(path: Path, entries: list[tuple[str, paramiko.PKey]]) -> None:
    """The lab's servers' (name, key) pairs in known_hosts form, replacing the file (public: 0644)."""
    lines = "".join(f"{name} {key.get_name()} {key.get_base64()}\n" for name, key in entries)
    write_atomic(path, lines.encode("ascii"), mode=0o644)
