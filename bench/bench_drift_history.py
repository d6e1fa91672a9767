"""Drift history bench (issue 18): 1,000 servers × 20 objects, a run every 15 minutes for 90 days (8,640 runs),
through the code a real run uses between the read and the outputs — the history's load, the transitions
(episodes.advance), the culprits, the events and one write transaction per run (cycle.run_once,
History.write_run) — then the size of the database and the time of every ``drift history`` query.

Churn (pessimistic for an organisation of that size; change it with the options): each run ``--flips`` (10)
objects start drifting and each drifting object is put back with probability ``--resolve`` (5 %, so a drift
lasts 5 hours on average and about 200 objects drift at any time): 960 drift episodes a day; each day 10 hosts
are down for an hour (4 runs); one object in 1,000 cannot be read, for one run, every run (20 not-checked
episodes a run); one run a week cannot start (a broken inventory). Every event goes to the outbox of a
webhook and of syslog, and is delivered.

    .venv/bin/python bench/bench_drift_history.py                 # 1,000 × 20, 8,640 runs (about 10–20 min)
    .venv/bin/python bench/bench_drift_history.py --runs 960      # 10 days

Nothing here asserts on time: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from exconf.drift import cycle, history, notify
from exconf.drift.audit import AuditLog
from exconf.drift.history import HostInfo, RunSummary
from exconf.drift.report import HOST_KIND, RUN_KIND, DriftItem, DriftReport, DriftState
from exconf.model import Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan
from exconf.yamlsource import Location

T0 = datetime(2026, 9, 1, tzinfo=timezone.utc)
WHERE = Location("group_vars/mailbox.yaml", 14, 9)
KINDS = ("receive_connector", "transport_service", "frontend_transport_service", "exchange_certificate")


class Objects:
    """Every object's three possible findings, built once (a real run builds them from the read)."""

    def __init__(self, hosts: int, per_host: int):
        self.hosts = [f"ex{h:04d}.contoso.lab" for h in range(hosts)]
        self.items: list[tuple[DriftItem, DriftItem, DriftItem]] = []
        for h in self.hosts:
            for n in range(per_host):
                kind = KINDS[n % len(KINDS)]
                name = f"Connector {n:02d} {h[:6].upper()}"
                prop = (FindingProperty("protocol_logging_level", "Verbose", "None", WHERE),)
                self.items.append((
                    DriftItem(Finding(h, kind, name, FindingStatus.IN_SYNC, WHERE), DriftState.IN_SYNC, "low"),
                    DriftItem(Finding(h, kind, name, FindingStatus.CHANGE, WHERE, prop), DriftState.DRIFT, "low", params=("ProtocolLoggingLevel",)),
                    DriftItem(Finding(h, kind, name, FindingStatus.ERROR, WHERE, message="Get-ReceiveConnector failed: timeout"), DriftState.ERROR, "low"),
                ))
        self.per_host = per_host
        self.ok_plan = {h: HostPlan(h, HostStatus.OK, None, ()) for h in self.hosts}


def simulate(path: Path, hosts: int, per_host: int, runs: int, every: int, flips: int, resolve: float = 0.05,
             seed: int = 18) -> dict[str, float]:
    rng = random.Random(seed)
    objs = Objects(hosts, per_host)
    state = [0] * len(objs.items)  # 0 in sync, 1 drift, 2 error
    drifting: set[int] = set()
    down_until: dict[int, int] = {}
    timings = {"load": 0.0, "judge": 0.0, "write": 0.0, "deliver": 0.0}
    worst = {"load": 0.0, "judge": 0.0, "write": 0.0}
    events = 0
    with history.History(path) as db:
        for run in range(runs):
            at = T0 + timedelta(minutes=every * run)
            started, ended = history.now_text(at), history.now_text(at + timedelta(seconds=40))
            for i in [i for i in drifting if rng.random() < resolve]:  # put back: a drift lasts 1/resolve runs on average
                state[i] = 0
                drifting.discard(i)
            for _ in range(flips):  # new drift
                i = rng.randrange(len(state))
                state[i] = 1
                drifting.add(i)
            if run % 96 == 0:
                for h in rng.sample(range(hosts), 10):
                    down_until[h] = run + 4
            failing = {rng.randrange(len(state)) for _ in range(len(state) // 1000)}
            inventory_broken = run % 672 == 300
            t = time.perf_counter()
            if inventory_broken:
                scopes = [RUN_KIND]
            else:
                scopes = objs.hosts + [RUN_KIND]
            prior, host_info = db.load(scopes)
            timings["load"] += (dt := time.perf_counter() - t)
            worst["load"] = max(worst["load"], dt)
            t = time.perf_counter()
            items: list[DriftItem] = []
            plan_hosts = dict(objs.ok_plan)
            read = set()
            if inventory_broken:
                from exconf.drift.report import run_failed

                report = run_failed(started, 1.0, "prod.yaml", "the inventory cannot be used: prod.yaml:3:1: bad", WHERE)
            else:
                for h, name in enumerate(objs.hosts):
                    if down_until.get(h, -1) > run:
                        plan_hosts[name] = HostPlan(name, HostStatus.UNREACHABLE, None, (), error="cannot connect")
                        items.append(DriftItem(Finding(name, HOST_KIND, name, FindingStatus.ERROR, WHERE, message="unreachable: cannot connect"),
                                               DriftState.ERROR, "high"))
                        items += [objs.items[h * per_host + n][2] for n in range(per_host)]
                        continue
                    read.add(name)
                    items.append(DriftItem(Finding(name, HOST_KIND, name, FindingStatus.IN_SYNC, WHERE), DriftState.IN_SYNC, "high"))
                    for n in range(per_host):
                        i = h * per_host + n
                        items.append(objs.items[i][2 if i in failing else state[i]])
                items.append(DriftItem(Finding(RUN_KIND, RUN_KIND, "prod.yaml", FindingStatus.IN_SYNC, WHERE), DriftState.IN_SYNC, "critical"))
                report = DriftReport(Plan(hosts=plan_hosts), tuple(items), started, 40.0, inventory="prod.yaml")
            judged, adv = cycle.run_once(report, prior, host_info, AuditLog(searched=True, after=history.now_text(T0)), [],
                                         ended=ended, read_scopes=read | ({RUN_KIND} if not inventory_broken else set()))
            records = notify.event_records(judged)
            messages = [("syslog", r) for r in records]
            if (msg := notify.run_message(judged, records)) is not None:
                messages.append(("webhook", msg))
            events += len(records)
            timings["judge"] += (dt := time.perf_counter() - t)
            worst["judge"] = max(worst["judge"], dt)
            t = time.perf_counter()
            db.write_run(RunSummary(started, ended, "prod.yaml", judged.exit_code, judged.counts(), hosts, len(read)), adv,
                         {h: HostInfo(ended, h[:6].upper(), h, "Mailbox") for h in read}, messages)
            timings["write"] += (dt := time.perf_counter() - t)
            worst["write"] = max(worst["write"], dt)
            t = time.perf_counter()
            db.settle([i.id for i in db.pending()], [])  # delivered
            timings["deliver"] += time.perf_counter() - t
            if (run + 1) % 960 == 0:
                print(f"  run {run + 1:>5}: {path.stat().st_size / 1e6:6.1f} MB, {events} events so far", flush=True)
        db.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings |= {f"worst_{k}": v for k, v in worst.items()}
    timings["events"] = events
    return timings


def queries(path: Path, now: str) -> list[tuple[str, float, int]]:
    """Every ``drift history`` an operator runs, timed end to end (database, text or JSON), as of the last run."""
    import argparse
    import contextlib
    import io

    from rich.console import Console

    from exconf.drift import history_html
    from exconf.drift.historycli import history_main

    moment = history.parse_time(now)
    back = {span: history.now_text(moment - timedelta(days=days)) for span, days in (("1d", 1), ("7d", 7), ("90d", 90))}
    out = []
    for label, options in (("--since 1d", {"since": back["1d"]}), ("--since 7d (the default)", {"since": back["7d"]}),
                           ("--since 90d", {"since": back["90d"]}), ("--since 7d --host 'ex00*'", {"since": back["7d"], "host": "ex00*"}),
                           ("--since 90d --host 'ex0042*,!ex00420'", {"since": back["90d"], "host": "ex0042*,!ex00420"}),
                           ("--since 7d --json", {"since": back["7d"], "json": True}),
                           ("--since 1d --json --max 0 (every episode)", {"since": back["1d"], "json": True, "max": 0}),
                           ("--since 7d --json --max 0 (every episode)", {"since": back["7d"], "json": True, "max": 0})):
        args = argparse.Namespace(history=path, since=None, host=None, json=False, html=None, max=200)
        for k, v in options.items():
            setattr(args, k, v)
        sink = Console(file=io.StringIO(), width=200)
        printed = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(printed):
            history_main(args, None, sink, sink)
        out.append((f"drift history {label}", time.perf_counter() - t, (sink.file.getvalue() + printed.getvalue()).count("\n")))
    with history.History(path) as db:
        t = time.perf_counter()
        page = history_html.render(db, now)
        out.append((f"the HTML history page (7 days, {len(page) // 1024} KiB)", time.perf_counter() - t, 0))
        t = time.perf_counter()
        db.load([f"ex{h:04d}.contoso.lab" for h in range(1000)])
        out.append(("a run's load of 20,000 objects", time.perf_counter() - t, 0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--runs", type=int, default=8640)
    parser.add_argument("--every", type=int, default=15, help="minutes between runs")
    parser.add_argument("--flips", type=int, default=10, help="objects that start drifting each run")
    parser.add_argument("--resolve", type=float, default=0.05, help="chance that a drifting object is put back in a run")
    parser.add_argument("--keep", type=Path, metavar="FILE", help="keep the database there (to query it again: --query FILE)")
    parser.add_argument("--query", type=Path, metavar="FILE", help="only measure the queries on an existing database")
    args = parser.parse_args()
    if args.query is not None:
        with history.History(args.query) as db:
            last = db.last_run()
        print(f"drift history queries on {args.query} ({args.query.stat().st_size / 1e6:.1f} MB):")
        for label, seconds, count in queries(args.query, last["ended"] if last else history.now_text()):
            print(f"  {label:<56} {1000 * seconds:8.1f} ms  {count:>8} lines")
        return
    with tempfile.TemporaryDirectory(prefix="exconf-history-bench-") as tmp:
        path = Path(tmp) / "prod.drift.sqlite"
        print(f"history: {args.hosts} hosts × {args.objects} objects, {args.runs} runs every {args.every} min, "
              f"{args.flips} new drifts a run, each put back with p={args.resolve} a run")
        t = time.perf_counter()
        figures = simulate(path, args.hosts, args.objects, args.runs, args.every, args.flips, args.resolve)
        wall = time.perf_counter() - t
        size = path.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("prod.drift.sqlite-*"))
        with sqlite3.connect(path) as conn:
            rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "objects", "episodes", "hosts", "outbox")}
        n = args.runs
        print(f"\ndatabase after {n} runs: {size / 1e6:.1f} MB ({size / n / 1024:.1f} KiB a run); rows: {rows}; {int(figures['events'])} events")
        print(f"per run (mean / worst): load {1000 * figures['load'] / n:.0f} / {1000 * figures['worst_load']:.0f} ms, "
              f"transitions and culprits {1000 * figures['judge'] / n:.0f} / {1000 * figures['worst_judge']:.0f} ms, "
              f"write {1000 * figures['write'] / n:.0f} / {1000 * figures['worst_write']:.0f} ms; wall {wall:.0f} s")
        now = history.now_text(T0 + timedelta(minutes=args.every * n))
        print("\ndrift history queries:")
        for label, seconds, count in queries(path, now):
            print(f"  {label:<56} {1000 * seconds:8.1f} ms  {count:>8} lines")
        if args.keep is not None:
            import shutil

            shutil.copyfile(path, args.keep)
        print(f"\n(pid {os.getpid()}, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version})")


if __name__ == "__main__":
    main()
