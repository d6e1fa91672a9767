"""Controller CPU per WS-Man request: pywinrm's own session set-up against exconf's transport.

Serves N lab Edge servers in this process (on 127.62.0.0/16; the program's door, reached with NTLM as
an Edge's local administrator: a Mailbox server's program needs a delegated Kerberos ticket, the double
hop, docs/kerberos.md) and runs, host after
host in one controller thread, what a plan does on each (authenticate, open a
shell, run the read command, delete the shell: 7 requests, NTLM's first token on the first request). The controller's
CPU is that thread's own CPU time (``time.thread_time``), so the lab's threads
in the same process are not counted. Variants:

  before      pywinrm builds its session: proxy settings merged from the
              environment (os.environ["no_proxy"] set and deleted, psf/requests#4997),
              the password given as is (pyspnego computes the unused LM hash)
  trust_env   exconf's session (trust_env = False, built once), password as is
  after       exconf's transport as shipped: also the NTLMv2 key in hash form (no DES)
  shared_wd   the same with one deadline watchdog for all hosts (as a runner would pass it)

    .venv/bin/python bench/bench_transport.py          # 40 servers, 5 rounds
    .venv/bin/python bench/bench_transport.py 100 3    # servers, rounds

Nothing here asserts on time: it prints figures (medians over the rounds).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import benchargs

import yaml
from winrm.protocol import Protocol

from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer
from exconf.remote import Step, command_line, encode_stdin
from exconf.transport import ConnectionSettings
from exconf.transport.watchdog import Watchdog
from exconf.transport.winrm import WinRMTransport

PASSWORD = "Bench-Passw0rd"
STDIN = encode_stdin([Step("get", "Get-TransportService", {}, select=("Name",))])


def address(i: int) -> str:
    return f"127.62.{i // 250}.{i % 250 + 1}"


def settings(i: int) -> ConnectionSettings:
    return ConnectionSettings(
        host=address(i), port=5985, scheme="http", path="/wsman", auth="ntlm", user=f"EX{i:03d}\\Administrator", password=PASSWORD,
        cert_validation=True, ca_trust_path=None, message_encryption="auto", operation_timeout=20, read_timeout=30,
    )


def before(i: int) -> None:
    """The walking skeleton's transport: pywinrm's Protocol and session as they come."""
    s = settings(i)
    p = Protocol(endpoint=s.endpoint, transport="ntlm", username=s.user, password=s.password, message_encryption="auto",
                 operation_timeout_sec=s.operation_timeout, read_timeout_sec=s.read_timeout, proxy=None)
    shell = p.open_shell(codepage=437)
    command, arguments = command_line()
    cid = p.run_command(shell, command, arguments, skip_cmd_shell=True)
    p.send_command_input(shell, cid, STDIN, end=True)
    while not p.get_command_output_raw(shell, cid)[3]:
        pass
    p.close_shell(shell)


def trust_env_only(i: int) -> None:
    t = WinRMTransport(settings(i))
    t._secret = PASSWORD  # measurement only: what the LM-hash shortcut saves
    t.run(STDIN)
    t.close()


def after(i: int) -> None:
    t = WinRMTransport(settings(i))
    t.run(STDIN)
    t.close()


SHARED = Watchdog()


def after_shared_watchdog(i: int) -> None:
    t = WinRMTransport(settings(i), watchdog=SHARED)
    t.run(STDIN)
    t.close()


VARIANTS = {"before": before, "trust_env": trust_env_only, "after": after, "shared_wd": after_shared_watchdog}


def measure(fn, n: int, lab: LabServer) -> tuple[float, float]:
    """(controller CPU ms per request, requests per host) for one pass over n hosts."""
    start_requests = sum(s["requests"] for s in lab.stats()["servers"].values())
    result: dict[str, float] = {}

    def work() -> None:
        cpu = time.thread_time()
        for i in range(n):
            fn(i)
        result["cpu"] = time.thread_time() - cpu

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    requests = sum(s["requests"] for s in lab.stats()["servers"].values()) - start_requests
    return result["cpu"] * 1000 / requests, requests / n


def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="exconf-bench-transport-") as tmp:
        folder = Path(tmp)
        servers = [{"name": f"EX{i:03d}", "role": "Edge", "site": "Amsterdam", "address": address(i),
                    "local_accounts": [{"user": "Administrator", "password": PASSWORD}]} for i in range(n)]
        org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"},
               "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}
        org_file = folder / "bench-org.yaml"
        org_file.write_text(yaml.safe_dump(org, sort_keys=False))
        (folder / ".lab").mkdir()
        lab = LabServer(LabStore(org_file, folder / ".lab" / "state.json"), folder / ".lab").start()
        try:
            for fn in VARIANTS.values():  # warm imports and caches once
                fn(0)
            figures: dict[str, list[float]] = {name: [] for name in VARIANTS}
            per_host: dict[str, float] = {}
            for _ in range(rounds):
                for name, fn in VARIANTS.items():  # interleaved, so machine load hits all alike
                    cpu, reqs = measure(fn, n, lab)
                    figures[name].append(cpu)
                    per_host[name] = reqs
        finally:
            lab.stop()
    base = statistics.median(figures["before"])
    print(f"controller CPU per WS-Man request, {n} lab servers, median of {rounds} rounds (lab threads not counted)")
    print(f"{'variant':<10} {'ms/request':>10} {'requests/host':>14} {'vs before':>10}")
    for name in VARIANTS:
        med = statistics.median(figures[name])
        print(f"{name:<10} {med:>10.3f} {per_host[name]:>14.1f} {100 * (med - base) / base:>+9.1f}%")


if __name__ == "__main__":
    args = benchargs.sizes(__doc__, (40, 5), what="servers, then rounds", most=2)
    with benchargs.lab_errors():
        main(args[0], args[1] if len(args) > 1 else 5)
