"""The exchange_certificate kind end to end: exconf plan / apply of a PFX import + SMTP binding on N Mailbox servers.

Runs exconf's CLI (in this process) against an in-process lab on 127.70.0.0/16 and prints, per size:
the inventory load (every PFX declaration is opened on the controller once per vars block),
plan and apply wall time, WS-Management requests and program commands per host for each (min/median/max
over every host, the lab's counters), the second plan (nothing to do), and how many servers the lab's
console shows with the PFX's certificate bound to SMTP (the lab's own objects, never exconf's read).
Nothing here asserts on time: it measures.

    .venv/bin/python bench/bench_certkind.py          # 10 and 50 servers
    .venv/bin/python bench/bench_certkind.py 200
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import benchargs

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from exconf.cli import main
from exconf.inventory import load
from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer

PASSWORD = "Bench-Passw0rd"
PFX_PASSWORD = "Bench-Pfx-Kind-1"


def make_pfx(sans: list[str]) -> bytes:
    now = dt.datetime.now(dt.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Public CA")])
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.bench.lab")]))
            .issuer_name(ca).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
            .sign(key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(b"bench", key, cert, None, serialization.BestAvailableEncryption(PFX_PASSWORD.encode()))


def cli(*argv: str) -> tuple[int, float, str]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, time.perf_counter() - started, out.getvalue()


def per_host(before: dict, after: dict, key: str) -> str:
    """min/median/max of the lab's counter over every server."""
    got = sorted(after[s].get(key, 0) - before.get(s, {}).get(key, 0) for s in after)
    return f"{got[0]}/{statistics.median(got):g}/{got[-1]}"


def bound_to_smtp(store: LabStore, names: list[str]) -> int:
    """Servers whose store holds the PFX's certificate enabled for SMTP, by the lab's console."""
    return sum(any("CN=mail.bench.lab" in str(c.get("Subject", "")) and "SMTP" in str(c.get("Services", ""))
                   for c in store.exec_console(name, "Get-ExchangeCertificate", {"Server": name})) for name in names)


def bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        servers = [{"name": f"EX{i:03d}", "role": "Mailbox", "site": "Amsterdam", "address": f"127.70.{i // 250 + 200}.{i % 250 + 1}",
                    "powershell_virtual_directory": {"windows_authentication": True}}
                   for i in range(n)]
        org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"},
               "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}
        (folder / "org.yaml").write_text(yaml.safe_dump(org, sort_keys=False))
        (folder / "mail.pfx").write_bytes(make_pfx(["mail.bench.lab", "*.bench.lab"]))
        os.environ["BENCH_PFX_PASSWORD"] = PFX_PASSWORD
        certificates = [{"match": {"subject": "CN=mail.bench.lab"}, "services": ["SMTP"],
                         "import": {"pfx": "mail.pfx", "password_env": "BENCH_PFX_PASSWORD"}}]
        inventory = {"all": {"vars": {"ansible_user": "BENCH\\exadmin", "ansible_password": PASSWORD, "exchange": {"certificates": certificates}},
                             "hosts": {f"{s['name'].lower()}.bench.lab": {"ansible_host": s["address"]} for s in servers}}}
        inv = folder / "inventory.yaml"
        inv.write_text(yaml.safe_dump(inventory, sort_keys=False))
        state = folder / ".lab" / "state.json"
        state.parent.mkdir()
        store = LabStore(folder / "org.yaml", state)
        lab = LabServer(store, state.parent).start()
        try:
            started = time.perf_counter()
            load(inv)
            loading = time.perf_counter() - started
            s0 = lab.stats()["servers"]
            code, plan_s, _ = cli("plan", str(inv), "--forks", "10")
            s1 = lab.stats()["servers"]
            assert code == 0
            code, apply_s, out = cli("apply", str(inv), "--auto-approve", "--forks", "10")
            s2 = lab.stats()["servers"]
            assert code == 0 and f"Apply complete: {n} of {n} changes made and verified." in out, out[-2000:]
            code, again_s, out = cli("plan", str(inv), "--forks", "10")
            assert code == 0 and "No changes." in out
            converged = bound_to_smtp(store, [s["name"] for s in servers])
        finally:
            lab.stop()
        print(f"{n} servers: inventory load (PFX opened) {loading * 1000:.0f} ms; "
              f"plan {plan_s:.2f} s (requests {per_host(s0, s1, 'requests')}, commands {per_host(s0, s1, 'commands')} per host); "
              f"apply {apply_s:.2f} s (requests {per_host(s1, s2, 'requests')}, commands {per_host(s1, s2, 'commands')} per host: "
              f"read, then import + enable + read-back); second plan {again_s:.2f} s; "
              f"{converged}/{n} servers with the certificate bound to SMTP (lab console)")


if __name__ == "__main__":
    with benchargs.lab_errors():
        for size in benchargs.sizes(__doc__, (10, 50)):
            bench(size)
