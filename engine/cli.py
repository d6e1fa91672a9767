"""The ``exconf`` command line (spec §2, a Contract): plan, apply, and the lab.

Exit codes (exitcodes.py, one table for every command): ``plan`` 0 (1 on
error; with --detailed-exitcode 2 when there are changes); ``apply`` 0
converged, 1 error before any change, 2 a host failed, 4 a host unreachable,
6 both; 64 for a command line that could not be understood.
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

from exconf.modules.exchange_certificate import pfx_problems_of_review as pfx_problems
from . import __version__, exitcodes, planfile, plankey
from . import inventory as inv
from .desired import parse
from .inventorycli import InventoryUnusable, add_inventory_options, inventory_main, load_from_args
from .drift.command import register as register_drift
from .inventorycli import register as register_inventory
from .sshkeyscan import register as register_keyscan
from .limit import LimitError, select, select_organization
from .lock import ApplyLock, LockError, acquire, organisation_of
from .model import ChangeOutcome, ChangeResult, HostResult, HostStatus, Plan
from .render import (apply_json, document_meta, plan_json, plural, print_apply, print_change_result, print_plan, print_recap, print_review,
                     recap_counts)
from .review import changed_hosts, differences, review
from .runner import GRACE_SECONDS, Run
from .commands import error, interrupts_stop, inventory_unusable, new_run, progress, start_labs
from .safety import refusal_message
from .termsafe import safe

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE = (
    exitcodes.OK, exitcodes.ERROR, exitcodes.CHANGES, exitcodes.FAILED, exitcodes.UNREACHABLE, exitcodes.USAGE)
GLOBAL_OPTIONS = ("--no-color",)  # taken anywhere on the line, before argparse sees it


class _Parser(argparse.ArgumentParser):
    """argparse with no abbreviations (``--lim`` is not ``--limit``) and errors that suggest the nearest
    option or command, with the usage of the (sub)command that failed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def known(self) -> list[str]:
        names = [o for o in self._option_string_actions if o.startswith("--")] + list(GLOBAL_OPTIONS)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                names += list(action.choices)
        return names

    def error(self, message: str) -> NoReturn:
        """Print the usage and the error, with a "did you mean", and exit 64: a usage error is never a result's code."""
        hint = ""
        m = re.search(r"unrecognized arguments?: (\S+)|invalid choice: '([^']*)'", message)
        if m:
            word = m.group(1) or m.group(2)
            known = self.known()
            stem, equals, value = word.partition("=")  # Terraform's -out=FILE
            if stem.startswith("-") and not stem.startswith("--") and "-" + stem in known:
                hint = f" (did you mean -{stem}{' ' + value if equals else ''}? exconf's long options take two dashes)"
            else:
                close = difflib.get_close_matches(stem, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")


_SINGLE_DASH_LONG = re.compile(r"^-[A-Za-z][A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?:=.*)?$")


def _single_dash_long(words: list[str], parser: argparse.ArgumentParser, commands: dict[str, argparse.ArgumentParser]) -> None:
    """Terraform's spelling of a long option (``-out=tonight.plan``, ``-no-color``, ``-limit=ex01``) is a usage
    error with a "did you mean", even where argparse would read it as a short option and its value (``-l imit=ex01``)."""
    command = next((w for w in words if w in commands), None)
    if command == "lab":
        return  # lab exec passes cmdlet parameters (-Identity) through
    target = commands.get(command or "", parser)
    known = set(target.known()) if isinstance(target, _Parser) else set()
    for word in words[: words.index("--")] if "--" in words else words:
        if _SINGLE_DASH_LONG.match(word) and "-" + word.partition("=")[0] in known:
            target.error(f"unrecognized arguments: {word}")


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
    register_keyscan(sub)  # exconf ssh-keyscan: accept SSH host keys (sshkeyscan.py)
    lab = sub.add_parser("lab", help="the built-in simulated Exchange organisation")
    labsub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    serve = labsub.add_parser("serve", help="serve an organisation file on its loopback addresses")
    serve.add_argument("org_file", type=Path)
    serve.add_argument("--state", type=Path, help="state file (default: .lab/<name>.state.json beside the org file)")
    serve.add_argument("--idle-timeout", type=float, help="stop after this many seconds without requests")
    ex = labsub.add_parser("exec", help="run a cmdlet on a running lab server, as an admin at its console")
    ex.add_argument("--lab", type=Path, metavar="ORG_FILE", help="the lab to use when several run")
    ex.add_argument("--as", dest="account", metavar="ACCOUNT",
                    help="run it as this lab account (DOMAIN\\user), within its Exchange management roles")
    ex.add_argument("server")
    ex.add_argument("words", nargs=argparse.REMAINDER, help="-- CMDLET [-Param Value ...]")
    stats = labsub.add_parser("stats", help="per server and endpoint (/wsman, /PowerShell, ssh): requests, sessions, commands and bytes served")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--lab", type=Path, metavar="ORG_FILE", help="only this lab")
    events = labsub.add_parser("events", help="a server's PowerShell module logging (event 4103) of the program's commands")
    events.add_argument("--lab", type=Path, metavar="ORG_FILE", help="the lab to use when several run")
    events.add_argument("--json", action="store_true")
    events.add_argument("server")
    clock = labsub.add_parser("clock", help="show the lab clock, or move it forward (advance 25h)")
    clock.add_argument("--lab", type=Path, metavar="ORG_FILE", help="the lab to use when several run")
    clock.add_argument("action", nargs="?", choices=("show", "advance"), default="show")
    clock.add_argument("duration", nargs="?", help="with advance: 25h, 90m, 1d12h, 30s")
    stop = labsub.add_parser("stop", help="stop this checkout's labs, or the lab of an org file, state file or inventory")
    stop.add_argument("target", type=Path, nargs="?", metavar="ORG_FILE|INVENTORY")
    stop.add_argument("--all", action="store_true", help="stop every running lab of this user")
    commands: dict[str, argparse.ArgumentParser] = {name: parser for name, parser in sub.choices.items()}
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
    _single_dash_long(words, parser, commands)
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
        if args.command == "ssh-keyscan":
            from .sshkeyscan import keyscan_main

            return keyscan_main(args, out, err)
        return _run(args, out, err)
    except KeyboardInterrupt:
        # Once an apply sends its first change, Ctrl-C no longer raises (commands.interrupts_stop): here nothing was.
        message = "Interrupted." + (" Nothing was changed on any server." if args.command == "apply" else "")
        err.print(Text(message, style="bold red"))
        return EXIT_ERROR


def _lock(inventory: inv.Inventory, err: Console, command: str) -> ApplyLock | None:
    try:
        lock = acquire(inventory.path, organisation_of(inventory), command)
    except LockError as exc:
        error(err, safe(str(exc)))
        return None
    lock.on_lost = lambda problem: err.print(Text("Warning: ", style="bold yellow") + Text(safe(problem)))
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
    if args.command == "apply" and not args.auto_approve and not sys.stdin.isatty():
        # Refused now, before any host is read: without a terminal nobody can answer the question.
        return error(err, "apply needs confirmation: run it in a terminal, or pass --auto-approve (no host was read)")
    try:
        inventory = load_from_args(args)  # sources, vault, -e; every problem listed
        names = select(inventory, args.limit)
    except InventoryUnusable as exc:
        return inventory_unusable(err, exc)
    except LimitError as exc:
        return error(err, safe(str(exc)))
    for warning in inventory.warnings:
        err.print(Text("Warning: ", style="yellow") + Text(safe(warning)))
    if not names and not (inventory.declares_organization and select_organization(args.limit)):
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


def _meta(args: argparse.Namespace, inventory: inv.Inventory) -> dict[str, object]:
    """The exconf version, the time, the inventory sources and --limit: the head of every JSON document."""
    return document_meta(inventory.sources or [str(p) for p in inventory.paths], args.limit)


def _plan_and_maybe_apply(args: argparse.Namespace, inventory: inv.Inventory, names: list[str], out: Console, err: Console) -> int:
    run, status = new_run(inventory, names, parse(inventory, names, organization=select_organization(args.limit)), args.forks, err,
                          quiet=len(names) > 50, limit=args.limit)
    try:
        with status or contextlib.nullcontext():
            run.read(keep_connections=args.command == "apply")
        plan = run.plan(overrides=tuple(args.override))
        meta = _meta(args, inventory)
        if args.command == "plan":
            saved, problem = None, ""
            if args.out is not None:
                try:
                    saved = planfile.new(plan, inventory, args.limit, run.org_host, tuple(args.extra_vars), tuple(sorted(run.carrier_only)))
                    meta = _saved_meta(saved)  # plan --json and show --json print the same document
                except planfile.PlanFileError as exc:
                    problem = str(exc)
            code = _finish_plan(args, plan, meta, out, err)
            if problem:
                return error(err, f"cannot save the plan to {safe(str(args.out))}: {safe(problem)}")
            if saved is not None:
                code = _save(args, saved, plan, meta, err) or code
            return code
        if run.stopping.is_set():
            return _interrupted_before_apply(args, plan, out, err)
        # Hosts with nothing to do end their shell now (on the connection they have), not at the end of the run.
        busy = {op.host for op in plan.operations}
        run.finish({h for h in run.sessions if h not in busy})
        return _apply(args, run, plan, meta, out, err)
    finally:
        run.close()


def _saved_meta(saved: planfile.SavedPlan) -> dict[str, object]:
    return document_meta([str(s) for s in saved.sources], saved.limit, timestamp=saved.created, version=saved.exconf_version)


def _interrupted_before_apply(args: argparse.Namespace, plan: Plan, out: Console, err: Console) -> int:
    """Ctrl-C while hosts were read: nothing is applied, nothing is asked; exit 1 (nothing was attempted)."""
    show = err if args.json else out
    if not args.json:
        print_plan(out, plan)
    show.print(Text("\nInterrupted while hosts were read: nothing was sent to any server.", style="bold"))
    print_recap(show, _nothing_applied(plan))
    return EXIT_ERROR


def _save(args: argparse.Namespace, saved: planfile.SavedPlan, plan: Plan, meta: dict[str, object], err: Console) -> int:
    key_file = plankey.key_path()
    try:
        planfile.save(args.out, saved, plan_json(plan, meta), plankey.load_or_create(key_file))
    except (OSError, planfile.PlanFileError, plankey.PlanKeyError) as exc:
        return error(err, f"cannot save the plan to {safe(str(args.out))}: {safe(getattr(exc, 'strerror', None) or str(exc))}")
    err.print(Text(f"Saved the plan to {safe(str(args.out))}, authenticated with your plan key ({safe(str(key_file))}). "
                   f"To apply exactly this plan: exconf apply {safe(str(args.out))}"))
    return 0


def _finish_plan(args: argparse.Namespace, plan: Plan, meta: dict[str, object], out: Console, err: Console) -> int:
    counts = {name: recap_counts(name, hp, None) for name, hp in plan.hosts.items()}
    if args.json:
        print(json.dumps(plan_json(plan, meta), indent=2, ensure_ascii=False))
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


def _apply(args: argparse.Namespace, run: Run, plan: Plan, meta: dict[str, object], out: Console, err: Console) -> int:
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
    return _carry_out(args, run, plan, meta, out, err)


def _carry_out(args: argparse.Namespace, run: Run, plan: Plan, meta: dict[str, object], out: Console, err: Console) -> int:
    hosts = len({op.host for op in plan.operations})
    status, event = progress(err, quiet=hosts > 50)
    run.on_event = lambda phase, host, done, total: event(phase, host, done, total, run)
    streamed: set[str] = set()
    if not args.json:
        # Each change's line as soon as its outcome is final, not all of them at the end.
        def stream(result: ChangeResult) -> None:
            print_change_result(out, result)
            streamed.add(result.change.id)

        run.on_change = stream
    with interrupts_stop(run) as presses:  # from here on, Ctrl-C stops what is not started yet; the recap always prints
        with status or contextlib.nullcontext():
            if status is not None:
                status.update(f"Applying {plural(len(plan.changes), 'change')} on {plural(hosts, 'host')}…")
            results = run.apply(plan)
        if presses[0]:
            err.print(Text("\nInterrupted: ", style="bold red") + Text("no further change was started; the recap says what was made."))
        counts = {name: recap_counts(name, plan.hosts[name], res) for name, res in results.items()}
        _report_apply(args, run, plan, results, counts, meta, streamed, out, err)
        return _exit_code(counts, results)


def _report_apply(args: argparse.Namespace, run: Run, plan: Plan, results: dict[str, HostResult], counts: dict[str, dict[str, int]],
                  meta: dict[str, object], streamed: set[str], out: Console, err: Console) -> None:
    show = err if args.json else out
    if args.json:
        print(json.dumps(apply_json(plan, results, meta), indent=2, ensure_ascii=False))
    else:
        print_apply(out, plan, results, shown=streamed)
        if plan.changes:
            out.print(Text("\n" + apply_verdict(plan, results), style="bold"))
    if run.unknown:
        head = "Left at once: " if run.left_at_once else f"Stopped waiting {GRACE_SECONDS:.0f} s after Ctrl-C: "
        err.print(Text(head, style="bold red") + Text(f"the result on {safe(', '.join(run.unknown))} is unknown. Run exconf plan to see where each server stands."))
    print_recap(show, counts)


def apply_verdict(plan: Plan, results: dict[str, HostResult]) -> str:
    """"Apply complete" only when every change was made and verified; otherwise how many were, and that it failed."""
    made, total = sum(r.changed for r in results.values()), len(plan.changes)
    if made == total:
        return f"Apply complete: {made} of {plural(total, 'change')} made and verified."
    if made == 0:
        return f"Apply failed: 0 of {plural(total, 'change')} made."
    return f"Apply incomplete: {made} of {plural(total, 'change')} made and verified; see the failures above."


def _exit_code(counts: dict[str, dict[str, int]], results: dict[str, HostResult]) -> int:
    """0 converged; 1 when nothing at all was attempted (interrupted first); else 2 failed | 4 unreachable or
    result unknown (docs/faults.md)."""
    attempted = any(r.outcome is not ChangeOutcome.NOT_RUN for res in results.values() for r in res.results)
    if not attempted and any(res.not_run for res in results.values()) and not any(c["unreachable"] for c in counts.values()):
        return EXIT_ERROR
    # A change whose answer never came back is "result unknown": 4, as an unreachable host, not 2.
    unknown = {name: sum(1 for r in res.results if r.unknown) for name, res in results.items()}
    code = EXIT_OK
    if any(c["failed"] > unknown.get(name, 0) for name, c in counts.items()) or any(r.not_run for r in results.values()):
        code |= EXIT_FAILED
    if any(c["unreachable"] for c in counts.values()) or any(unknown.values()):
        code |= EXIT_UNREACHABLE
    return code


# --- saved plans -----------------------------------------------------------------


def _plan_key() -> tuple[bytes | None, str]:
    """This user's plan key, or None and why it cannot be had."""
    try:
        return plankey.load(plankey.key_path()), ""
    except plankey.PlanKeyError as exc:
        return None, str(exc)


def _show(args: argparse.Namespace, out: Console, err: Console) -> int:
    key, why = _plan_key()
    try:
        saved = planfile.load(args.planfile, key)
    except planfile.PlanFileError as exc:
        return error(err, safe(str(exc)))
    if key is None or saved.authentic is not None:
        problem = why if key is None else saved.authentic
        err.print(Text("Warning: ", style="bold yellow") + Text(f"this plan file is not authenticated: {safe(str(problem))}. "
                                                                "exconf apply will refuse it."))
    if args.json:
        print(json.dumps(saved.public, indent=2, ensure_ascii=False))  # the document plan --json printed, head included
        return EXIT_OK
    out.print(Text(f"Saved plan: {safe(str(args.planfile))}, made {safe(saved.created)} by exconf {safe(saved.exconf_version)} from "
                   f"{safe(', '.join(str(s) for s in saved.sources))}" + (f" (--limit {safe(saved.limit)})" if saved.limit else ""), style="dim"))
    print_review(out, saved.review)
    return EXIT_OK


def _apply_saved(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Apply a saved plan: derive it again from its inventory and a fresh read, and run it only when that is
    exactly the plan reviewed (review.differences); no confirmation (the review was the confirmation)."""
    if args.limit:
        error(err, "--limit cannot narrow a saved plan; make a new plan with --limit instead")
        return EXIT_USAGE
    key, why = _plan_key()
    if key is None:
        return error(err, f"the plan file {safe(str(args.inventory))} cannot be authenticated: {safe(why)}; nothing was sent to any server")
    try:
        saved = planfile.load(args.inventory, key, strict=True)
    except planfile.PlanFileError as exc:
        return error(err, safe(str(exc)) + "; nothing was sent to any server")
    if saved.authentic is not None:
        return error(err, f"the plan file {safe(str(args.inventory))} is refused: {safe(saved.authentic)}; nothing was sent to any server. "
                          "Make a new plan with exconf plan --out and review it.")
    hosts = changed_hosts(saved.review)
    show = err if args.json else out
    show.print(Text(f"Applying the saved plan {safe(str(args.inventory))}, made {safe(saved.created)} from the inventory "
                    f"{safe(', '.join(str(s) for s in saved.sources))}" + (f" (--limit {safe(saved.limit)})" if saved.limit else "")
                    + f"; it changes {plural(len(hosts), 'host')}: {safe(', '.join(hosts)) or 'none'}", style="bold"))
    gone = [s for s in saved.sources if not s.exists()]
    if gone:
        return error(err, f"the plan's inventory {safe(str(gone[0]))} is gone; run exconf plan again")
    try:
        # The plan's own sources; the vault options and -e of this command (-e must be the plan's).
        inventory = load_from_args(argparse.Namespace(**{**vars(args), "inventory": None, "inventories": list(saved.sources)}), limit=saved.limit)
    except InventoryUnusable as exc:
        return inventory_unusable(err, exc)
    stale = planfile.provenance_problems(saved, inventory, tuple(args.extra_vars))
    if stale:
        return _stale(saved, stale, out, err)
    if any(not r["overridden"] for r in saved.review["refusals"]):
        err.print(Text("Error: ", style="bold red") + Text("the saved plan was refused by exconf's safety rails when it was made; nothing was sent to any server:"))
        for r in saved.review["refusals"]:
            if not r["overridden"]:
                err.print(Text(f"  [{safe(r['rail'])}] {safe(r['message'])}"))
        return EXIT_ERROR
    if not hosts:
        show.print(Text("No changes in this plan: nothing to apply.", style="bold green"))
        return EXIT_OK
    missing = [h for h in hosts if h not in {x.name for x in inventory.hosts}]
    if missing:
        return _stale(saved, [f"{h} is no longer in the inventory" for h in missing], out, err)
    unopened = pfx_problems(saved.review)
    if unopened:  # a PFX password typed at a prompt is asked, and checked, before any host (certificates.md)
        err.print(Text("Error: ", style="bold red") + Text("the saved plan cannot import its PFX files; nothing was sent to any server:"))
        for line in unopened:
            err.print(Text("  " + safe(line)))
        return EXIT_ERROR
    lock = _lock(inventory, err, f"exconf apply {args.inventory}")
    if lock is None:
        return EXIT_ERROR
    try:
        if not start_labs(inventory, err):
            return EXIT_ERROR
        desired = parse(inventory, hosts, organization=saved.org_host in hosts)
        run, status = new_run(inventory, hosts, desired, args.forks, err, quiet=len(hosts) > 50)
        run.carrier_only = set(saved.carrier_only)
        try:
            with status or contextlib.nullcontext():
                run.read(org_host=saved.org_host if saved.org_host in hosts else None)
            fresh = run.plan(overrides=saved.overridden)
            moved = differences(saved.review, review(fresh), hosts)
            if moved:
                return _stale(saved, moved, out, err)
            if fresh.blocking:
                return _refuse(fresh, show, err)
            if not args.json:
                print_plan(out, fresh)
            # What runs is the fresh plan, derived from the inventory and the servers: its review is the one in the file.
            return _carry_out(args, run, fresh, document_meta([str(s) for s in saved.sources], saved.limit), out, err)
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
