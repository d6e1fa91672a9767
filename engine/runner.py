"""Running exconf against hosts: read, plan (pure, planner.py), apply the plan graph, verify.

I/O lives here and in the executors; deciding what to change is pure. Each
host gets one executor (one shell) for the whole run: one command to read,
and one per wave of the plan graph to apply and read back — with no
cross-host needs that is one wave, so one command. Hosts run in parallel up
to ``forks``; a host that fails, cannot be reached, or raises anything at all
never stops the others.

Organisation-wide objects are read and changed through one Mailbox server:
the first selected host if it is a Mailbox server (its read carries the
organisation reads, which an Edge answers ``not_applicable``), otherwise the
first reachable selected Mailbox server, at the cost of one more command on
it, otherwise the first Mailbox server outside ``--limit`` (which then plans
nothing of its own).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exconf.modules import KINDS, ORGANIZATION, SERVER, Kind
from exconf.modules.base import MissingOutput, ReadError, resolve_from_operations
from exconf.remote import STATUS_ERROR, STATUS_NOT_RUN, Answer, ContractError, RemoteFatal, Secret, Step

from . import planner, readcache
from . import sshvars
from .connection import ConnectionConfigError, psrp_settings_for, settings_for, ssh_settings_for
from .desired import DesiredState
from .door import PSRP, SSH, WINRM, DoorError, door_of, role_of
from .executor import Executor, ProgramExecutor
from .facts import SERVER_STEP, FactsError, server_facts
from .graph import dependants
from .inventory import Host, Inventory
from .model import (CONTROLLER, PROGRAM, Change, ChangeOutcome, ChangeResult, ControllerError, HostResult, HostStatus, Operation,
                    OperationKind, Plan)
from .planner import HostRead
from .psrp_executor import PSRPExecutor
from .sitereaders import GUESS, choose_readers, declared_site, misplaced
from .transport import AuthenticationFailed, HostUnreachable, TransportError
from .transport.cleartext import in_clear
from .transport.limits import FileLimit, bound_forks, raise_open_file_limit
from .transport.psrp import ClientKey, PSRPTransport
from .transport.psrp_templates import PipelineTemplates
from .transport.ssh import SSHTransport
from .transport.watchdog import Watchdog
from .transport.winrm import WinRMTransport

ExecutorFactory = Callable[[Host], Executor]
Event = Callable[[str, str, int, int], None]  # (phase, host, done, total)

GRACE_SECONDS = 10.0  # after a first Ctrl-C, how long hosts in flight may take to finish
IN_FLIGHT_SOCKETS = 3  # sockets one host may hold while it authenticates (measured under NTLM)
# While a host waits for its apply, whether its kept connection nears its idle margin is looked at every
# KEEP_ALIVE_POLL s; work its apply needs anyway is sent once it is within KEEP_ALIVE_LEAD s of it (_keep_alive).
# As many threads as --forks do it side by side: at 1,000 servers hosts reach the window as fast as they were
# read (17 a second here), and each key exchange waits for a busy server twice.
KEEP_ALIVE_POLL = 1.0
KEEP_ALIVE_LEAD = 45.0

READ = "read:"
ORG = "org:"
VERIFY = "verify:"


def default_executor_factory(inventory_dir: Path, watchdog: Watchdog | None = None) -> ExecutorFactory:
    """Each host's executor by its door (door.py): Exchange remote PowerShell, or exconf's program over
    WinRM or SSH; one watchdog (whole-request deadlines), one PSRP client key pair (psrp.ClientKey) and one set of
    CREATE_PIPELINE templates (psrp_templates.py) shared by every host of the run."""
    client_key = ClientKey()
    templates = PipelineTemplates()

    def make(host: Host) -> Executor:
        door = door_of(host.name, host.vars).connection
        if door == PSRP:
            p = psrp_settings_for(host, inventory_dir)
            return PSRPExecutor(PSRPTransport(p, watchdog=watchdog, client_key=client_key, templates=templates), p.server_name, in_clear=in_clear(p.scheme, p.encrypts_messages), endpoint=p.endpoint)
        if door == SSH:
            h = ssh_settings_for(host, inventory_dir)
            return ProgramExecutor(SSHTransport(h, watchdog=watchdog), endpoint=h.endpoint)  # SSH encrypts: never in clear
        s = settings_for(host, inventory_dir)
        return ProgramExecutor(WinRMTransport(s, watchdog=watchdog), in_clear=in_clear(s.scheme, s.encrypts_messages), endpoint=s.endpoint)

    return make


def default_program_factory(inventory_dir: Path, watchdog: Watchdog | None = None) -> ExecutorFactory:
    """exconf's program over WinRM for the operations of a host reached over remote PowerShell that no Exchange
    session can run (``Operation.where == PROGRAM``: an ACME challenge file, an app pool restart)."""

    def make(host: Host) -> Executor:
        s = settings_for(host, inventory_dir, beside_psrp=True)
        return ProgramExecutor(WinRMTransport(s, watchdog=watchdog), in_clear=in_clear(s.scheme, s.encrypts_messages), endpoint=s.endpoint)

    return make


def endpoint_of(host: Host, inventory_dir: Path) -> str:
    """Where the host is reached, for plan files and reports (no password needed to say it)."""
    try:
        door = door_of(host.name, host.vars).connection
        if door == PSRP:
            return psrp_settings_for(host, inventory_dir, env={}).endpoint
        if door == SSH:
            return sshvars.endpoint(host)
        return settings_for(host, inventory_dir, env={}).endpoint
    except (ConnectionConfigError, DoorError):
        return str(host.vars.get("ansible_host") or host.name)


@dataclass
class Session:
    """One host during a run: its executor and what went wrong, if anything."""

    host: Host
    executor: Executor | None = None
    program: Executor | None = None  # exconf's program over WinRM beside remote PowerShell (Operation.where == PROGRAM)
    status: HostStatus = HostStatus.OK
    error: str = ""
    sent: bool = True  # False when the last failure happened before the command reached the server
    notes: tuple[str, ...] = ()  # what a closed executor had noted
    abandoned: bool = False  # left in flight at Ctrl-C: its worker may still be waiting on its connection

    def fail(self, status: HostStatus, message: str, *, sent: bool = True) -> None:
        self.status, self.error, self.sent = status, message, sent


@dataclass(frozen=True)
class Task:
    """One unit of a parallel phase: a host's read, or a host's operations of one wave in an apply."""

    index: int  # its place in the phase's order (tasks start in this order, urgent ones first)
    session: Session
    after: frozenset[int] = frozenset()  # tasks that must be done before it starts
    urgent: bool = False  # others wait for it: started before those that nothing waits for
    rank: int = 0  # then by this, then by index: an apply's tasks in the order their hosts finished reading
    ops: tuple[Operation, ...] = ()
    wave: int = 0


@contextlib.contextmanager
def _counting_interrupts(presses: list[int]):
    """While hosts are worked on, Ctrl-C (SIGINT) is counted instead of raised anywhere in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def count(signum: int, frame: object) -> None:
        presses[0] += 1

    previous = signal.signal(signal.SIGINT, count)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def guard(session: Session, fn: Callable[[], None]) -> None:
    """Run fn, sorting every failure into unreachable or failed for this host only."""
    try:
        fn()
    except (HostUnreachable, AuthenticationFailed) as exc:
        session.fail(HostStatus.UNREACHABLE, str(exc), sent=exc.result_unknown)
    except TransportError as exc:
        session.fail(HostStatus.FAILED, str(exc), sent=exc.result_unknown)
    except (ConnectionConfigError, ContractError, FactsError, ReadError) as exc:
        session.fail(HostStatus.FAILED, str(exc))
    except RemoteFatal as exc:
        session.fail(HostStatus.FAILED, f"the exconf program could not run on {session.host.name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one host's surprise is that host's failure, never the run's
        session.fail(HostStatus.FAILED, f"{session.host.name}: unexpected {type(exc).__name__}: {exc}")


@dataclass
class Run:
    """One exconf run over a selection of hosts."""

    inventory: Inventory
    hosts: list[Host]
    desired: DesiredState
    forks: int = 5
    kinds: tuple[Kind, ...] = KINDS
    executor_factory: ExecutorFactory | None = None
    program_factory: ExecutorFactory | None = None  # None: the default over WinRM (or executor_factory when that is given)
    on_event: Event | None = None
    on_interrupt: Callable[[list[str]], None] | None = None  # told which hosts are in flight at a first Ctrl-C
    on_change: Callable[[ChangeResult], None] | None = None  # told each change's outcome as soon as it is final
    stopping: threading.Event = field(default_factory=threading.Event)
    unknown: list[str] = field(default_factory=list)  # hosts left in flight after an interrupt
    left_at_once: bool = False  # a second Ctrl-C, not the end of the grace period, left them
    sessions: dict[str, Session] = field(default_factory=dict)
    reads: dict[str, HostRead] = field(default_factory=dict)
    org_host: str | None = None
    warnings: list[str] = field(default_factory=list)
    organization: bool = True  # plan organisation-wide objects (--limit selects the pseudo-host)
    carriers: list[Host] = field(default_factory=list)  # hosts outside --limit that may carry them
    carrier_only: set[str] = field(default_factory=set)  # carriers read for the organisation alone
    # Steps read with the organisation, on the Mailbox server that carries it (drift reads the admin
    # audit log there); their answer is ``org_answer``.
    org_steps: tuple[Step, ...] = ()
    org_answer: Answer | None = None
    clock: Callable[[], float] = time.time  # wall clock for operations' ``within`` deadlines
    sleep: Callable[[float], None] = time.sleep  # between the read-backs of a kind that ``polls``

    def __post_init__(self) -> None:
        self.files: FileLimit = raise_open_file_limit()
        self.forks = bound_forks(self.forks, self.files, sockets_per_host=IN_FLIGHT_SOCKETS)
        self._watchdog: Watchdog | None = None
        if self.executor_factory is None:
            self._watchdog = Watchdog()
            self.executor_factory = default_executor_factory(self.inventory.path.parent, self._watchdog)
            if self.program_factory is None:
                self.program_factory = default_program_factory(self.inventory.path.parent, self._watchdog)
        elif self.program_factory is None:
            self.program_factory = self.executor_factory
        self.sessions = {h.name: Session(h) for h in self.hosts}
        # Kinds that reads_peers are read on every host once any host declares them (resolved once, not per host).
        declared_anywhere = frozenset(k for h in self.desired.hosts for k in self.desired.kinds_of(h))
        self._peer_kinds = frozenset(k.kind for k in self.kinds if k.scope == SERVER and k.reads_peers and k.kind in declared_anywhere)
        # An organisation kind that reads_peers is read on every host too (the Auth certificate must be on every Mailbox server).
        self._peer_kinds |= frozenset(k.kind for k in self.kinds if k.scope == ORGANIZATION and k.reads_peers and self.organization
                                      and k.kind in self.desired.organization_kinds)
        # Of those, the kinds read once per AD site (by one Mailbox server of it) by the hosts that do not declare them.
        self._site_kinds = frozenset(k.kind for k in self.kinds if k.kind in self._peer_kinds and k.reads_per_site)
        # The AD sites whose own side the declarations need read (casefolded; none: any one site's read will do).
        self._needed_sites = frozenset(
            site for k in self.kinds if k.kind in self._site_kinds
            for ds in self.desired.hosts.values() for site in k.needed_sites(tuple(d for d in ds if d.kind == k.kind)))
        self._sites_read: set[str] = set()
        self._read_rank: dict[str, int] = {}  # host -> the order it finished reading in
        self._sites_lock = threading.Lock()
        unchecked = [h.name for h in self.hosts if h.vars.get("ansible_winrm_server_cert_validation") == "ignore"]
        if unchecked:
            self.warnings.append(
                "HTTPS certificate validation is off (ansible_winrm_server_cert_validation: ignore) for "
                + ", ".join(unchecked)
                + ": exconf cannot tell these servers from an impostor; name their CA with ansible_winrm_ca_trust_path instead"
            )

    # --- helpers ------------------------------------------------------------

    def _parallel(self, phase: str, fn: Callable[[Session], None], sessions: list[Session]) -> list[Session]:
        """Run fn for each session on up to ``forks`` threads, in order; return the sessions never started."""
        tasks = [Task(i, s) for i, s in enumerate(sessions)]
        return [t.session for t in self._run_tasks(phase, lambda t: fn(t.session), tasks)]

    def _run_tasks(self, phase: str, fn: Callable[[Task], None], tasks: list[Task]) -> list[Task]:
        """Run each task on up to ``forks`` threads once the tasks it comes ``after`` are done, urgent ones first,
        then in order; return the tasks never started.

        A first Ctrl-C stops starting tasks and gives those in flight up to
        GRACE_SECONDS to finish; a second one, or the end of the grace, leaves
        them at once with their result unknown (``unknown`` lists their hosts). Worker
        threads are daemons, so leaving never waits for a host that does not answer.
        """
        if not tasks:
            return []
        by_index = {t.index: t for t in tasks}
        waiting = {t.index: {a for a in t.after if a in by_index} for t in tasks}
        followers: dict[int, list[int]] = {}
        for t in tasks:
            for a in waiting[t.index]:
                followers.setdefault(a, []).append(t.index)
        ready = [(not t.urgent, t.rank, t.index) for t in tasks if not waiting[t.index]]
        heapq.heapify(ready)
        started: set[int] = set()
        in_flight: set[str] = set()
        cond = threading.Condition()
        finished = threading.Event()
        done = 0
        running = max(1, min(self.forks, len(tasks)))

        def worker() -> None:
            nonlocal done, running
            while True:
                with cond:
                    while not ready and in_flight and not self.stopping.is_set():
                        cond.wait(0.5)  # another task's end may make one ready
                    if self.stopping.is_set() or not ready:
                        running -= 1
                        if running == 0:
                            finished.set()
                        cond.notify_all()
                        return
                    task = by_index[heapq.heappop(ready)[2]]
                    started.add(task.index)
                    in_flight.add(task.session.host.name)
                guard(task.session, lambda: fn(task))  # noqa: B023 - called before the loop moves on
                with cond:
                    in_flight.discard(task.session.host.name)
                    done += 1
                    count = done
                    for f in followers.get(task.index, ()):
                        waiting[f].discard(task.index)
                        if not waiting[f]:
                            heapq.heappush(ready, (not by_index[f].urgent, by_index[f].rank, f))
                    cond.notify_all()
                if self.on_event is not None:
                    try:
                        self.on_event(phase, task.session.host.name, count, len(tasks))
                    except Exception:  # noqa: BLE001 - a progress line that cannot print must not stop the hosts
                        pass

        for _ in range(running):
            threading.Thread(target=worker, daemon=True, name=f"exconf-{phase}").start()
        deadline: float | None = None
        presses = [0]
        with _counting_interrupts(presses):
            while not finished.is_set():
                finished.wait(0.05)
                if presses[0] and deadline is None:
                    self.stopping.set()
                    deadline = time.monotonic() + GRACE_SECONDS
                    if self.on_interrupt is not None:
                        with cond:
                            flying = sorted(in_flight)
                        self.on_interrupt(flying)
                if presses[0] > 1:
                    deadline = time.monotonic()  # a second Ctrl-C: leave now
                if deadline is None or time.monotonic() < deadline or finished.is_set():
                    continue
                with cond:
                    late = list({t.session.host.name: t.session for t in tasks if t.session.host.name in in_flight}.values())
                self.left_at_once = self.left_at_once or presses[0] > 1
                how = "left at once at a second Ctrl-C" if presses[0] > 1 else f"still busy {GRACE_SECONDS:.0f} s after Ctrl-C"
                for s in late:
                    s.abandoned = True
                    if phase == "read":
                        # Reading changes nothing: a slow host is not unreachable, and nothing about it is unknown.
                        s.fail(HostStatus.FAILED, f"not read: interrupted ({how} while it was being read)", sent=False)
                        continue
                    s.fail(HostStatus.UNREACHABLE, f"result unknown: {how} while {phase} was in progress on {s.host.name} (interrupted)")
                    self.unknown.append(s.host.name)
                break
        with cond:
            return [t for t in tasks if t.index not in started]

    def _executor(self, session: Session) -> Executor:
        if session.executor is None:
            assert self.executor_factory is not None
            session.executor = self.executor_factory(session.host)
        return session.executor

    def _takes_program(self, session: Session) -> bool:
        """Whether the host's own door is exconf's program, over WinRM or SSH (then PROGRAM operations take that door too)."""
        try:
            return door_of(session.host.name, session.host.vars).connection in (WINRM, SSH)
        except DoorError:
            return False

    def _program_executor(self, session: Session) -> Executor:
        if self._takes_program(session):
            return self._executor(session)
        if session.program is None:
            assert self.program_factory is not None
            session.program = self.program_factory(session.host)
        return session.program

    def _kinds(self, scope: str, declared: frozenset[str]) -> list[Kind]:
        return [k for k in self.kinds if k.scope == scope and k.kind in declared]

    def _host_kinds(self, host: str) -> list[Kind]:
        """The server kinds a host declares, and those that ``reads_peers`` declared on any host (but not those read
        per site, which only the site's reader reads)."""
        mine = self.desired.kinds_of(host)
        return [k for k in self.kinds if (k.scope == SERVER and (k.kind in mine or (k.kind in self._peer_kinds and k.kind not in self._site_kinds)))
                or (k.scope == ORGANIZATION and k.kind in self._peer_kinds)]

    def _site_kinds_for(self, host: str) -> list[Kind]:
        """Kinds read once per AD site that this host does not declare itself (so reads for its site, if chosen)."""
        mine = self.desired.kinds_of(host)
        return [k for k in self.kinds if k.kind in self._site_kinds and k.kind not in mine]

    def _observe_site(self, result: HostRead, wanted: list[Kind], answer: Answer | None) -> None:
        """A host's view of the kinds read per site: what it read for its site (a Mailbox server that was its
        site's reader), else nothing, so that the planner still sees them as peers."""
        for k in wanted:
            result.objects[k.kind] = ()
        if answer is None or result.facts is None or result.facts.role != "Mailbox":
            return
        for k in wanted:
            result.objects[k.kind] = k.observe(answer, READ) or ()
        with self._sites_lock:
            self._sites_read.add(result.facts.site.casefold())

    def _claim_site(self, site: str) -> bool:
        """Whether this host is the first to read this site, and the site is one the declarations need (or, needing
        none in particular, the first site read): then nobody else reads it."""
        key = site.casefold()
        with self._sites_lock:
            needed = key in self._needed_sites if self._needed_sites else not self._sites_read
            if key in self._sites_read or not needed:
                return False
            self._sites_read.add(key)
            return True

    def _read_site_now(self, session: Session, result: HostRead, wanted: list[Kind]) -> None:
        """A second command, on the connection the host's read used, for the site's side."""
        answer = self._execute(session, [s for k in wanted for s in k.read_steps(READ)], halt_on_error=False)
        self._observe_site(result, wanted, answer)

    def _read_missing_sites(self) -> None:
        """A needed site whose chosen reader did not read it (its read failed, or the server is in another site) is
        read by a second command on the first Mailbox server of it that was read."""
        for name, session in self.sessions.items():
            result = self.reads.get(name)
            wanted = self._site_kinds_for(name)
            if (not wanted or result is None or result.facts is None or result.facts.role != "Mailbox"
                    or session.status is not HostStatus.OK or not self._claim_site(result.facts.site)):
                continue

            guard(session, functools.partial(self._read_site_now, session, result, wanted))
            if session.status is not HostStatus.OK:
                result.status, result.error = session.status, session.error

    def _execute(self, session: Session, steps: list[Step], *, halt_on_error: bool, program: bool = False) -> Answer:
        """One round trip; a read cmdlet asked for twice with the same parameters is sent once (readcache).
        ``program``: through exconf's program over WinRM, beside the host's remote PowerShell."""
        sent, alias = readcache.shared(steps)
        if program:
            return readcache.answer_for(self._program_executor(session).execute(sent, halt_on_error=halt_on_error), alias)
        return readcache.answer_for(self._executor(session).execute(sent, halt_on_error=halt_on_error), alias)

    def release(self, hosts: set[str] | None = None) -> None:
        """Let go of sockets of hosts that have nothing more to do now (or all, while waiting)."""
        for name, s in self.sessions.items():
            if hosts is None or name in hosts:
                for executor in (s.executor, s.program):
                    if executor is not None:
                        executor.release()

    def finish(self, hosts: set[str]) -> None:
        """End these hosts' shells now: they have nothing more to do in this run."""
        for name in hosts:
            if name in self.sessions:
                self._finish(self.sessions[name])

    def _finish(self, session: Session) -> None:
        """Delete a host's shell on the connection it has (no extra log-on) and keep its notes."""
        executors, session.executor, session.program = (session.executor, session.program), None, None
        for executor in executors:
            if executor is None:
                continue
            session.notes += executor.notes()
            try:
                executor.close()
            except Exception:  # noqa: BLE001 - closing is best effort, and never hides a result
                pass

    def close(self) -> None:
        for s in self.sessions.values():
            if s.abandoned:  # an abandoned host's request may hold its connection: leave it
                continue
            for executor in (s.executor, s.program):
                if executor is not None:
                    try:
                        executor.close()
                    except Exception:  # noqa: BLE001 - closing is best effort, and never hides a result
                        pass
            s.executor = s.program = None
        if self._watchdog is not None:
            self._watchdog.close()

    # --- read ---------------------------------------------------------------

    def read(self, *, org_host: str | None = None, keep_connections: bool = True) -> dict[str, HostRead]:
        """Read every selected host in parallel (one command each); the organisation through one Mailbox server.

        ``keep_connections``: keep each host's connection for an apply that follows (as far as the
        open-file limit allows); False for a run that only reads (plan, drift), which closes each
        host's shell and socket as soon as it is read, so a run holds about ``forks`` sockets.
        """
        org = self._kinds(ORGANIZATION, self.desired.organization_kinds) if self.organization else []
        first = org_host or (self.hosts[0].name if self.hosts and (org or self.org_steps) else None)
        # Connections are kept from read to apply, as far as the open-file limit allows beside the
        # hosts in flight (each may briefly hold IN_FLIGHT_SOCKETS while NTLM authenticates); beyond
        # that a host gives its sockets back and reconnects to apply. What a host holds is counted,
        # not assumed: a kept NTLM session may hold more than one connection.
        room = max(0, self.files.sockets - IN_FLIGHT_SOCKETS * self.forks)
        held = [0]
        held_lock = threading.Lock()
        # Kinds read once per site, in the sites the declarations need: the first host of each that the inventory
        # says is in it (exconf_site), or a guess, reads it in its one command (sitereaders.py); a needed site
        # nobody read, by a second command on its first Mailbox server read.
        readers = choose_readers(((h.name, h.vars) for h in self.hosts  # Mailbox servers, as far as the inventory says
                                  if self._site_kinds_for(h.name) and role_of(h.name, h.vars)[0] == "Mailbox"),
                                 self._needed_sites) if self._site_kinds else {}
        chosen_sites = {site.casefold() for site in readers.values() if site != GUESS}
        guessing = GUESS in readers.values()

        def read_one(session: Session) -> None:
            name = session.host.name
            result = self.reads.setdefault(name, HostRead(name, endpoint=endpoint_of(session.host, self.inventory.path.parent)))
            kinds = self._host_kinds(name)
            wanted = self._site_kinds_for(name)
            reads_site = bool(wanted) and name in readers
            steps = [SERVER_STEP] + [s for k in kinds for s in k.read_steps(READ)]
            if reads_site:
                steps += [s for k in wanted for s in k.read_steps(READ)]
            if name == first:
                steps += [s for k in org for s in k.read_steps(ORG)] + list(self.org_steps)
            answer = self._execute(session, steps, halt_on_error=False)
            result.facts = server_facts(answer)
            for k in kinds:
                result.objects[k.kind] = k.observe(answer, READ)
            if wanted:
                self._observe_site(result, wanted, answer if reads_site else None)
                mailbox = result.facts.role == "Mailbox"
                note = misplaced(name, declared_site(session.host.vars), result.facts.site, chosen=reads_site) if mailbox else ""
                if note:
                    with held_lock:
                        self.warnings.append(note)
                # A needed site nobody was chosen for: its first Mailbox server read reads it now, on the connection it
                # has (after _finish a plan would log on again for it). Needing any one site, the guess reads one.
                if (mailbox and not reads_site and result.facts.site.casefold() not in chosen_sites
                        and (self._needed_sites or not guessing) and self._claim_site(result.facts.site)):
                    self._read_site_now(session, result, wanted)
            if name == first:
                self._org_objects = {k.kind: k.observe(answer, ORG) for k in org}
                self.org_answer = answer
            with held_lock:
                self._read_rank[name] = len(self._read_rank)
            if not keep_connections:
                self._finish(session)
                return
            executor = self._executor(session)
            sockets = executor.open_sockets()
            with held_lock:
                over = held[0] + sockets > room
                held[0] += 0 if over else sockets
            if over:
                executor.release()

        self._org_objects = {}
        for skipped in self._parallel("read", read_one, list(self.sessions.values())):
            skipped.fail(HostStatus.FAILED, "not read: interrupted")
        if self._site_kinds and not self.stopping.is_set():
            self._read_missing_sites()
        # In selection order, whatever order the hosts finished in.
        self.reads = {name: self.reads.get(name) or HostRead(name) for name in self.sessions}
        for name, session in self.sessions.items():
            read = self.reads[name]
            read.status, read.error = session.status, session.error
        if (org or self.org_steps) and not self.stopping.is_set():
            self._read_organization(org, first)
        return self.reads

    def _read_organization(self, org: list[Kind], first: str | None) -> None:
        candidate = self.reads.get(first) if first else None
        carried = candidate is not None and candidate.facts is not None and candidate.facts.role == "Mailbox"
        if (
            candidate
            and candidate.status is HostStatus.OK
            and all(self._org_objects.get(k.kind) is not None for k in org)
            and (carried or not self.org_steps)  # an Edge answers the organisation's extra steps not_applicable
        ):
            self.org_host = first
            self._observe_organization()
            return
        steps = [s for k in org for s in k.read_steps(ORG)] + list(self.org_steps)
        selected = [self.sessions[r.host] for r in self.reads.values() if r.status is HostStatus.OK and r.facts and r.facts.role == "Mailbox"]
        for session in selected:
            if self._read_organization_on(session, org, steps):
                return
        # No selected host can carry them: a Mailbox server outside --limit reads and changes them
        # (and nothing of its own), as an administrator would connect to any Mailbox server.
        tried: list[str] = []
        for host in self.carriers:
            session = self.sessions.setdefault(host.name, Session(host))
            read = HostRead(host.name, endpoint=endpoint_of(host, self.inventory.path.parent))

            def facts(session: Session = session, read: HostRead = read) -> None:
                read.facts = server_facts(self._executor(session).execute([SERVER_STEP], halt_on_error=False))

            guard(session, facts)
            if session.status is not HostStatus.OK or read.facts is None or read.facts.role != "Mailbox":
                tried.append(f"{host.name} ({session.error.splitlines()[0] if session.error else (read.facts.role if read.facts else '?') + ' server'})")
                self.sessions.pop(host.name)
                continue
            self.reads[host.name] = read
            self.carrier_only.add(host.name)
            if self._read_organization_on(session, org, steps):
                self.warnings.append(
                    f"organisation-wide objects are read and changed through {host.name}, a Mailbox server outside --limit (only those objects)"
                )
                return
        why = "no selected host is a reachable Mailbox server"
        if tried:
            why += "; tried outside --limit: " + ", ".join(tried)
        if org:
            self.warnings.append(f"organisation-wide objects (exchange_organization) were not checked: {why}")

    def _read_organization_on(self, session: Session, org: list[Kind], steps: list[Step]) -> bool:
        """Read the organisation's objects on one Mailbox server; True when it is now their carrier."""

        def work() -> None:
            answer = self._execute(session, steps, halt_on_error=False)
            self._org_objects = {k.kind: k.observe(answer, ORG) for k in org}
            self.org_answer = answer

        guard(session, work)
        if session.status is not HostStatus.OK:
            self.reads[session.host.name].status = session.status
            self.reads[session.host.name].error = session.error
            return False
        self.org_host = session.host.name
        self._observe_organization()
        return True

    def _observe_organization(self) -> None:
        """The organisation's objects are observed on the carrier, beside its own."""
        assert self.org_host is not None
        for kind, objects in self._org_objects.items():
            self.reads[self.org_host].objects[kind] = objects

    # --- plan ---------------------------------------------------------------

    def plan(self, overrides: tuple[str, ...] = ()) -> Plan:
        """Plan every host read (pure, from what read() gathered); a carrier outside --limit plans nothing of its own."""
        desired = DesiredState(
            hosts={h: d for h, d in self.desired.hosts.items() if h not in self.carrier_only},
            organization=self.desired.organization if self.organization else (),
        )
        # What an executor had to do while reading (an SSH host key recorded under accept-new, a reconnection)
        # is said with the plan too, not only after an apply.
        noted = tuple(f"{name}: {note}" for name, s in self.sessions.items()
                      for note in (*s.notes, *(s.executor.notes() if s.executor is not None else ())))
        return planner.plan(desired, self.reads, self.kinds, org_host=self.org_host, warnings=(*self.warnings, *noted),
                            overrides=overrides)

    # --- apply --------------------------------------------------------------

    def apply(self, plan: Plan) -> dict[str, HostResult]:
        """Run the plan's schedule; a host's operations of one wave travel in one round trip, once what they need
        on other hosts and the host's earlier wave are done (apply_tasks: a wave is not a barrier for hosts it
        does not concern).

        The schedule is the plan's own (planner.py computed it, and a saved plan's was compared with a
        fresh one): apply never recomputes an order.
        """
        outcomes: dict[str, ChangeResult] = {}
        changes = {c.id: c for c in plan.changes}
        blocked: dict[str, str] = {}  # operation id -> why it will not run
        ops = list(plan.operations)
        by_id = {op.id: op for op in ops}
        lock = threading.Lock()
        plan_waves = [[by_id[i] for i in wave] for wave in plan.schedule]
        last_wave = {op.host: i for i, wave in enumerate(plan_waves) for op in wave}
        # What earlier operations' steps handed on (an Edge Subscription file, with its bootstrap password; a
        # certificate request; an exported PFX; what an issuer signed): in this process's memory only, for
        # FromOperation parameters of later operations; dropped on return.
        carried: dict[tuple[str, str], Any] = {}
        sent_at: dict[str, float] = {}

        unsettled = {c: sum(1 for op in ops if op.change == c) for c in changes}  # operations of each change not yet recorded
        answered = _answering(plan)

        def record(change_id: str, result: ChangeResult) -> None:
            """A change made of several operations keeps its first outcome that is not ``applied``; one whose
            first operations were made and a later one not is partly made: failed, never "not run"."""
            # Once a change's last operation is recorded, its outcome is final and ``on_change`` hears it.
            if result.warnings and change_id in answered:
                # A cmdlet's warning that a later change of this plan answers (Exchange's "subscribe it again"
                # when the plan resubscribes) is not shown: the later change says what it does.
                result = replace(result, warnings=tuple(w for w in result.warnings if not answered[change_id](w)))
            earlier = outcomes.get(change_id)
            if earlier is not None and earlier.outcome is ChangeOutcome.APPLIED and result.outcome is ChangeOutcome.NOT_RUN:
                result = replace(result, outcome=ChangeOutcome.FAILED, message=f"partly made (its first operations ran), then {result.message}")
            if earlier is None or (earlier.outcome is ChangeOutcome.APPLIED
                                   and (result.outcome is not ChangeOutcome.APPLIED or result.message or not earlier.message)):
                outcomes[change_id] = result  # an applied operation's note (a new thumbprint) is kept over a later one's silence
            unsettled[change_id] -= 1
            if unsettled[change_id] == 0 and self.on_change is not None:
                try:
                    self.on_change(outcomes[change_id])
                except Exception:  # noqa: BLE001 - a line that cannot print must not stop the hosts
                    pass

        # Hosts that finished reading first apply first: each host's connection waits about as long as the reads took.
        tasks = [replace(t, rank=self._read_rank.get(t.session.host.name, len(self._read_rank) + t.index))
                 for t in apply_tasks(plan_waves, self.sessions)]

        # A host whose apply sends a secret (a PFX's password) keeps the connection it was read on with that
        # secret's session key, exchanged while it waits (_keep_alive); its task holds busy[host] while it runs.
        busy = {name: threading.Lock() for name in {t.session.host.name for t in tasks}}
        keeping = {t.session.host.name for t in tasks if sends_secret(t.ops)}

        def apply_task(task: Task) -> None:
            with busy[task.session.host.name]:
                if sends_secret(task.ops):
                    keeping.discard(task.session.host.name)  # from now on its pool has the key
                run_task(task)

        def run_task(task: Task) -> None:
            session = task.session
            host_ops: list[Operation] = []
            with lock:
                for op in task.ops:
                    if self.stopping.is_set():
                        blocked.setdefault(op.id, "not attempted: the run was interrupted")
                    if op.id not in blocked:
                        late = late_for_window(op, sent_at, self.clock())
                        if late:
                            blocked[op.id] = late
                    if op.id in blocked:
                        record(op.change, ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, blocked[op.id]))
                        for dep in dependants(ops, op.id):
                            if not dep.cleanup:
                                blocked.setdefault(dep.id, f"not attempted: it needs {op.id}, which did not run")
                        continue
                    host_ops.append(op)
                started = self.clock()
                for op in host_ops:
                    sent_at[op.id] = started
            results = self._apply_host(session, host_ops, changes, carried, lock) if host_ops else []
            if task.wave == last_wave[session.host.name]:
                self._finish(session)  # nothing more to send: its socket is not held to the end of the run
            with lock:
                for op, result in zip(host_ops, results, strict=True):
                    record(op.change, result)
                    if result.outcome is not ChangeOutcome.APPLIED and not op.cleanup:
                        why = f"not attempted: it needs {op.change} on {op.host}, which {'failed' if result.outcome is not ChangeOutcome.NOT_RUN else 'did not run'}"
                        for dep in dependants(ops, op.id):
                            if not dep.cleanup:
                                blocked.setdefault(dep.id, why)
                        # A host stops at its first failure: its later waves do not run either.
                        for later in ops:
                            if later.host == op.host and later.id not in outcomes and later not in host_ops and not later.cleanup:
                                blocked.setdefault(later.id, "not attempted: an earlier change on this host failed")

        order = sorted(keeping, key=lambda n: self._read_rank.get(n, len(self._read_rank)))
        stop_keeping = threading.Event()
        keepers = [threading.Thread(target=self._keep_alive, args=(share, keeping, busy, stop_keeping), daemon=True,
                                    name="exconf-keep-alive") for share in keeper_shares(order, self.forks)]
        for keeper in keepers:
            keeper.start()
        try:
            skipped_tasks = self._run_tasks("apply", apply_task, tasks)
        finally:
            stop_keeping.set()
            # a key exchange in flight ends within its request's deadline; all keepers share one grace, and a second
            # Ctrl-C waits for none
            until = time.monotonic() + (0 if self.left_at_once else GRACE_SECONDS)
            for keeper in keepers:
                keeper.join(max(0.0, until - time.monotonic()))
        for skipped in skipped_tasks:
            for op in skipped.ops:
                record(op.change, ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, "not attempted: the run was interrupted"))
        with lock:
            for task in tasks:
                if task.session.host.name in self.unknown:
                    for op in task.ops:
                        outcomes.setdefault(op.change, ChangeResult(changes[op.change], ChangeOutcome.FAILED, task.session.error, unknown=True))

        results: dict[str, HostResult] = {}
        for name, hp in plan.hosts.items():
            session = self.sessions.get(name)
            mine = tuple(outcomes[c.id] for c in hp.changes if c.id in outcomes)
            status = hp.status
            error = hp.error
            if session is not None and session.status is not HostStatus.OK and hp.status is HostStatus.OK:
                status, error = session.status, session.error
            notes: tuple[str, ...] = ()
            if session is not None:
                notes = session.notes + (session.executor.notes() if session.executor is not None else ())
            results[name] = HostResult(name, status, mine, in_sync=hp.in_sync, error=error, notes=notes)
        return results

    def _keep_alive(self, mine: list[str], keeping: set[str], busy: dict[str, threading.Lock], stop: threading.Event) -> None:
        """Until the apply ends: each of ``mine`` still in ``keeping`` and not applying yet is asked to keep its
        connection with work its apply needs anyway (the executor's optional ``keep_alive``: remote PowerShell
        exchanges the pool's session key before the connection's idle margin). Once done, or not possible, the
        host leaves ``keeping``. Without it, at 1,000 servers an apply phase longer than the margin (90 s of
        IIS's 120) made its last hosts log on again: 13 requests where the budget is 12 (issue 20)."""
        while mine and not stop.wait(KEEP_ALIVE_POLL) and not self.stopping.is_set():
            for name in mine:
                if stop.is_set():
                    break
                if name not in keeping or not busy[name].acquire(blocking=False):
                    continue  # kept already, or applying
                try:
                    if name not in keeping:  # its apply took it while this one looked
                        continue
                    session = self.sessions[name]
                    keep = getattr(session.executor, "keep_alive", None)
                    if keep is None or session.status is not HostStatus.OK or session.abandoned:
                        keeping.discard(name)
                    elif keep(lead=KEEP_ALIVE_LEAD):
                        keeping.discard(name)
                except Exception:  # noqa: BLE001 - whatever this met, the host's apply meets and reports
                    keeping.discard(name)
                finally:
                    busy[name].release()
            mine = [name for name in mine if name in keeping]

    def _apply_host(self, session: Session, ops: list[Operation], changes: dict[str, Change], carried: dict[tuple[str, str], Any],
                    lock: threading.Lock) -> list[ChangeResult]:
        """One host's operations of one wave, in order: consecutive operations that take the same way travel in one
        round trip (the host's door, or exconf's program beside it); an operation run on the controller runs between
        them. After the first failure nothing more runs on the host, except cleanup operations."""
        program = self._takes_program(session)

        def way(op: Operation) -> str:
            return "door" if op.where == PROGRAM and program else op.where or "door"

        results: dict[str, ChangeResult] = {}
        stopped = ""  # why the host's later operations do not run
        i = 0
        while i < len(ops):
            first = way(ops[i])
            j = i + 1
            while j < len(ops) and way(ops[j]) == first and first != CONTROLLER:
                j += 1
            segment, i = ops[i:j], j
            ready: list[Operation] = []
            for op in segment:
                if stopped and (not op.cleanup or session.status is not HostStatus.OK):
                    results[op.id] = ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, stopped)
                    continue
                try:
                    with lock:
                        known = dict(carried)
                    ready.append(_kind(op).resolve(op, known))
                except (MissingOutput, ControllerError) as exc:
                    results[op.id] = ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, str(exc))
                    stopped = stopped or ("" if op.cleanup else "not attempted: an earlier change on this host failed")
            if not ready:
                continue
            if first == CONTROLLER:
                done = [self._on_controller(op, changes[op.change], carried, lock) for op in ready]
            elif not any(op.steps for op in ready):  # nothing left to send (a challenge already answered)
                done = [ChangeResult(changes[op.change], ChangeOutcome.APPLIED) for op in ready]
            else:
                done = self._apply_batch(session, ready, changes, carried, lock, program=first == PROGRAM)
            for op, result in zip(ready, done, strict=True):
                results[op.id] = result
                if result.outcome is not ChangeOutcome.APPLIED and not op.cleanup and not stopped:
                    stopped = "not attempted: an earlier change on this host failed"
        return [results[op.id] for op in ops]

    def _on_controller(self, op: Operation, change: Change, carried: dict[tuple[str, str], Any], lock: threading.Lock) -> ChangeResult:
        """An operation its kind runs on the controller (an issuer signing a request); what it hands on is carried."""
        with lock:
            known = dict(carried)
        try:
            handed = _kind(op).run_on_controller(op, change, known)
        except ControllerError as exc:
            return ChangeResult(change, ChangeOutcome.FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - one change's surprise is that change's failure, never the run's
            return ChangeResult(change, ChangeOutcome.FAILED, f"{op.id}: unexpected {type(exc).__name__}: {exc}")
        with lock:
            for key, value in handed.items():
                carried[(op.id, key)] = value
        return ChangeResult(change, ChangeOutcome.APPLIED)

    def _apply_batch(self, session: Session, ops: list[Operation], changes: dict[str, Change],
                     carried: dict[tuple[str, str], Any] | None = None, lock: threading.Lock | None = None,
                     program: bool = False) -> list[ChangeResult]:
        """The operations, then a read-back of their kinds (always run: it changes nothing), in one round trip.
        ``program``: through exconf's program beside the host's remote PowerShell, with no read-back (what such
        operations change, IIS's files and app pools, no Exchange cmdlet reads)."""
        steps: list[Step] = [s for op in ops for s in op.steps]
        kinds = list({id(k): k for op in ops if (k := _kind(op)) is not None}.values())
        if not program:
            steps += [replace(s, always_run=True) for k in kinds for s in k.read_steps(VERIFY)]
        answer: Answer | None = None

        def work() -> None:
            nonlocal answer
            answer = self._execute(session, steps, halt_on_error=True, program=program)

        guard(session, work)
        if answer is None:
            if not session.sent:  # the command never reached the server: nothing was changed
                return [ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, f"not sent: {session.error}") for op in ops]
            # Nothing came back: whether the changes were made is unknown; say so.
            return [ChangeResult(changes[op.change], ChangeOutcome.FAILED, f"result unknown: {session.error}", unknown=True) for op in ops]
        if carried is not None and lock is not None:
            with lock:
                for op in ops:
                    for s in op.steps:
                        got = answer.results.get(s.id)
                        if got is None or not got.ok:
                            continue
                        if s.output_file and got.file is not None:
                            carried[(op.id, s.id)] = got.file
                        if s.carry and len(got.objects) == 1 and got.objects[0].get(s.carry) is not None:
                            carried[(op.id, s.id)] = got.objects[0][s.carry]
        if program:
            return [self._outcome(op, changes[op.change], answer, readback=False) for op in ops]
        results = [self._outcome(op, changes[op.change], answer) for op in ops]
        return [self._poll(session, op, changes[op.change], result) for op, result in zip(ops, results, strict=True)]

    def _poll(self, session: Session, op: Operation, change: Change, result: ChangeResult) -> ChangeResult:
        """Read back again, a bounded number of times, an operation whose effect comes later (synchronisation).

        A kind says how often and how far apart with an optional ``polls(op) -> (count, seconds)``;
        each poll is one more round trip of the kind's read steps, and the last verdict stands.
        """
        kind = _kind(op)
        count, pause = kind.polls(op) if result.outcome is ChangeOutcome.UNVERIFIED else (0, 0.0)
        for _ in range(count):
            self.sleep(pause)
            answer: Answer | None = None

            def work() -> None:
                nonlocal answer
                answer = self._execute(session, kind.read_steps(VERIFY), halt_on_error=False)

            guard(session, work)
            if answer is None:
                return result
            try:
                problem = kind.verify_operation(op, change, kind.observe(answer, VERIFY) or ())
            except (ReadError, ContractError) as exc:
                problem = f"made, but could not be read back: {exc}"
            if problem is None:
                return ChangeResult(change, ChangeOutcome.APPLIED, warnings=result.warnings)
            result = ChangeResult(change, ChangeOutcome.UNVERIFIED, problem, result.warnings)
        return result

    def _outcome(self, op: Operation, change: Change, answer: Answer, readback: bool = True) -> ChangeResult:
        results = [answer.result(s.id) for s in op.steps]
        # Exchange's warnings (an Edge whose SMTP certificate changed must be subscribed again) are shown.
        warned = tuple(dict.fromkeys(w for r in results for w in r.warnings))
        failed = next((r for r in results if r.status == STATUS_ERROR), None)
        if failed is not None:
            return ChangeResult(change, ChangeOutcome.FAILED, failed.error.message if failed.error else "failed", warned)
        if any(r.status == STATUS_NOT_RUN for r in results):
            return ChangeResult(change, ChangeOutcome.NOT_RUN, "not attempted: an earlier change on this host failed", warned)
        kind = _kind(op)
        try:
            read = (kind.observe(answer, VERIFY) or ()) if readback else ()
        except (ReadError, ContractError) as exc:
            return ChangeResult(change, ChangeOutcome.UNVERIFIED, f"made, but could not be read back: {exc}", warned)
        problem = kind.verify_operation(op, change, read)
        if problem:
            return ChangeResult(change, ChangeOutcome.UNVERIFIED, problem, warned)
        return ChangeResult(change, ChangeOutcome.APPLIED, kind.applied_note(op, change, read), warned)


def apply_tasks(plan_waves: list[list[Operation]], sessions: dict[str, Session]) -> list[Task]:
    """A host's operations of one wave are one task (pure). It starts once the tasks holding what its operations
    need on other hosts, and its host's earlier wave, are done: no wave waits for hosts it does not need (a Mailbox
    server's EdgeSync import starts as soon as its site's Edges have made their files, not after every host's first
    wave). Urgent: another host waits for it, or for a later task of its host; those start first, so that the hosts
    waiting for them are not left idle between their read and their apply longer than they must (a kept connection
    is trusted for 90 s: docs/architecture.md)."""
    tasks: list[Task] = []
    task_of: dict[str, int] = {}
    previous: dict[str, int] = {}
    for wave_index, wave in enumerate(plan_waves):
        by_host: dict[str, list[Operation]] = {}
        for op in wave:
            by_host.setdefault(op.host, []).append(op)
        for host, host_ops in by_host.items():
            index = len(tasks)
            after = {task_of[n] for op in host_ops for n in op.needs if n in task_of}
            if host in previous:
                after.add(previous[host])
            previous[host] = index
            for op in host_ops:
                task_of[op.id] = index
            tasks.append(Task(index, sessions[host], frozenset(after), ops=tuple(host_ops), wave=wave_index))
    last_waited: dict[str, int] = {}
    for t in tasks:
        for a in t.after:
            host = tasks[a].session.host.name
            if host != t.session.host.name:
                last_waited[host] = max(last_waited.get(host, -1), a)
    return [replace(t, urgent=t.index <= last_waited.get(t.session.host.name, -1)) for t in tasks]


def keeper_shares(order: list[str], forks: int) -> list[list[str]]:
    """The hosts each keeper looks after (Run._keep_alive): as many keepers as --forks, none without a host; each
    takes every n-th host of ``order`` (the hosts read first, which have waited longest, first), so a host has one
    keeper and the hosts due at one moment are spread over all of them. Pure."""
    count = max(0, min(forks, len(order)))
    return [order[i::count] for i in range(count)]


def sends_secret(ops: tuple[Operation, ...]) -> bool:
    """Whether these operations send a secret through the host's door (a PFX's password: remote PowerShell
    needs the pool's session key first). Pure."""
    return any(isinstance(v, Secret) for op in ops if not op.where for step in op.steps for v in step.params.values())


def _answering(plan: Plan) -> dict[str, Callable[[str], bool]]:
    """For each change that a later change of the plan follows: whether a warning of its cmdlets is one that
    later change answers (its kind's ``answers``), so that apply does not tell the administrator to do it by hand."""
    kind_of = {op.change: op.kind for op in plan.operations if op.kind is not None}
    later: dict[str, list[Change]] = {}
    for change in plan.changes:
        for earlier in change.after:
            later.setdefault(earlier, []).append(change)

    def check(followers: list[Change]) -> Callable[[str], bool]:
        def answered(warning: str) -> bool:
            return any((k := kind_of.get(c.id)) is not None and k.answers(c, warning) for c in followers)
        return answered

    return {cid: check(followers) for cid, followers in later.items()}


def _kind(op: Operation) -> OperationKind:
    """The kind that made an operation (the planner sets it; a plan always comes from the planner)."""
    assert op.kind is not None, f"operation {op.id} was not made by the planner"
    return op.kind


# A FromOperation's value, in memory (modules/base.py): kept under these names for their callers.
resolve_files = resolve_from_operations


def late_for_window(op: Operation, sent_at: dict[str, float], now: float) -> str:
    """Why an operation must not be sent now (its ``within`` deadline has passed), or ""."""
    if not op.within or op.within[0] not in sent_at:
        return ""
    ref, seconds = op.within
    deadline = sent_at[ref] + seconds
    if now <= deadline:
        return ""
    return (f"not attempted: {op.id} had to run within {seconds // 60} minutes of {ref} (the bootstrap window of the file it made, "
            f"less Exchange's margin), and {int((now - sent_at[ref]) // 60)} minutes have passed; "
            "run `exconf plan` and `exconf apply` again: the plan makes a new file and carries it at once")
