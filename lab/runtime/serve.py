"""``exconf lab serve``: run a lab in the foreground until it is told to stop or sits idle.

The process holds the lab's lock for its whole life, registers itself in the
runtime directory, serves the control socket, and saves the state on the way out.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..ssh.keys import KNOWN_HOSTS_NAME
from ..tlsca import CertError
from ..winrm import ListenError
from . import holder
from .control import ControlServer
from .inprocess import LabServer
from .registry import (
    LabError, LabLock, RunningLab, default_state_path, find_running, lab_id, log_path_for, private_dir, read_entry,
    remove_entry, runtime_dir, write_json,
)

LOCK_RETRY = 0.5  # find_running() may hold a lab's lock for an instant while it tests it


def serve(
    org_path: str | os.PathLike[str],
    state_path: str | os.PathLike[str] | None = None,
    idle_timeout: float | None = None,
    ready: Callable[[], None] | None = None,
) -> int:
    """Run a lab until SIGINT/SIGTERM, a ``stop`` request or ``idle_timeout`` seconds without use.

    Prints the servers and where to find the CA; saves the state on exit. ``ready`` is called once the
    lab serves, before it is registered (``exconf lab serve`` settles the process's heap there).
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
    lock = LabLock(rdir / f"{lid}.lock")
    if not lock.acquire(wait=LOCK_RETRY):
        other = read_entry(rdir, lid)
        who = f" (pid {other.pid}, organisation file {other.org_file})" if other else ""
        stop_hint = f"exconf lab stop {other.org_file}" if other else "exconf lab stop"
        print(f"exconf lab: a lab is already running on {state}{who}; stop it first with: {stop_hint}, "
              "or serve this organisation with another --state", file=sys.stderr)
        return 1
    try:
        remove_entry(rdir, lid)  # whatever is there was left by a lab that died
        return _serve_locked(org, state, rdir, lid, idle_timeout, ready)
    finally:
        lock.release()


def _serve_locked(org: Path, state: Path, rdir: Path, lid: str, idle_timeout: float | None,
                  ready: Callable[[], None] | None) -> int:
    from ..exchange.store import LabStore, OrgFileError

    try:
        state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the lab CA key and temporary state files
        store = LabStore(org, state)
    except OrgFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"exconf lab: {exc}", file=sys.stderr)
        return 1
    stop_event = threading.Event()
    lab = LabServer(store, state.parent, private_dir=private_dir(rdir, lid))
    control = ControlServer(rdir / f"{lid}.sock", lab, stop_event)
    try:
        try:
            lab.start()
            control.start()
        except ListenError as exc:
            print(f"exconf lab: {_listen_failure(exc)}", file=sys.stderr)
            return 1
        except (CertError, LabError, OSError) as exc:
            print(f"exconf lab: {exc}", file=sys.stderr)
            return 1
        if ready is not None:
            ready()
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
        write_json(rdir / f"{lid}.json", entry.to_json())
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
            store.close()
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
    rows = [("SERVER", "ROLE", "ADDRESS", "HTTP", "HTTPS", "/POWERSHELL", "SSH", "")]
    for s in entry.servers:
        rows.append(
            (
                s.name,
                s.role,
                s.address,
                str(s.http_port) if s.http_port else "-",
                str(s.https_port) if s.https_port else "-",
                "/".join(str(p) for p in (s.powershell_port, s.powershell_tls_port) if p) or "-",
                str(s.ssh_port) if s.ssh_port else "-",
                "unreachable (fault)" if s.unreachable else s.fqdn,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"exconf lab {entry.id}: {entry.org_file} (state {entry.state_file}), pid {entry.pid}")
    for r in rows:
        print("  " + "  ".join(col.ljust(w) for col, w in zip(r, widths)).rstrip())
    print(f"CA certificate (ca_trust_path): {entry.ca_file}")
    if any(s.ssh_port for s in entry.servers):
        print(f"SSH host keys (known_hosts): {entry.ca_file.parent / KNOWN_HOSTS_NAME}")
    print("Stop with Ctrl+C or SIGTERM.", flush=True)


def _listen_failure(exc: ListenError) -> str:
    """The listen error, and for an address in use: which lab or process holds it, what to do."""
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE and exc.address:
        return f"{exc}: {holder.describe(find_running(), exc.address, exc.port)}"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exconf.lab.runtime.serve ORG [--state FILE] [--idle-timeout S]`` (debugging aid)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m exconf.lab.runtime.serve")
    parser.add_argument("org")
    parser.add_argument("--state")
    parser.add_argument("--idle-timeout", type=float)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.org, args.state, args.idle_timeout)


if __name__ == "__main__":
    sys.exit(main())
