"""Controller-side inputs a step carries by reference: a PFX's bytes and its password.

A step's parameters may hold ``bytes`` and ``Secret`` values (contract v2).
For a saved plan, exconf must write *where* they come from, never what they
are: ``PfxBytes`` is the bytes of a file together with its ``FileRef`` (path
and SHA-256), ``RefSecret`` a ``Secret`` together with its ``SecretRef``.
planfile.py writes the references and, when a plan is loaded, reads the file
again and refuses it if its digest moved.

A password typed at a prompt (``password_prompt: true``) is asked once per PFX
file per process (``PasswordPrompts``): the inventory load that opens the PFX
and the saved plan that imports it share the answer, which lives in memory only.
"""

from __future__ import annotations

import getpass
import hashlib
import sys
import threading
import warnings
from collections.abc import Callable

from exconf.remote import Secret, SecretError

from .model import FileRef, SecretRef
from .regularfile import PFX_LIMIT, NotARegularFile, read_regular


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

    def __init__(self, ref: SecretRef, prompts: PasswordPrompts | None = None):
        base = secret_from_ref(ref, prompts)
        super().__init__(base.label, base._source)  # noqa: SLF001 - the same source, with a reference beside it
        self.ref = ref


class NoTerminal(Exception):
    """A password is to be typed at a prompt, and there is no terminal to type it on."""


def ask_on_terminal(prompt: str) -> str:
    """getpass on the controlling terminal, never echoed; no terminal (cron, CI, a pipe) is an error,
    never getpass's fallback that reads standard input with echo on."""
    if not sys.stdin.isatty():
        raise NoTerminal("there is no terminal to type it on")
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)  # the echoing fallback warns first: refuse it
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise NoTerminal("the terminal cannot hide what is typed") from None
        except EOFError:
            raise NoTerminal("nothing was typed (end of input)") from None


class PasswordPrompts:
    """PFX passwords typed at a prompt: asked once per PFX file (by its resolved path), kept in memory
    for this process only, so that the inventory load and a saved plan's import share one answer."""

    def __init__(self, ask: Callable[[str], str] = ask_on_terminal):
        self.ask = ask
        self._typed: dict[str, str] = {}
        self._lock = threading.Lock()  # hosts are worked on in threads; one prompt at a time

    def password(self, pfx: str) -> str:
        """The password of this PFX file, asking for it the first time (NoTerminal without a terminal)."""
        from .termsafe import safe

        with self._lock:
            if pfx not in self._typed:
                self._typed[pfx] = self.ask(f"Password for the PFX {safe(pfx, newlines=False)}: ")
            return self._typed[pfx]

    def asked(self, pfx: str) -> bool:
        return pfx in self._typed

    def forget(self) -> None:
        with self._lock:
            self._typed.clear()


# One per process, as the terminal is: the inventory load (modules/exchange_certificate.py) and a
# loaded plan file (planfile.py) reach the same answers without a context threaded through both.
PROMPTS = PasswordPrompts()


def secret_from_ref(ref: SecretRef, prompts: PasswordPrompts | None = None) -> Secret:
    if ref.origin == "env":
        return Secret.from_env(ref.name)
    if ref.origin == "file":
        return Secret.from_file(ref.name)
    if ref.origin == "prompt":
        source = prompts or PROMPTS

        def typed() -> str:
            try:
                return source.password(ref.name)
            except NoTerminal as exc:
                raise SecretError(f"it is typed at a prompt (password_prompt), but {exc}; "
                                  "run exconf in a terminal, or give it with password_env or password_file") from None

        return Secret(f"a password typed at a prompt for {ref.name}", typed)
    raise ValueError(f"a secret {ref.describe()} cannot be read again here")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileChanged(Exception):
    """A referenced file is gone or differs from the digest it had at plan time."""


def read_checked(ref: FileRef) -> PfxBytes:
    """The file's bytes, if they still have the digest recorded at plan time."""
    try:
        data = read_regular(ref.path, limit=PFX_LIMIT, what="the file")
    except NotARegularFile as exc:
        raise FileChanged(str(exc)) from None
    now = digest(data)
    if now != ref.digest:
        raise FileChanged(f"the file {ref.path} changed since the plan was made (SHA-256 {ref.digest[:16]}… then, {now[:16]}… now)")
    return PfxBytes(data, ref)
