"""EdgeSync benchmark: what subscribing Edges costs over real WinRM against the lab.

Two Mailbox servers (sites Amsterdam and Rotterdam) and N Edge servers (default 4) declared in
Amsterdam, on 127.73.0.0/16. Prints, for a first `exconf apply` (every Edge subscribed in one apply),
a second one (nothing to do) and a `plan` after a certificate change broke one Edge: wall time, per
server the commands and WS-Management requests it served (and their min/median/max over every server),
and after the first apply how many Edges the lab's console shows subscribed on both sides and
synchronising (`Test-EdgeSynchronization` on EX01: SyncStatus Normal; the lab's objects, never exconf's
read).

    .venv/bin/python bench/bench_edgesync.py        # 4 Edges
    .venv/bin/python bench/bench_edgesync.py 8

Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import benchargs

import yaml

from exconf.cli import main
from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer

PASSWORD = "Bench-Passw0rd"
EDGE_PASSWORD = "Bench-Edge-Passw0rd"


def org(edges: int) -> dict:
    servers = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "address": "127.73.0.1",
                "powershell_virtual_directory": {"windows_authentication": True}},
               {"name": "EX02", "role": "Mailbox", "site": "Rotterdam", "address": "127.73.0.2",
                "powershell_virtual_directory": {"windows_authentication": True}}]
    for i in range(1, edges + 1):
        servers.append({"name": f"EDGE{i:02d}", "role": "Edge", "site": "Amsterdam", "address": f"127.73.0.{10 + i}",
                        "local_accounts": [{"user": "Administrator", "password": EDGE_PASSWORD}], "winrm": {"basic": True}})
    return {"organization": {"name": "Contoso", "domain": "contoso.lab", "netbios": "CONTOSO"},
            "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}


def inventory(edges: int) -> str:
    lines = ["all:", "  hosts:"]
    for i, name in ((1, "ex01"), (2, "ex02")):
        lines.append(f'    {name}: {{ansible_host: "127.73.0.{i}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}')
    for i in range(1, edges + 1):
        lines.append(f'    edge{i:02d}: {{ansible_host: "127.73.0.{10 + i}", ansible_user: EDGE{i:02d}\\Administrator, '
                     f"ansible_password: {EDGE_PASSWORD}, ansible_winrm_transport: ntlm, exchange: {{edge_subscription: {{site: Amsterdam}}}}}}")
    return "\n".join(lines) + "\n"


def measured(server: LabServer, label: str, *argv: str) -> None:
    before = server.stats()["servers"]
    start = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    wall = time.perf_counter() - start
    after = server.stats()["servers"]
    print(f"{label}: exit {code}, {wall:.2f} s")
    if code not in (0, 2):
        print("  " + (out.getvalue() + err.getvalue())[-600:])
    spent = []
    for name in sorted(after):
        cmds = after[name]["commands"] - before.get(name, {}).get("commands", 0)
        reqs = after[name]["requests"] - before.get(name, {}).get("requests", 0)
        spent.append(reqs)
        print(f"  {name:8} commands {cmds:2}  WS-Man requests {reqs:3}")
    spent.sort()
    print(f"  WS-Man requests per server min/median/max: {spent[0]}/{statistics.median(spent):g}/{spent[-1]}")


def synchronising(server: LabServer, edges: int) -> int:
    """Edges subscribed on both sides (their AD LDS and the organisation) whose synchronisation is Normal,
    by the lab's console."""
    normal = {str(r.get("Name")).upper() for r in server.store.exec_console("EX01", "Test-EdgeSynchronization", {})
              if str(r.get("SyncStatus")) == "Normal"}
    return sum(f"EDGE{i:02d}" in normal and bool(server.store.exec_console(f"EDGE{i:02d}", "Get-EdgeSubscription", {}))
               for i in range(1, edges + 1))


def bench(edges: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "org.yaml").write_text(yaml.safe_dump(org(edges)))
        (d / ".lab").mkdir()
        inv = d / "inventory.yaml"
        inv.write_text(inventory(edges))
        server = LabServer(LabStore(d / "org.yaml", d / ".lab" / "state.json"), d / ".lab").start()
        try:
            measured(server, f"first apply ({edges} Edges subscribed)", "apply", str(inv), "--auto-approve")
            print(f"  {synchronising(server, edges)}/{edges} Edges subscribed and synchronising (lab console)")
            measured(server, "second apply (no changes)", "apply", str(inv), "--auto-approve")
            server.store.exec_console("EDGE01", "New-ExchangeCertificate", {"Services": "SMTP", "Force": True})
            measured(server, "plan after EDGE01's SMTP certificate changed (1 replace)", "plan", str(inv), "--detailed-exitcode")
        finally:
            server.stop()


if __name__ == "__main__":
    with benchargs.lab_errors():
        bench(benchargs.sizes(__doc__, (4,), what="edges", most=1)[0])
