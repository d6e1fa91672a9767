"""Scale benchmark: exconf plan (and one apply) against 10, 50 and 200 lab servers.

Prints, for each size and --forks 1, 10 and 50: WS-Management requests per
host (from the lab's own counters), wall time, and controller CPU time per
host (user + system of the exconf process; the lab runs in another process).

    .venv/bin/python bench/bench_scale.py            # 10, 50, 200 servers
    .venv/bin/python bench/bench_scale.py 10 50      # chosen sizes

Traffic goes only to 127.0.0.0/8. Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from exconf.lab import runtime

PASSWORD = "Bench-Passw0rd"
SIZES = (10, 50, 200)
FORKS = (1, 10, 50)


def address(i: int) -> str:
    return f"127.61.{i // 250}.{i % 250 + 1}"


def write_lab(folder: Path, n: int) -> tuple[Path, Path]:
    servers = [{"name": f"EX{i:03d}", "role": "Mailbox", "site": "Amsterdam", "address": address(i)} for i in range(n)]
    org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"}, "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}
    org_file = folder / "bench-org.yaml"
    org_file.write_text(yaml.safe_dump(org, sort_keys=False))
    hosts = {f"ex{i:03d}.bench.lab": {"ansible_host": address(i)} for i in range(n)}
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "BENCH\\exadmin",
                "ansible_password": PASSWORD,
                "exchange_organization": {"transport_config": {"tls_send_domain_secure_list": ["fabrikam.com"]}},
                "exchange": {
                    "transport_service": {"intra_org_connector_protocol_logging_level": "Verbose", "send_protocol_log_max_age": "14.00:00:00"},
                    "frontend_transport_service": {"intra_org_connector_protocol_logging_level": "Verbose"},
                    "receive_connectors": {"Default {server}": {"protocol_logging_level": "Verbose"}, "Default Frontend {server}": {"protocol_logging_level": "Verbose"}},
                },
            },
            "hosts": hosts,
        }
    }
    inv_file = folder / "bench.yaml"
    inv_file.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return org_file, inv_file


def requests_total(lab: runtime.RunningLab) -> dict[str, int]:
    return {name: s["requests"] for name, s in runtime.stats(lab)["servers"].items()}


def timed(argv: list[str]) -> tuple[int, float, float]:
    """(exit code, wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 2):
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode, wall, cpu


def main(sizes: tuple[int, ...]) -> None:
    exconf = [sys.executable, "-m", "exconf"]
    print(f"{'servers':>7} {'command':>7} {'forks':>5} {'req/host':>8} {'wall s':>8} {'hosts/s':>8} {'CPU ms/host':>11}")
    with tempfile.TemporaryDirectory(prefix="exconf-bench-") as tmp:
        os.environ["EXCONF_RUNTIME_DIR"] = str(Path(tmp) / "run")
        for n in sizes:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            org, inv = write_lab(folder, n)
            lab = runtime.ensure_running(org, folder / ".lab" / "state.json", timeout=60)
            try:
                for forks in FORKS:
                    before = requests_total(lab)
                    code, wall, cpu = timed([*exconf, "plan", str(inv), "--forks", str(forks)])
                    after = requests_total(lab)
                    per_host = max(after[k] - before[k] for k in after)
                    print(f"{n:>7} {'plan':>7} {forks:>5} {per_host:>8} {wall:>8.2f} {n / wall:>8.1f} {1000 * cpu / n:>11.1f}  (exit {code})", flush=True)
                before = requests_total(lab)
                code, wall, cpu = timed([*exconf, "apply", str(inv), "--forks", "10", "--auto-approve"])
                after = requests_total(lab)
                per_host = max(after[k] - before[k] for k in after)
                print(f"{n:>7} {'apply':>7} {10:>5} {per_host:>8} {wall:>8.2f} {n / wall:>8.1f} {1000 * cpu / n:>11.1f}  (exit {code})", flush=True)
            finally:
                runtime.stop(lab)


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
