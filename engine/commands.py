"""What the commands (plan, apply, drift) share: how a run is set up, and how it shows on the terminal.

Errors, per-host progress lines, the Ctrl-C message and starting the labs an
inventory names all go to stderr; everything that came from a server or an
inventory is escaped for the terminal first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from rich.console import Console
from rich.text import Text

from exconf.remote import Step

from exconf.modules import KINDS, Kind

from . import inventory as inv
from .connection import reached_in_clear
from .desired import DesiredState
from . import exitcodes
from .inventorycli import InventoryUnusable, NoInventoryGiven
from .limit import select_organization
from .model import HostStatus
from .render import plural
from .runner import GRACE_SECONDS, Run
from .sshvars import preload as preload_ssh_keys
from .termsafe import safe
from .transport.cleartext import warning as cleartext_warning

EXIT_ERROR = exitcodes.ERROR


def error(err: Console, message: str) -> int:
    err.print(Text("Error: ", style="bold red") + Text(message))
    return EXIT_ERROR


def inventory_unusable(err: Console, exc: InventoryUnusable) -> int:
    err.print(Text(f"Error: {exc.lines[0]}", style="bold red"))  # lines are escaped for the terminal already
    for line in exc.lines[1:]:
        err.print(Text(line))
    return exitcodes.USAGE if isinstance(exc, NoInventoryGiven) else EXIT_ERROR


def progress(err: Console, quiet: bool):
    """Per-host lines as hosts finish (stderr), and a count on the terminal's spinner."""
    # A live count rewrites the line with escape sequences: on a terminal only, and never when plain text was asked.
    status = err.status("") if err.is_terminal and err.color_system is not None else None
    verbs = {"read": "Reading", "apply": "Applying on"}

    def event(phase: str, host: str, done: int, total: int, run: Run) -> None:
        session = run.sessions.get(host)
        if status is not None:
            status.update(f"{verbs.get(phase, phase)} {done}/{total} hosts…")
        if session is not None and session.status is not HostStatus.OK:
            err.print(Text(f"{session.status.value}: {safe(host, newlines=False)}: ", style="bold red") + Text(safe(session.error.splitlines()[0] if session.error else "")))
        elif not quiet:
            err.print(Text(f"{phase} ok: {safe(host, newlines=False)}", style="dim"))

    return status, event


def interrupted(err: Console, flying: list[str]) -> None:
    waiting = f"waiting up to {GRACE_SECONDS:.0f} s for {plural(len(flying), 'host')} in flight ({safe(', '.join(flying[:5]))}{', …' if len(flying) > 5 else ''})" if flying else "no host is in flight"
    err.print(Text("\nInterrupted: ", style="bold red") + Text(f"no new host will be started; {waiting}. Press Ctrl-C again to leave now."))


@contextlib.contextmanager
def interrupts_stop(run: Run) -> Iterator[list[int]]:
    """From the first change sent to the exit code, Ctrl-C never raises: it stops the run from starting
    anything more (the runner counts presses itself while hosts are in flight). A press between two
    waves of an apply would otherwise leave with exit 1 and no recap after changes were made.
    Yields the number of presses seen outside the runner's own counting."""
    presses = [0]
    if threading.current_thread() is not threading.main_thread():
        yield presses
        return

    def stop(signum: int, frame: object) -> None:
        presses[0] += 1
        run.stopping.set()

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield presses
    finally:
        signal.signal(signal.SIGINT, previous)


def start_labs(inventory: inv.Inventory, err: Console) -> bool:
    from .labauto import LabStartError, start_labs as start

    try:
        start(inventory, err)
    except LabStartError as exc:
        error(err, safe(str(exc)))
        return False
    return True


def new_run(
    inventory: inv.Inventory,
    names: list[str],
    desired: DesiredState,
    forks: int,
    err: Console,
    quiet: bool,
    limit: str | None = None,
    org_steps: tuple[Step, ...] = (),
    kinds: tuple[Kind, ...] = KINDS,
):
    """A run over the selected hosts, the organisation as --limit selects it, its progress on the terminal."""
    status, event = progress(err, quiet)
    organization = select_organization(limit)
    run = Run(
        inventory=inventory,
        hosts=[inventory.host(n) for n in names],
        desired=desired,
        forks=forks,
        organization=organization,
        carriers=[h for h in inventory.hosts if h.name not in names],
        org_steps=org_steps,
        kinds=kinds,
    )
    if inventory.declares_organization and not organization:
        run.warnings.append(
            f"organisation-wide objects (exchange_organization) were not planned: --limit {limit!r} does not select "
            f"the pseudo-host 'organization'; add it to include them (--limit '{limit},organization')"
        )
    preload_ssh_keys(run.hosts, inventory.path.parent)  # a passphrase is asked before any host is contacted
    clear = [h.name for h in run.hosts if reached_in_clear(h.vars)]
    if clear:
        run.warnings.append(cleartext_warning(clear))
    run.on_event = lambda phase, host, done, total: event(phase, host, done, total, run)
    run.on_interrupt = lambda flying: interrupted(err, flying)
    return run, status
