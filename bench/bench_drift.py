"""Drift benchmark (issue 10): a drift run against 200 lab servers, and writing the history of
1,000 hosts × 20 findings.

Prints, for the drift run (at --forks 50; the lab in its own process on 127.69.0.0/16, every
host drifting on one property changed out of band, so the audit log is searched and matched):
wall time, WS-Management requests per host at the busiest host, controller and lab CPU per
host, and the history/report cost inside it. For the history: the time to look up the previous
states and to write one run of 20,000 findings (one transaction), over successive runs, and the
database's size as runs accumulate.

    .venv/bin/python bench/bench_drift.py            # 200 servers; 1,000 × 20 history
    .venv/bin/python bench/bench_drift.py 50         # another server count

Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_scale import measure, write_lab  # noqa: E402

import bench_scale  # noqa: E402
from exconf.drift import history  # noqa: E402
from exconf.drift.report import DriftItem, DriftReport, DriftState, with_history  # noqa: E402
from exconf.lab import runtime  # noqa: E402
from exconf.model import Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan  # noqa: E402
from exconf.yamlsource import Location  # noqa: E402

FORKS = 50


def drift_run(n: int, tmp: Path) -> None:
    bench_scale.address = lambda i: f"127.69.{i // 250}.{i % 250 + 1}"  # this checkout's loopback range
    folder = tmp / f"n{n}"
    folder.mkdir()
    org, inv = write_lab(folder, n)
    lab = runtime.ensure_running(org, folder / ".lab" / "state.json", timeout=300)
    exconf = [sys.executable, "-m", "exconf"]
    try:
        apply, _, _ = measure(lab, [*exconf, "apply", str(inv), "--forks", str(FORKS), "--auto-approve"])
        assert apply.code == 0, "the bench lab did not converge"
        from exconf.lab.runtime import client

        for i in range(n):  # an out-of-band change on every server: every host drifts
            client.exec_on(f"EX{i:03d}", "Set-ReceiveConnector",
                           {"Identity": f"EX{i:03d}\\Default EX{i:03d}", "ProtocolLoggingLevel": "None"}, lab_file=org)
        print(f"{'servers':>7} {'run':>12} {'exit':>4} {'wall s':>7} {'req/host':>8} {'ctl CPU ms/host':>15} {'lab CPU ms/host':>15}")
        for label, extra in (("drift", []), ("drift+reports", ["--html", str(folder / "d.html"), "--junit", str(folder / "d.xml"),
                                                                  "--prometheus", str(folder / "d.prom")])):
            run, per_host, lab_cpu = measure(lab, [*exconf, "drift", str(inv), "--forks", str(FORKS), *extra])
            print(f"{n:>7} {label:>12} {run.code:>4} {run.wall:>7.2f} {per_host:>8} {1000 * run.cpu / n:>15.1f} "
                  f"{1000 * sum(lab_cpu) / n:>15.1f}", flush=True)
    finally:
        runtime.stop(lab, timeout=120)


def synthetic(hosts: int, per_host: int, at: datetime, drifting: int) -> DriftReport:
    where = Location("inventory.yaml", 10, 5)
    items = []
    for h in range(hosts):
        for f in range(per_host):
            drift = (h + f) % per_host < drifting
            props = (FindingProperty("protocol_logging_level", "Verbose", "None", where),) if drift else ()
            finding = Finding(f"ex{h:04d}.bench.lab", "receive_connector", f"Connector {f:02d}",
                              FindingStatus.CHANGE if drift else FindingStatus.IN_SYNC, where, props)
            items.append(DriftItem(finding, DriftState.DRIFT if drift else DriftState.IN_SYNC))
    plan = Plan(hosts={f"ex{h:04d}.bench.lab": HostPlan(f"ex{h:04d}.bench.lab", HostStatus.OK, None, ()) for h in range(hosts)})
    return DriftReport(plan, tuple(items), history.now_text(at), 10.0)


def history_writes(tmp: Path, hosts: int = 1000, per_host: int = 20, runs: int = 5) -> None:
    path = tmp / "bench.drift.sqlite"
    names = [f"ex{h:04d}.bench.lab" for h in range(hosts)]
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    print(f"\nhistory: {hosts} hosts × {per_host} findings = {hosts * per_host} rows per run")
    print(f"{'run':>4} {'previous s':>10} {'write s':>8} {'db MB':>7}")
    for r in range(runs):
        report = synthetic(hosts, per_host, start + timedelta(minutes=15 * r), drifting=1 + r % 3)
        with history.History(path) as db:
            t0 = time.perf_counter()
            previous = db.previous(names)
            since, resolved, appeared = history.transitions(report.items, previous, report.started)
            report = with_history(report, since, resolved, appeared)
            t1 = time.perf_counter()
            db.record(report, path, keep_days=90)
            t2 = time.perf_counter()
        size = sum(p.stat().st_size for p in tmp.glob("bench.drift.sqlite*")) / 1e6
        print(f"{r + 1:>4} {t1 - t0:>10.3f} {t2 - t1:>8.3f} {size:>7.1f}", flush=True)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="exconf-bench-drift-") as tmp:
        os.environ["EXCONF_RUNTIME_DIR"] = str(Path(tmp) / "run")
        drift_run(n, Path(tmp))
        history_writes(Path(tmp))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
