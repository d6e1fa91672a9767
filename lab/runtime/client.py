"""What the command line and the engine ask of running labs: start one, query, exec, stop.

Labs are found through the runtime directory's registry and talked to over their
control sockets (see registry and control).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .registry import (
    ExecError, LabError, RunningLab, default_state_path, find_running as _find_running, is_served, lab_id,
    log_path_for, read_entry, remove_entry, runtime_dir,
)

DEFAULT_IDLE_TIMEOUT = 1800.0  # what ensure_running() passes: a lab nobody uses goes away after 30 minutes
_SPAWNED: list[subprocess.Popen] = []  # children of ensure_running(), reaped when seen to exit

# What a detached lab needs from the caller's environment, and nothing else: it outlives the run
# for up to 30 minutes, so it must not carry exconf's password variables (issue 6, item 12). Its
# accounts come from the organisation file; the runtime directory variables make it register
# where the caller looks; the rest lets Python and the locale start as they did for the caller.
LAB_ENVIRONMENT = (
    "PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "EXCONF_RUNTIME_DIR", "XDG_RUNTIME_DIR",
)


def lab_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The environment a detached lab starts with: only the LAB_ENVIRONMENT variables that are set."""
    return {name: environ[name] for name in LAB_ENVIRONMENT if name in environ}


def find_running() -> list[RunningLab]:
    """Every lab that still serves (see registry.find_running), after reaping labs this process started."""
    _reap_children()
    return _find_running()


def _reap_children() -> None:
    for proc in list(_SPAWNED):
        if proc.poll() is not None:
            _SPAWNED.remove(proc)


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
    lab = read_entry(rdir, lid)
    if lab is not None and lab.ping():
        if lab.org_file != org:
            raise LabError(f"a lab for organisation file {lab.org_file} is already running on {state}; stop it (pid {lab.pid}) or use another --state")
        return lab
    if not org.is_file():
        raise LabError(f"organisation file not found: {org}")
    state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the lab CA key and temporary state files
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
            env=lab_environment(os.environ),
        )
    _SPAWNED.append(proc)
    deadline = time.monotonic() + timeout
    while True:
        lab = read_entry(rdir, lid)
        if lab is not None and lab.ping(timeout=1.0):
            return replace(lab, started=lab.pid == proc.pid)
        code = proc.poll()
        if code is not None and not is_served(rdir, lid):
            # (While the lock is held, another caller's lab is starting: keep waiting for it.)
            lab = read_entry(rdir, lid)
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


def select_lab(running: list[RunningLab], lab_file: Path | None) -> list[RunningLab]:
    """The running labs that ``--lab FILE`` names (by organisation or state file), or all of them."""
    if lab_file is None:
        return running
    wanted = Path(lab_file).resolve()
    chosen = [lab for lab in running if wanted in (lab.org_file.resolve(), lab.state_file.resolve())]
    if not chosen:
        where = "; ".join(str(lab.org_file) for lab in running) or "none"
        raise LabError(f"no running lab serves {wanted}; the running labs: {where}")
    return chosen


def labs_of(running: list[RunningLab], org_files: list[Path]) -> list[RunningLab]:
    """The running labs of these organisation files."""
    wanted = {Path(p).resolve() for p in org_files}
    return [lab for lab in running if lab.org_file.resolve() in wanted]


def exec_on(server_name: str, cmdlet: str, params: dict[str, Any],
            warnings: list[str] | None = None, lab_file: Path | None = None,
            account: str | None = None) -> list[dict[str, Any]]:
    """Run an admin's console command on the running lab that serves ``server_name`` (name or FQDN).

    ``lab_file`` (an organisation or state file) picks the lab when several serve that name;
    ``account`` runs it as that account, within its Exchange roles (LabStore.exec_console).
    Returns the output objects; ``warnings``, if a list is given, receives the cmdlet's warnings.
    """
    lab, server = serving(server_name, lab_file)
    extra = {"account": account} if account else {}
    answer = lab.request("exec", timeout=60.0, server=server.name, cmdlet=cmdlet, params=params, **extra)
    if not answer.get("ok"):
        raise ExecError(str(answer.get("error", "the command failed")))
    if warnings is not None:
        warnings.extend(str(w) for w in answer.get("warnings") or ())
    return list(answer.get("objects") or [])


def events(server_name: str, lab_file: Path | None = None) -> dict[str, Any]:
    """The module logging events (4103) of a server of a running lab:
    ``{"server": NAME, "events": [{"event_id", "time", "user", "command", "payload": [...]}, ...]}``."""
    lab, server = serving(server_name, lab_file)
    answer = lab.request("events", timeout=60.0, server=server.name)
    if not answer.get("ok"):
        raise LabError(str(answer.get("error", "the lab refused the events request")))
    return {"server": answer["server"], "events": answer["events"]}


def serving(server_name: str, lab_file: Path | None = None) -> tuple[RunningLab, Any]:
    """The one running lab that serves ``server_name`` (name or FQDN), and that server."""
    wanted = server_name.lower()
    running = select_lab(find_running(), lab_file)
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
        where = ", ".join(f"{lab.org_file} (pid {lab.pid})" for lab in labs.values())
        raise LabError(f"several running labs serve {server_name!r}: {where}; choose one with --lab ORG_FILE")
    return matches[0]


def advance_clock(lab: RunningLab, seconds: float) -> dict[str, Any]:
    """Move the lab clock forward (0 reads it); ``{"now": ISO time, "offset_seconds": …}``."""
    answer = lab.request("clock", advance=seconds)
    if not answer.get("ok"):
        raise LabError(str(answer.get("error", "the lab refused the clock request")))
    return {"now": answer["now"], "offset_seconds": answer["offset_seconds"]}


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
        if not is_served(rdir, lab.id):
            remove_entry(rdir, lab.id)
            return True
        time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
