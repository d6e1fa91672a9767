"""``exconf drift`` and ``exconf drift history``: read like plan, change nothing, report drift.

One run: read every selected host (one command each, the admin audit log with the
organisation's reads on one Mailbox server; each host's connection released after its read),
plan, judge the findings (report.py), then record the history, write the reports and notify.
Each output is attempted whatever another's fate: a file or the history that cannot be
written is an error on stderr and exit 1, after everything else was done; a notification
that fails is reported and changes nothing. Exit 0 no drift, 2 drift, 1 error.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.text import Text

from .. import exitcodes
from .. import inventory as inv
from ..desired import parse
from ..commands import inventory_unusable, new_run, start_labs
from ..inventorycli import InventoryUnusable, add_inventory_options, load_from_args
from ..limit import LimitError, select, select_organization
from ..render import FORMAT_VERSION, document_meta, plural, print_recap, recap_counts, value_text
from ..termsafe import safe
from ..yamlsource import Location
from . import audit, history, junit, notify, prometheus, schedule
from .outputs import OutputError, write_atomic
from .report import EXIT_ERROR, DriftReport, DriftState, build, differing, with_history

DEFAULT_EVERY = "15m"


def register(sub: argparse._SubParsersAction) -> None:
    """The ``drift`` command's arguments (``drift history …`` shares the parser)."""
    d = sub.add_parser("drift", help="read every server, report drift (exit 2), change nothing; 'drift history' lists it",
                       description="exconf drift INVENTORY [options] | exconf drift history [INVENTORY] [--host H] [--since DATE] [--json]")
    d.add_argument("words", nargs="*", metavar="INVENTORY", help="inventory file (or -i); or: history [INVENTORY]")
    add_inventory_options(d, positional=False)  # -i, -l, -e and the vault options, as plan takes them
    d.add_argument("--forks", type=int, default=10, metavar="N", help="hosts worked on at once (default 10)")
    d.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    d.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    d.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML (one test case per declared object)")
    d.add_argument("--prometheus", type=Path, metavar="FILE", help="write Prometheus text format (node_exporter textfile collector)")
    d.add_argument("--history", type=Path, metavar="DB", help="SQLite history (default: .<inventory>.drift.sqlite beside it)")
    d.add_argument("--no-history", action="store_true", help="do not record this run")
    d.add_argument("--keep-days", type=int, default=history.DEFAULT_KEEP_DAYS, metavar="N", help="history retention (default 90)")
    d.add_argument("--notify", metavar="URL", help="POST a JSON message (Slack/Teams webhook) when drift appears or is resolved")
    d.add_argument("--every", metavar="INTERVAL", help="run again after each INTERVAL (15m, 1h) until SIGTERM")
    d.add_argument("--count", type=int, metavar="N", help="with --every: stop after N runs")
    d.add_argument("--print-schedule", choices=("systemd", "cron", "kubernetes"), help="print units that run this check, and exit")
    d.add_argument("--host", metavar="HOST", help="history: only this host")
    d.add_argument("--since", metavar="DATE", help="history: drift seen on or after DATE (2026-12-01)")


def drift_main(args: argparse.Namespace, out: Console, err: Console) -> int:
    words = list(args.words)
    if words and words[0] == "history" and (len(words) == 2 or (len(words) == 1 and not Path("history").is_file())):
        return history_main(args, Path(words[1]) if len(words) == 2 else None, out, err)
    if len(words) > 1:
        return _usage(err, f"drift takes one inventory, got {len(words)} words ({safe(' '.join(words))})")
    sources = [Path(w) for w in words] + list(args.inventories)
    if not sources:
        return _usage(err, "no inventory given: name it, or use -i SOURCE")
    inventory = sources[0]
    interval_problem = None
    every = 0
    if args.every is not None or args.print_schedule:
        try:
            every = schedule.parse_interval(args.every or DEFAULT_EVERY)
        except ValueError as exc:
            interval_problem = str(exc)
    if args.print_schedule:
        if interval_problem:
            return _error(err, safe(interval_problem))
        out.print(Text(schedule.render(args.print_schedule, str(inventory.resolve()), _passed_options(args), every)), end="")
        return 0
    for name in ("forks", "keep_days", "count"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return _usage(err, f"--{name.replace('_', '-')} must be at least 1")
    problems = [interval_problem] if interval_problem else []
    if args.notify and notify.check_url(args.notify):
        problems.append(notify.check_url(args.notify) or "")
    if args.every is None or interval_problem:
        code = Checker(args, inventory, out, err).run()
        for problem in problems:  # the check ran; the bad option is still an error
            _error(err, safe(problem))
        return EXIT_ERROR if problems else code
    checker = Checker(args, inventory, out, err)
    stop = threading.Event()
    with schedule.stop_on_signals(stop):
        code = schedule.loop(checker.run, every, count=args.count, stop=stop,
                             on_wait=lambda s: err.print(Text(f"next drift run in {s:.0f} s", style="dim")))
    if stop.is_set():
        err.print(Text("Stopped by a signal between runs; the exit status is the last run's.", style="dim"))
    return code


def _passed_options(args: argparse.Namespace) -> list[str]:
    """The options a scheduled run repeats (not --every/--print-schedule: the scheduler repeats it)."""
    extra: list[str] = []
    for flag in ("limit", "html", "junit", "prometheus", "history", "notify"):
        value = getattr(args, flag)
        if value is not None:
            extra += [f"--{flag}", str(Path(value).resolve()) if isinstance(value, Path) else str(value)]
    if args.keep_days != history.DEFAULT_KEEP_DAYS:
        extra += ["--keep-days", str(args.keep_days)]
    for source in args.inventories:
        extra += ["-i", str(Path(source).resolve())]
    for file in args.vault_password_files:  # a file (or script) name, never a password
        extra += ["--vault-password-file", str(Path(file).resolve())]
    return extra


def _error(err: Console, message: str) -> int:
    err.print(Text("Error: ", style="bold red") + Text(message))
    return EXIT_ERROR


def _usage(err: Console, message: str) -> int:
    """A command line drift cannot use: nothing was read; the code no command uses for a result."""
    _error(err, message)
    return exitcodes.USAGE


class Checker:
    """One drift check, repeatable (the loop calls ``run`` again); remembers the previous run's
    states in memory for notifications when the history cannot be used."""

    def __init__(self, args: argparse.Namespace, inventory: Path, out: Console, err: Console):
        self.args, self.inventory_path, self.out, self.err = args, inventory, out, err
        self.previous: dict[history.Key, history.Previous] = {}

    def run(self) -> int:
        try:
            return self._run()
        except KeyboardInterrupt:
            self.err.print(Text("Interrupted.", style="bold red"))
            return EXIT_ERROR

    def _run(self) -> int:
        args, err = self.args, self.err
        sources = [self.inventory_path] + [s for s in args.inventories if s != self.inventory_path]
        try:
            inventory = load_from_args(argparse.Namespace(**{**vars(args), "inventory": None, "inventories": sources}))
            names = select(inventory, args.limit)
        except InventoryUnusable as exc:
            return inventory_unusable(err, exc)
        except LimitError as exc:
            return _error(err, safe(str(exc)))
        if not names and not (inventory.declares_organization and select_organization(args.limit)):
            return _error(err, f"--limit {args.limit!r} leaves no host to work on")
        if not start_labs(inventory, err):
            return EXIT_ERROR
        started = history.now_text()
        clock = time.monotonic()
        run, status = new_run(inventory, names, parse(inventory, names, organization=select_organization(args.limit)), args.forks, err,
                              quiet=len(names) > 50 or args.json,
                              limit=args.limit, org_steps=(audit.STEP,))
        try:
            if status is not None:
                with status:
                    run.read(keep_connections=False)
            else:
                run.read(keep_connections=False)
            plan = run.plan()
        finally:
            run.close()
        sources = {h.name: _first_location(h, inventory.path) for h in run.hosts}
        report = build(plan, audit.read(run.org_answer), started=started, duration=time.monotonic() - clock, host_sources=sources)
        report, failures = self._remember(report, names)
        failures += self._write_reports(report, inventory.path)
        recap = {name: recap_counts(name, hp, None) for name, hp in report.plan.hosts.items()}
        if args.json:  # in a loop, one JSON document per line (JSON Lines)
            meta = document_meta(inventory.sources or [str(p) for p in inventory.paths], args.limit, timestamp=report.started)
            print(json.dumps(report.to_json(meta), indent=None if args.every else 2, ensure_ascii=False), flush=True)
            print_recap(err, recap)
        else:
            print_report(self.out, report)
            print_recap(self.out, recap)
        self._notify(report)
        for failure in failures:
            _error(err, safe(failure))
        return EXIT_ERROR if failures else report.exit_code

    def _remember(self, report: DriftReport, names: list[str]) -> tuple[DriftReport, list[str]]:
        """Since when / resolved / appeared from the history (or this process's memory), then record the run."""
        args = self.args
        previous = self.previous
        failures: list[str] = []
        db = None
        if not args.no_history:
            path = args.history or history.default_path(self.inventory_path)
            try:
                db = history.History(path)
                previous = db.previous(names) or previous
            except history.HistoryError as exc:
                failures.append(str(exc))
                db = None
        since, resolved, appeared = history.transitions(report.items, previous, report.started)
        report = with_history(report, since, resolved, appeared)
        if db is not None:
            try:
                db.record(report, self.inventory_path.resolve(), keep_days=args.keep_days)
            except history.HistoryError as exc:
                failures.append(str(exc))
            finally:
                db.close()
        self.previous = {i.key: history.Previous(i.state.value, i.since or report.started) for i in report.items}
        if failures:
            report = replace(report, notes=report.notes + tuple(failures))
        return report, failures

    def _write_reports(self, report: DriftReport, inventory: Path) -> list[str]:
        failures = []
        from . import html  # jinja2 only when an HTML report is asked for

        for path, render in ((self.args.html, lambda: html.render(report, inventory.parent)),
                             (self.args.junit, lambda: junit.render(report)),
                             (self.args.prometheus, lambda: prometheus.render(report))):
            if path is None:
                continue
            try:
                write_atomic(path, render())
            except OutputError as exc:
                failures.append(str(exc))
        return failures

    def _notify(self, report: DriftReport) -> None:
        url = self.args.notify
        if not url or notify.check_url(url):
            return
        msg = notify.message(report, self.inventory_path.name)
        if msg is None:
            return
        try:
            notify.send(url, msg)
        except notify.NotifyError as exc:
            self.err.print(Text("Warning: ", style="bold yellow") + Text(safe(str(exc)) + "; the drift check itself is complete"))


def _first_location(host: inv.Host, path: Path) -> Location:
    """Where the host is declared: its ansible_host, else its earliest source."""
    declared = host.source(("ansible_host",))
    if declared is not None:
        return declared
    if host.sources:
        return min(host.sources.values(), key=lambda loc: (loc.line, loc.column))
    return Location(str(path), 1, 1)


def print_report(console: Console, report: DriftReport) -> None:
    """Terminal text: each drifted object and error, then a one-line verdict."""
    for warning in report.plan.warnings:
        console.print(Text("Warning: ", style="bold yellow") + Text(safe(warning)))
    for item in report.items:
        f = item.finding
        head = f"{safe(f.host, newlines=False)}: {f.kind} {value_text(f.name)}"
        if item.state is DriftState.DRIFT:
            console.print(Text("drift: ", style="bold yellow") + Text(head) + Text(f"  # {safe(f.source.file, newlines=False)}:{f.source.line}", style="dim"))
            for p in differing(f):
                expected = "(sensitive)" if p.sensitive else value_text(p.expected)
                actual = "(sensitive)" if p.sensitive else value_text(p.actual)
                console.print(Text(f"    {p.prop}: expected {expected}, actual {actual}"))
            if f.message:
                console.print(Text("    " + safe(f.message)))
            meta = f"    since {item.since}" if item.since else "    since this run"
            if item.who is not None:
                meta += f"; changed by {safe(item.who.caller, newlines=False)} with {safe(item.who.cmdlet, newlines=False)} at {safe(item.who.when, newlines=False)}"
            console.print(Text(meta, style="dim"))
        elif item.state is DriftState.ERROR:
            console.print(Text("error: ", style="bold red") + Text(head) + Text(": " + safe(f.message.splitlines()[0] if f.message else "")))
    for r in report.resolved:
        console.print(Text("resolved: ", style="bold green") + Text(f"{safe(r.host, newlines=False)}: {r.kind} {value_text(r.name)} (drifting since {r.since})"))
    if report.audit_note:
        console.print(Text(f"note: who changed what is not known: {safe(report.audit_note)}", style="dim"))
    n_sync = sum(1 for i in report.items if i.state is DriftState.IN_SYNC)
    line = f"Drift: {plural(len(report.drifted), 'object')} drifted, {plural(len(report.errors), 'error')}, {n_sync} in sync"
    line += f" on {plural(len(report.plan.hosts), 'host')} ({report.hosts_up()} read)."
    style = "bold red" if report.errors else "bold yellow" if report.drifted else "bold green"
    console.print(Text(line, style=style))


# --- drift history -----------------------------------------------------------------------------------


def history_main(args: argparse.Namespace, inventory: Path | None, out: Console, err: Console) -> int:
    if args.history is None and inventory is None:
        found = sorted(Path(".").glob(".*.drift.sqlite"))  # the one history of the inventory in this folder
        if len(found) != 1:
            return _error(err, "drift history needs the inventory (its history is beside it) or --history DB"
                          + (f": this folder has {len(found)} histories" if found else ""))
        args.history = found[0]
    path = args.history or history.default_path(inventory)  # type: ignore[arg-type]
    if not path.is_file():
        return _error(err, f"no drift history at {safe(str(path))}: run exconf drift first")
    try:
        since = history.parse_date(args.since) if args.since else None
    except ValueError as exc:
        return _error(err, safe(str(exc)))
    try:
        with history.History(path, readonly=True) as db:
            episodes = db.episodes(host=args.host, since=since)
    except history.HistoryError as exc:
        return _error(err, safe(str(exc)))
    if args.json:
        meta = document_meta([str(inventory)] if inventory else [], None)
        print(json.dumps({"format_version": FORMAT_VERSION, **meta, "history": str(path), "host": args.host, "since": args.since,
                          "episodes": [e.to_json() for e in episodes]}, indent=2, ensure_ascii=False))
        return 0
    if not episodes:
        out.print(Text("No drift recorded" + (f" for {safe(args.host)}" if args.host else "") + (f" since {since}" if since else "") + "."))
        return 0
    for e in episodes:
        state = Text(f"resolved {safe(e.resolved)}", style="green") if e.resolved else Text("still drifting", style="bold yellow")
        who = e.detail.get("changed_by")
        line = Text(f"{safe(e.host, newlines=False)}: {safe(e.kind, newlines=False)} {value_text(e.name)}: "
                    f"since {safe(e.since, newlines=False)}, last seen {safe(e.last_seen, newlines=False)}, ") + state
        if who:
            line.append(f"; changed by {safe(str(who.get('caller', '')), newlines=False)} with {safe(str(who.get('cmdlet', '')), newlines=False)}")
        out.print(line)
    return 0

