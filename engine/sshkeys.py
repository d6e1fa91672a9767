"""The private key an SSH logon proves itself with (``ansible_ssh_private_key_file``), read once per file.

A key is read as a bounded regular file (regularfile.py: never a FIFO or a device). An encrypted key
needs its passphrase: from the environment variable ``exconf_ssh_key_passphrase_env`` names, else typed
at a prompt on the terminal, once per key file per process (never echoed, never stored; no terminal is an
error that says what to set). Ansible hands its ssh program to an agent for that; exconf reads the key
itself with paramiko, as Ansible's paramiko connection does. What was read, or why it could not be, is
kept per (file, variable) so that every host that uses the key gets the same answer without asking twice;
``preload`` reads the keys of a run's hosts in the main thread, before any host is contacted, so a prompt
never races the hosts' progress.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Mapping

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .controllerfiles import NoTerminal, ask_on_terminal
from .regularfile import NotARegularFile, read_regular
from .termsafe import safe

KEY_FILE_LIMIT = 64 * 1024  # an OpenSSH private key is a few KB (RSA 16384 bits: about 13 KB)
PASSPHRASE_VAR = "exconf_ssh_key_passphrase_env"


class KeyProblem(Exception):
    """The key cannot be used; ``str()`` names the file and says what to do."""


class PrivateKeys:
    """Keys read so far in this process, and the one prompt at a time that reading them may need."""

    def __init__(self, ask: Callable[[str], str] = ask_on_terminal):
        self.ask = ask
        self._lock = threading.Lock()
        self._read: dict[tuple[str, str], paramiko.PKey | KeyProblem] = {}

    def key(self, path: str, passphrase_env: str | None, env: Mapping[str, str] = os.environ) -> paramiko.PKey:
        """The key in ``path`` (decrypted), or KeyProblem; asked for once per file."""
        slot = (path, passphrase_env or "")
        with self._lock:  # one prompt at a time, and each file read once
            if slot not in self._read:
                try:
                    self._read[slot] = _load(path, passphrase_env, env, self.ask)
                except KeyProblem as exc:
                    self._read[slot] = exc
            found = self._read[slot]
        if isinstance(found, KeyProblem):
            raise KeyProblem(str(found))
        return found

    def forget(self) -> None:
        with self._lock:
            self._read.clear()


# One per process, as the terminal is.
KEYS = PrivateKeys()


def _load(path: str, passphrase_env: str | None, env: Mapping[str, str], ask: Callable[[str], str]) -> paramiko.PKey:
    try:
        data = read_regular(path, limit=KEY_FILE_LIMIT, what="the SSH private key")
    except NotARegularFile as exc:
        raise KeyProblem(f"ansible_ssh_private_key_file: {exc}") from None
    passphrase: str | None = None
    if _encrypted(data, path):
        if passphrase_env:
            if passphrase_env not in env:
                raise KeyProblem(f"{PASSPHRASE_VAR} names {passphrase_env}, which is not set in the environment "
                                 f"(the passphrase of the SSH key {path})")
            passphrase = env[passphrase_env]
        else:
            try:
                passphrase = ask(f"Passphrase for the SSH key {safe(path, newlines=False)}: ")
            except NoTerminal as exc:
                raise KeyProblem(f"the SSH key {path} is encrypted and its passphrase is typed at a prompt, but {exc}; "
                                 f"run exconf in a terminal, or name the variable that holds it with {PASSPHRASE_VAR}") from None
    return _decode(data, path, passphrase)


def _encrypted(data: bytes, path: str) -> bool:
    try:
        _crypto_key(data, None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        return True
    except (ValueError, paramiko.SSHException, Exception) as exc:  # noqa: BLE001 - any parse failure is the file's
        raise KeyProblem(f"ansible_ssh_private_key_file: {path} is not a private key exconf can read "
                         f"(OpenSSH or PEM; {type(exc).__name__})") from None
    return False


def _crypto_key(data: bytes, passphrase: str | None) -> object:
    password = passphrase.encode("utf-8") if passphrase is not None else None
    try:  # like OpenSSH (and paramiko's PKey.from_path): the OpenSSH format first, then PEM
        return serialization.load_ssh_private_key(data, password=password)
    except ValueError:
        return serialization.load_pem_private_key(data, password=password)


def _decode(data: bytes, path: str, passphrase: str | None) -> paramiko.PKey:
    try:
        loaded = _crypto_key(data, passphrase)
    except (ValueError, TypeError):
        raise KeyProblem(f"the passphrase of the SSH key {path} is wrong") from None
    if isinstance(loaded, rsa.RSAPrivateKey):
        cls: type[paramiko.PKey] = paramiko.RSAKey
    elif isinstance(loaded, ed25519.Ed25519PrivateKey):
        cls = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        cls = paramiko.ECDSAKey
    else:
        raise KeyProblem(f"ansible_ssh_private_key_file: {path} holds a {type(loaded).__name__}, not an RSA, ECDSA or "
                         "Ed25519 key")
    try:
        return cls.from_private_key(io.StringIO(data.decode("ascii")), password=passphrase)
    except (paramiko.SSHException, ValueError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"ansible_ssh_private_key_file: {path} cannot be read as an SSH key ({type(exc).__name__})") from None
