"""SSH benchmark: round trips per host for exconf plan and apply against N lab Edges reached over SSH (issue 22).

Each Edge serves Windows OpenSSH (the lab's sshd, DefaultShell powershell.exe) and declares its Transport
service and its receive connector; exconf reaches it with ``ansible_connection: ssh`` (paramiko), host keys
checked against the lab's published known_hosts. Printed, for plan and apply: the exit code, the wall time,
and per host, from the lab's own counters (`lab stats`, endpoint ``ssh``): round trips the client waited for
(docs/ssh.md: the handshake's 3, the service request, each logon attempt, each channel, each exec request
and each command's answer) as min / median / max over every host, and the connections, channels and bytes.

    .venv/bin/python bench/bench_ssh.py            # 10 and 200 Edges
    .venv/bin/python bench/bench_ssh.py 10 50      # chosen sizes

The lab runs in its own process on 127.<EXCONF_TEST_NET, default 64>.0.0/16. Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchargs

import yaml

from exconf.lab import runtime

PASSWORD = "Bench-EdgeAdmin-1"
SIZES = (10, 200)
FORKS = 50
SSH_PORT = 2222  # the lab's sshd (Windows: 22, which needs root here)
NET = int(os.environ.get("EXCONF_TEST_NET", "64"))
KEYS = ("requests", "connections", "channels", "commands", "bytes_in", "bytes_out")


def address(i: int) -> str:
    return f"127.{NET}.{i // 250}.{i % 250 + 1}"


def write_lab(folder: Path, n: int) -> tuple[Path, Path]:
    servers = [{"name": f"EDGE{i:03d}", "role": "Edge", "site": "Amsterdam", "address": address(i),
                "local_accounts": [{"user": "Administrator", "password": PASSWORD}],
                "ssh": {"port": SSH_PORT, "default_shell": "powershell"}} for i in range(n)]
    org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"}, "servers": servers}
    org_file = folder / "bench-org.yaml"
    org_file.write_text(yaml.safe_dump(org, sort_keys=False))
    hosts = {f"edge{i:03d}.dmz.bench.lab": {"ansible_host": address(i), "ansible_user": f"EDGE{i:03d}\\Administrator"} for i in range(n)}
    inventory = {
        "all": {
            "vars": {
                "exconf_role": "Edge",
                "ansible_connection": "ssh",
                "ansible_shell_type": "powershell",
                "ansible_port": SSH_PORT,
                "ansible_password": PASSWORD,
                "ansible_ssh_common_args": "-o UserKnownHostsFile=.lab/ssh_known_hosts",
                "exchange": {
                    "transport_service": {"intra_org_connector_protocol_logging_level": "Verbose", "send_protocol_log_max_age": "14.00:00:00"},
                    "receive_connectors": {"Default internal receive connector {server}": {"protocol_logging_level": "Verbose"}},
                },
            },
            "hosts": hosts,
        }
    }
    inv_file = folder / "bench.yaml"
    inv_file.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return org_file, inv_file


def ssh_counters(lab: runtime.RunningLab) -> dict[str, dict[str, int]]:
    return {name: s["endpoints"]["ssh"] for name, s in runtime.stats(lab)["servers"].items()}


def spread(values: list[int]) -> str:
    return f"{min(values)}/{statistics.median(values):g}/{max(values)}"


def main(sizes: tuple[int, ...]) -> None:
    exconf = [sys.executable, "-m", "exconf"]
    print(f"{'edges':>5} {'command':>7} {'exit':>4} {'wall s':>7} {'round trips/host min/med/max':>29} "
          f"{'conn/host':>9} {'chan/host':>9} {'KB in/host':>10} {'KB out/host':>11}", flush=True)
    with tempfile.TemporaryDirectory(prefix="exconf-bench-ssh-") as tmp:
        os.environ["EXCONF_RUNTIME_DIR"] = str(Path(tmp) / "run")
        for n in sizes:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            org, inv = write_lab(folder, n)
            lab = runtime.ensure_running(org, folder / ".lab" / "state.json", timeout=300)
            try:
                # The first plan meets a fresh lab: each Edge's objects are made on first use, its self-signed
                # certificate's RSA key included (lab/exchange/certificate_store.py), whatever the door. The second
                # plan is the one to compare with apply.
                for command, extra in (("plan", []), ("plan", []), ("apply", ["--auto-approve"])):
                    before = ssh_counters(lab)
                    start = time.perf_counter()
                    done = subprocess.run([*exconf, command, str(inv), "--forks", str(FORKS), *extra], capture_output=True, text=True)
                    wall = time.perf_counter() - start
                    if done.returncode not in (0, 2):
                        print(done.stdout[-1500:], done.stderr[-1500:], file=sys.stderr)
                    after = ssh_counters(lab)
                    delta = {name: {k: after[name][k] - before[name][k] for k in KEYS} for name in after}
                    per = {k: [d[k] for d in delta.values()] for k in KEYS}
                    print(f"{n:>5} {command:>7} {done.returncode:>4} {wall:>7.2f} {spread(per['requests']):>29} "
                          f"{spread(per['connections']):>9} {spread(per['channels']):>9} "
                          f"{statistics.mean(per['bytes_in']) / 1024:>10.1f} {statistics.mean(per['bytes_out']) / 1024:>11.1f}", flush=True)
            finally:
                runtime.stop(lab, timeout=120)


if __name__ == "__main__":
    with benchargs.lab_errors():
        main(benchargs.sizes(__doc__, SIZES, what="edges"))
