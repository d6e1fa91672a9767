"""Controller-side inputs a step carries by reference: a PFX's bytes and its password.

A step's parameters may hold ``bytes`` and ``Secret`` values (contract v2).
For a saved plan, exconf must write *where* they come from, never what they
are: ``PfxBytes`` is the bytes of a file together with its ``FileRef`` (path
and SHA-256), ``RefSecret`` a ``Secret`` together with its ``SecretRef``.
planfile.py writes the references and, when a plan is loaded, reads the file
again and refuses it if its digest moved.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from exconf.remote import Secret

from .model import FileRef, SecretRef


class PfxBytes(bytes):
    """The bytes of a controller-side file, with the reference they were read from."""

    ref: FileRef

    def __new__(cls, data: bytes, ref: FileRef) -> "PfxBytes":
        obj = super().__new__(cls, data)
        obj.ref = ref
        return obj

    def __repr__(self) -> str:  # never a dump of the file
        return f"PfxBytes({self.ref.path!r}, sha256={self.ref.digest[:12]}…)"


class RefSecret(Secret):
    """A Secret that knows its reference (env or file), so a plan file can name it."""

    __slots__ = ("ref",)

    def __init__(self, ref: SecretRef):
        base = secret_from_ref(ref)
        super().__init__(base.label, base._source)  # noqa: SLF001 - the same source, with a reference beside it
        self.ref = ref


def secret_from_ref(ref: SecretRef) -> Secret:
    if ref.origin == "env":
        return Secret.from_env(ref.name)
    if ref.origin == "file":
        return Secret.from_file(ref.name)
    raise ValueError(f"a secret {ref.describe()} cannot be read again here")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileChanged(Exception):
    """A referenced file is gone or differs from the digest it had at plan time."""


def read_checked(ref: FileRef) -> PfxBytes:
    """The file's bytes, if they still have the digest recorded at plan time."""
    try:
        data = Path(ref.path).read_bytes()
    except OSError as exc:
        raise FileChanged(f"the file {ref.path} cannot be read: {exc.strerror or exc}") from None
    now = digest(data)
    if now != ref.digest:
        raise FileChanged(f"the file {ref.path} changed since the plan was made (SHA-256 {ref.digest[:16]}… then, {now[:16]}… now)")
    return PfxBytes(data, ref)
