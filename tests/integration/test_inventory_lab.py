"""Issue 7's dangerous cases end to end: templates and vault reach the lab rendered and decrypted, never as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exconf.cli import main

from .conftest import PASSWORD, STANDARD

ANSIBLE_VAULT = Path(sys.executable).parent / "ansible-vault"

INVENTORY = """
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: "{{ vault_exadmin_password }}"
    log_root: 'D:\\Logs'
  children:
    mailbox:
      vars:
        exchange:
          transport_service:
            send_protocol_log_path: "{{ log_root }}\\\\{{ inventory_hostname_short | upper }}\\\\SmtpSend"
      hosts:
        ex01.contoso.lab: {ansible_host: "{EX01}", ansible_port: "5985"}
        ex02.contoso.lab: {ansible_host: "{EX02}"}
"""


@pytest.fixture
def vaulted(tmp_path: Path) -> tuple[Path, str]:
    """group_vars/all.yml text with the lab password as a !vault value, made by ansible-vault itself."""
    if not ANSIBLE_VAULT.exists():
        pytest.skip("ansible-core is not installed (pip install -e '.[test]')")
    password_file = tmp_path / "vault-pass"
    password_file.write_text("lab-vault-password\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")} | {"HOME": str(tmp_path), "ANSIBLE_HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_CONFIG": str(tmp_path / "none.cfg")}
    (tmp_path / "none.cfg").write_text("[defaults]\n", encoding="utf-8")
    done = subprocess.run(
        [str(ANSIBLE_VAULT), "encrypt_string", "--vault-password-file", str(password_file), PASSWORD, "--name", "vault_exadmin_password"],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )
    return password_file, done.stdout


def test_a_templated_path_and_a_vaulted_password_reach_the_lab_rendered(make_lab, capsys, vaulted):
    lab = make_lab(STANDARD)
    password_file, group_vars = vaulted
    inv = lab.inventory(INVENTORY, files={"group_vars/all.yml": group_vars})
    code = main(["apply", "-i", str(inv), "--vault-password-file", str(password_file), "-l", "mailbox", "--auto-approve"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    for server in ("EX01", "EX02"):
        (ts,) = lab.exec(server, "Get-TransportService", Identity=server)
        assert ts["SendProtocolLogPath"] == f"D:\\Logs\\{server}\\SmtpSend"
    assert "{{" not in out + err and PASSWORD not in out + err


def test_without_the_vault_password_no_host_is_contacted(make_lab, capsys, vaulted):
    lab = make_lab(STANDARD)
    _, group_vars = vaulted
    inv = lab.inventory(INVENTORY, files={"group_vars/all.yml": group_vars})
    before = {name: s["requests"] for name, s in lab.stats().items()}
    code = main(["plan", "-i", str(inv)])
    _, err = capsys.readouterr()
    assert code == 1 and "encrypted with Ansible Vault" in err and "group_vars/all.yml:1:" in err
    assert {name: s["requests"] for name, s in lab.stats().items()} == before
