"""The runtime directory: where running labs register themselves, and their private files.

Each running lab has, in the runtime directory (``$EXCONF_RUNTIME_DIR``, else
``$XDG_RUNTIME_DIR/exconf``, else ``/tmp/exconf-<uid>``, mode 0700):

* ``<id>.lock`` - held (flock) by the serving process for its whole life, so
  two labs never serve the same state file and a dead lab is recognised even
  if its pid was reused;
* ``<id>.json`` - the registry entry: pid, files, control socket, servers;
* ``<id>.sock`` - the control socket (Unix domain, one JSON object per line);
* ``<id>.d/`` - the lab's private files (mode 0700, files 0600): listener TLS
  keys and NT-hash files. They log on by themselves, so they never go to a
  shared temp folder; a lab that starts after a ``kill -9`` removes what the
  dead one left (issue 6, item 11).

``<id>`` is a short hash of the resolved state file path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RUNTIME_ENV = "EXCONF_RUNTIME_DIR"
REGISTRY_VERSION = 1


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
    # a Mailbox server's IIS (Exchange's /PowerShell): http and https ports, None where nothing listens
    powershell_port: int | None = None
    powershell_tls_port: int | None = None
    ssh_port: int | None = None  # an Edge's sshd (Windows OpenSSH Server), None where nothing listens


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


class LabLock:
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


def is_served(rdir: Path, lid: str) -> bool:
    """True while some process holds the lab's lock."""
    lock = LabLock(rdir / f"{lid}.lock")
    if lock.acquire():
        lock.release()
        return False
    return True


def remove_entry(rdir: Path, lid: str) -> None:
    """Forget a lab that is gone: its entry, its socket and its private files."""
    for suffix in (".json", ".sock"):
        with contextlib.suppress(FileNotFoundError):
            (rdir / f"{lid}{suffix}").unlink()
    shutil.rmtree(rdir / f"{lid}.d", ignore_errors=True)


def read_entry(rdir: Path, lid: str) -> RunningLab | None:
    """The registry entry of a live lab, or None (a stale entry is removed)."""
    path = rdir / f"{lid}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lab = RunningLab.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        if not is_served(rdir, lid):
            remove_entry(rdir, lid)
        return None
    if not is_served(rdir, lid):
        remove_entry(rdir, lid)  # left by a lab that died
        return None
    # The lock is held. A dead pid means what was read is a dead lab's entry that a new lab,
    # starting now, is about to replace: leave its files alone.
    return lab if pid_alive(lab.pid) else None


def pid_alive(pid: int) -> bool:
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
    rdir = runtime_dir()
    labs = []
    for entry in sorted(rdir.glob("*.json")):
        lab = read_entry(rdir, entry.stem)
        if lab is not None:
            labs.append(lab)
    return labs


def private_dir(rdir: Path, lid: str) -> Path:
    """The lab's own folder for secrets (TLS keys, NT-hash files): emptied and made 0700 at start.

    Called only by the process that holds the lab's lock, so whatever is there was left by a
    lab that died (kill -9) and is removed.
    """
    path = rdir / f"{lid}.d"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)  # whatever the umask
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically, mode 0600."""
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
