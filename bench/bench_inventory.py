"""Inventory benchmark: load, merge, render and validate an estate of N hosts; and ansible-inventory --list on the same.

Each host is in a site group and a role group, with group_vars files, a
templated log path, a vaulted password used through a template, and a
host_vars file for one host in ten.

    .venv/bin/python bench/bench_inventory.py            # 100, 1000, 3000 hosts
    .venv/bin/python bench/bench_inventory.py 500        # chosen sizes

Nothing here asserts on time: it measures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchargs

from exconf.inventory import load
from exconf.vault import VaultOptions, load_secrets

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "inventories"
SIZES = (100, 1000, 3000)


def estate(root: Path, n: int) -> Path:
    sites = [f"site{i:02d}" for i in range(max(1, n // 50))]
    lines = ["all:", "  vars:", "    ansible_user: CONTOSO\\svc", "    ansible_password: '{{ vault_exadmin_password }}'", "    exchange:", "      transport_service:",
             "        send_protocol_log_path: 'D:\\Logs\\{{ inventory_hostname_short }}\\SmtpSend'", "  children:", "    mailbox:", "      children:"]
    for s, site in enumerate(sites):
        lines += [f"        {site}:", "          hosts:"]
        lines += [f"            ex{s:02d}-{i:03d}.contoso.com:" for i in range(n // len(sites))]
    (root / "hosts.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "group_vars").mkdir()
    (root / "host_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text((CORPUS / "estate" / "group_vars" / "all" / "vault.yml").read_text())
    (root / "group_vars" / "mailbox.yml").write_text("exchange:\n  transport_service:\n    send_protocol_log_max_age: '30.00:00:00'\n")
    for s, site in enumerate(sites):
        (root / "group_vars" / f"{site}.yml").write_text("exchange:\n  receive_connectors:\n    'Default Frontend {server}': {protocol_logging_level: Verbose}\n")
        for i in range(0, n // len(sites), 10):
            (root / "host_vars" / f"ex{s:02d}-{i:03d}.contoso.com.yml").write_text("exchange:\n  transport_service:\n    send_protocol_log_max_age: '7.00:00:00'\n")
    return root / "hosts.yml"


def main() -> None:
    sizes = benchargs.sizes(__doc__, SIZES, what="hosts")
    secrets = load_secrets(VaultOptions(password_files=(str(CORPUS / "vault-pass.txt"),)))
    print(f"{'hosts':>6} {'exconf load (s)':>16} {'per host (ms)':>14} {'ansible-inventory --list (s)':>29}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = estate(Path(tmp), n)
            start = time.perf_counter()
            inv = load(path, vault=secrets)
            took = time.perf_counter() - start
            assert len(inv.hosts) == (n // max(1, n // 50)) * max(1, n // 50)
            env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
            (Path(tmp) / "ansible.cfg").write_text("[defaults]\n")
            env.update(ANSIBLE_CONFIG=str(Path(tmp) / "ansible.cfg"), ANSIBLE_HOME=tmp, ANSIBLE_LOCAL_TEMP=tmp, ANSIBLE_HASH_BEHAVIOUR="merge")
            start = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--vault-password-file", str(CORPUS / "vault-pass.txt"), "--list"],
                           env=env, capture_output=True, check=True)
            theirs = time.perf_counter() - start
            print(f"{len(inv.hosts):>6} {took:>16.2f} {1000 * took / len(inv.hosts):>14.2f} {theirs:>29.2f}")


if __name__ == "__main__":
    main()
