"""LabStore: the simulated Exchange organisation behind the lab's WinRM shells.

The WinRM server (lab/winrm) calls :meth:`LabStore.run_command` for each process a
shell starts, and the control socket calls :meth:`LabStore.exec_console` for
``exconf lab exec``. One lock guards the state: commands from many connections
run one cmdlet at a time. Every change is written to the state file before the
command that made it answers (temporary file in the same directory, fsync,
os.replace), so a crash never leaves a half-written state and a restart sees
every acknowledged change.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from . import cmdlets, errors, orgfile
from . import state as lab_state
from .serialize import serialize_all
from .spec import Account, Faults, OrgFileError, OrgSpec, ServerEntry, ServerSpec, WinRMSettings

__all__ = [
    "Account", "CommandResult", "ConsoleError", "Faults", "LabStore", "OrgFileError", "ServerSpec", "WinRMSettings",
]


class ConsoleError(Exception):
    """A console command failed; ``str(e)`` is the error as PowerShell prints it."""

    def __init__(self, text: str, record: errors.CmdletError | None = None):
        super().__init__(text)
        self.record = record


class StateFileError(OrgFileError):
    """The state file exists but cannot be read back."""


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class LabStore:
    servers: tuple[ServerSpec, ...]

    def __init__(self, org_path: Path, state_path: Path):
        self.org: OrgSpec = orgfile.load(Path(org_path))
        self.state_path = Path(state_path)
        self.servers = tuple(e.spec for e in self.org.servers)
        self._lock = threading.RLock()
        self._batch = threading.local()  # per thread: saving deferred to the end of a command
        # Group commit: changes are numbered; one writer at a time saves a snapshot that covers
        # every change made before it, so concurrent commands share one write.
        self._commit_lock = threading.Lock()
        self._generation = 0
        self._saved_generation = -1
        self._entries = {e.name: e for e in self.org.servers}
        self._state = self._load_state()
        self.save()

    def _load_state(self) -> lab_state.LabState:
        try:
            data = self.state_path.read_bytes()
        except FileNotFoundError:
            return lab_state.build(self.org, _now())
        try:
            return lab_state.load(json.loads(data.decode("utf-8")), self.org, _now())
        except (UnicodeDecodeError, json.JSONDecodeError, lab_state.UnreadableState) as exc:
            raise StateFileError(
                f"{self.state_path}: cannot read the lab state ({exc}). Move the file away to start again from the "
                "organisation file."
            ) from None

    # --- the interface of the WinRM server ------------------------------------------------------

    def server(self, key: str) -> ServerSpec:
        """A server by name, FQDN or address (case-insensitive)."""
        wanted = key.strip().lower()
        for spec in self.servers:
            if wanted in (spec.name.lower(), spec.fqdn.lower(), spec.address):
                return spec
        raise KeyError(key)

    def run_command(self, server: ServerSpec, command: str, arguments: list[str], stdin: bytes,
                    codepage: int) -> CommandResult:
        from ..program import run_command

        return run_command(self, server, command, arguments, stdin, codepage)

    def exec_console(self, server_name: str, cmdlet: str, params: dict[str, Any],
                     warnings: list[str] | None = None) -> list[dict[str, Any]]:
        """Run a cmdlet as an administrator's console would (no allowlist, no injected faults).

        Returns every property of each output object, serialised as the remote program does;
        warnings, if a list is given, receive the cmdlet's warnings.
        """
        try:
            spec = self.server(server_name)
        except KeyError:
            raise ConsoleError(f"This lab has no server named '{server_name}'.") from None
        try:
            outcome = self.invoke(spec, cmdlet, list(params.items()), remote=False)
        except errors.CmdletError as exc:
            raise ConsoleError(exc.console_text(), exc) from None
        if warnings is not None:
            warnings.extend(outcome.warnings)
        return [serialize_all(obj) for obj in outcome.objects]

    def save(self) -> None:
        """Write the state now, atomically (what a change made so far is on disk when this returns)."""
        with self._lock:
            self._generation += 1
            target = self._generation
        self._commit(target)

    def _commit(self, target: int) -> None:
        """Make sure a snapshot at least as new as change number ``target`` is on disk.

        A command waits here only for a write that includes its own change; while one
        writer works, the others queue on the commit lock and find their change already
        saved when their turn comes (a save of a few hundred servers is ~0.1 s of CPU).
        """
        with self._commit_lock:
            if self._saved_generation >= target:
                return
            with self._lock:
                generation = self._generation
                text = json.dumps(lab_state.dump(self._state), ensure_ascii=False, separators=(",", ":"))
            self._write(text)
            self._saved_generation = generation

    def _write(self, text: str) -> None:
        """Atomically: a temporary file in the same directory, fsync, os.replace, fsync the directory."""
        directory = self.state_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.state_path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    # --- running cmdlets ---------------------------------------------------------------------------

    def entry(self, spec: ServerSpec) -> ServerEntry:
        return self._entries[spec.computer_name]

    def invoke(self, spec: ServerSpec, cmdlet: str, named: list[tuple[str, Any]], positional: list[Any] = (),
               *, remote: bool) -> cmdlets.Outcome:
        """Run one cmdlet on a server under the state lock; persist if it changed anything.

        ``remote``: run for exconf's remote program, which loads the Exchange snap-ins locally,
        so binding errors name the cmdlet's .NET type and injected faults apply. Otherwise as an
        administrator's console: on a Mailbox server that is remote PowerShell, whose proxy
        functions name binding errors after the cmdlet; on an Edge the local snap-in.
        """
        entry = self.entry(spec)
        compiled = remote or entry.is_edge
        # The save happens when one_save ends, after the state lock is released: a writer
        # holds the commit lock and then takes the state lock, never the other way round.
        with self.one_save(), self._lock:
            counts = dict(self._state.fault_counts)
            try:
                outcome = cmdlets.invoke(
                    self.org, self._state, entry, cmdlet, named, positional, now=_now(), compiled=compiled,
                    before_run=(lambda found: self._inject_fault(entry, found)) if remote else None,
                )
            except errors.CmdletError as exc:
                if getattr(exc, "changed", False):  # [h-certs] a cmdlet that changed state, then failed
                    self._changed()
                raise
            finally:
                if self._state.fault_counts != counts:
                    self._changed()
            if outcome.changed:
                self._changed()
            return outcome

    def _changed(self) -> None:
        """Called under the state lock (inside one_save) after a change: number it for the commit."""
        self._generation += 1
        self._batch.dirty = max(getattr(self._batch, "dirty", 0), self._generation)

    @contextlib.contextmanager
    def one_save(self) -> Iterator[None]:
        """Run several cmdlets (one remote program run) and persist once at the end, before the
        caller answers: the state file is written once per command instead of once per step."""
        self._batch.depth = getattr(self._batch, "depth", 0) + 1
        try:
            yield
        finally:
            self._batch.depth -= 1
            target = getattr(self._batch, "dirty", 0)
            if not self._batch.depth and target:
                self._batch.dirty = 0
                self._commit(target)

    def _inject_fault(self, entry: ServerEntry, cmdlet: cmdlets.Cmdlet) -> None:
        """Fail the cmdlet as the org file's faults.cmdlets say: ``times`` times (counted in the state) or always."""
        for index, fault in enumerate(entry.cmdlet_faults):
            if fault.cmdlet.lower() != cmdlet.name.lower():
                continue
            key = f"{entry.name}/{index}"
            served = self._state.fault_counts.get(key, 0)
            if fault.times is not None:
                if served >= fault.times:
                    continue
                self._state.fault_counts[key] = served + 1
            task = errors.TaskContext(entry.name, cmdlet.name, cmdlet.dotnet)
            raise errors.task_error(task, fault.message, fault.exception, "InvalidOperation")
