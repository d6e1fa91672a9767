"""The ``exconf`` command line (spec §2, a Contract): plan, apply, and the lab.

Exit codes: ``plan`` 0 (1 on error; with --detailed-exitcode 2 when there
are changes); ``apply`` 0 converged, 1 error before any change, 2 a host
failed, 4 a host unreachable, 6 both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.text import Text

from . import __version__
from .inventorycli import InventoryUnusable, add_inventory_options, inventory_main, load_from_args
from .inventorycli import register as register_inventory
from .limit import LimitError, select
from .model import HostStatus, Plan
from .render import apply_json, plan_json, print_apply, print_plan, print_recap, recap_counts
from .runner import Run

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 2, 2, 4


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="exconf", description="Declarative configuration for Microsoft Exchange on-premises.")
    p.add_argument("--version", action="version", version=f"exconf {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        # --- inventory options (h-inventory): INVENTORY or -i, -l, -e, vault options ---
        add_inventory_options(sp)
        sp.add_argument("-f", "--forks", type=_positive, default=10, metavar="N", help="hosts worked on at once (default 10)")
        sp.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    plan = sub.add_parser("plan", help="read every server and show what differs; change nothing")
    common(plan)
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes, 0 when none")
    apply = sub.add_parser("apply", help="apply only the differences, then verify them")
    common(apply)
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")

    register_inventory(sub)  # h-inventory: exconf inventory --list | --graph | --host
    lab = sub.add_parser("lab", help="the built-in simulated Exchange organisation")
    labsub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    serve = labsub.add_parser("serve", help="serve an organisation file on its loopback addresses")
    serve.add_argument("org_file", type=Path)
    serve.add_argument("--state", type=Path, help="state file (default: .lab/<name>.state.json beside the org file)")
    serve.add_argument("--idle-timeout", type=float, help="stop after this many seconds without requests")
    ex = labsub.add_parser("exec", help="run a cmdlet on a running lab server, as an admin at its console")
    ex.add_argument("server")
    ex.add_argument("words", nargs=argparse.REMAINDER, help="-- CMDLET [-Param Value ...]")
    stats = labsub.add_parser("stats", help="per server: WS-Management requests, commands and bytes served")
    stats.add_argument("--json", action="store_true")
    stop = labsub.add_parser("stop", help="stop running labs (all, or the one serving ORG_FILE)")
    stop.add_argument("org_file", type=Path, nargs="?")
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # urllib3 warns per request when validation is off, pywinrm when it falls back to
    # REQUESTS_CA_BUNDLE: exconf says the first itself, once per run (runner.Run).
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    warnings.filterwarnings("ignore", message="'pywinrm' will use an environment variable defined CA Trust")
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "lab":
            from .labcli import lab_main

            return lab_main(args, out, err)
        if args.command == "inventory":
            return inventory_main(args)
        return _run(args, out, err)
    except KeyboardInterrupt:
        message = "Interrupted."
        if args.command == "apply":
            message += " Changes already sent to servers may or may not have been made: run exconf plan to see where each server stands."
        err.print(Text(message, style="bold red"))
        return EXIT_ERROR


def _status(err: Console, message: str):
    """A spinner on a terminal (stderr), nothing otherwise: long runs should not look hung."""
    return err.status(message) if err.is_terminal else contextlib.nullcontext()


def _error(err: Console, message: str) -> int:
    err.print(Text("Error: ", style="bold red") + Text(message))
    return EXIT_ERROR


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        inventory = load_from_args(args)  # h-inventory: sources, vault, -e; every problem listed
        names = select(inventory, args.limit)
    except InventoryUnusable as exc:
        err.print(Text(f"Error: {exc.lines[0]}", style="bold red"))
        for line in exc.lines[1:]:
            err.print(Text(line))
        return EXIT_ERROR
    except LimitError as exc:
        return _error(err, str(exc))
    for warning in inventory.warnings:
        err.print(Text("Warning: ", style="yellow") + Text(warning))
    if not names:
        return _error(err, f"--limit {args.limit!r} leaves no host to work on")

    from .labauto import LabStartError, start_labs

    try:
        start_labs(inventory, err)
    except LabStartError as exc:
        return _error(err, str(exc))

    run = Run(inventory=inventory, hosts=[inventory.host(n) for n in names], forks=args.forks)
    try:
        with _status(err, f"Reading {len(names)} host{'s' if len(names) != 1 else ''}…"):
            run.read()
        plan = run.plan()
        if args.command == "plan":
            return _finish_plan(args, plan, out, err)
        return _apply(args, run, plan, out, err)
    finally:
        run.close()


def _finish_plan(args: argparse.Namespace, plan: Plan, out: Console, err: Console) -> int:
    counts = {name: recap_counts(name, hp, None) for name, hp in plan.hosts.items()}
    if args.json:
        print(json.dumps(plan_json(plan), indent=2, ensure_ascii=False))
        print_recap(err, counts)
    else:
        print_plan(out, plan)
        print_recap(out, counts)
    if any(hp.status is not HostStatus.OK for hp in plan.hosts.values()):
        return EXIT_ERROR
    if args.detailed_exitcode and plan.changes:
        return EXIT_CHANGES
    return EXIT_OK


def _nothing_applied(plan: Plan) -> dict[str, dict[str, int]]:
    """The recap of an apply that stopped before changing anything."""
    return {n: recap_counts(n, hp, None) | {"changed": 0, "ok": hp.in_sync} for n, hp in plan.hosts.items()}


def _apply(args: argparse.Namespace, run: Run, plan: Plan, out: Console, err: Console) -> int:
    show = err if args.json else out
    if not args.json:
        print_plan(out, plan)
    if plan.changes and not args.auto_approve:
        if not sys.stdin.isatty():
            err.print(Text("Error: ", style="bold red") + Text("apply needs confirmation: run it in a terminal, or pass --auto-approve"))
            print_recap(show, _nothing_applied(plan))
            return EXIT_ERROR
        show.print(Text("\nDo you want to perform these actions?", style="bold"))
        show.print("  exconf will perform the actions described above.\n  Only 'yes' will be accepted to approve.\n")
        answer = show.input("  Enter a value: ")
        if answer.strip() != "yes":
            show.print(Text("\nApply cancelled: nothing was changed.", style="bold"))
            print_recap(show, _nothing_applied(plan))
            return EXIT_ERROR
    hosts = sum(1 for hp in plan.hosts.values() if hp.changes)
    with _status(err, f"Applying {len(plan.changes)} changes on {hosts} host{'s' if hosts != 1 else ''}…"):
        results = run.apply(plan)
    counts = {name: recap_counts(name, plan.hosts[name], res) for name, res in results.items()}
    if args.json:
        print(json.dumps(apply_json(plan, results), indent=2, ensure_ascii=False))
    else:
        print_apply(out, plan, results)
        if plan.changes:
            applied = sum(r.changed for r in results.values())
            out.print(Text(f"\nApply complete: {applied} of {len(plan.changes)} changes made and verified.", style="bold"))
    print_recap(show, counts)
    code = EXIT_OK
    if any(c["failed"] for c in counts.values()):
        code |= EXIT_FAILED
    if any(c["unreachable"] for c in counts.values()):
        code |= EXIT_UNREACHABLE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
