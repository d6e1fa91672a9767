"""Host keys checked as OpenSSH checks them: known_hosts files, by name and port, before any secret is sent.

The files are those OpenSSH reads (ssh_config(5)): ``UserKnownHostsFile`` (default ``~/.ssh/known_hosts``
and ``~/.ssh/known_hosts2``) and ``GlobalKnownHostsFile`` (``/etc/ssh/ssh_known_hosts`` and
``ssh_known_hosts2``); a host is named as ssh names it, its address or name in lower case, and
``[host]:port`` off port 22 (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"), plain or hashed (``|1|salt|hash``,
HashKnownHosts). A key marked ``@revoked`` is refused; ``@cert-authority`` lines are not used (exconf
does not take host certificates).

What a server presents is one of three things:

* **known**: a line for the host holds this very key: go on;
* **unknown**: no line names the host: refused with the key's fingerprint (SHA256, as ``ssh-keygen -l``
  prints it) and how to accept it, unless ``StrictHostKeyChecking=accept-new``, which records it in the
  first user file and says so;
* **changed**: lines name the host with other keys: always refused, naming them (file and line), as
  OpenSSH's "REMOTE HOST IDENTIFICATION HAS CHANGED".
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko

from exconf.regularfile import NotARegularFile, read_regular

KNOWN_HOSTS_LIMIT = 16 * 1024 * 1024  # a known_hosts of 100,000 hosts is about 10 MB
DEFAULT_USER_FILES = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_FILES = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
_WRITE_LOCK = threading.Lock()  # hosts record new keys from several threads


class KnownHostsError(Exception):
    """A known_hosts file cannot be read or written; ``str()`` names it."""


@dataclass(frozen=True)
class KnownKey:
    file: str
    line: int
    key_type: str
    blob: bytes  # the key's wire form
    revoked: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.blob)


@dataclass(frozen=True)
class Verdict:
    status: str  # known | unknown | changed | revoked
    others: tuple[KnownKey, ...] = ()  # for changed/revoked: the lines that disagree (or revoke it)


def host_name(host: str, port: int) -> str:
    """How known_hosts names a host: ``host`` on port 22, ``[host]:port`` otherwise, in lower case."""
    host = host.lower()
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint_of(blob: bytes) -> str:
    """``SHA256:`` and the unpadded base64 of the key's SHA-256, as ssh-keygen -l and ssh print it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def describe(key: paramiko.PKey) -> str:
    """``ED25519 key SHA256:…``: the words OpenSSH uses ("ED25519 key fingerprint is SHA256:…")."""
    return f"{key_kind(key.get_name())} key {fingerprint_of(key.asbytes())}"


def key_kind(name: str) -> str:
    if "ed25519" in name:
        return "ED25519"
    if name.startswith("ecdsa"):
        return "ECDSA"
    if "rsa" in name:
        return "RSA"
    return name.upper()


def expand(path: str, home: str | None = None) -> str:
    """``~`` as ssh expands it (the user's home directory)."""
    if path.startswith("~") and home:
        return home + path[1:]
    return os.path.expanduser(path)


def read_known(files: tuple[str, ...], name: str) -> list[KnownKey]:
    """Every line of these files that names ``name``; a file that does not exist is skipped, as ssh skips it."""
    found: list[KnownKey] = []
    for file in files:
        try:
            data = read_regular(file, limit=KNOWN_HOSTS_LIMIT, what="the known_hosts file")
        except NotARegularFile as exc:
            if not os.path.lexists(file):
                continue
            raise KnownHostsError(str(exc)) from None
        for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            entry = _parse(raw, file, number, name)
            if entry is not None:
                found.append(entry)
    return found


def _parse(raw: str, file: str, number: int, name: str) -> KnownKey | None:
    line = raw.strip()
    if not line or line.startswith("#"):
        return None
    fields = line.split()
    revoked = False
    if fields[0].startswith("@"):
        if fields[0] != "@revoked":
            return None  # @cert-authority: host certificates are not taken
        revoked, fields = True, fields[1:]
    if len(fields) < 3 or not _names_match(fields[0], name):
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except (binascii.Error, ValueError):
        return None  # ssh skips a line it cannot read
    return KnownKey(file, number, fields[1], blob, revoked)


def _names_match(field: str, name: str) -> bool:
    for pattern in field.split(","):
        if pattern.startswith("|1|"):
            parts = pattern.split("|")
            if len(parts) != 4:
                continue
            try:
                salt, digest = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest(), digest):
                return True
        elif pattern.lower() == name:
            return True
    return False


def verdict(known: list[KnownKey], key: paramiko.PKey) -> Verdict:
    blob = key.asbytes()
    revoked = tuple(k for k in known if k.revoked and k.blob == blob)
    if revoked:
        return Verdict("revoked", revoked)
    usable = [k for k in known if not k.revoked]
    if any(k.blob == blob for k in usable):
        return Verdict("known")
    if usable:
        return Verdict("changed", tuple(usable))
    return Verdict("unknown")


def record(file: str, name: str, key: paramiko.PKey) -> None:
    """Append ``name key`` to a known_hosts file (made 0600 in a 0700 folder when new, as ssh makes ~/.ssh)."""
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    path = Path(file)
    with _WRITE_LOCK:
        try:
            if not path.parent.exists():
                path.parent.mkdir(mode=0o700, parents=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as fh:
                fh.write(line)
        except OSError as exc:
            raise KnownHostsError(f"cannot write the known_hosts file {file}: {exc.strerror or exc}") from None


def replace(file: str, name: str, key: paramiko.PKey) -> int:
    """Drop this host's lines from ``file`` (as ``ssh-keygen -R``) and record ``key``; how many lines went."""
    path = Path(file)
    with _WRITE_LOCK:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape") if path.exists() else ""
        except OSError as exc:
            raise KnownHostsError(f"cannot read the known_hosts file {file}: {exc.strerror or exc}") from None
        kept, dropped = [], 0
        for number, raw in enumerate(text.splitlines(), 1):
            if _parse(raw, file, number, name) is not None:
                dropped += 1
            else:
                kept.append(raw)
        kept.append(f"{name} {key.get_name()} {key.get_base64()}")
        tmp = path.with_name(f".{path.name}.exconf-tmp")
        try:
            if not path.parent.exists():
                path.parent.mkdir(mode=0o700, parents=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write("\n".join(kept) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise KnownHostsError(f"cannot write the known_hosts file {file}: {exc.strerror or exc}") from None
    return dropped
