"""Ansible Vault: decrypt ``!vault`` values and whole encrypted files.

The format is ansible-core's VaultAES256 (``parsing/vault/__init__.py``):
an envelope ``$ANSIBLE_VAULT;1.1;AES256`` (or ``1.2;AES256;<vault id>``)
over hex of ``hex(salt) \\n hmac \\n hex(ciphertext)``; PBKDF2-HMAC-SHA256
with 10000 iterations derives 32 bytes of AES key, 32 of HMAC key and a
16-byte counter; AES-256-CTR, then PKCS#7 padding. The HMAC is checked
before anything is decrypted. Passwords come from the places Ansible reads
them; none of them, nor any decrypted text, ever appears in a message.
"""

from __future__ import annotations

import getpass
import hmac as _hmac
import os
import subprocess
import threading
from binascii import Error as BinasciiError
from binascii import unhexlify
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .regularfile import SECRET_FILE_LIMIT, NotARegularFile, read_regular
from .sensitive import VaultText

HEADER = "$ANSIBLE_VAULT"
DEFAULT_ID = "default"


class VaultError(Exception):
    """Vault data that cannot be decrypted; the message names where, never a password."""


class VaultSecret:
    """One password and the vault id it was given for.

    A password typed at a prompt is asked only when a decryption needs it (and then
    once): a command asks for the vault ids of the values it uses, not for every id
    named on its command line.
    """

    def __init__(self, label: str, password: bytes | None = None, *, ask: Callable[[], bytes] | None = None):
        if password is None and ask is None:
            raise ValueError("a vault secret needs a password or a way to ask for it")
        self.label = label
        self._password = password
        self._ask = ask
        self._failure: VaultError | None = None
        self._lock = threading.Lock()

    @property
    def asked(self) -> bool:
        """Whether the password is known (given, or typed already)."""
        return self._password is not None

    @property
    def password(self) -> bytes:
        with self._lock:
            if self._password is None:
                if self._failure is not None:
                    raise self._failure
                assert self._ask is not None
                try:
                    self._password = self._ask()
                except VaultError as exc:
                    self._failure = exc
                    raise
            return self._password

    def __repr__(self) -> str:
        return f"VaultSecret({self.label!r})"


@dataclass(frozen=True)
class VaultSecrets:
    """Every password the run was given, in the order given (as Ansible tries them)."""

    secrets: tuple[VaultSecret, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.secrets)


def is_encrypted(text: str) -> bool:
    return text.lstrip().startswith(HEADER + ";")


def decrypt(text: str, secrets: VaultSecrets, where: str) -> str:
    """Decrypt one vault envelope; ``where`` (file:line:col) names it in errors."""
    lines = text.strip().splitlines()
    header = lines[0].strip().split(";") if lines else []
    if len(header) < 3 or header[0] != HEADER:
        raise VaultError(f"{where}: not Ansible Vault data (no $ANSIBLE_VAULT header)")
    version, cipher = header[1].strip(), header[2].strip()
    vault_id = header[3].strip() if version == "1.2" and len(header) > 3 else None
    if version not in ("1.1", "1.2"):
        raise VaultError(f"{where}: vault format {version} is not supported (1.1 and 1.2 are)")
    if cipher != "AES256":
        raise VaultError(f"{where}: vault cipher {cipher} is not supported (AES256 is)")
    try:
        outer = unhexlify("".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, cipher_hex = outer.split(b"\n", 2)
        salt, expected_mac, ciphertext = unhexlify(salt_hex), unhexlify(mac_hex), unhexlify(cipher_hex)
    except (BinasciiError, ValueError):
        raise VaultError(f"{where}: damaged vault data (not the hex text ansible-vault writes)") from None
    if not secrets:
        named = f" (vault id {vault_id!r})" if vault_id else ""
        raise VaultError(f"{where}: encrypted with Ansible Vault{named}; give the password with --vault-password-file, --ask-vault-pass, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE")
    # Ansible tries the secret whose label matches the envelope's vault id first, then the others.
    ordered = sorted(secrets.secrets, key=lambda s: 0 if vault_id and s.label == vault_id else 1)
    for secret in ordered:
        plain = _try(secret.password, salt, expected_mac, ciphertext)
        if plain is not None:
            try:
                return plain.decode("utf-8")
            except UnicodeDecodeError:
                raise VaultError(f"{where}: decrypted vault data is not UTF-8 text") from None
    tried = ", ".join(repr(s.label) for s in ordered)
    named = f" (vault id {vault_id!r})" if vault_id else ""
    raise VaultError(f"{where}: no vault password given decrypts this{named}; tried the passwords of vault ids {tried}")


def _try(password: bytes, salt: bytes, expected_mac: bytes, ciphertext: bytes) -> bytes | None:
    derived = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=10000).derive(password)
    key, mac_key, iv = derived[:32], derived[32:64], derived[64:80]
    mac = _hmac.new(mac_key, ciphertext, "sha256").digest()
    if not _hmac.compare_digest(mac, expected_mac):
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


# ---- where the passwords come from ----------------------------------------------------------


@dataclass(frozen=True)
class VaultOptions:
    """The command line's vault options, as given."""

    password_files: tuple[str, ...] = ()
    ask: bool = False
    vault_ids: tuple[str, ...] = ()


def load_secrets(options: VaultOptions, env: Mapping[str, str] = os.environ, prompt: Callable[[str], str] = getpass.getpass) -> VaultSecrets:
    """Gather passwords as ansible-core does: --vault-id label@source (else ANSIBLE_VAULT_IDENTITY_LIST), --vault-password-file
    (else ANSIBLE_VAULT_PASSWORD_FILE), --ask-vault-pass."""
    found: list[VaultSecret] = []
    ids = list(options.vault_ids)
    if not ids and env.get("ANSIBLE_VAULT_IDENTITY_LIST"):
        ids = [i.strip() for i in env["ANSIBLE_VAULT_IDENTITY_LIST"].split(",") if i.strip()]
    for spec in ids:
        label, _, source = spec.rpartition("@")
        label = label or DEFAULT_ID
        found.append(_from_source(label, source, prompt))
    files = list(options.password_files)
    if not files and not ids and env.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        files.append(env["ANSIBLE_VAULT_PASSWORD_FILE"])
    for file in files:
        found.append(_from_source(DEFAULT_ID, file, prompt))
    if options.ask:
        found.append(_from_source(DEFAULT_ID, "prompt", prompt))
    return VaultSecrets(tuple(found))


class VaultPasswordError(VaultError):
    """A password source that cannot be read; names the source, never the password."""


def _from_source(label: str, source: str, prompt: Callable[[str], str]) -> VaultSecret:
    if source in ("prompt", "prompt_ask_vault_pass"):
        text = f"Vault password ({label}): " if label != DEFAULT_ID else "Vault password: "
        return VaultSecret(label, ask=lambda: _typed(prompt, text))
    path = Path(source).expanduser()
    if not path.exists():
        raise VaultPasswordError(f"vault password file {source}: no such file")
    if path.is_file() and os.access(path, os.X_OK):
        # An executable password file is a client script: its standard output is the password (Ansible's ScriptVaultSecret).
        args = [str(path)] + ([f"--vault-id={label}"] if label != DEFAULT_ID else [])
        try:
            done = subprocess.run(args, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VaultPasswordError(f"vault password script {source}: cannot run it: {type(exc).__name__}") from None
        if done.returncode != 0:
            raise VaultPasswordError(f"vault password script {source}: exited with status {done.returncode}")
        data = done.stdout
    else:
        try:
            data = read_regular(path, limit=SECRET_FILE_LIMIT, what="vault password file")
        except NotARegularFile as exc:
            raise VaultPasswordError(str(exc)) from None
    password = data.strip(b"\r\n")
    if not password:
        raise VaultPasswordError(f"vault password file {source}: it is empty")
    return VaultSecret(label, password)


def _typed(prompt: Callable[[str], str], text: str) -> bytes:
    try:
        typed = prompt(text)
    except EOFError:
        raise VaultPasswordError("no vault password could be read (no terminal, and standard input is closed); use --vault-password-file") from None
    if not typed:
        raise VaultPasswordError("the vault password typed is empty")
    return typed.encode("utf-8")


def decrypt_text(text: str, secrets: VaultSecrets, where: str) -> VaultText:
    """A decrypted ``!vault`` value, marked sensitive (a password with ``{{`` in it stays that password)."""
    return VaultText(decrypt(text, secrets, where))


class Encrypted:
    """A ``!vault`` value as written, decrypted when a template (or exconf) first uses it.

    Decrypting lazily is what asks a prompted vault password only when a selected
    host needs a value encrypted with it. Immutable once decrypted; copies share
    the decryption (PBKDF2 runs once per value, not once per host).
    """

    __slots__ = ("ciphertext", "where", "_secrets", "_plain", "_lock")

    def __init__(self, ciphertext: str, secrets: VaultSecrets, where: str):
        self.ciphertext, self.where, self._secrets = ciphertext, where, secrets
        self._plain: VaultText | None = None
        self._lock = threading.Lock()

    def decrypt(self) -> VaultText:
        """The value (sensitive); raises VaultError naming where it was written."""
        with self._lock:
            if self._plain is None:
                self._plain = decrypt_text(self.ciphertext, self._secrets, self.where)
            return self._plain

    def __deepcopy__(self, memo: dict[int, object]) -> Encrypted:
        return self

    def __repr__(self) -> str:
        return f"Encrypted({self.where})"


__all__ = ["Encrypted", "VaultError", "VaultOptions", "VaultPasswordError", "VaultSecret", "VaultSecrets", "decrypt", "decrypt_text", "is_encrypted", "load_secrets"]
