"""``exconf drift``, ``exconf drift history`` and ``exconf drift ack``: read like plan, change nothing (unless
``--correct``), report drift, keep episodes, never lose an alert.

One run: read every selected host (one command each; the admin audit log searched with the organisation's reads,
filtered by what the history says must be looked up), plan, judge, then — in one history transaction — the
transitions, who changed what, and the messages they make (the outbox); then the reports, then delivery.
Every run, even one that fails before any host (a broken inventory), writes its reports, its ``last_run`` and
its events. A file or the history that cannot be written is an error on stderr and exit 1, after everything
else was done; a message that cannot be delivered waits in the outbox and the reports say so.
Exit 0 no drift, 2 drift (acknowledged and corrected drift excepted), 1 error.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from exconf.modules import KINDS, Kind
from exconf.modules.exchange_certificate import CertificateKind

from .. import exitcodes
from .. import inventory as inv
from ..commands import inventory_unusable, new_run, start_labs
from ..desired import parse
from ..inventorycli import InventoryUnusable, add_inventory_options, load_from_args
from ..limit import LimitError, select, select_organization
from ..model import Finding, FindingStatus, HostStatus
from ..render import document_meta, plural, print_recap, recap_counts, value_text
from ..termsafe import safe
from ..yamlsource import Location
from . import audit, cycle, history, junit, notify, outbox, prometheus, schedule, sinks
from .episodes import Prior
from .history import HostInfo, RunSummary
from .outputs import OutputError, write_atomic
from .report import EXIT_ERROR, HOST_KIND, HOST_SEVERITY, ORG_HOST, RUN_KIND, DriftItem, DriftReport, DriftState, build, differing, run_failed

DEFAULT_EVERY = "15m"


def register(sub: argparse._SubParsersAction) -> None:
    """The ``drift`` command's arguments (``drift history …`` and ``drift ack …`` share the parser)."""
    d = sub.add_parser("drift", help="read every server, report drift (exit 2), change nothing; 'drift history', 'drift ack'",
                       description="exconf drift INVENTORY [options] | exconf drift history [INVENTORY] [--host P] [--since 7d] [--json|--html F]"
                                   " | exconf drift ack INVENTORY --host H --kind K --name N --owner O --reason R --expires 7d")
    d.add_argument("words", nargs="*", metavar="INVENTORY", help="inventory file (or -i); or: history [INVENTORY]; or: ack INVENTORY")
    add_inventory_options(d, positional=False)  # -i, -l, -e and the vault options, as plan takes them
    d.add_argument("--forks", type=int, default=10, metavar="N", help="hosts worked on at once (default 10)")
    d.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    d.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report (and FILE-history.html: 7 days)")
    d.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML (one test case per declared object)")
    d.add_argument("--prometheus", type=Path, metavar="FILE", help="write Prometheus text format (node_exporter textfile collector)")
    d.add_argument("--openmetrics", type=Path, metavar="FILE", help="write OpenMetrics text format")
    d.add_argument("--history", type=Path, metavar="DB", help="SQLite history (default: .<inventory>.drift.sqlite beside it)")
    d.add_argument("--no-history", action="store_true", help="do not record this run (a loop keeps its history in memory)")
    d.add_argument("--keep-days", type=int, default=history.DEFAULT_KEEP_DAYS, metavar="N", help="history retention (default 90)")
    d.add_argument("--notify", metavar="URL", help="POST a JSON message (Slack/Teams webhook) on each transition")
    d.add_argument("--notify-url-file", type=Path, metavar="FILE", help="the webhook URL, read from a file (a secret)")
    d.add_argument("--syslog", metavar="TARGET", help="one RFC 5424 message per transition: unix:/dev/log, udp://HOST:514, tcp://HOST:601")
    d.add_argument("--events", type=Path, metavar="FILE", help="append one JSON line per transition (for a SIEM)")
    d.add_argument("--digest-at", metavar="HH:MM", help="once a day from this time (UTC), post what is still drifting")
    d.add_argument("--report-url", metavar="URL", help="the link messages give to the report (default: the --html file)")
    d.add_argument("--correct", action="extend", nargs="+", default=[], metavar="KIND",
                   help="put drift of these kinds back, as apply would (only changes the kind declares safe)")
    d.add_argument("--undeclared", action="store_true", help="also report objects that exist and that nothing declares")
    d.add_argument("--every", metavar="INTERVAL", help="run again after each INTERVAL (15m, 1h) until SIGTERM")
    d.add_argument("--count", type=int, metavar="N", help="with --every: stop after N runs")
    d.add_argument("--print-schedule", choices=("systemd", "cron", "kubernetes"), help="print units that run this check, and exit")
    d.add_argument("--host", metavar="PATTERN", help="history: hosts matching this pattern; ack: the host (or pattern)")
    d.add_argument("--since", metavar="WHEN", help="history: since a span (7d, 12h) or a date (2026-12-01); default 7d")
    d.add_argument("--max", type=int, default=200, metavar="N", help="history: the newest N episodes of each sort (0: all; default 200)")
    d.add_argument("--kind", metavar="KIND", help="ack: the kind (default *)")
    d.add_argument("--name", metavar="NAME", help="ack: the object's name (a pattern; default *)")
    d.add_argument("--owner", metavar="WHO", help="ack: who owns it")
    d.add_argument("--reason", metavar="TEXT", help="ack: why")
    d.add_argument("--expires", metavar="WHEN", help="ack: a span (7d) or a date; at most 90 days")
    d.add_argument("--list", action="store_true", help="ack: list the acknowledgements")
    d.add_argument("--remove", type=int, metavar="ID", help="ack: remove this acknowledgement")


def drift_main(args: argparse.Namespace, out: Console, err: Console) -> int:
    words = list(args.words)
    if words and words[0] == "history" and (len(words) == 2 or (len(words) == 1 and not Path("history").is_file())):
        from .historycli import history_main

        return history_main(args, Path(words[1]) if len(words) == 2 else None, out, err)
    if words and words[0] == "ack" and len(words) <= 2 and not Path("ack").is_file():
        from .historycli import ack_main

        return ack_main(args, Path(words[1]) if len(words) == 2 else None, out, err)
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
        try:
            text = schedule.render(args.print_schedule, schedule.Job.from_args(args, inventory), every)
        except ValueError as exc:
            return _error(err, safe(str(exc)))
        out.print(Text(text), end="")
        return 0
    for name in ("forks", "keep_days", "count"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return _usage(err, f"--{name.replace('_', '-')} must be at least 1")
    problems = [interval_problem] if interval_problem else []
    problems += option_problems(args)
    checker = Checker(args, inventory, out, err, problems)
    stop = threading.Event()
    with schedule.stop_on_signals(stop, interrupt=args.every is not None):
        try:
            if args.every is None or interval_problem:
                code = checker.run()
            else:
                code = schedule.loop(checker.run, every, count=args.count, stop=stop,
                                     on_wait=lambda s: err.print(Text(f"next drift run in {s:.0f} s", style="dim")))
        finally:
            checker.close()
    if stop.is_set():
        err.print(Text("Stopped by a signal; the exit status is the last run's.", style="dim"))
    for problem in problems:  # the check ran; the bad option is still an error
        _error(err, safe(problem))
    return EXIT_ERROR if problems else code


def option_problems(args: argparse.Namespace) -> list[str]:
    """Options that cannot be used; the check still runs and reports, then exits 1."""
    out: list[str] = []
    if args.notify and sinks.check_url(args.notify):
        out.append(f"--notify: {sinks.check_url(args.notify)}")
    if args.syslog:
        try:
            sinks.parse_syslog_target(args.syslog)
        except ValueError as exc:
            out.append(str(exc))
    if args.digest_at and not _digest_time(args.digest_at):
        out.append(f"--digest-at {args.digest_at!r} is not a time such as 08:00 (UTC)")
    from exconf.modules import KINDS

    known = {k.kind for k in KINDS}
    for kind in args.correct:
        for k in kind.split(","):
            if k and k not in known:
                out.append(f"--correct {k!r} is not a kind ({', '.join(sorted(known))})")
    return out


def _digest_time(text: str) -> str:
    parts = text.strip().split(":")
    if len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60:
        return f"{int(parts[0]):02d}:{int(parts[1]):02d}"
    return ""


def _error(err: Console, message: str) -> int:
    err.print(Text("Error: ", style="bold red") + Text(message))
    return EXIT_ERROR


def _warn(err: Console, message: str) -> None:
    err.print(Text("Warning: ", style="bold yellow") + Text(safe(message)))


def _usage(err: Console, message: str) -> int:
    """A command line drift cannot use: nothing was read; the code no command uses for a result."""
    _error(err, message)
    return exitcodes.USAGE


class Checker:
    """One drift check, repeatable (the loop calls ``run`` again). Without a history file, the history is kept in
    memory for the life of the process, so a loop still notifies once per transition."""

    def __init__(self, args: argparse.Namespace, inventory: Path, out: Console, err: Console, problems: list[str] | None = None):
        self.args, self.inventory_path, self.out, self.err = args, inventory, out, err
        self.problems = problems or []
        self.memory: history.History | None = None
        self.sources: list[str] = []  # the inventory's sources, for the JSON document's head

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()
            self.memory = None

    def run(self) -> int:
        try:
            return self._run()
        except KeyboardInterrupt:
            self.err.print(Text("Interrupted.", style="bold red"))
            return EXIT_ERROR

    # --- the history ---------------------------------------------------------------------------

    def _open(self) -> tuple[history.History | None, str]:
        if self.args.no_history:
            if self.memory is None:
                self.memory = history.History(history.MEMORY)
            return self.memory, ""
        path = self.args.history or history.default_path(self.inventory_path)
        try:
            return history.History(path), ""
        except history.HistoryError as exc:
            return None, str(exc)

    def _close(self, db: history.History | None) -> None:
        if db is not None and db is not self.memory:
            db.close()

    # --- one run -------------------------------------------------------------------------------

    def _run(self) -> int:
        started = history.now_text()
        clock = time.monotonic()
        db, db_problem = self._open()
        failures = [db_problem] if db_problem else []
        try:
            report, inputs = self._check(db, started, clock, failures)
            return self._finish(db, report, inputs, failures)
        finally:
            self._close(db)

    def _check(self, db: history.History | None, started: str, clock: float, failures: list[str]):
        """Read and judge; returns the report (before the history) and what the transitions need."""
        args, err = self.args, self.err
        sources = [self.inventory_path] + [s for s in args.inventories if s != self.inventory_path]
        name = self.inventory_path.name
        where = Location(str(self.inventory_path), 1, 1)
        try:
            inventory = load_from_args(argparse.Namespace(**{**vars(args), "inventory": None, "inventories": sources}))
            names = select(inventory, args.limit)
        except InventoryUnusable as exc:
            inventory_unusable(err, exc)
            return run_failed(started, time.monotonic() - clock, name, "the inventory cannot be used:\n" + "\n".join(exc.lines), where), None
        except LimitError as exc:
            _error(err, safe(str(exc)))
            return run_failed(started, time.monotonic() - clock, name, str(exc), where), None
        if not names and not (inventory.declares_organization and select_organization(args.limit)):
            message = f"--limit {args.limit!r} leaves no host to work on"
            _error(err, message)
            return run_failed(started, time.monotonic() - clock, name, message, where), None
        if not start_labs(inventory, err):
            return run_failed(started, time.monotonic() - clock, name, "the lab could not be started", where), None
        self.sources = list(inventory.sources or [str(p) for p in inventory.paths])
        organization = bool(inventory.declares_organization) and select_organization(args.limit)
        scopes = list(names) + ([ORG_HOST] if organization else []) + [RUN_KIND]
        prior: Prior
        hosts: dict[str, HostInfo]
        prior, hosts = {}, {}
        known: dict[str, list[tuple[str, str]]] = {}
        acks: list[history.Ack] = []
        if db is not None:
            try:
                prior, hosts = db.load(scopes)
                known = {h: db.known_objects(h) for h in names}
                acks = db.acks(started)
            except history.HistoryError as exc:
                failures.append(str(exc))
        steps = cycle.audit_steps(prior, hosts)
        desired = parse(inventory, names, organization=select_organization(args.limit))
        run, status = new_run(inventory, names, desired, args.forks, err, quiet=len(names) > 50 or args.json,
                              limit=args.limit, org_steps=steps, kinds=importing_nothing())
        try:
            if status is not None:
                with status:
                    run.read(keep_connections=False)
            else:
                run.read(keep_connections=False)
            plan = run.plan()
            host_sources = {h.name: _first_location(h, inventory.path) for h in run.hosts}
            report = build(plan, started=started, duration=time.monotonic() - clock, host_sources=host_sources, known=known,
                           inventory=name)
            log = audit.read(run.org_answer, steps)
            report = replace(report, audit_note=log.note)
            if organization and desired.organization and run.org_host is None:
                report = replace(report, items=report.items + _organisation_unchecked(desired, plan, prior))
            if args.correct:
                from .correct import correct

                acked = {i.key for i in report.items if cycle.find_ack(i.key, acks) is not None}
                report = correct(report, run, plan, inventory, [k for c in args.correct for k in c.split(",") if k], acked)
            if args.undeclared:
                from .undeclared import undeclared

                report = replace(report, undeclared=undeclared(plan, run.reads, report))
        finally:
            run.close()
        interrupted = set(run.unknown) | {n for n, sess in run.sessions.items() if sess.abandoned}
        if run.stopping.is_set():  # a signal stopped the run: what it did not read is not the servers' doing
            interrupted |= {h for h, hp in plan.hosts.items() if hp.status is not HostStatus.OK}
            interrupted |= {ORG_HOST} if run.org_host is None else set()
        if interrupted:
            report = replace(report, notes=report.notes + (f"interrupted: {', '.join(sorted(interrupted))} left unchecked "
                                                          "(not recorded in the history)",))
        now_hosts = dict(hosts)
        read_scopes: set[str] = set()
        for h, hp in plan.hosts.items():
            if h in run.carrier_only:
                continue
            if hp.status is HostStatus.OK and hp.facts is not None:
                read_scopes.add(h)
            if hp.facts is not None:
                now_hosts[h] = HostInfo(hosts.get(h, HostInfo("")).last_read, hp.facts.name, hp.facts.fqdn, hp.facts.role)
        if run.org_host is not None and organization and any(i.scope_host == ORG_HOST for i in report.items):
            read_scopes.add(ORG_HOST)
        return report, (prior, hosts, now_hosts, log, read_scopes, interrupted)

    def _finish(self, db: history.History | None, report: DriftReport, inputs, failures: list[str]) -> int:
        args, err = self.args, self.err
        report = replace(report, report_url=self._report_url())
        ended = history.now_text()
        acks: list[history.Ack] = []
        if db is not None:
            try:
                acks = db.acks(report.started)
                report = replace(report, last_run=db.last_run())
            except history.HistoryError as exc:
                failures.append(str(exc))
        if inputs is None:  # the run failed before any host: its own finding, and the run object's episode
            prior: Prior
            hosts: dict[str, HostInfo]
            prior, hosts = {}, {}
            if db is not None:
                try:
                    prior, hosts = db.load([RUN_KIND])
                except history.HistoryError:
                    pass
            now_hosts, log, read_scopes, interrupted = hosts, audit.AuditLog(), set(), set()
        else:
            prior, hosts, now_hosts, log, read_scopes, interrupted = inputs
            run_ok = replace(run_failed(report.started, 0, report.inventory, "", Location(report.inventory, 1, 1)).items[0],
                             state=DriftState.IN_SYNC)
            report = replace(report, items=report.items + (run_ok,))
        recorded = replace(report, items=tuple(i for i in report.items if i.finding.host not in interrupted)
                           + _hosts_read(report, read_scopes - interrupted))
        judged, adv = cycle.run_once(recorded, prior, now_hosts, log, acks, ended=ended, read_scopes=read_scopes - interrupted)
        by_key = {i.key: i for i in judged.items}
        report = replace(judged, items=tuple(by_key.get(i.key, i) for i in report.items if i.finding.kind != RUN_KIND or inputs is None))
        records = notify.event_records(report)
        messages = self._messages(report, records, db)
        if db is not None and not any("drift history" in f for f in failures):
            host_rows = {h: replace(now_hosts.get(h, HostInfo("")), last_read=ended) for h in read_scopes if h != RUN_KIND}
            summary = RunSummary(report.started, ended, str(self.inventory_path.resolve()), report.exit_code, report.counts(),
                                 len(report.plan.hosts), report.hosts_up(), "; ".join(report.notes))
            meta = {"digest": report.started[:10]} if any(s == "webhook" and p.get("exconf", {}).get("digest") for s, p in messages) else None
            try:
                db.write_run(summary, adv, host_rows, messages, keep_days=args.keep_days, meta=meta)
            except history.HistoryError as exc:
                failures.append(str(exc))
        delivered = None
        sinks_now = self._sinks(failures)
        if db is not None and sinks_now is not None and not any("drift history" in f for f in failures):
            try:
                delivered = outbox.deliver(db, sinks_now, history.now_text())
            except history.HistoryError as exc:
                failures.append(str(exc))
        if delivered is not None:
            report = replace(report, undelivered=delivered.undelivered)
            for failure in delivered.failures:
                _warn(err, failure + "; it stays in the outbox and is sent again on a later run")
        if failures:
            report = replace(report, notes=report.notes + tuple(failures))
        failures += self._write_reports(report, db)
        self._print(report)
        for failure in failures:
            _error(err, safe(failure))
        return EXIT_ERROR if failures else report.exit_code

    def _report_url(self) -> str:
        if self.args.report_url:
            return self.args.report_url
        if self.args.html is not None:
            return self.args.html.resolve().as_uri()
        return ""

    def _webhook_url(self, failures: list[str]) -> str:
        if self.args.notify:
            return "" if sinks.check_url(self.args.notify) else self.args.notify
        if self.args.notify_url_file is not None:
            try:
                url = self.args.notify_url_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                failures.append(f"cannot read the webhook URL from {self.args.notify_url_file}: {exc.strerror or exc}")
                return ""
            problem = sinks.check_url(url)
            if problem:
                failures.append(f"{self.args.notify_url_file}: {problem}")
                return ""
            return url
        return ""

    def _sinks(self, failures: list[str]) -> dict[str, sinks.Sink] | None:
        out: dict[str, sinks.Sink] = {}
        url = self._webhook_url(failures)
        if url:
            out["webhook"] = sinks.Webhook(url)
        if self.args.syslog:
            try:
                sinks.parse_syslog_target(self.args.syslog)
                out["syslog"] = sinks.Syslog(self.args.syslog)
            except ValueError:
                pass
        if self.args.events is not None:
            out["events"] = sinks.JsonLines(self.args.events)
        return out

    def _messages(self, report: DriftReport, records: list[dict[str, Any]], db: history.History | None) -> list[tuple[str, dict[str, Any]]]:
        """What this run puts in the outbox: per sink configured now."""
        out: list[tuple[str, dict[str, Any]]] = []
        webhook = bool(self.args.notify or self.args.notify_url_file)
        if webhook:
            msg = notify.run_message(report, records)
            if msg is not None:
                out.append(("webhook", msg))
            at = _digest_time(self.args.digest_at or "")
            if at and report.started[11:16] >= at and db is not None:
                try:
                    due = db.meta("digest") != report.started[:10]
                except history.HistoryError:
                    due = False
                if due:
                    out.append(("webhook", notify.digest(report)))
        if self.args.syslog:
            out += [("syslog", r) for r in records]
        if self.args.events is not None:
            out += [("events", r) for r in records]
        return out

    def _write_reports(self, report: DriftReport, db: history.History | None) -> list[str]:
        failures = []
        from . import html, openmetrics  # jinja2 only when an HTML report is asked for

        inventory_dir = self.inventory_path.resolve().parent
        link = _history_page(self.args.html).name if self.args.html is not None and db is not None else ""
        outputs = [(self.args.html, lambda: html.render(report, inventory_dir, history_link=link)),
                   (self.args.junit, lambda: junit.render(report)),
                   (self.args.prometheus, lambda: prometheus.render(report)),
                   (self.args.openmetrics, lambda: openmetrics.render(report))]
        if self.args.html is not None and db is not None:
            from . import history_html

            outputs.append((_history_page(self.args.html), lambda: history_html.render(db, report.started, report_link=self.args.html.name)))
        for path, render in outputs:
            if path is None:
                continue
            try:
                write_atomic(path, render())
            except OutputError as exc:
                failures.append(str(exc))
            except history.HistoryError as exc:
                failures.append(str(exc))
        return failures

    def _print(self, report: DriftReport) -> None:
        recap = {name: recap_counts(name, hp, None) for name, hp in report.plan.hosts.items()}
        if self.args.json:  # in a loop, one JSON document per line (JSON Lines)
            sources = self.sources or [str(self.inventory_path)] + [str(p) for p in self.args.inventories]
            meta = document_meta(sources, self.args.limit, timestamp=report.started)
            print(json.dumps(report.to_json(meta), indent=None if self.args.every else 2, ensure_ascii=False), flush=True)
            if recap:
                print_recap(self.err, recap)
        else:
            print_report(self.out, report)
            if recap:
                print_recap(self.out, recap)


def _organisation_unchecked(desired, plan, prior) -> tuple:
    """No Mailbox server could carry the organisation's reads: its objects are not checked (never "no drift"),
    by the names the history knows them by, else as declared."""
    from .report import traits

    why = next((w for w in plan.warnings if "organisation-wide objects" in w), "no Mailbox server could be read")
    known = sorted(k for k, o in prior.items() if k[0] == ORG_HOST and getattr(o, "state", "in_sync") != "gone")
    where = {d.kind: d.source for d in desired.organization}
    pairs = [(k[1], k[2]) for k in known] or [(d.kind, d.pattern or d.kind) for d in desired.organization]
    return tuple(DriftItem(Finding(ORG_HOST, kind, name, FindingStatus.ERROR, where.get(kind, Location("inventory", 1, 1)), message=why),
                           DriftState.ERROR, traits(kind).severity, ORG_HOST) for kind, name in pairs)


def _hosts_read(report: DriftReport, read: set[str]) -> tuple:
    """A host read is in sync as a host (recorded, not shown): its outage, if it had one, ends."""
    where = Location(report.inventory, 1, 1)
    return tuple(DriftItem(Finding(h, HOST_KIND, h, FindingStatus.IN_SYNC, where), DriftState.IN_SYNC, HOST_SEVERITY)
                 for h in sorted(read) if h not in (ORG_HOST, RUN_KIND))


def _history_page(html: Path) -> Path:
    return html.with_name(f"{html.stem}-history{html.suffix or '.html'}")


def _first_location(host: inv.Host, path: Path) -> Location:
    """Where the host is declared: its ansible_host, else its earliest source."""
    declared = host.source(("ansible_host",))
    if declared is not None:
        return declared
    if host.sources:
        return min(host.sources.values(), key=lambda loc: (loc.line, loc.column))
    return Location(str(path), 1, 1)


def print_report(console: Console, report: DriftReport) -> None:
    """Terminal text: each drifted object and error (worst first), what changed since the previous run, a verdict."""
    for warning in report.plan.warnings:
        console.print(Text("Warning: ", style="bold yellow") + Text(safe(warning)))
    for item in report.worst_first():
        f = item.finding
        head = f"{safe(item.key[0], newlines=False)}: {f.kind} {value_text(f.name)}"
        if item.state is DriftState.DRIFT:
            label = "corrected: " if item.corrected else "drift: "
            style = "bold green" if item.corrected else "bold yellow"
            console.print(Text(label, style=style) + Text(head) + Text(f"  [{item.severity}]  # {safe(f.source.file, newlines=False)}:{f.source.line}", style="dim"))
            for p in differing(f):
                expected = "(sensitive)" if p.sensitive else value_text(p.expected)
                actual = "(sensitive)" if p.sensitive else value_text(p.actual)
                console.print(Text(f"    {p.prop}: expected {expected}, actual {actual}"))
            if f.message:
                console.print(Text("    " + safe(f.message)))
            meta = f"    since {item.since}" if item.since else "    since this run"
            if item.culprit is not None:
                meta += "; " + safe(item.culprit.text(), newlines=False)
            console.print(Text(meta, style="dim"))
            if item.ack is not None:
                console.print(Text(f"    acknowledged by {safe(item.ack.owner, newlines=False)} until {item.ack.expires}: "
                                   f"{safe(item.ack.reason, newlines=False)} (not counted in the exit status)", style="cyan"))
            if item.correction:
                console.print(Text(f"    not corrected: {safe(item.correction, newlines=False)}", style="yellow"))
        elif item.state is DriftState.ERROR:
            since = f" (not checked since {item.since})" if item.since and item.since != report.started else ""
            console.print(Text("not checked: ", style="bold red") + Text(f"{head}: " + safe(f.message.splitlines()[0] if f.message else "") + since))
    for e in report.events:
        if e.type in ("drift_resolved", "no_longer_declared"):
            how = "resolved" if e.type == "drift_resolved" else "no longer declared"
            who = ""
            if e.episode.resolved_by is not None and e.episode.resolved_by.entry is not None:
                r = e.episode.resolved_by.entry
                who = f"; by {safe(r.caller, newlines=False)} with {safe(r.cmdlet, newlines=False)} at {r.when}"
            console.print(Text(f"{how}: ", style="bold green") + Text(f"{safe(e.key[0], newlines=False)}: {e.key[1]} {value_text(e.key[2])} "
                                                                     f"(drifting since {e.episode.since}{who})"))
        elif e.type == "checked_again":
            console.print(Text("checked again: ", style="bold green") + Text(f"{safe(e.key[0], newlines=False)}: {e.key[1]} {value_text(e.key[2])} "
                                                                           f"(not checked since {e.episode.since})"))
    if report.undeclared is not None:
        for u in report.undeclared:
            console.print(Text("undeclared: ", style="bold magenta") + Text(f"{safe(u.host, newlines=False)}: {u.kind} {value_text(u.name)}"
                                                                           + (f" ({safe(u.note)})" if u.note else "")))
    if report.audit_note and report.drifted:
        console.print(Text(f"note: the admin audit log: {safe(report.audit_note)}", style="dim"))
    if report.undelivered:
        oldest = min(u["created"] for u in report.undelivered)
        console.print(Text(f"undelivered: {plural(len(report.undelivered), 'message')} still in the outbox (oldest {oldest}); "
                           f"sent again on the next runs", style="bold yellow"))
    c = report.counts()
    line = f"Drift: {plural(c['drift'], 'object')} drifted, {plural(c['error'], 'not checked', 'not checked')}, {c['in_sync']} in sync"
    if c["acknowledged"]:
        line += f", {c['acknowledged']} acknowledged"
    if c["corrected"]:
        line += f", {c['corrected']} corrected"
    line += f" on {plural(len(report.plan.hosts), 'host')} ({report.hosts_up()} read)."
    style = "bold red" if report.errors else "bold yellow" if report.exit_code == 2 else "bold green"
    console.print(Text(line, style=style))


def importing_nothing() -> tuple[Kind, ...]:
    """The kinds, with the certificate kind told that this command imports no PFX: a PFX password that is not at
    hand (a scheduled drift has no terminal) is not needed to tell what drifted."""
    return tuple(replace(k, opens_pfx=False) if isinstance(k, CertificateKind) else k for k in KINDS)
