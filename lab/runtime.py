"""Running a lab: every server's listeners in one process, a control socket, a registry.

``serve()`` runs a lab in the foreground (``exconf lab serve``);
``ensure_running()`` starts one detached when a command needs it and none is
running; ``find_running()``, ``stats()``, ``exec_on()`` and ``stop()`` talk to
running labs through their control sockets.

Each running lab has, in the runtime directory (``$EXCONF_RUNTIME_DIR``, else
``$XDG_RUNTIME_DIR/exconf``, else ``/tmp/exconf-<uid>``, mode 0700):

* ``<id>.lock`` - held (flock) by the serving process for its whole life, so
  two labs never serve the same state file and a dead lab is recognised even
  if its pid was reused;
* ``<id>.json`` - the registry entry: pid, files, control socket, servers;
* ``<id>.sock`` - the control socket (Unix domain, one JSON object per line
  each way: ``ping``, ``stats``, ``exec``, ``stop``).

``<id>`` is a short hash of the resolved state file path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence

from .certs import CertError, LabCA
from .winrm import ListenError, WinRMService

if TYPE_CHECKING:
    from .exchange.store import LabStore

log = logging.getLogger(__name__)

RUNTIME_ENV = "EXCONF_RUNTIME_DIR"
REGISTRY_VERSION = 1
DEFAULT_IDLE_TIMEOUT = 1800.0  # what ensure_running() passes: a lab nobody uses goes away after 30 minutes
_LOCK_RETRY = 0.5  # find_running() may hold a lab's lock for an instant while it tests it
_SOCK_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_SPAWNED: list[subprocess.Popen] = []  # children of ensure_running(), reaped when seen to exit


class LabError(Exception):
    """Something about running labs went wrong; str() is a message for the user."""


class ExecError(LabError):
    """``lab exec``: the console command itself failed; str() is the error the console printed."""


# --- paths and ids --------------------------------------------------------------------


def runtime_dir(create: bool = True) -> Path:
    """Where registry files, locks and control sockets live (private to this user)."""
    if os.environ.get(RUNTIME_ENV):
        path = Path(os.environ[RUNTIME_ENV])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "exconf"
    else:
        path = Path(tempfile.gettempdir()) / f"exconf-{os.getuid()}"
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
        if st.st_uid != os.getuid():
            raise LabError(f"the runtime directory {path} belongs to another user; set {RUNTIME_ENV} to a private directory")
        if st.st_mode & 0o077:
            os.chmod(path, 0o700)
    return path


def default_state_path(org_path: str | os.PathLike[str]) -> Path:
    """``<dir of X>/.lab/X.state.json`` for an organisation file ``X.yaml``."""
    org = Path(org_path)
    return org.parent / ".lab" / f"{org.stem}.state.json"


def lab_id(state_path: str | os.PathLike[str]) -> str:
    """A short, stable id for the lab serving a state file."""
    return hashlib.sha256(str(Path(state_path).resolve()).encode("utf-8")).hexdigest()[:12]


def log_path_for(state_path: Path) -> Path:
    """Where a detached lab writes its output: beside the state file."""
    return state_path.with_name(state_path.stem + ".log")


# --- what the registry says about a running lab --------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    name: str
    fqdn: str
    role: str
    address: str
    http_port: int | None  # None: nothing listens (the server is unreachable or has no such listener)
    https_port: int | None
    unreachable: bool = False


@dataclass(frozen=True)
class RunningLab:
    id: str
    pid: int
    org_file: Path
    state_file: Path
    socket: Path
    ca_file: Path
    log_file: Path | None
    servers: tuple[ServerInfo, ...] = ()
    started_at: float = 0.0  # time.time() when the lab began serving
    started: bool = False  # True only on what ensure_running() returns when it started the lab itself

    def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send one control request and return the answer (raises LabError if the lab does not answer)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.socket))
                sock.sendall(json.dumps({"op": op, **fields}).encode("utf-8") + b"\n")
                with sock.makefile("rb") as reader:
                    line = reader.readline()
        except OSError as exc:
            raise LabError(f"the lab for {self.state_file} (pid {self.pid}) does not answer on {self.socket}: {exc}") from exc
        if not line:
            raise LabError(f"the lab for {self.state_file} (pid {self.pid}) closed its control socket without answering")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabError(f"the lab for {self.state_file} answered something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise LabError(f"the lab for {self.state_file} answered something that is not a JSON object")
        return answer

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            return bool(self.request("ping", timeout=timeout).get("ok"))
        except LabError:
            return False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["started"]
        for key in ("org_file", "state_file", "socket", "ca_file", "log_file"):
            data[key] = str(data[key]) if data[key] is not None else None
        data["version"] = REGISTRY_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunningLab":
        return cls(
            id=str(data["id"]),
            pid=int(data["pid"]),
            org_file=Path(data["org_file"]),
            state_file=Path(data["state_file"]),
            socket=Path(data["socket"]),
            ca_file=Path(data["ca_file"]),
            log_file=Path(data["log_file"]) if data.get("log_file") else None,
            servers=tuple(ServerInfo(**s) for s in data.get("servers", ())),
            started_at=float(data.get("started_at", 0.0)),
        )


# --- the lock that says "a lab serves this state file" ------------------------------------------


class _LabLock:
    """An flock on ``<id>.lock``; the kernel drops it when the holder dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _is_served(rdir: Path, lid: str) -> bool:
    """True while some process holds the lab's lock."""
    lock = _LabLock(rdir / f"{lid}.lock")
    if lock.acquire():
        lock.release()
        return False
    return True


def _remove_entry(rdir: Path, lid: str) -> None:
    for suffix in (".json", ".sock"):
        with contextlib.suppress(FileNotFoundError):
            (rdir / f"{lid}{suffix}").unlink()


def _read_entry(rdir: Path, lid: str) -> RunningLab | None:
    """The registry entry of a live lab, or None (a stale entry is removed)."""
    path = rdir / f"{lid}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lab = RunningLab.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        if not _is_served(rdir, lid):
            _remove_entry(rdir, lid)
        return None
    if not _is_served(rdir, lid):
        _remove_entry(rdir, lid)  # left by a lab that died
        return None
    # The lock is held. A dead pid means what was read is a dead lab's entry that a new lab,
    # starting now, is about to replace: leave its files alone.
    return lab if _pid_alive(lab.pid) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_running() -> list[RunningLab]:
    """Every lab registered in the runtime directory whose process still serves it.

    Entries left behind by a lab that died (its pid is gone, or nobody holds its
    lock) are removed on the way.
    """
    _reap_children()
    rdir = runtime_dir()
    labs = []
    for entry in sorted(rdir.glob("*.json")):
        lab = _read_entry(rdir, entry.stem)
        if lab is not None:
            labs.append(lab)
    return labs


def _reap_children() -> None:
    for proc in list(_SPAWNED):
        if proc.poll() is not None:
            _SPAWNED.remove(proc)


# --- the lab itself, in process -------------------------------------------------------------


class LabService(Protocol):
    """Another protocol endpoint served beside WinRM (SSH, remote PowerShell …)."""

    def start(self) -> Any: ...
    def stop(self) -> None: ...


class LabServer:
    """All listeners of a lab, in this process. Use as a context manager in tests.

    ``state_dir`` holds the lab CA (``lab-ca.pem``, reused across restarts).
    ``extra_services`` are started after and stopped before the WinRM listeners.
    """

    def __init__(self, store: "LabStore", state_dir: Path, extra_services: Sequence[LabService] = ()):
        self.store = store
        self.state_dir = Path(state_dir)
        self.extra_services = list(extra_services)
        self.ca: LabCA | None = None
        self.winrm: WinRMService | None = None
        self._started: list[LabService] = []

    @property
    def ca_path(self) -> Path:
        if self.ca is None:
            raise RuntimeError("the lab server is not started")
        return self.ca.cert_path

    def start(self) -> "LabServer":
        self.ca = LabCA.load_or_create(self.state_dir)
        self.winrm = WinRMService(self.store, self.store.servers, self.ca).start()
        try:
            for service in self.extra_services:
                service.start()
                self._started.append(service)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for service in reversed(self._started):
            try:
                service.stop()
            except Exception:  # stopping must go on for the others
                log.exception("stopping %r failed", service)
        self._started.clear()
        if self.winrm is not None:
            self.winrm.stop()
            self.winrm = None

    def stats(self) -> dict[str, Any]:
        """``{"servers": {NAME: {"requests": …, "shells": …, …}}}``, every server of the lab."""
        return {"servers": self.winrm.stats() if self.winrm is not None else {}}

    def last_activity(self) -> float:
        return self.winrm.last_activity() if self.winrm is not None else 0.0

    def server_infos(self) -> tuple[ServerInfo, ...]:
        infos = []
        for spec in self.store.servers:
            down = bool(spec.faults.unreachable)
            infos.append(
                ServerInfo(
                    name=spec.name,
                    fqdn=spec.fqdn,
                    role=spec.role,
                    address=spec.address,
                    http_port=None if down or not spec.winrm.http_port else spec.winrm.http_port,
                    https_port=None if down or not spec.winrm.https_port else spec.winrm.https_port,
                    unreachable=down,
                )
            )
        return tuple(infos)

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the control socket -------------------------------------------------------------------


class ControlServer:
    """Line-delimited JSON over a Unix domain socket; one thread per client."""

    def __init__(self, path: Path, lab: LabServer, on_stop: threading.Event):
        self.path = path
        self.lab = lab
        self.on_stop = on_stop
        self.last_activity = time.monotonic()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._clients_lock = threading.Lock()
        self._clients: dict[socket.socket, threading.Thread] = {}

    def start(self) -> "ControlServer":
        if len(str(self.path).encode()) > _SOCK_PATH_MAX:
            raise LabError(f"the control socket path {self.path} is too long for a Unix socket; set {RUNTIME_ENV} to a shorter directory")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="lab-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._sock is not None:
            # A connection of our own wakes accept() (shutdown() does not, on a Unix socket).
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as poke:
                poke.connect(str(self.path))
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        # A client still connected must not go on running commands on a stopped lab.
        with self._clients_lock:
            clients = dict(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in clients.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._closing.is_set():
                conn.close()
                return
            thread = threading.Thread(target=self._client, args=(conn,), name="lab-control-client", daemon=True)
            with self._clients_lock:
                self._clients[conn] = thread
            thread.start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(300.0)
        try:
            self._converse(conn)
        except OSError:  # the client went away or idled out
            pass
        finally:
            with self._clients_lock:
                self._clients.pop(conn, None)
            conn.close()

    def _converse(self, conn: socket.socket) -> None:
        with conn.makefile("rwb") as stream:
            for line in stream:
                if not line.strip():
                    continue
                self.last_activity = time.monotonic()
                try:
                    request = json.loads(line)
                    answer = self.dispatch(request if isinstance(request, dict) else {})
                except json.JSONDecodeError:
                    answer = {"ok": False, "error": "the request is not JSON"}
                stream.write(json.dumps(answer, default=str).encode("utf-8") + b"\n")
                stream.flush()
                if answer.get("stopping"):
                    self.on_stop.set()

    def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "stats":
            return {"ok": True, "stats": self.lab.stats()}
        if op == "stop":
            return {"ok": True, "stopping": True}
        if op == "exec":
            return self._exec(request)
        return {"ok": False, "error": f"unknown operation {op!r}"}

    def _exec(self, request: dict[str, Any]) -> dict[str, Any]:
        server = str(request.get("server", ""))
        cmdlet = str(request.get("cmdlet", ""))
        params = request.get("params") or {}
        if not server or not cmdlet or not isinstance(params, dict):
            return {"ok": False, "error": "exec needs a server, a cmdlet and params (an object)"}
        names = {s.name.lower(): s.name for s in self.lab.store.servers}
        names.update({s.fqdn.lower(): s.name for s in self.lab.store.servers})
        if server.lower() not in names:
            return {"ok": False, "error": f"this lab has no server named {server!r}"}
        from .exchange.store import ConsoleError

        warnings: list[str] = []
        try:
            objects = self.lab.store.exec_console(names[server.lower()], cmdlet, params, warnings)
        except ConsoleError as exc:  # a user-ready message, as the console would print it
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in the lab
            log.exception("lab exec %s on %s failed", cmdlet, server)
            return {"ok": False, "error": f"internal error in the lab: {exc!r} (the lab's output has the traceback)"}
        return {"ok": True, "objects": objects, "warnings": warnings}


# --- serve: the foreground process --------------------------------------------------------


def serve(
    org_path: str | os.PathLike[str],
    state_path: str | os.PathLike[str] | None = None,
    idle_timeout: float | None = None,
) -> int:
    """Run a lab until SIGINT/SIGTERM, a ``stop`` request or ``idle_timeout`` seconds without use.

    Prints the servers and where to find the CA; saves the state on exit.
    Returns the process exit code (0, or 1 with a message on stderr).
    """
    org = Path(org_path).resolve()
    state = Path(state_path).resolve() if state_path else default_state_path(org).resolve()
    try:
        rdir = runtime_dir()
    except (LabError, OSError) as exc:
        print(f"exconf lab: {exc}", file=sys.stderr)
        return 1
    lid = lab_id(state)
    lock = _LabLock(rdir / f"{lid}.lock")
    if not lock.acquire(wait=_LOCK_RETRY):
        other = _read_entry(rdir, lid)
        who = f" (pid {other.pid}, organisation file {other.org_file})" if other else ""
        stop_hint = f"exconf lab stop {other.org_file}" if other else "exconf lab stop"
        print(f"exconf lab: a lab is already running on {state}{who}; stop it first with: {stop_hint}, "
              "or serve this organisation with another --state", file=sys.stderr)
        return 1
    try:
        _remove_entry(rdir, lid)  # whatever is there was left by a lab that died
        return _serve_locked(org, state, rdir, lid, idle_timeout)
    finally:
        lock.release()


def _serve_locked(org: Path, state: Path, rdir: Path, lid: str, idle_timeout: float | None) -> int:
    from .exchange.store import LabStore, OrgFileError

    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        store = LabStore(org, state)
    except OrgFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"exconf lab: {exc}", file=sys.stderr)
        return 1
    stop_event = threading.Event()
    lab = LabServer(store, state.parent)
    control = ControlServer(rdir / f"{lid}.sock", lab, stop_event)
    try:
        try:
            lab.start()
            control.start()
        except (ListenError, CertError, LabError, OSError) as exc:
            print(f"exconf lab: {exc}", file=sys.stderr)
            return 1
        entry = RunningLab(
            id=lid,
            pid=os.getpid(),
            org_file=org,
            state_file=state,
            socket=control.path,
            ca_file=lab.ca_path,
            log_file=log_path_for(state),
            servers=lab.server_infos(),
            started_at=time.time(),
        )
        _write_json(rdir / f"{lid}.json", entry.to_json())
        _print_banner(entry)
        with _stop_on_signals(stop_event):
            reason = _wait(stop_event, lab, control, idle_timeout)
        print(f"exconf lab: stopping ({reason})", flush=True)
        return 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            (rdir / f"{lid}.json").unlink()  # first, so nobody finds a lab that is going away
        control.stop()  # removes the socket
        lab.stop()
        try:
            store.save()
        except Exception as exc:  # report, but the lab is stopped either way
            print(f"exconf lab: could not save the state to {state}: {exc}", file=sys.stderr)


def _wait(stop_event: threading.Event, lab: LabServer, control: ControlServer, idle_timeout: float | None) -> str:
    started = time.monotonic()
    tick = min(0.5, idle_timeout / 4) if idle_timeout else 0.5
    while not stop_event.wait(tick):
        if idle_timeout is not None and idle_timeout > 0:
            last = max(started, lab.last_activity(), control.last_activity)
            if time.monotonic() - last >= idle_timeout:
                return f"no requests for {idle_timeout:g} seconds"
    return "asked to stop"


@contextlib.contextmanager
def _stop_on_signals(stop_event: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop_event.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_banner(entry: RunningLab) -> None:
    rows = [("SERVER", "ROLE", "ADDRESS", "HTTP", "HTTPS", "")]
    for s in entry.servers:
        rows.append(
            (
                s.name,
                s.role,
                s.address,
                str(s.http_port) if s.http_port else "-",
                str(s.https_port) if s.https_port else "-",
                "unreachable (fault)" if s.unreachable else s.fqdn,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"exconf lab {entry.id}: {entry.org_file} (state {entry.state_file}), pid {entry.pid}")
    for r in rows:
        print("  " + "  ".join(col.ljust(w) for col, w in zip(r, widths)).rstrip())
    print(f"CA certificate (ca_trust_path): {entry.ca_file}")
    print("Stop with Ctrl+C or SIGTERM.", flush=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --- functions the CLI calls ------------------------------------------------------------------


def _serve_argv(org: Path, state: Path) -> list[str]:
    return [sys.executable, "-m", "exconf", "lab", "serve", str(org), "--state", str(state),
            "--idle-timeout", f"{DEFAULT_IDLE_TIMEOUT:g}"]


def ensure_running(
    org_path: str | os.PathLike[str],
    state_path: str | os.PathLike[str] | None = None,
    timeout: float = 20.0,
) -> RunningLab:
    """The lab serving this state file; started detached if none answers.

    The new lab runs in its own session (so it outlives the caller) with its
    output in a log beside the state file, and stops after 30 idle minutes.
    Raises LabError, with the end of that log, if it dies or does not answer
    within ``timeout`` seconds.
    """
    org = Path(org_path).resolve()
    state = Path(state_path).resolve() if state_path else default_state_path(org).resolve()
    rdir = runtime_dir()
    lid = lab_id(state)
    lab = _read_entry(rdir, lid)
    if lab is not None and lab.ping():
        if lab.org_file != org:
            raise LabError(f"a lab for organisation file {lab.org_file} is already running on {state}; stop it (pid {lab.pid}) or use another --state")
        return lab
    if not org.is_file():
        raise LabError(f"organisation file not found: {org}")
    state.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path_for(state)
    with open(log_file, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(_serve_argv(org, state)[1:])}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            _serve_argv(org, state),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=str(state.parent),
        )
    _SPAWNED.append(proc)
    deadline = time.monotonic() + timeout
    while True:
        lab = _read_entry(rdir, lid)
        if lab is not None and lab.ping(timeout=1.0):
            return replace(lab, started=lab.pid == proc.pid)
        code = proc.poll()
        if code is not None and not _is_served(rdir, lid):
            # (While the lock is held, another caller's lab is starting: keep waiting for it.)
            lab = _read_entry(rdir, lid)
            if lab is not None and lab.ping():
                return lab
            raise LabError(f"the lab did not start (exit code {code}); end of {log_file}:\n{_tail(log_file)}")
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            raise LabError(f"the lab did not answer within {timeout:g} seconds; end of {log_file}:\n{_tail(log_file)}")
        time.sleep(0.05)


def stats(lab: RunningLab) -> dict[str, Any]:
    """``{"servers": {NAME: {"requests", "shells", "commands", "bytes_in", "bytes_out", "auth_failures"}}}``."""
    answer = lab.request("stats")
    if not answer.get("ok"):
        raise LabError(str(answer.get("error", "the lab refused the stats request")))
    return answer["stats"]


def exec_on(server_name: str, cmdlet: str, params: dict[str, Any],
            warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Run an admin's console command on the running lab that serves ``server_name`` (name or FQDN).

    Returns the output objects; ``warnings``, if a list is given, receives the cmdlet's warnings.
    """
    wanted = server_name.lower()
    running = find_running()
    matches = [
        (lab, server)
        for lab in running
        for server in lab.servers
        if wanted in (server.name.lower(), server.fqdn.lower())
    ]
    if not matches:
        if not running:
            raise LabError(f"no running lab serves a server named {server_name!r}: no lab is running; "
                           "start one with: exconf lab serve ORG_FILE")
        known = ", ".join(sorted({server.name for lab in running for server in lab.servers}))
        raise LabError(f"no running lab serves a server named {server_name!r}; the running labs serve: {known}")
    labs = {lab.id: lab for lab, _ in matches}
    if len(labs) > 1:
        where = ", ".join(f"{lab.state_file} (pid {lab.pid})" for lab in labs.values())
        raise LabError(f"several running labs serve {server_name!r}: {where}; stop all but one")
    lab, server = matches[0]
    answer = lab.request("exec", timeout=60.0, server=server.name, cmdlet=cmdlet, params=params)
    if not answer.get("ok"):
        raise ExecError(str(answer.get("error", "the command failed")))
    if warnings is not None:
        warnings.extend(str(w) for w in answer.get("warnings") or ())
    return list(answer.get("objects") or [])


def stop(lab: RunningLab, timeout: float = 10.0) -> bool:
    """Ask a lab to stop; True once it has released its state file (it saves state first)."""
    try:
        lab.request("stop")
    except LabError:
        pass  # already gone, or hung: check below
    rdir = runtime_dir()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap_children()
        if not _is_served(rdir, lab.id):
            _remove_entry(rdir, lab.id)
            return True
        time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exconf.lab.runtime serve ORG [--state FILE] [--idle-timeout S]`` (debugging aid)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m exconf.lab.runtime")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_serve = sub.add_parser("serve")
    p_serve.add_argument("org")
    p_serve.add_argument("--state")
    p_serve.add_argument("--idle-timeout", type=float)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.org, args.state, args.idle_timeout)


if __name__ == "__main__":
    sys.exit(main())
