"""A certificate issuance end to end: N Mailbox servers each request a certificate that Pebble signs.

Runs exconf's CLI (in this process) against an in-process lab on 127.71.0.0/16, a DNS server for the lab's
names (tests/acme_servers.py) and Let's Encrypt's test CA, Pebble (Debian package ``pebble``), and prints for
each challenge (HTTP-01 through the server's IIS, DNS-01 by RFC 2136) the requests and round trips per host of
the plan and of the apply that requests, has signed, completes and binds each certificate: on remote
PowerShell (``/PowerShell``), on WinRM (``/wsman``: exconf's program, for the challenge files), and the DNS
updates, each per host as min/median/max over every server, and how many servers the lab's console shows
holding their own certificate from Pebble for IIS (the lab's objects, never exconf's read). Nothing here
asserts on time: it measures.

    .venv/bin/python bench/bench_issuance.py          # 5 servers
    .venv/bin/python bench/bench_issuance.py 20
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchargs

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from acme_servers import TSIG_NAME, TSIG_SECRET, DnsServer, start_pebble  # noqa: E402

from exconf.cli import main  # noqa: E402
from exconf.lab.exchange.store import LabStore  # noqa: E402
from exconf.lab.runtime import LabServer  # noqa: E402

PASSWORD = "Bench-Passw0rd"
IIS_HTTP, IIS_HTTPS = 8080, 8443


def cli(*argv: str) -> tuple[int, float, str]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, time.perf_counter() - started, out.getvalue()


def per_host(before: dict, after: dict, endpoint: str, key: str) -> str:
    """min/median/max of the lab's counter over every server."""
    got = sorted(after[s]["endpoints"].get(endpoint, {}).get(key, 0)
                 - before.get(s, {}).get("endpoints", {}).get(endpoint, {}).get(key, 0) for s in after)
    return f"{got[0]}/{statistics.median(got):g}/{got[-1]}"


def issued_and_bound(store: LabStore, names: list[str], issuer: str) -> int:
    """Servers whose store holds a certificate for their own name, issued by the CA (not self-signed) and
    enabled for IIS, by the lab's console (never exconf's read)."""
    def good(name: str) -> bool:
        return any(f"CN={name.lower()}.bench.lab" in str(c.get("Subject", "")) and issuer in str(c.get("Issuer", ""))
                   and "IIS" in str(c.get("Services", ""))
                   for c in store.exec_console(name, "Get-ExchangeCertificate", {"Server": name}))
    return sum(good(name) for name in names)


def bench(n: int, challenge: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        servers = [{"name": f"EX{i:03d}", "role": "Mailbox", "site": "Amsterdam", "address": f"127.71.{i // 250 + 1}.{i % 250 + 1}",
                    "iis": {"http_port": IIS_HTTP, "https_port": IIS_HTTPS},
                    # /PowerShell takes Kerberos only by default; the bench has no KDC and logs on with NTLM (as bench_scale).
                    "powershell_virtual_directory": {"windows_authentication": True}} for i in range(n)]
        org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"},
               "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}
        (folder / "org.yaml").write_text(yaml.safe_dump(org, sort_keys=False))
        dns = DnsServer("127.71.250.201", 5353, "bench.lab", {f"{s['name'].lower()}.bench.lab": s["address"] for s in servers})
        pebble = start_pebble(folder / "pebble", "127.71.250.200", IIS_HTTP, dns.address, dns.port)
        acme: dict = {"directory": pebble.directory, "agree_tos": True, "ca_bundle": str(pebble.ca_bundle), "challenge": challenge}
        if challenge == "dns-01":
            acme["dns"] = {"server": f"{dns.address}:{dns.port}", "zone": "bench.lab", "tsig_name": TSIG_NAME, "tsig_secret_env": "BENCH_TSIG"}
            os.environ["BENCH_TSIG"] = TSIG_SECRET
        hosts = {f"{s['name'].lower()}.bench.lab": {
            "ansible_host": s["address"], "ansible_psrp_port": IIS_HTTP,
            "exchange": {"certificates": [{"request": {"subject": f"CN={s['name'].lower()}.bench.lab"}, "issuer": {"acme": acme},
                                           "services": ["IIS"]}]}} for s in servers}
        inventory = {"all": {"vars": {"ansible_user": "BENCH\\exadmin", "ansible_password": PASSWORD}, "hosts": hosts}}
        inv = folder / "inventory.yaml"
        inv.write_text(yaml.safe_dump(inventory, sort_keys=False))
        state = folder / ".lab" / "state.json"
        state.parent.mkdir()
        store = LabStore(folder / "org.yaml", state)
        lab = LabServer(store, state.parent).start()
        try:
            s0 = lab.stats()["servers"]
            code, plan_s, out = cli("plan", str(inv), "--forks", "10")
            assert code == 0, out[-2000:]
            s1 = lab.stats()["servers"]
            code, apply_s, out = cli("apply", str(inv), "--auto-approve", "--forks", "10")
            s2 = lab.stats()["servers"]
            assert code == 0 and f"Apply complete: {n} of {n} changes made and verified." in out, out[-3000:]
            code, _, out = cli("plan", str(inv), "--detailed-exitcode")
            assert code == 0, out[-2000:]
            converged = issued_and_bound(store, [s["name"] for s in servers], "Pebble")
        finally:
            lab.stop()
            pebble.stop()
            dns.stop()
        print(f"{n} servers, {challenge}: plan {plan_s:.2f} s, apply {apply_s:.2f} s")
        print("  per host (min/median/max) | /PowerShell requests | pipelines | /wsman requests | commands")
        for label, a, b in (("plan", s0, s1), ("apply", s1, s2)):
            print(f"  {label:<25} | {per_host(a, b, '/PowerShell', 'requests'):>20} | {per_host(a, b, '/PowerShell', 'pipelines'):>9} | "
                  f"{per_host(a, b, '/wsman', 'requests'):>15} | {per_host(a, b, '/wsman', 'commands'):>8}")
        print(f"  {converged}/{n} servers hold their own name's certificate from Pebble, enabled for IIS (lab console)")
        updates = len(dns.updates)
        print(f"  DNS updates: {updates} ({updates / n:.0f} per host: each name's TXT record added, then deleted)")


if __name__ == "__main__":
    with benchargs.lab_errors():
        for size in benchargs.sizes(__doc__, (5,)):
            for challenge in ("http-01", "dns-01"):
                bench(size, challenge)
