"""The ``exconf`` command line (spec §2, a Contract): plan, apply, and the lab.

Exit codes: ``plan`` 0 (1 on error; with --detailed-exitcode 2 when there
are changes); ``apply`` 0 converged, 1 error before any change, 2 a host
failed, 4 a host unreachable, 6 both.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.text import Text

from . import __version__, planfile
from . import inventory as inv
from .desired import DesiredState, parse
from .inventorycli import InventoryUnusable, add_inventory_options, inventory_main, load_from_args
from .drift.command import register as register_drift
from .inventorycli import register as register_inventory
from .limit import LimitError, select, select_organization
from .lock import ApplyLock, LockHeld, acquire, organisation_of
from .model import ChangeOutcome, HostResult, HostStatus, Plan
from .render import apply_json, plan_json, plural, print_apply, print_plan, print_recap, recap_counts
from .runner import Run
from .commands import error, inventory_unusable, new_run, progress, start_labs
from .safety import refusal_message
from .termsafe import safe

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 2, 2, 4


class _Parser(argparse.ArgumentParser):
    """argparse with no abbreviations (``--lim`` is not ``--limit``) and errors that suggest the nearest
    option or command, with the usage of the (sub)command that failed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def known(self) -> list[str]:
        names = [o for o in self._option_string_actions if o.startswith("--")]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                names += list(action.choices)
        return names

    def error(self, message: str) -> NoReturn:
        hint = ""
        m = re.search(r"unrecognized arguments?: (\S+)|invalid choice: '([^']*)'", message)
        if m:
            word = m.group(1) or m.group(2)
            known = self.known()
            if word.startswith("-") and not word.startswith("--") and "-" + word in known:
                hint = f" (did you mean -{word}? exconf's long options take two dashes)"
            else:
                close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    p = _Parser(prog="exconf", description="Declarative configuration for Microsoft Exchange on-premises.")
    p.add_argument("--version", action="version", version=f"exconf {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        # INVENTORY or -i, -l, -e and the vault options, as Ansible spells them (inventorycli.py)
        add_inventory_options(sp)
        sp.add_argument("-f", "--forks", type=_positive, default=10, metavar="N", help="hosts worked on at once (default 10)")
        sp.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    plan = sub.add_parser("plan", help="read every server and show what differs; change nothing")
    common(plan)
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes, 0 when none")
    plan.add_argument("--out", type=Path, metavar="PLANFILE", help="save the plan, for exconf apply PLANFILE")
    plan.add_argument("--override", action="append", default=[], metavar="RAIL", help="accept a safety rail's refusal, by name")
    apply = sub.add_parser("apply", help="apply only the differences (or exactly a saved plan), then verify them")
    common(apply)  # INVENTORY may also be a plan file saved with plan --out
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--override", action="append", default=[], metavar="RAIL", help="accept a safety rail's refusal, by name")
    show = sub.add_parser("show", help="print a saved plan as plan prints it")
    show.add_argument("planfile", type=Path)
    show.add_argument("--json", action="store_true", help="the plan's JSON document")

    register_inventory(sub)  # exconf inventory --list | --graph | --host (inventorycli.py)
    register_drift(sub)  # exconf drift, exconf drift history (drift/command.py)
    lab = sub.add_parser("lab", help="the built-in simulated Exchange organisation")
    labsub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    serve = labsub.add_parser("serve", help="serve an organisation file on its loopback addresses")
    serve.add_argument("org_file", type=Path)
    serve.add_argument("--state", type=Path, help="state file (default: .lab/<name>.state.json beside the org file)")
    serve.add_argument("--idle-timeout", type=float, help="stop after this many seconds without requests")
    ex = labsub.add_parser("exec", help="run a cmdlet on a running lab server, as an admin at its console")
    ex.add_argument("--lab", type=Path, metavar="ORG_FILE", help="the lab to use when several run")
    ex.add_argument("server")
    ex.add_argument("words", nargs=argparse.REMAINDER, help="-- CMDLET [-Param Value ...]")
    stats = labsub.add_parser("stats", help="per server: WS-Management requests, commands and bytes served")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--lab", type=Path, metavar="ORG_FILE", help="only this lab")
    clock = labsub.add_parser("clock", help="show the lab clock, or move it forward (advance 25h)")
    clock.add_argument("--lab", type=Path, metavar="ORG_FILE", help="the lab to use when several run")
    clock.add_argument("action", nargs="?", choices=("show", "advance"), default="show")
    clock.add_argument("duration", nargs="?", help="with advance: 25h, 90m, 1d12h, 30s")
    stop = labsub.add_parser("stop", help="stop this checkout's labs, or the lab of an org file, state file or inventory")
    stop.add_argument("target", type=Path, nargs="?", metavar="ORG_FILE|INVENTORY")
    stop.add_argument("--all", action="store_true", help="stop every running lab of this user")
    commands = {name: parser for name, parser in sub.choices.items()}
    commands.update({f"lab {name}": parser for name, parser in labsub.choices.items()})
    return p, commands


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # --no-color anywhere (as NO_COLOR in the environment, and any output that is not a terminal)
    plain = "--no-color" in words[: words.index("--")] if "--" in words else "--no-color" in words
    if plain:
        words.remove("--no-color")
    parser, commands = _parser()
    args, extras = parser.parse_known_args(words)
    if extras:
        name = args.command + (f" {args.lab_command}" if args.command == "lab" else "")
        commands.get(name, parser).error(f"unrecognized arguments: {' '.join(extras)}")
    # urllib3 warns per request when validation is off, pywinrm when it falls back to
    # REQUESTS_CA_BUNDLE: exconf says the first itself, once per run (runner.Run).
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    warnings.filterwarnings("ignore", message="'pywinrm' will use an environment variable defined CA Trust")
    # Plain means no escape sequence at all (rich's no_color would still send bold).
    style: dict[str, Any] = {"color_system": None} if plain or os.environ.get("NO_COLOR") else {}
    out = Console(highlight=False, soft_wrap=True, **style)
    err = Console(stderr=True, highlight=False, soft_wrap=True, **style)
    try:
        if args.command == "lab":
            from .labcli import lab_main

            return lab_main(args, out, err)
        if args.command == "inventory":
            return inventory_main(args)
        if args.command == "drift":
            from .drift.command import drift_main

            return drift_main(args, out, err)
        return _run(args, out, err)
    except KeyboardInterrupt:
        message = "Interrupted."
        if args.command == "apply":
            message += " Changes already sent to servers may or may not have been made: run exconf plan to see where each server stands."
        err.print(Text(message, style="bold red"))
        return EXIT_ERROR


def _organisation(inventory: inv.Inventory) -> str:
    return organisation_of(inventory)


def _lock(inventory: inv.Inventory, err: Console, command: str) -> ApplyLock | None:
    try:
        lock = acquire(inventory.path, _organisation(inventory), command)
    except LockHeld as exc:
        error(err, str(exc))
        return None
    if lock.taken_over:
        err.print(Text("Warning: ", style="bold yellow") + Text(f"took over a lock left by a process that is gone ({safe(lock.taken_over)})"))
    return lock


def _is_planfile(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and b'"format_version"' in head


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.command == "show":
        return _show(args, out, err)
    if args.command == "apply" and args.inventory is not None and args.inventory.is_file() and _is_planfile(args.inventory):
        return _apply_saved(args, out, err)
    try:
        inventory = load_from_args(args)  # sources, vault, -e; every problem listed
        names = select(inventory, args.limit)
    except InventoryUnusable as exc:
        return inventory_unusable(err, exc)
    except LimitError as exc:
        return error(err, safe(str(exc)))
    for warning in inventory.warnings:
        err.print(Text("Warning: ", style="yellow") + Text(safe(warning)))
    if not names and not (inventory.organization and select_organization(args.limit)):
        return error(err, f"--limit {args.limit!r} leaves no host to work on")

    lock = _lock(inventory, err, "exconf apply") if args.command == "apply" else None
    if args.command == "apply" and lock is None:
        return EXIT_ERROR
    try:
        if not start_labs(inventory, err):
            return EXIT_ERROR
        return _plan_and_maybe_apply(args, inventory, names, out, err)
    finally:
        if lock is not None:
            lock.release()


def _plan_and_maybe_apply(args: argparse.Namespace, inventory: inv.Inventory, names: list[str], out: Console, err: Console) -> int:
    run, status = new_run(inventory, names, parse(inventory), args.forks, err, quiet=len(names) > 50, limit=args.limit)
    try:
        with status or contextlib.nullcontext():
            run.read(keep_connections=args.command == "apply")
        plan = run.plan(overrides=tuple(args.override))
        if args.command == "plan":
            code = _finish_plan(args, plan, out, err)
            if args.out is not None:
                code = _save(args, plan, inventory, run, err) or code
            return code
        # Hosts with nothing to do end their shell now (on the connection they have), not at the end of the run.
        busy = {op.host for op in plan.operations}
        run.finish({h for h in run.sessions if h not in busy})
        return _apply(args, run, plan, out, err)
    finally:
        run.close()


def _save(args: argparse.Namespace, plan: Plan, inventory: inv.Inventory, run: Run, err: Console) -> int:
    try:
        saved = planfile.new(plan, inventory, args.limit, run.org_host, tuple(args.extra_vars), tuple(sorted(run.carrier_only)))
        planfile.save(args.out, saved, plan_json(plan))
    except (OSError, planfile.PlanFileError) as exc:
        return error(err, f"cannot save the plan to {safe(str(args.out))}: {safe(getattr(exc, 'strerror', None) or str(exc))}")
    err.print(Text(f"Saved the plan to {safe(str(args.out))}. To apply exactly this plan: exconf apply {safe(str(args.out))}"))
    return 0


def _finish_plan(args: argparse.Namespace, plan: Plan, out: Console, err: Console) -> int:
    counts = {name: recap_counts(name, hp, None) for name, hp in plan.hosts.items()}
    if args.json:
        print(json.dumps(plan_json(plan), indent=2, ensure_ascii=False))
        print_recap(err, counts)
    else:
        print_plan(out, plan)
        print_recap(out, counts)
    if any(hp.status is not HostStatus.OK for hp in plan.hosts.values()) or plan.blocking:
        return EXIT_ERROR
    if args.detailed_exitcode and plan.changes:
        return EXIT_CHANGES
    return EXIT_OK


def _nothing_applied(plan: Plan) -> dict[str, dict[str, int]]:
    """The recap of an apply that stopped before changing anything."""
    return {n: recap_counts(n, hp, None) | {"changed": 0, "ok": hp.in_sync} for n, hp in plan.hosts.items()}


def _refuse(plan: Plan, show: Console, err: Console) -> int:
    err.print(Text("Error: ", style="bold red") + Text(safe(refusal_message(plan))))
    print_recap(show, _nothing_applied(plan))
    return EXIT_ERROR


def _confirm(show: Console, err: Console) -> bool | None:
    """True to go on; False when the user said no (or Ctrl-D); None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    show.print(Text("\nDo you want to perform these actions?", style="bold"))
    show.print("  exconf will perform the actions described above.\n  Only 'yes' will be accepted to approve.\n")
    try:
        answer = show.input("  Enter a value: ")
    except EOFError:  # Ctrl-D
        return False
    except KeyboardInterrupt:  # Ctrl-C at the prompt: the same as no
        return False
    return answer.strip() == "yes"


def _apply(args: argparse.Namespace, run: Run, plan: Plan, out: Console, err: Console) -> int:
    show = err if args.json else out
    if not args.json:
        print_plan(out, plan)
    if plan.blocking:
        return _refuse(plan, show, err)
    if plan.changes and not args.auto_approve:
        run.release()  # however long the user reads, no socket is held; each host reconnects to apply
        confirmed = _confirm(show, err)
        if confirmed is None:
            err.print(Text("Error: ", style="bold red") + Text("apply needs confirmation: run it in a terminal, or pass --auto-approve"))
            print_recap(show, _nothing_applied(plan))
            return EXIT_ERROR
        if not confirmed:
            show.print(Text("\nApply cancelled: nothing was sent to any server.", style="bold"))
            print_recap(show, _nothing_applied(plan))
            return EXIT_ERROR
    return _carry_out(args, run, plan, out, err)


def _carry_out(args: argparse.Namespace, run: Run, plan: Plan, out: Console, err: Console) -> int:
    hosts = len({op.host for op in plan.operations})
    status, event = progress(err, quiet=hosts > 50)
    run.on_event = lambda phase, host, done, total: event(phase, host, done, total, run)
    with status or contextlib.nullcontext():
        if status is not None:
            status.update(f"Applying {plural(len(plan.changes), 'change')} on {plural(hosts, 'host')}…")
        results = run.apply(plan)
    counts = {name: recap_counts(name, plan.hosts[name], res) for name, res in results.items()}
    try:
        _report_apply(args, run, plan, results, counts, out, err)
    except KeyboardInterrupt:
        pass  # the changes are made: a Ctrl-C while printing must not change the exit code
    return _exit_code(counts, results)


def _report_apply(args: argparse.Namespace, run: Run, plan: Plan, results: dict[str, HostResult], counts: dict[str, dict[str, int]], out: Console, err: Console) -> None:
    show = err if args.json else out
    if args.json:
        print(json.dumps(apply_json(plan, results), indent=2, ensure_ascii=False))
    else:
        print_apply(out, plan, results)
        if plan.changes:
            applied = sum(r.changed for r in results.values())
            out.print(Text(f"\nApply complete: {applied} of {plural(len(plan.changes), 'change')} made and verified.", style="bold"))
    if run.unknown:
        err.print(Text("Left at once: ", style="bold red") + Text(f"the result on {safe(', '.join(run.unknown))} is unknown. Run exconf plan to see where each server stands."))
    print_recap(show, counts)


def _exit_code(counts: dict[str, dict[str, int]], results: dict[str, HostResult]) -> int:
    """0 converged; 1 when nothing at all was attempted (interrupted first); else 2 failed | 4 unreachable."""
    attempted = any(r.outcome is not ChangeOutcome.NOT_RUN for res in results.values() for r in res.results)
    if not attempted and any(res.not_run for res in results.values()) and not any(c["unreachable"] for c in counts.values()):
        return EXIT_ERROR
    code = EXIT_OK
    if any(c["failed"] for c in counts.values()) or any(r.not_run for r in results.values()):
        code |= EXIT_FAILED
    if any(c["unreachable"] for c in counts.values()):
        code |= EXIT_UNREACHABLE
    return code


# --- saved plans -----------------------------------------------------------------


def _show(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        saved = planfile.load(args.planfile)
    except planfile.PlanFileError as exc:
        return error(err, safe(str(exc)))
    if args.json:
        print(json.dumps(plan_json(saved.plan), indent=2, ensure_ascii=False))
        return EXIT_OK
    out.print(Text(f"Saved plan: {safe(str(args.planfile))}, made {saved.created} by exconf {saved.exconf_version} from {safe(str(saved.inventory))}" + (f" (--limit {safe(saved.limit)})" if saved.limit else ""), style="dim"))
    print_plan(out, saved.plan)
    return EXIT_OK


def _apply_saved(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Apply exactly a saved plan, after proving it is not stale; no confirmation (the plan was the review)."""
    if args.limit:
        return error(err, "--limit cannot narrow a saved plan; make a new plan with --limit instead")
    try:
        saved = planfile.load(args.inventory)
    except planfile.PlanFileError as exc:
        return error(err, safe(str(exc)))
    gone = [s for s in saved.sources if not s.exists()]
    if gone:
        return error(err, f"the plan's inventory {safe(str(gone[0]))} is gone; run exconf plan again")
    try:
        # The plan's own sources; the vault options and -e of this command (-e must be the plan's).
        inventory = load_from_args(argparse.Namespace(**{**vars(args), "inventory": None, "inventories": list(saved.sources)}))
    except InventoryUnusable as exc:
        return inventory_unusable(err, exc)
    stale = planfile.provenance_problems(saved, inventory, tuple(args.extra_vars))
    if stale:
        return _stale(saved, stale, out, err)
    plan = saved.plan
    show = err if args.json else out
    if plan.blocking:
        return _refuse(plan, show, err)
    hosts = list(dict.fromkeys(op.host for op in plan.operations))
    if not hosts:
        show.print(Text("No changes in this plan: nothing to apply.", style="bold green"))
        print_recap(show, _nothing_applied(plan))
        return EXIT_OK
    missing = [h for h in hosts if h not in {x.name for x in inventory.hosts}]
    if missing:
        return _stale(saved, [f"{h} is no longer in the inventory" for h in missing], out, err)
    lock = _lock(inventory, err, f"exconf apply {args.inventory}")
    if lock is None:
        return EXIT_ERROR
    try:
        if not start_labs(inventory, err):
            return EXIT_ERROR
        desired = parse(inventory)
        if saved.org_host not in hosts:
            desired = DesiredState(hosts=desired.hosts, organization=())
        run, status = new_run(inventory, hosts, desired, args.forks, err, quiet=len(hosts) > 50)
        run.carrier_only = set(saved.carrier_only)
        try:
            with status or contextlib.nullcontext():
                run.read(org_host=saved.org_host if saved.org_host in hosts else None)
            fresh = run.plan(overrides=plan.overridden)
            moved = planfile.drift_between(plan, fresh, hosts)
            if moved:
                return _stale(saved, moved, out, err)
            if not args.json:
                print_plan(out, plan)
            return _carry_out(args, run, plan, out, err)
        finally:
            run.close()
    finally:
        lock.release()


def _stale(saved: planfile.SavedPlan, problems: list[str], out: Console, err: Console) -> int:
    err.print(Text("Error: ", style="bold red") + Text("the saved plan is stale; nothing was changed on any host:"))
    for line in problems:
        err.print(Text("  " + safe(line)))
    err.print(Text(f"Run exconf plan {safe(str(saved.inventory))} --out PLANFILE again, review it, and apply the new plan."))
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
