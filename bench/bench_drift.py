"""Drift benchmark (issue 10): a drift run against 200 lab servers (the history at 1,000 servers × 20 objects over
90 days is bench_drift_history.py).

Prints, for the drift run (at --forks 50; the lab in its own process on 127.69.0.0/16, every
host drifting on one property changed out of band, so the audit log is searched and matched):
wall time, WS-Management requests per host at the busiest host, controller and lab CPU per
host, and the history/report cost inside it.

    .venv/bin/python bench/bench_drift.py            # 200 servers
    .venv/bin/python bench/bench_drift.py 50         # another server count

Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_scale import measure, write_lab  # noqa: E402

import bench_scale  # noqa: E402
import benchargs

from exconf.lab import runtime  # noqa: E402

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


def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="exconf-bench-drift-") as tmp:
        os.environ["EXCONF_RUNTIME_DIR"] = str(Path(tmp) / "run")
        drift_run(n, Path(tmp))


if __name__ == "__main__":
    with benchargs.lab_errors():
        main(benchargs.sizes(__doc__, (200,), most=1)[0])
