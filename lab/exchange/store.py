"""LabStore: the simulated Exchange organisation behind the lab's WinRM shells.

The WinRM server (lab/winrm) calls :meth:`LabStore.run_command` for each process a
shell starts, and the control socket calls :meth:`LabStore.exec_console` for
``exconf lab exec``. One lock guards the state: commands from many connections
run one cmdlet at a time.

Persistence costs what changed, not the size of the lab (issue 11): a command that
changed objects appends one journal record (the new value of each (scope, kind)
slot it touched) to ``<state>.journal`` and fsyncs it before it answers, so a
``kill -9`` loses nothing acknowledged. Concurrent commands share one fsync (group
commit). The journal is folded into the snapshot (``<state>``: temporary file in the
same directory, fsync, os.replace) at start, at stop, and when it outgrows the
snapshot, so replay at start stays short and the amortised cost per change is flat.
A torn last record (a crash while writing it, before anyone was answered) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .. import eventlog
from ..program import CommandResult, LineSource, run_command, run_process
from ..winrm.auth import account_name, find_account, split_principal
from . import admin_audit_log, cmdlets, errors, orgfile, powershell_vdir
from .certificates import add_pfx_to_my_store
from .context import Context
from . import state as lab_state
from .serialize import serialize_all
from .spec import Account, Faults, OrgFileError, OrgSpec, PowerShellVdir, ServerEntry, ServerSpec, WinRMSettings

if TYPE_CHECKING:
    from ..winrm.auth import Logon

__all__ = [
    "Account", "CommandResult", "ConsoleError", "Faults", "LabStore", "OrgFileError", "ServerSpec", "WinRMSettings",
]

JOURNAL_MIN_COMPACT = 1 << 20  # compact once the journal passes this and twice the snapshot's size


class ConsoleError(Exception):
    """A console command failed; ``str(e)`` is the error as PowerShell prints it."""

    def __init__(self, text: str, record: errors.CmdletError | None = None):
        super().__init__(text)
        self.record = record


class StateFileError(OrgFileError):
    """The state file exists but cannot be read back."""


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


def lone_surrogate(value: Any) -> tuple[str, int] | None:
    """(the character, its index) of the first lone UTF-16 surrogate in a string or list of strings."""
    if isinstance(value, str):
        for index, char in enumerate(value):
            if "\ud800" <= char <= "\udfff":
                return char, index
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            found = lone_surrogate(item)
            if found:
                return found
    return None


class LabStore:
    servers: tuple[ServerSpec, ...]

    def __init__(self, org_path: Path, state_path: Path):
        self.org: OrgSpec = orgfile.load(Path(org_path))
        self.state_path = Path(state_path)
        self.journal_path = journal_path(self.state_path)
        self.servers = tuple(e.spec for e in self.org.servers)
        self._index: dict[str, ServerSpec] = {}  # name, FQDN and address (lower case) -> server
        for spec in self.servers:
            for key in (spec.address, spec.fqdn.lower(), spec.name.lower()):
                self._index[key] = spec
        self._lock = threading.RLock()
        self._batch = threading.local()  # per thread: saving deferred to the end of a command
        # Group commit: changes are numbered; one writer at a time journals every change made
        # before it, so concurrent commands share one fsync.
        self._commit_lock = threading.Lock()
        self._generation = 0
        self._saved_generation = -1
        self._pending: set[lab_state.Slot] = set()  # slots changed since the last record
        self._seq = 0  # number of the last journal record
        self._snapshot_size = 0
        self._entries = {e.name: e for e in self.org.servers}
        self.event_logs = eventlog.EventLogs()  # each server's module logging (event 4103), in memory
        self._remove_stale_temporaries()
        self._state = self._load_state()
        self.save()

    def _remove_stale_temporaries(self) -> None:
        """Temporary snapshots a lab killed while writing left behind (issue 6, item 11)."""
        directory = self.state_path.parent
        if directory.is_dir():
            for stale in directory.glob(f".{self.state_path.name}.*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def _load_state(self) -> lab_state.LabState:
        try:
            data = self.state_path.read_bytes()
        except FileNotFoundError:
            data = None
        try:
            raw = json.loads(data.decode("utf-8")) if data is not None else None
            snapshot_seq = int(raw.get("journal_seq", 0)) if isinstance(raw, dict) else 0
            records = [r for r in self._read_journal() if r["seq"] > snapshot_seq]
            self._seq = max([snapshot_seq] + [r["seq"] for r in records])
            if raw is None:
                fresh = lab_state.build(self.org, lab_state.real_now())
                if not records:
                    return fresh
                raw = lab_state.dump(fresh)  # a journal without a snapshot: a lab killed before compacting
            return lab_state.load(raw, self.org, records)
        except (UnicodeDecodeError, json.JSONDecodeError, lab_state.UnreadableState, TypeError, ValueError) as exc:
            raise StateFileError(
                f"{self.state_path}: cannot read the lab state ({type(exc).__name__}: {lab_state._short(exc)}). "
                "Move the file (and its .journal) away to start again from the organisation file."
            ) from None

    def _read_journal(self) -> list[dict[str, Any]]:
        try:
            data = self.journal_path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
                if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
                    raise ValueError("not a journal record")
            except (UnicodeDecodeError, ValueError):
                if number == len(lines):  # torn while written: never acknowledged
                    break
                raise ValueError(f"{self.journal_path} line {number} is damaged") from None
            records.append(record)
        return records

    # --- the interface of the WinRM server ------------------------------------------------------

    def server(self, key: str) -> ServerSpec:
        """A server by name, FQDN or address (case-insensitive), from the index (no scan)."""
        return self._index[key.strip().lower()]

    def run_command(self, server: ServerSpec, command: str, arguments: list[str], stdin: bytes,
                    codepage: int, caller: str = "", logon: Any = None) -> CommandResult:
        """``logon``: the WinRM logon of the shell (exconf.lab.winrm.auth.Logon), whose token the
        process runs with; None for a process started on the server itself."""
        with self._caller(caller), self._logon(logon):  # who the admin audit log names, and with what token
            return run_command(self, server, command, arguments, stdin, codepage)

    def run_process(self, server: ServerSpec, command: str, arguments: list[str], stdin: LineSource,
                    stdout: Any, stderr: Any, codepage: int, caller: str = "", logon: Any = None) -> int:
        """A process that reads standard input as it arrives and writes as it goes (a WinRS command): its
        exit code. ``stdout``/``stderr`` take bytes as the process writes them."""
        with self._caller(caller), self._logon(logon):
            return run_process(self, server, command, arguments, stdin, stdout, stderr, codepage)

    @contextlib.contextmanager
    def _logon(self, logon: Any) -> Iterator[None]:
        previous = getattr(self._batch, "logon", None)
        self._batch.logon = logon
        try:
            yield
        finally:
            self._batch.logon = previous

    def powershell_vdir(self, server: ServerSpec) -> PowerShellVdir:
        """What a Mailbox server's /PowerShell accepts now: the organisation file's setting until
        Set-PowerShellVirtualDirectory changes it (IIS applies it to the next request)."""
        with self._lock:
            obj = self._state.get(server.computer_name, powershell_vdir.STORED.key)
            return PowerShellVdir(obj["BasicAuthentication"], obj["WindowsAuthentication"])

    def module_log(self, server: ServerSpec, command: str, parameters: list[tuple[str, Any]]) -> None:
        """Event 4103 for a command the program ran on ``server``, as the current caller, at lab time."""
        self.event_logs.record(server.computer_name, getattr(self._batch, "caller", ""), self.clock_now(), command,
                               parameters)

    def run_as(self, principal: str) -> Any:
        """Cmdlets run inside this context are recorded in the admin audit log as ``principal``
        (DOMAIN\\user): what a remote PowerShell session runs as (lab/powershell)."""
        return self._caller(principal)

    @contextlib.contextmanager
    def _caller(self, principal: str) -> Iterator[None]:
        previous = getattr(self._batch, "caller", "")
        self._batch.caller = principal
        try:
            yield
        finally:
            self._batch.caller = previous

    def exec_console(self, server_name: str, cmdlet: str, params: dict[str, Any],
                     warnings: list[str] | None = None, account: str | None = None) -> list[dict[str, Any]]:
        """Run a cmdlet as an administrator's console would (no allowlist, no injected faults).

        ``account`` (``DOMAIN\\user``, ``user`` or a server's local account): run it as that account
        instead of the organisation's first administrator. On a Mailbox server that is what the
        account's remote PowerShell session would let it run (RBAC, rbac.py): a cmdlet outside its
        role groups is not in its session (CommandNotFoundException) and an account without any
        role cannot open one; the admin audit log names the account. An Edge has no RBAC: the
        account must be one of its local accounts.

        Returns every property of each output object, serialised as the remote program does;
        warnings, if a list is given, receive the cmdlet's warnings.
        """
        try:
            spec = self.server(server_name)
        except KeyError:
            raise ConsoleError(f"This lab has no server named '{server_name}'.") from None
        caller = admin_audit_log.console_caller(self.org) if account is None else self._console_account(spec, cmdlet, account)
        try:
            with self._caller(caller):
                outcome = self.invoke(spec, cmdlet, list(params.items()), remote=False)
        except errors.CmdletError as exc:
            raise ConsoleError(exc.console_text(), exc) from None
        if warnings is not None:
            warnings.extend(outcome.warnings)
        return [serialize_all(obj) for obj in outcome.objects]

    def _console_account(self, spec: ServerSpec, cmdlet: str, account: str) -> str:
        """Who ``exec_console(account=…)`` runs as (DOMAIN\\user), after the checks Exchange makes."""
        from . import rbac

        domain, user = split_principal(account)
        found = find_account(spec, domain, user)
        if found is None and domain is None and "@" not in user:  # a bare name: the organisation's account
            found = find_account(spec, self.org.organization.netbios, user)
        if found is None:
            raise ConsoleError(f"{account} cannot log on to {spec.name}: it is not an account of this lab that "
                               f"may log on there.")
        principal = account_name(found)
        if spec.role == "Edge":
            return principal  # an Edge's own shell: no RBAC ("Edge Transport servers don't use RBAC")
        if not found.role_groups:
            raise ConsoleError(f"The user \"{admin_audit_log.caller_name(self.org, principal)}\" isn't assigned to any "
                               "management roles.")
        if cmdlet.lower() in rbac.FEATURES and not rbac.may_run(tuple(found.role_groups), cmdlet):
            # Not in the account's session: PowerShell does not find the command at all.
            raise ConsoleError(errors.command_not_found(cmdlet).console_text())
        return principal

    # --- persistence -----------------------------------------------------------------------------

    def save(self) -> None:
        """Fold everything into the snapshot now (at start and stop): atomically, journal emptied."""
        with self._commit_lock:
            self._compact()

    def _commit(self, target: int) -> None:
        """Make sure change number ``target`` is durable: one journal record, fsync'd.

        A command waits here only for a write that includes its own change; while one
        writer works, the others queue on the commit lock and find their change already
        saved when their turn comes.
        """
        with self._commit_lock:
            if self._saved_generation >= target:
                return
            with self._lock:
                generation = self._generation
                slots, self._pending = self._pending, set()
                record = {
                    "seq": self._seq + 1,
                    "set": [[scope, key, lab_state.dump_slot(self._state, (scope, key))]
                            for scope, key in sorted(slots) if (scope, key) in self._state.objects],
                    "meta": self._state.meta(),
                }
            # ensure_ascii: the journal is ASCII whatever a name holds, so writing never fails on it.
            line = json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n"
            size = self._append(line)
            self._seq += 1
            self._saved_generation = generation
            if size > max(JOURNAL_MIN_COMPACT, 2 * self._snapshot_size):
                self._compact()

    def _append(self, line: bytes) -> int:
        """Append a record and fsync it; returns the journal's size. (Opened per record: a store
        holds no descriptor between commands, and the open is small beside the fsync.)"""
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def _compact(self) -> None:
        """Under the commit lock: write the whole state as the snapshot, then empty the journal."""
        with self._lock:
            generation = self._generation
            self._pending = set()
            data = lab_state.dump(self._state)
            data["journal_seq"] = self._seq
            text = json.dumps(data, separators=(",", ":"))  # ASCII: never an encoding error
        self._write(text)
        self._snapshot_size = len(text)
        # Only now that the snapshot holds every record is the journal emptied.
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._saved_generation = max(self._saved_generation, generation)

    def close(self) -> None:
        """Fold the journal into the snapshot (the lab is stopping)."""
        self.save()

    def _write(self, text: str) -> None:
        """Atomically: a temporary file in the same directory, fsync, os.replace, fsync the directory."""
        directory = self.state_path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.state_path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
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

    # --- IIS's Default Web Site, beside /PowerShell ------------------------------------------------------

    def web_request(self, spec: ServerSpec, path: str, secure: bool) -> tuple[int, bytes]:
        """What a Mailbox server's IIS answers an anonymous GET of a path of the Default Web Site other than
        /PowerShell: the files exconf's program put there (web_files.py), 403.4 over plain HTTP when the site
        requires SSL (Enable-ExchangeCertificate -Services IIS without -DoNotRequireSsl, cmdlets.md §2)."""
        from . import auth_config, certificate_store, stored, web_files

        with self._lock:
            certs = self._state.objects.get((spec.name, certificate_store.SERVER_KEY)) or {}
            if certs.get("root_require_ssl") and not secure:
                return 403, b""
            first = path.split("?", 1)[0].strip("/").split("/", 1)[0].lower()
            if first in ("owa", "ecp"):  # signing in needs OAuth's certificate on this server (auth_config.py)
                blob = self._state.objects.get((stored.ORG, certificate_store.ORG_KEY)) or {}
                return (200, b"") if auth_config.signs_here(blob, certs, self._state.now()) else (500, b"")
            files = self._state.objects.get((spec.name, web_files.KEY)) or {}
            return web_files.served(files, path)

    # --- the lab clock -------------------------------------------------------------------------------

    def clock_now(self) -> datetime:
        with self._lock:
            return self._state.now()

    def clock_offset(self) -> float:
        with self._lock:
            return self._state.clock_offset

    def advance_clock(self, seconds: float) -> datetime:
        """Move the lab clock forward; durable when this returns (it is state)."""
        with self.one_save(), self._lock:
            self._state.advance(seconds)
            self._changed(())
            return self._state.now()

    # --- running cmdlets ---------------------------------------------------------------------------

    def entry(self, spec: ServerSpec) -> ServerEntry:
        return self._entries[spec.computer_name]

    def invoke(self, spec: ServerSpec, cmdlet: str, named: list[tuple[str, Any]], positional: list[Any] = (),
               *, remote: bool, selected: frozenset[str] | None = None) -> cmdlets.Outcome:
        """Run one cmdlet on a server under the state lock; persist if it changed anything.

        ``remote``: run for exconf's remote program, which loads the Exchange snap-ins locally,
        so binding errors name the cmdlet's .NET type and injected faults apply. Otherwise as an
        administrator's console: on a Mailbox server that is remote PowerShell, whose proxy
        functions name binding errors after the cmdlet; on an Edge the local snap-in.
        """
        entry = self.entry(spec)
        compiled = remote or entry.is_edge
        _refuse_lone_surrogates(cmdlet, named, positional)
        # The save happens when one_save ends, after the state lock is released: a writer
        # holds the commit lock and then takes the state lock, never the other way round.
        with self.one_save(), self._lock:
            counts = dict(self._state.fault_counts)
            self._state.touched.clear()
            try:
                outcome = cmdlets.invoke(
                    self.org, self._state, entry, cmdlet, named, positional, now=self._state.now(), compiled=compiled,
                    before_run=(lambda found: self._before_run(entry, found)) if remote else None, selected=selected,
                )
            except errors.CmdletError as exc:
                if getattr(exc, "changed", False):  # a cmdlet that changed state, then failed
                    self._changed(self._state.touched)
                raise
            finally:
                if self._state.fault_counts != counts:
                    self._changed(())
            if outcome.changed:
                admin_audit_log.record(self._state, self.org, entry, outcome.cmdlet, named, outcome.modified,
                                       getattr(self._batch, "caller", ""), self._state.now())
                self._changed(self._state.touched)
            return outcome

    def import_pfx(self, spec: ServerSpec, data: bytes, password: str, exportable: bool, friendly_name: str | None) -> str:
        """What exconf's program does for an Import-ExchangeCertificate step: the PFX into LocalMachine\\My with .NET,
        no cmdlet (certificates.add_pfx_to_my_store). Returns the thumbprint; raises StoreImportError."""
        entry = self.entry(spec)
        with self.one_save(), self._lock:
            self._state.touched.clear()
            ctx = Context(self.org, self._state, entry, self._state.now(), "", "")
            try:
                return add_pfx_to_my_store(ctx, data, password, exportable, friendly_name)
            finally:
                if ctx.changed:
                    self._changed(self._state.touched)

    def _changed(self, slots: Any) -> None:
        """Called under the state lock (inside one_save) after a change: number it for the commit,
        and note the slots it may have changed (those the cmdlet touched) for the journal."""
        self._pending.update(slots)
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

    def _before_run(self, entry: ServerEntry, cmdlet: cmdlets.Cmdlet) -> None:
        """What happens to the program's cmdlet once its parameters are bound: the second hop, then faults."""
        self._second_hop(entry, cmdlet)
        self._inject_fault(entry, cmdlet)

    def _second_hop(self, entry: ServerEntry, cmdlet: cmdlets.Cmdlet) -> None:
        """The double hop: the snap-in's cmdlets on a Mailbox server read and write Active Directory as the
        caller, from the WinRM shell's process; a logon that holds no credential a domain controller accepts
        (NTLM, Basic, Kerberos without a delegated ticket) cannot (diyan/pywinrm#222, the maintainer's
        answer: "CredSSP, Kerberos with delegation, or explicitly define the credential"; ansible/ansible
        #68086). The directory driver binds to the DC as the current Windows identity and gets "invalid
        credentials"; Exchange throws ADInvalidCredentialException with ExceptionInvalidCredentials,
        naming the DC and WindowsIdentity.GetCurrent().Name, category Authorization (1004) (PiratesRE/
        exchange_diff: PooledLdapConnection.GetInvalidCredentialException, DirectoryStrings,
        DataAccessHelper.ResolveExceptionErrorCategory). An Edge reads its local AD LDS: no second hop.
        Restart-Service, Restart-WebAppPool, Set-Content and Remove-Item are Windows' and IIS's, not
        Exchange's: they act on the server itself as the shell's own logon and never reach a domain
        controller, so no second hop either."""
        logon: "Logon | None" = getattr(self._batch, "logon", None)  # set per thread by run_command
        if logon is None or logon.delegated or entry.is_edge or not cmdlet.dotnet.startswith("Microsoft.Exchange."):
            return
        task = errors.TaskContext(entry.name, cmdlet.name, cmdlet.dotnet)
        caller = getattr(self._batch, "caller", "") or logon.principal
        raise errors.task_error(
            task, f"Active Directory operation failed on {self.org.organization.dc}. The supplied credential for "
                  f"'{caller}' is invalid.", "ADInvalidCredentialException", errors.CATEGORY_AUTHORIZATION)

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


def _refuse_lone_surrogates(cmdlet: str, named: list[tuple[str, Any]], positional: Any) -> None:
    """A string with a lone UTF-16 surrogate cannot be written as UTF-8 (what the directory and the
    state file store): refuse it before binding, with the message .NET's strict encoder gives
    (EncoderExceptionFallback: "Unable to translate Unicode character \\uD800 at index 0 to specified
    code page.") as PowerShell's argument transformation wraps it (issue 6, item 9)."""
    for name, value in list(named) + [("Identity", v) for v in positional]:
        found = lone_surrogate(value)
        if found:
            char, index = found
            inner = f"Unable to translate Unicode character \\u{ord(char):04X} at index {index} to specified code page."
            raise errors.transformation_failed(cmdlet, name.lstrip("-"), inner)
