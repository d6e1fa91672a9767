"""The shipped lab inventory, started by exconf itself, and `exconf lab exec|stats|stop` against it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from .conftest import unique_prefix

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped_lab(tmp_path, monkeypatch):
    """A copy of inventories/ on addresses of its own, with a private runtime directory."""
    dest = tmp_path / "inventories"
    shutil.copytree(ROOT / "inventories", dest, ignore=shutil.ignore_patterns(".lab"))
    prefix = unique_prefix()
    for path in [dest / "lab.yaml", dest / "lab-org.yaml"]:
        path.write_text(path.read_text().replace("127.42.0.", prefix + "."))
    env = {"EXCONF_RUNTIME_DIR": str(tmp_path / "run"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    monkeypatch.setenv("EXCONF_RUNTIME_DIR", env["EXCONF_RUNTIME_DIR"])
    yield dest, env
    subprocess.run([sys.executable, "-m", "exconf", "lab", "stop", "--all"], env=env, capture_output=True, timeout=60)


def exconf(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if cwd is not None:
        cwd.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "exconf", *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def _mailbox_pipelines(plan_text: str) -> int:
    """How many pipelines of changes the printed plan runs on the Mailbox servers: one per host and wave (the
    lines "on ex0… (wave N…)"; under halt-on-error a host's changes of one wave share a pipeline,
    docs/remote-powershell.md). A removal starts a pipeline of its own: this inventory's only removal is alone in
    its wave, which the count checks rather than assumes."""
    groups: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for line in plan_text.splitlines():
        if line.startswith("    on "):
            host, _, wave = line[len("    on "):].partition(" (wave ")
            current = groups.setdefault((host, wave.split(")")[0].split(",")[0]), []) if host.startswith("ex0") else None
        elif line.startswith("      ") and current is not None and line.strip():
            current.append(line.strip())
        elif not line.startswith("      "):
            current = None
    assert all(len(cmds) == 1 for cmds in groups.values() if any(c.startswith("Remove-") for c in cmds)), groups
    return len(groups)


def test_the_shipped_lab_inventory_runs_the_whole_job(shipped_lab):
    inventories, env = shipped_lab
    first = exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Started the lab" in first.stderr
    assert "Apply complete: 13 of 13 changes made and verified." in first.stdout
    assert "DeprecationWarning" not in first.stderr and "Traceback" not in first.stderr  # reading certificates warns nothing
    # The Edge gets its third-party SMTP certificate and, in the same apply, after it, a new subscription:
    # it ends synchronising (SyncStatus Normal), as the shipped inventory declares.
    assert 'edge_subscription "EDGE01" will be replaced' in first.stdout
    assert first.stdout.index('exchange_certificate "CN=smtp.contoso.lab') < first.stdout.index('edge_subscription "EDGE01" will be replaced')
    healthy = exconf(env, "lab", "exec", "EX01", "--", "Test-EdgeSynchronization")
    assert healthy.returncode == 0 and "SyncStatus" in healthy.stdout and "Normal" in healthy.stdout, healthy.stdout + healthy.stderr
    assert 'exchange_certificate "CN=mail.contoso.lab, O=Contoso (F171099D)" will be created' in first.stdout  # the shipped PFX
    pfx_password = (inventories / "certs" / "mail.contoso.lab.pfx.password").read_text().strip()
    assert pfx_password not in first.stdout + first.stderr
    lab_files = "".join(f.read_bytes().decode("utf-8", "replace") for f in (inventories / ".lab").rglob("*") if f.is_file())
    assert "Lab-Pfx" not in lab_files  # state, journal and the detached lab's log
    assert (inventories / ".lab" / "lab-org.state.json").is_file()
    assert "Lab-Exadmin-1" not in first.stdout + first.stderr

    again = exconf(env, "plan", str(inventories / "lab.yaml"), "--detailed-exitcode")
    assert again.returncode == 0 and "No changes." in again.stdout and "Started the lab" not in again.stderr

    # The Edge's module logging (event 4103): the program's commands, never a secret. (The Mailbox
    # servers are reached through remote PowerShell: no program runs there.)
    logged = exconf(env, "lab", "events", "EDGE01", "--json")
    assert logged.returncode == 0, logged.stderr
    events = json.loads(logged.stdout)["events"]
    assert {"Enable-ExchangeCertificate", "New-EdgeSubscription", "Get-ExchangeCertificate"} <= {e["command"] for e in events}
    assert pfx_password not in logged.stdout and "Lab-EdgeAdmin-1" not in logged.stdout
    shown = exconf(env, "lab", "events", "EDGE01")
    assert shown.returncode == 0 and "4103" in shown.stdout and "Test-Path" in shown.stdout, shown.stdout + shown.stderr

    # An admin's hand at the console, then the drift shows up.
    changed = exconf(env, "lab", "exec", "EX02", "--", "Set-ReceiveConnector", "-Identity", "EX02\\Default EX02", "-ProtocolLoggingLevel", "None")
    assert changed.returncode == 0, changed.stderr
    shown = exconf(env, "lab", "exec", "ex02.contoso.lab", "--", "Get-ReceiveConnector", "-Identity", "EX02\\Default EX02")
    assert "ProtocolLoggingLevel" in shown.stdout and ": None" in shown.stdout
    drift = exconf(env, "plan", str(inventories / "lab.yaml"), "--detailed-exitcode")
    assert drift.returncode == 2 and 'receive_connector "Default EX02"' in drift.stdout

    unchanged = exconf(env, "lab", "exec", "EX02", "--", "Set-ReceiveConnector", "-Identity", "EX02\\Default EX02", "-ProtocolLoggingLevel", "None")
    assert unchanged.returncode == 0 and "WARNING: The command completed successfully but no settings of" in unchanged.stderr

    # The shipped view-only account reads but does not find the Set- cmdlets (RBAC, docs/lab.md)
    viewer = exconf(env, "lab", "exec", "--as", "CONTOSO\\exviewer", "EX01", "--", "Set-ReceiveConnector", "-Identity",
                    "EX01\\Default EX01", "-ProtocolLoggingLevel", "None")
    assert viewer.returncode == 1 and "The term 'Set-ReceiveConnector' is not recognized" in viewer.stderr
    assert exconf(env, "lab", "exec", "--as", "exviewer", "EX01", "--", "Get-ReceiveConnector", "-Server", "EX01").returncode == 0

    refused = exconf(env, "lab", "exec", "EX01", "--", "Set-ReceiveConnector", "-Identity", "EX01\\Default EX01", "-ProtocolLoggingLevel", "Loud")
    assert refused.returncode == 1 and "Cannot convert value \"Loud\"" in refused.stderr

    # A word that is not UTF-8 reaches Python as a lone surrogate: refused, and saving goes on (issue 6, item 9).
    surrogate = subprocess.run([sys.executable, "-m", "exconf", "lab", "exec", "EX01", "--", "Set-ReceiveConnector",
                                "-Identity", "EX01\\Default EX01", "-Name", b"Bad\xffName"],
                               env=env, capture_output=True, timeout=120)
    assert surrogate.returncode == 1
    assert b"Unable to translate Unicode character \\uDCFF at index 3 to specified code page." in surrogate.stderr

    stats = exconf(env, "lab", "stats", "--json")
    [lab] = json.loads(stats.stdout)["labs"]
    assert lab["org_file"] == str((inventories / "lab-org.yaml").resolve())
    servers = lab["servers"]
    assert set(servers) == {"EX01", "EX02", "EDGE01"}
    # Mailbox servers are reached over Exchange remote PowerShell, the Edge over the program (docs/remote-powershell.md).
    ex01, ex02, edge = (servers[n]["endpoints"] for n in ("EX01", "EX02", "EDGE01"))
    assert ex01["/wsman"]["requests"] == ex02["/wsman"]["requests"] == edge["/PowerShell"]["requests"] == 0
    # Per run (apply, plan, plan) each Mailbox server reads in one pipeline, the site's EdgeSync side inside the read
    # of the Mailbox server of Amsterdam chosen before reading (engine/sitereaders.py). The apply
    # then runs a Mailbox server's changes of each wave its plan shows in one pipeline, each statement under
    # -ErrorAction Stop (the PFX import and its binding, which names the PFX's own thumbprint, together); a
    # removal alone; read-backs ride along.
    pipelines = ex01["/PowerShell"]["pipelines"] + ex02["/PowerShell"]["pipelines"]
    assert pipelines == 3 * 2 + _mailbox_pipelines(first.stdout)
    pools = ex01["/PowerShell"]["runspace_pools"] + ex02["/PowerShell"]["runspace_pools"]
    assert pools == 3 * 2  # one runspace pool per host per run
    # 7 requests for a pool and its first pipeline (NTLM logs on in 2: its first token rides on the first
    # request), 2 (Command, Receive) per further pipeline, and 2 to log on again for each of the two waits
    # while the Edge ran its waves (the socket is let go meanwhile).
    requests = ex01["/PowerShell"]["requests"] + ex02["/PowerShell"]["requests"]
    assert requests == pools * 7 + 2 * (pipelines - pools) + 2 * 2
    jsonschema.validate(json.loads(stats.stdout), json.loads((ROOT / "docs" / "schemas" / "lab-stats.schema.json").read_text()))

    planned = exconf(env, "plan", str(inventories / "lab.yaml"), "--json")
    hosts = json.loads(planned.stdout)["hosts"]
    assert hosts["edge01.dmz.contoso.lab"]["site"] is None and hosts["ex01.contoso.lab"]["site"] == "Amsterdam"  # null, never "None"
    assert "DeprecationWarning" not in planned.stderr

    clock = exconf(env, "lab", "clock", "advance", "25h")
    assert clock.returncode == 0 and "(1d1h ahead of real time)" in clock.stdout, clock.stderr
    assert "(1d1h ahead" in exconf(env, "lab", "clock").stdout

    # `lab stop` run from elsewhere leaves this lab alone and says how to stop it …
    elsewhere = exconf(env, "lab", "stop", cwd=inventories.parent / "elsewhere")
    assert elsewhere.returncode == 0 and "Left running" in elsewhere.stderr and "exconf lab stop --all" in elsewhere.stderr
    assert exconf(env, "lab", "stats").returncode == 0
    # … and the inventory names the lab to stop
    stopped = exconf(env, "lab", "stop", str(inventories / "lab.yaml"))
    assert stopped.returncode == 0 and "Stopped the lab" in stopped.stdout
    assert exconf(env, "lab", "stats").returncode == 1


def test_lab_exec_without_a_running_lab_says_how_to_start_one(shipped_lab):
    _, env = shipped_lab
    result = exconf(env, "lab", "exec", "EX01", "--", "Get-ExchangeServer")
    assert result.returncode == 1 and "no running lab serves a server named 'EX01'" in result.stderr


def test_lab_stop_without_an_argument_stops_the_labs_of_this_checkout(shipped_lab):
    inventories, env = shipped_lab
    started = exconf(env, "plan", str(inventories / "lab.yaml"))
    assert started.returncode == 0, started.stderr
    stopped = exconf(env, "lab", "stop", cwd=inventories)  # no .git above tmp_path: the folder is the checkout
    assert stopped.returncode == 0 and "Stopped the lab" in stopped.stdout and "Left running" not in stopped.stderr
    assert exconf(env, "lab", "stats").returncode == 1
