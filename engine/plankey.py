"""The key that authenticates saved plans: HMAC-SHA256 with a key private to the user.

``plan --out`` signs the file with the key (creating it, mode 0600 in a 0700
folder, on first use); ``apply PLANFILE`` refuses a file whose MAC does not
verify before it reads any host. An HMAC, not a signature: whoever can apply
can also sign, which is the point (a plan is applied by the account that made
it, or by a team that shares the key, see docs/plan-files.md). The key file is
refused, as ssh refuses a private key, when it is not a regular file owned by
the user and private to them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY_BYTES = 32
ALGORITHM = "HMAC-SHA256"
ENV = "EXCONF_PLAN_KEY"  # a key file elsewhere (a team's shared key on a review machine)


class PlanKeyError(Exception):
    """The key cannot be used; the message names the file and what is wrong."""


def key_path(env: Mapping[str, str] = os.environ) -> Path:
    if env.get(ENV):
        return Path(env[ENV]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "exconf" / "plan.key"


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise PlanKeyError(f"the plan key {path} cannot be opened: {exc.strerror or exc} (it must be a regular file, not a link)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PlanKeyError(f"the plan key {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise PlanKeyError(f"the plan key {path} belongs to another user (uid {st.st_uid}); exconf uses only a key of its own user")
        if st.st_mode & 0o077:
            raise PlanKeyError(f"the plan key {path} can be read or written by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                               f"make it private: chmod 600 {path}")
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise PlanKeyError(f"the plan key {path} is not a key exconf wrote ({KEY_BYTES} bytes expected)")
    return data


def load(path: Path) -> bytes:
    """The key, or PlanKeyError (a missing key included: apply never creates one)."""
    try:
        return _read(path)
    except FileNotFoundError:
        raise PlanKeyError(f"there is no plan key at {path}: a plan is applied with the key it was made with "
                           f"(by the user who made it, or with {ENV} naming the same key file)") from None


def load_or_create(path: Path) -> bytes:
    """The key, made on first use: 32 random bytes, created 0600 (never readable by others, even for an instant)."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another exconf made it just now
        return _read(path)
    except OSError as exc:
        raise PlanKeyError(f"cannot create the plan key {path}: {exc.strerror or exc}") from None
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key


def key_id(key: bytes) -> str:
    """A name for the key that says nothing of it: which key made a file, without the key."""
    return hashlib.sha256(b"exconf plan key id\0" + key).hexdigest()[:16]


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes the MAC covers: the document without its ``mac`` member, keys sorted, ASCII."""
    body = {k: v for k, v in document.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def sign(key: bytes, document: Mapping[str, Any]) -> dict[str, str]:
    return {"algorithm": ALGORITHM, "key_id": key_id(key), "value": hmac.new(key, canonical(document), hashlib.sha256).hexdigest()}


def problem(key: bytes, document: Mapping[str, Any]) -> str | None:
    """Why the document does not authenticate with this key, or None."""
    mac = document.get("mac")
    if not isinstance(mac, dict) or mac.get("algorithm") != ALGORITHM or not isinstance(mac.get("value"), str):
        return "it carries no MAC exconf can check (was it written by exconf plan --out?)"
    if mac.get("key_id") != key_id(key):
        return (f"it was made with another plan key (key {str(mac.get('key_id'))[:16]}; this machine's is {key_id(key)}): "
                "apply it as the user who made it, or with that key")
    if not hmac.compare_digest(mac["value"], hmac.new(key, canonical(document), hashlib.sha256).hexdigest()):
        return "it was changed after exconf wrote it (its MAC does not match)"
    return None
