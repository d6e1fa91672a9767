"""Certificate benchmark: what certificate work costs over real WinRM against the lab.

For N Edge servers (default 20) on 127.67.0.0/16 (the program's door, NTLM as each Edge's local
administrator: a Mailbox server's program needs a delegated Kerberos ticket, the double hop,
docs/kerberos.md), prints:
- the lab's start time (certificate stores are made on first use, so none is made yet);
- the first Get-ExchangeCertificate per server (its store is made: three RSA keys) and a second one;
- a PFX import, its SMTP binding (-Force) and a read-back in one payload: wall time per host,
  the size of standard input, WS-Management requests and shells per host;
- the state file's size afterwards.

    .venv/bin/python bench/bench_certificates.py        # 20 servers
    .venv/bin/python bench/bench_certificates.py 5 50   # chosen sizes

Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import datetime as dt
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

from exconf.connection import settings_for
from exconf.inventory import load
from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer
from exconf.remote import OutputRef, Secret, Step, decode_answer, encode_stdin
from exconf.transport.winrm import WinRMTransport

PASSWORD = "Bench-Passw0rd"
PFX_PASSWORD = "Bench-Pfx-1"


def pfx(cn: str) -> bytes:
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(b"bench", key, cert, None,
                                                 serialization.BestAvailableEncryption(PFX_PASSWORD.encode()))


def run(transport_for, host, steps):
    transport = transport_for(host)
    try:
        started = time.perf_counter()
        data = encode_stdin(steps)
        out = transport.run(data)
        elapsed = time.perf_counter() - started
    finally:
        transport.close()
    return decode_answer(out.stdout, out.stderr, out.exit_code), elapsed, len(data)


def bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        servers = [{"name": f"EDGE{i:03d}", "role": "Edge", "site": "Amsterdam",
                    "address": f"127.67.{i // 250 + 100}.{i % 250 + 1}",
                    "local_accounts": [{"user": "Administrator", "password": PASSWORD}]} for i in range(n)]
        org = {"organization": {"name": "Bench", "domain": "bench.lab", "netbios": "BENCH"},
               "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": servers}
        org_file = folder / "org.yaml"
        org_file.write_text(yaml.safe_dump(org, sort_keys=False))
        hosts = {s["name"].lower(): {"ansible_host": s["address"], "ansible_user": f"{s['name']}\\Administrator"}
                 for s in servers}
        inv_file = folder / "inventory.yaml"
        inv_file.write_text(yaml.safe_dump({"all": {"vars": {"ansible_password": PASSWORD}, "hosts": hosts}}))
        state = folder / ".lab" / "state.json"
        state.parent.mkdir()
        started = time.perf_counter()
        lab = LabServer(LabStore(org_file, state), state.parent).start()
        start_time = time.perf_counter() - started
        try:
            inventory = load(inv_file)
            transport_for = lambda host: WinRMTransport(settings_for(host, folder))  # noqa: E731
            get = [Step("g", "Get-ExchangeCertificate", {}, select=("Thumbprint", "Services"))]
            first = [run(transport_for, h, get)[1] for h in inventory.hosts]
            second = [run(transport_for, h, get)[1] for h in inventory.hosts]
            data = pfx("mail.bench.lab")
            before = lab.stats()["servers"]
            apply_times, sizes = [], []
            for host in inventory.hosts:
                steps = [
                    Step("i", "Import-ExchangeCertificate",
                         {"FileData": data, "Password": Secret.from_value(PFX_PASSWORD)}, select=("Thumbprint",)),
                    Step("e", "Enable-ExchangeCertificate",
                         {"Thumbprint": OutputRef("i", "Thumbprint"), "Services": "SMTP", "Force": True}),
                    Step("r", "Get-ExchangeCertificate", {}, select=("Thumbprint", "Services"), always_run=True),
                ]
                answer, elapsed, size = run(transport_for, host, steps)
                assert answer.result("e").ok, answer.result("e").error
                apply_times.append(elapsed)
                sizes.append(size)
            after = lab.stats()["servers"]
            name = servers[0]["name"]
            requests = after[name]["requests"] - before[name]["requests"]
            shells = after[name]["shells"] - before[name]["shells"]
        finally:
            lab.stop()
        ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"  # noqa: E731
        print(f"{n} servers: lab start {start_time * 1000:.0f} ms")
        print(f"  first Get-ExchangeCertificate (store made): {ms(first)}")
        print(f"  second Get-ExchangeCertificate:             {ms(second)}")
        print(f"  import + enable SMTP + read-back, one payload: {ms(apply_times)}; stdin {sizes[0]} bytes; "
              f"{requests} requests and {shells} shell per host")
        print(f"  state file: {state.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    with benchargs.lab_errors():
        for size in benchargs.sizes(__doc__, (20,)):
            bench(size)
