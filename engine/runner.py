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
first reachable Mailbox server, at the cost of one more command on it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from exconf.modules import KINDS, ORGANIZATION, SERVER, Kind, by_kind
from exconf.modules.base import ReadError
from exconf.remote import STATUS_ERROR, STATUS_NOT_RUN, Answer, ContractError, RemoteFatal, Step

from . import planner
from .connection import ConnectionConfigError, settings_for
from .desired import DesiredState
from .executor import Executor, ProgramExecutor
from .facts import SERVER_STEP, FactsError, server_facts
from .graph import dependants, waves
from .inventory import Host, Inventory
from .model import Change, ChangeOutcome, ChangeResult, HostResult, HostStatus, Operation, Plan
from .planner import HostRead
from .transport import AuthenticationFailed, HostUnreachable, TransportError
from .transport.limits import FileLimit, bound_forks, raise_open_file_limit
from .transport.watchdog import Watchdog
from .transport.winrm import WinRMTransport

ExecutorFactory = Callable[[Host], Executor]
Event = Callable[[str, str, int, int], None]  # (phase, host, done, total)

GRACE_SECONDS = 10.0  # after a first Ctrl-C, how long hosts in flight may take to finish

READ = "read:"
ORG = "org:"
VERIFY = "verify:"


def default_executor_factory(inventory_dir: Path, watchdog: Watchdog | None = None) -> ExecutorFactory:
    """WinRM executors; one watchdog (whole-request deadlines) shared by every host of the run."""

    def make(host: Host) -> Executor:
        return ProgramExecutor(WinRMTransport(settings_for(host, inventory_dir), watchdog=watchdog))

    return make


def endpoint_of(host: Host, inventory_dir: Path) -> str:
    try:
        return settings_for(host, inventory_dir, env={}).endpoint
    except ConnectionConfigError:
        return ""


@dataclass
class Session:
    """One host during a run: its executor and what went wrong, if anything."""

    host: Host
    executor: Executor | None = None
    status: HostStatus = HostStatus.OK
    error: str = ""
    sent: bool = True  # False when the last failure happened before the command reached the server

    def fail(self, status: HostStatus, message: str, *, sent: bool = True) -> None:
        self.status, self.error, self.sent = status, message, sent


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
    on_event: Event | None = None
    on_interrupt: Callable[[list[str]], None] | None = None  # told which hosts are in flight at a first Ctrl-C
    stopping: threading.Event = field(default_factory=threading.Event)
    unknown: list[str] = field(default_factory=list)  # hosts left in flight after an interrupt
    sessions: dict[str, Session] = field(default_factory=dict)
    reads: dict[str, HostRead] = field(default_factory=dict)
    org_host: str | None = None
    warnings: list[str] = field(default_factory=list)
    # [h-drift] steps read with the organisation, on the Mailbox server that carries it (drift reads the
    # admin audit log there); their answer is ``org_answer``. ``hold=False``: a read-only run (drift) ends
    # each host's shell as soon as its read is done.
    org_steps: tuple[Step, ...] = ()
    org_answer: Answer | None = None
    hold: bool = True

    def __post_init__(self) -> None:
        self.files: FileLimit = raise_open_file_limit()
        self.forks = bound_forks(self.forks, self.files)
        self._watchdog: Watchdog | None = None
        if self.executor_factory is None:
            self._watchdog = Watchdog()
            self.executor_factory = default_executor_factory(self.inventory.path.parent, self._watchdog)
        self.sessions = {h.name: Session(h) for h in self.hosts}
        unchecked = [h.name for h in self.hosts if h.vars.get("ansible_winrm_server_cert_validation") == "ignore"]
        if unchecked:
            self.warnings.append(
                "HTTPS certificate validation is off (ansible_winrm_server_cert_validation: ignore) for "
                + ", ".join(unchecked)
                + ": exconf cannot tell these servers from an impostor; name their CA with ansible_winrm_ca_trust_path instead"
            )

    # --- helpers ------------------------------------------------------------

    def _parallel(self, phase: str, fn: Callable[[Session], None], sessions: list[Session]) -> list[Session]:
        """Run fn for each session on up to ``forks`` threads; return the sessions never started.

        A first Ctrl-C stops starting hosts and gives those in flight up to
        GRACE_SECONDS to finish; a second one, or the end of the grace, leaves
        them at once with their result unknown (``unknown`` lists them). Worker
        threads are daemons, so leaving never waits for a host that does not answer.
        """
        if not sessions:
            return []
        pending = list(reversed(sessions))
        in_flight: set[str] = set()
        lock = threading.Lock()
        finished = threading.Event()
        done = 0
        running = max(1, min(self.forks, len(sessions)))

        def worker() -> None:
            nonlocal done, running
            while True:
                with lock:
                    if self.stopping.is_set() or not pending:
                        running -= 1
                        if running == 0:
                            finished.set()
                        return
                    session = pending.pop()
                    in_flight.add(session.host.name)
                guard(session, lambda: fn(session))
                with lock:
                    in_flight.discard(session.host.name)
                    done += 1
                    count = done
                if self.on_event is not None:
                    self.on_event(phase, session.host.name, count, len(sessions))

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
                        with lock:
                            flying = sorted(in_flight)
                        self.on_interrupt(flying)
                if presses[0] > 1:
                    deadline = time.monotonic()  # a second Ctrl-C: leave now
                if deadline is None or time.monotonic() < deadline or finished.is_set():
                    continue
                with lock:
                    late = [s for s in sessions if s.host.name in in_flight]
                for s in late:
                    s.fail(HostStatus.UNREACHABLE, f"result unknown: left while {phase} was in progress on {s.host.name} (interrupted)")
                    self.unknown.append(s.host.name)
                break
        with lock:
            return list(reversed(pending))

    def _executor(self, session: Session) -> Executor:
        if session.executor is None:
            assert self.executor_factory is not None
            session.executor = self.executor_factory(session.host)
        return session.executor

    def _kinds(self, scope: str, declared: frozenset[str]) -> list[Kind]:
        return [k for k in self.kinds if k.scope == scope and k.kind in declared]

    def release(self, hosts: set[str] | None = None) -> None:
        """Let go of sockets of hosts that have nothing more to do now (or all, while waiting)."""
        for name, s in self.sessions.items():
            if s.executor is not None and (hosts is None or name in hosts):
                s.executor.release()

    def close(self) -> None:
        for s in self.sessions.values():
            if s.executor is not None:
                try:
                    s.executor.close()
                except Exception:  # noqa: BLE001 - closing is best effort, and never hides a result
                    pass
                s.executor = None
        if self._watchdog is not None:
            self._watchdog.close()

    # --- read ---------------------------------------------------------------

    def read(self, *, org_host: str | None = None) -> dict[str, HostRead]:
        """Read every selected host in parallel (one command each); the organisation through one Mailbox server."""
        org = self._kinds(ORGANIZATION, self.desired.organization_kinds)
        first = org_host or (self.hosts[0].name if self.hosts and (org or self.org_steps) else None)
        # Connections are kept from read to apply, as far as the open-file limit allows beside the
        # hosts in flight; beyond that a host gives its socket back and reconnects to apply.
        keep = max(0, self.files.sockets - self.forks)
        held = [0]
        held_lock = threading.Lock()

        def read_one(session: Session) -> None:
            name = session.host.name
            result = self.reads.setdefault(name, HostRead(name, endpoint=endpoint_of(session.host, self.inventory.path.parent)))
            kinds = self._kinds(SERVER, self.desired.kinds_of(name))
            steps = [SERVER_STEP] + [s for k in kinds for s in k.read_steps(READ)]
            if name == first:
                steps += [s for k in org for s in k.read_steps(ORG)] + list(self.org_steps)
            answer = self._executor(session).execute(steps, halt_on_error=False)
            result.facts = server_facts(answer)
            for k in kinds:
                result.objects[k.kind] = k.observe(answer, READ)
            if name == first:
                self._org_objects = {k.kind: k.observe(answer, ORG) for k in org}
                self.org_answer = answer
            if not self.hold:  # [h-drift] nothing follows the read: end the shell now (Delete), not at the end
                executor, session.executor = session.executor, None
                if executor is not None:
                    executor.close()
                return
            with held_lock:
                over = held[0] >= keep
                held[0] += 0 if over else 1
            if over:
                self._executor(session).release()

        self._org_objects: dict[str, object] = {}
        for skipped in self._parallel("read", read_one, list(self.sessions.values())):
            skipped.fail(HostStatus.FAILED, "not read: interrupted")
        # In selection order, whatever order the hosts finished in.
        self.reads = {name: self.reads.get(name) or HostRead(name) for name in self.sessions}
        for name, session in self.sessions.items():
            read = self.reads[name]
            read.status, read.error = session.status, session.error
        if org or self.org_steps:
            self._read_organization(org, first)
        return self.reads

    def _read_organization(self, org: list[Kind], first: str | None) -> None:
        candidate = self.reads.get(first) if first else None
        carried = candidate is not None and candidate.facts is not None and candidate.facts.role == "Mailbox"
        if candidate and candidate.status is HostStatus.OK and all(self._org_objects.get(k.kind) is not None for k in org) and (carried or not self.org_steps):
            self.org_host = first
        else:
            others = [r for r in self.reads.values() if r.status is HostStatus.OK and r.facts and r.facts.role == "Mailbox"]
            if not others:
                if org:
                    self.warnings.append("organisation-wide objects (exchange_organization) were not checked: no reachable Mailbox server in this run")
                return
            session = self.sessions[others[0].host]

            def work() -> None:
                answer = self._executor(session).execute([s for k in org for s in k.read_steps(ORG)] + list(self.org_steps), halt_on_error=False)
                self._org_objects = {k.kind: k.observe(answer, ORG) for k in org}
                self.org_answer = answer

            guard(session, work)
            if session.status is not HostStatus.OK:
                self.reads[session.host.name].status = session.status
                self.reads[session.host.name].error = session.error
                return
            self.org_host = session.host.name
        # The organisation's objects are observed on the carrier, beside its own.
        for kind, objects in self._org_objects.items():
            self.reads[self.org_host].objects[kind] = objects  # type: ignore[assignment]

    # --- plan ---------------------------------------------------------------

    def plan(self, overrides: tuple[str, ...] = ()) -> Plan:
        """Plan every host read (pure, from what read() gathered)."""
        return planner.plan(self.desired, self.reads, self.kinds, org_host=self.org_host, warnings=tuple(self.warnings), overrides=overrides)

    # --- apply --------------------------------------------------------------

    def apply(self, plan: Plan) -> dict[str, HostResult]:
        """Run the plan graph wave by wave; a host's operations of one wave travel in one round trip."""
        outcomes: dict[str, ChangeResult] = {}
        changes = {c.id: c for c in plan.changes}
        blocked: dict[str, str] = {}  # operation id -> why it will not run
        ops = [op for op in plan.operations if plan.hosts[op.host].status is HostStatus.OK]
        lock = threading.Lock()

        for wave in waves(ops):
            by_host: dict[str, list[Operation]] = {}
            for op in wave:
                if self.stopping.is_set():
                    blocked.setdefault(op.id, "not attempted: the run was interrupted")
                if op.id in blocked:
                    outcomes[op.change] = ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, blocked[op.id])
                    continue
                by_host.setdefault(op.host, []).append(op)

            def apply_host(session: Session, by_host: dict[str, list[Operation]] = by_host) -> None:
                host_ops = by_host[session.host.name]
                results = self._apply_batch(session, host_ops, changes)
                with lock:
                    for op, result in zip(host_ops, results, strict=True):
                        outcomes[op.change] = result
                        if result.outcome is not ChangeOutcome.APPLIED:
                            why = f"not attempted: it needs {op.change} on {op.host}, which {'failed' if result.outcome is not ChangeOutcome.NOT_RUN else 'did not run'}"
                            for dep in dependants(ops, op.id):
                                blocked.setdefault(dep.id, why)
                            # A host stops at its first failure: its later waves do not run either.
                            for later in ops:
                                if later.host == op.host and later.id not in outcomes and later not in host_ops:
                                    blocked.setdefault(later.id, "not attempted: an earlier change on this host failed")

            for skipped in self._parallel("apply", apply_host, [self.sessions[h] for h in by_host]):
                for op in by_host[skipped.host.name]:
                    outcomes[op.change] = ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, "not attempted: the run was interrupted")
            with lock:
                for host in self.unknown:
                    for op in by_host.get(host, ()):
                        outcomes.setdefault(op.change, ChangeResult(changes[op.change], ChangeOutcome.FAILED, self.sessions[host].error))

        results: dict[str, HostResult] = {}
        for name, hp in plan.hosts.items():
            session = self.sessions.get(name)
            mine = tuple(outcomes[c.id] for c in hp.changes if c.id in outcomes)
            status = hp.status
            error = hp.error
            if session is not None and session.status is not HostStatus.OK and hp.status is HostStatus.OK:
                status, error = session.status, session.error
            notes = session.executor.notes() if session is not None and session.executor is not None else ()
            results[name] = HostResult(name, status, mine, in_sync=hp.in_sync, error=error, notes=notes)
        return results

    def _apply_batch(self, session: Session, ops: list[Operation], changes: dict[str, Change]) -> list[ChangeResult]:
        """The operations, then a read-back of their kinds (always run: it changes nothing), in one round trip."""
        steps: list[Step] = [s for op in ops for s in op.steps]
        kinds = list(dict.fromkeys(changes[op.change].kind for op in ops))
        steps += [replace(s, always_run=True) for k in kinds for s in by_kind(k, self.kinds).read_steps(VERIFY)]
        answer: Answer | None = None

        def work() -> None:
            nonlocal answer
            answer = self._executor(session).execute(steps, halt_on_error=True)

        guard(session, work)
        if answer is None:
            if not session.sent:  # the command never reached the server: nothing was changed
                return [ChangeResult(changes[op.change], ChangeOutcome.NOT_RUN, f"not sent: {session.error}") for op in ops]
            # Nothing came back: whether the changes were made is unknown; say so.
            return [ChangeResult(changes[op.change], ChangeOutcome.FAILED, f"result unknown: {session.error}") for op in ops]
        return [self._outcome(op, changes[op.change], answer) for op in ops]

    def _outcome(self, op: Operation, change: Change, answer: Answer) -> ChangeResult:
        results = [answer.result(s.id) for s in op.steps]
        failed = next((r for r in results if r.status == STATUS_ERROR), None)
        if failed is not None:
            return ChangeResult(change, ChangeOutcome.FAILED, failed.error.message if failed.error else "failed")
        if any(r.status == STATUS_NOT_RUN for r in results):
            return ChangeResult(change, ChangeOutcome.NOT_RUN, "not attempted: an earlier change on this host failed")
        kind = by_kind(change.kind, self.kinds)
        try:
            readback = kind.observe(answer, VERIFY) or ()
        except (ReadError, ContractError) as exc:
            return ChangeResult(change, ChangeOutcome.UNVERIFIED, f"made, but could not be read back: {exc}")
        problem = kind.verify(change, readback)
        if problem:
            return ChangeResult(change, ChangeOutcome.UNVERIFIED, problem)
        return ChangeResult(change, ChangeOutcome.APPLIED)
