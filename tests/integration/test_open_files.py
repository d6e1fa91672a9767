"""More hosts than open files: exconf bounds what it holds instead of failing hosts (issue 11)."""

from __future__ import annotations

import resource
import subprocess
import sys

from .conftest import PASSWORD

HOSTS = 120
LIMIT = 100  # soft = hard, fewer than the hosts: after the interpreter's own files and exconf's reserve, room for ~20 sockets


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def test_an_apply_with_more_hosts_than_sockets_changes_every_host(make_lab):
    lab = make_lab([{"name": f"EX{i:03d}", "role": "Mailbox", "site": "Amsterdam"} for i in range(HOSTS)])
    hosts = "\n".join(f'    ex{i:03d}.contoso.lab: {{ansible_host: "{{EX{i:03d}}}"}}' for i in range(HOSTS))
    inv = lab.inventory(
        f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange:
      receive_connectors:
        "Default {{server}}": {{protocol_logging_level: Verbose}}
  hosts:
{hosts}
"""
    )
    proc = subprocess.run(
        [sys.executable, "-m", "exconf", "apply", str(inv), "--auto-approve", "--forks", "50"],
        capture_output=True, text=True, preexec_fn=_limit, timeout=600,
    )
    assert proc.returncode == 0, "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if "RECAP" in line or ": " in line and "ok=" not in line)[-4000:]
    assert f"Apply complete: {HOSTS} of {HOSTS} changes made and verified." in proc.stdout
    assert "Too many open files" not in proc.stdout + proc.stderr
    levels = {s: lab.exec(s, "Get-ReceiveConnector", Identity=f"{s}\\Default {s}")[0]["ProtocolLoggingLevel"] for s in (f"EX{i:03d}" for i in range(HOSTS))}
    assert set(levels.values()) == {"Verbose"}
    # Some hosts gave their socket back after the read and logged on again to apply. An apply costs 9 (NTLM
    # logs on in 2, the pool's Create and Receive, the read's and the change's pipelines, Delete), 11 for the
    # one server that also reads the site's EdgeSync state; logging on again adds 2.
    assert sum(1 for s in lab.stats().values() if s["requests"] > 9) > 1
