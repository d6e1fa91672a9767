"""Scale benchmark: exconf plan and apply against 10, 200 and 1,000 lab servers (issue 11).

Prints, for each size and door (at --forks 50): plan and apply wall time, WS-Management
requests per host (the lab's own counters, the busiest host; beside it the budget of the
door: exconf's program over WinRM 7 plan / 11 apply, Exchange remote PowerShell 8 plan /
8 + 2 per change apply, docs/remote-powershell.md), controller and lab
CPU per host (user + system of the exconf process, and of the lab process read
from /proc while it runs), and the controller's open file descriptors at peak
(sampled from /proc/<pid>/fd every 20 ms while the command runs).

    .venv/bin/python bench/bench_scale.py            # 10, 200, 1000 servers
    .venv/bin/python bench/bench_scale.py 10 50      # chosen sizes
    .venv/bin/python bench/bench_scale.py --door psrp 10   # one door (psrp: remote PowerShell, winrm: the program)

The lab runs in its own process on 127.63.0.0/16. Nothing here asserts on time: it measures.

The program's door to a Mailbox server needs a delegated Kerberos ticket (the double hop,
docs/kerberos.md), so the winrm door runs with an MIT KDC of its own (exconf.lab.kdc: 127.63.250.1,
a principal per server) and is left out, saying why, where the KDC tools or gssapi are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from exconf.lab import kdc as labkdc
from exconf.lab import runtime

PASSWORD = "Bench-Passw0rd"
SIZES = (10, 200, 1000)
FORKS = 50
DOORS = ("psrp", "winrm")
IIS_PORT = 8080  # the lab's IIS (Exchange: 80), so the bench needs no root


def address(i: int) -> str:
    return f"127.63.{i // 250}.{i % 250 + 1}"


def start_kdc(folder: Path, n: int) -> labkdc.LabKDC:
    """The bench domain's KDC: exadmin, and HTTP/<fqdn> with a keytab per server."""
    kdc = labkdc.LabKDC(folder / "kdc", "BENCH.LAB", "127.63.250.1").create()
    kdc.add_user("exadmin", PASSWORD)
    kdc.add_services([(f"ex{i:03d}.bench.lab", (f"ex{i:03d}",)) for i in range(n)])
    return kdc.start()


def write_lab(folder: Path, n: int, door: str, kdc: labkdc.LabKDC | None = None) -> tuple[Path, Path]:
    servers = [{"name": f"EX{i:03d}", "role": "Mailbox", "site": "Amsterdam", "address": address(i),
                "iis": {"http_port": IIS_PORT, "https_port": IIS_PORT + 363},
                "powershell_virtual_directory": {"windows_authentication": True}} for i in range(n)]
    org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"}, "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}
    if kdc is not None:
        org["kerberos"] = {"keytabs": str(kdc.keytab_dir)}
    # The psrp door logs on with NTLM (its virtual directories allow Windows authentication); the
    # winrm door with Kerberos and a delegated ticket, as its program on a Mailbox server needs.
    door_vars = ({"ansible_psrp_port": IIS_PORT} if door == "psrp" else
                 {"ansible_connection": "winrm", "ansible_winrm_transport": "kerberos",
                  "ansible_winrm_kerberos_delegation": True, "ansible_user": "exadmin@bench.lab"})
    org_file = folder / "bench-org.yaml"
    org_file.write_text(yaml.safe_dump(org, sort_keys=False))
    hosts = {f"ex{i:03d}.bench.lab": {"ansible_host": address(i)} for i in range(n)}
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "BENCH\\exadmin",
                "ansible_password": PASSWORD,
                **door_vars,
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


@dataclass
class Run:
    code: int
    wall: float
    cpu: float  # seconds of the exconf process
    peak_fds: int  # open descriptors of the exconf process at peak (sockets, mostly)


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a running process (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def timed(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run exconf as a child, sampling its open descriptors until it exits."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], len(os.listdir(f"/proc/{proc.pid}/fd")))
            except OSError:
                pass
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    cpu = _child_cpu()
    if proc.returncode not in (0, 2):
        print(stderr[-2000:], file=sys.stderr)
    return Run(proc.returncode, wall, cpu, peak[0])


_SEEN = [0.0]


def _child_cpu() -> float:
    """CPU of children reaped since the last call (resource.RUSAGE_CHILDREN accumulates)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    delta, _SEEN[0] = total - _SEEN[0], total
    return delta


def measure(lab: runtime.RunningLab, argv: list[str], env: dict[str, str] | None = None) -> tuple[Run, int, tuple[float, float]]:
    """(the run, requests per host at the busiest host, lab (user, system) CPU seconds)."""
    before, lab_before = requests_total(lab), process_cpu(lab.pid)
    run = timed(argv, env)
    lab_after = process_cpu(lab.pid)
    lab_cpu = (lab_after[0] - lab_before[0], lab_after[1] - lab_before[1])
    after = requests_total(lab)
    return run, max(after[k] - before.get(k, 0) for k in after), lab_cpu


def budget(door: str, command: str) -> str:
    """Requests per host the door is designed for (docs/remote-powershell.md, docs/remote-contract.md).
    On a fresh lab the busiest host (the organisation's) makes 3 changes: its transport service, its
    "Default" receive connector and the transport config ("Default Frontend" logs verbosely already)."""
    if door == "winrm":
        return "7" if command == "plan" else "11"  # Kerberos: one request fewer than NTLM to log on
    return "8" if command == "plan" else "8+2/change"


def main(sizes: tuple[int, ...], doors: tuple[str, ...] = DOORS) -> None:
    exconf = [sys.executable, "-m", "exconf"]
    print(f"{'servers':>7} {'door':>5} {'command':>7} {'forks':>5} {'exit':>4} {'wall s':>7} {'req/host':>8} {'budget':>10} "
          f"{'ctl CPU ms/host':>15} {'lab CPU ms/host':>15} {'(of which sys)':>14} {'peak fds':>8}", flush=True)
    with tempfile.TemporaryDirectory(prefix="exconf-bench-") as tmp:
        os.environ["EXCONF_RUNTIME_DIR"] = str(Path(tmp) / "run")
        _child_cpu()
        for n in sizes:
            for door in doors:
                if door == "winrm" and labkdc.missing():
                    print(f"{n:>7} {door:>5} left out: {labkdc.missing()}", flush=True)
                    continue
                folder = Path(tmp) / f"n{n}-{door}"
                folder.mkdir()
                kdc = start_kdc(folder, n) if door == "winrm" else None
                org, inv = write_lab(folder, n, door, kdc)
                lab = runtime.ensure_running(org, folder / ".lab" / "state.json", timeout=300)
                _child_cpu()
                try:
                    for command, extra in (("plan", []), ("apply", ["--auto-approve"])):
                        run, per_host, lab_cpu = measure(lab, [*exconf, command, str(inv), "--forks", str(FORKS), *extra],
                                                         kdc.env() if kdc else None)
                        print(f"{n:>7} {door:>5} {command:>7} {FORKS:>5} {run.code:>4} {run.wall:>7.2f} {per_host:>8} "
                              f"{budget(door, command):>10} {1000 * run.cpu / n:>15.1f} {1000 * sum(lab_cpu) / n:>15.1f} "
                              f"{1000 * lab_cpu[1] / n:>14.1f} {run.peak_fds:>8}", flush=True)
                finally:
                    runtime.stop(lab, timeout=120)
                    if kdc is not None:
                        kdc.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = DOORS
    if args[:1] == ["--door"]:
        chosen, args = (args[1],), args[2:]
    main(tuple(int(a) for a in args) or SIZES, chosen)
