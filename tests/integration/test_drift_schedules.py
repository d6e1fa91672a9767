"""Schedules that run as printed, each checked by the real tool: ``systemd-analyze verify`` (systemd's own parser,
which also checks that ExecStart is an executable), kubernetes-validate in strict mode against the CronJob schema,
and croniter for the times a crontab fires; and a SIGTERM that ends a run within a pod's grace period, reports written.

.ci/run sets EXCONF_REQUIRE_SCHEDULE_TOOLS=1, so that a missing tool fails there instead of skipping."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from exconf.drift import schedule

from .test_drift import inventory_text, run

REQUIRED = os.environ.get("EXCONF_REQUIRE_SCHEDULE_TOOLS") == "1"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
K8S_VALIDATE = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent)) or shutil.which("kubernetes-validate")
SECRET_URL = "https://hooks.example.test/services/T000/B000/SECRETTOKEN"


def tool(path: str | None, name: str) -> str:
    if path is None:
        if REQUIRED:
            pytest.fail(f"{name} is required here (EXCONF_REQUIRE_SCHEDULE_TOOLS=1) and not installed")
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return path


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "etc" / "prod.yaml"
    (inv.parent / "group_vars").mkdir(parents=True)
    inv.write_text("all:\n  hosts: {}\n", encoding="utf-8")
    (inv.parent / "group_vars" / "mailbox.yaml").write_text("exchange: {}\n", encoding="utf-8")
    return inv


def units(text: str) -> dict[str, str]:
    parts = re.split(r"^# /etc/systemd/system/(\S+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def verify(units_: dict[str, str], folder: Path) -> subprocess.CompletedProcess:
    folder.mkdir(exist_ok=True)
    for name, body in units_.items():
        (folder / name).write_text(body, encoding="utf-8")
    return subprocess.run([tool(SYSTEMD_ANALYZE, "systemd-analyze"), "verify", "--man=no", *[str(folder / n) for n in units_]],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("every", "calendar"), [("15m", "*-*-* *:00/15:00"), ("2h", "*-*-* 00/2:00:00"), ("45m", None)])
def test_systemd_units_pass_systemd_analyze_verify(inventory, tmp_path, capsys, every, calendar):
    reports = tmp_path / "srv" / "reports"
    code, out, err = run(capsys, "drift", str(inventory), "--print-schedule", "systemd", "--every", every,
                         "--junit", str(reports / "drift.xml"), "--html", "/var/lib/exconf/drift.html", "--notify", SECRET_URL,
                         "--vault-password-file", str(tmp_path / "vault-pass"))
    assert code == 0, err
    got = units(out)
    checked = verify(got, tmp_path / f"units-{every}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    service, timer = got["exconf-drift.service"], got["exconf-drift.timer"]
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", service, re.MULTILINE)
    assert exec_start and Path(exec_start.group(1)).is_absolute() and os.access(exec_start.group(1), os.X_OK)
    args = exec_start.group(2).split()
    assert args[:2] == ["drift", str(inventory)] if args[0] == "drift" else args[2:4] == ["drift", str(inventory)]
    # history and reports are writable under ProtectSystem=strict: the state directory, or ReadWritePaths
    assert "ProtectSystem=strict" in service and "StateDirectory=exconf" in service and "TimeoutStopSec=30" in service
    assert "--history /var/lib/exconf/prod.drift.sqlite" in service and f"ReadWritePaths={reports}" in service
    # secrets: as credentials, never inline
    assert "SECRETTOKEN" not in out and "hooks.example.test" not in out
    assert "LoadCredential=notify-url:/etc/exconf/notify-url" in service and "--notify-url-file %d/notify-url" in service
    assert f"LoadCredential=vault-password:{tmp_path / 'vault-pass'}" in service and "--vault-password-file %d/vault-password" in service
    # Persistent= only with OnCalendar=
    if calendar:
        assert f"OnCalendar={calendar}" in timer and "Persistent=true" in timer
    else:
        assert "OnCalendar" not in timer and "Persistent" not in timer and "OnUnitActiveSec=2700s" in timer


def test_systemd_analyze_would_catch_a_broken_unit(inventory, tmp_path, capsys):
    """The check can fail: the same units with an ExecStart that does not exist are refused by systemd-analyze."""
    _, out, _ = run(capsys, "drift", str(inventory), "--print-schedule", "systemd")
    got = units(out)
    got["exconf-drift.service"] = re.sub(r"^ExecStart=\S+", "ExecStart=/nonexistent/exconf", got["exconf-drift.service"], flags=re.MULTILINE)
    assert verify(got, tmp_path / "broken").returncode != 0


def fire_times(lines: list[str], start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    from croniter import croniter

    times = set()
    for line in lines:
        it = croniter(" ".join(line.split()[:5]), start - dt.timedelta(seconds=1))
        while (t := it.get_next(dt.datetime)) < end:
            times.add(t)
    return sorted(times)


@pytest.mark.parametrize(("every", "count"), [("15m", 1), ("45m", 4), ("90m", 2), ("8h", 1), ("1d", 1)])
def test_cron_fires_exactly_every_interval(inventory, capsys, every, count):
    code, out, err = run(capsys, "drift", str(inventory), "--print-schedule", "cron", "--every", every, "--notify", SECRET_URL)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert len(lines) == count
    start = dt.datetime(2026, 12, 1)
    times = fire_times(lines, start, start + dt.timedelta(days=3))
    gaps = {b - a for a, b in zip(times, times[1:])}
    assert gaps == {dt.timedelta(seconds=schedule.parse_interval(every))} and times[0] == start
    for line in lines:  # absolute paths only: cron's PATH is short
        command = line.split()[5:]
        assert Path(command[0]).is_absolute() and command[0].endswith("flock")
        exconf = command[command.index("-n") + 2]
        assert Path(exconf).is_absolute() and os.access(exconf, os.X_OK)
        assert "/var/log/exconf-drift.log" in line
    assert "SECRETTOKEN" not in out and "--notify-url-file /etc/exconf/notify-url" in out


@pytest.mark.parametrize("every", ["7m", "90s", "2d", "25h"])
def test_cron_refuses_an_interval_it_cannot_keep(inventory, capsys, every):
    code, out, err = run(capsys, "drift", str(inventory), "--print-schedule", "cron", "--every", every)
    assert code == 1 and out == "" and "Error:" in err and ("cron" in err) and "Traceback" not in err


def k8s_validate(text: str, folder: Path) -> subprocess.CompletedProcess:
    path = folder / "cronjob.yaml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run([tool(K8S_VALIDATE, "kubernetes-validate"), "--strict", str(path)], capture_output=True, text=True, timeout=120)


def test_the_kubernetes_cronjob_is_valid_in_strict_mode_and_runs_from_its_mounts(inventory, tmp_path, capsys):
    code, out, err = run(capsys, "drift", str(inventory), "--print-schedule", "kubernetes", "--every", "30m",
                         "--junit", str(tmp_path / "out" / "drift.xml"), "--prometheus", "/var/lib/node_exporter/exconf.prom",
                         "--notify", SECRET_URL, "--limit", "mailbox")
    assert code == 0, err
    checked = k8s_validate(out, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    cronjob, pvc = list(yaml.safe_load_all(out))
    spec = cronjob["spec"]
    assert spec["schedule"] == "*/30 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert 0 < job["activeDeadlineSeconds"] < 1800  # a run ends before the next is due
    pod = job["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30 and pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    args = container["args"]
    assert all(isinstance(a, str) for a in args)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert args[:2] == ["drift", f"{mounts['inventory']}/prod.yaml"]
    assert {"key": "group_vars__mailbox.yaml", "path": "group_vars/mailbox.yaml"} in volumes["inventory"]["configMap"]["items"]
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"] and pvc["kind"] == "PersistentVolumeClaim"
    for flag in ("--junit", "--prometheus", "--history"):
        assert args[args.index(flag) + 1].startswith(mounts["state"] + "/")
    assert args[args.index("--notify-url-file") + 1].startswith(mounts["secrets"] + "/")
    assert volumes["secrets"]["secret"]["secretName"] and container["envFrom"][0]["secretRef"]["name"]
    assert "SECRETTOKEN" not in out and args[args.index("--limit") + 1] == "mailbox"
    assert "# kubectl create configmap exconf-inventory --from-file=prod.yaml=" in out


def test_kubernetes_validate_would_catch_a_broken_cronjob(inventory, tmp_path, capsys):
    _, out, _ = run(capsys, "drift", str(inventory), "--print-schedule", "kubernetes")
    cronjob, pvc = list(yaml.safe_load_all(out))
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"].append(15)  # not a string
    assert k8s_validate(yaml.safe_dump_all([cronjob, pvc]), tmp_path).returncode != 0


def test_a_cronjob_cannot_hold_an_interval_cron_needs_several_lines_for(inventory, capsys):
    code, out, err = run(capsys, "drift", str(inventory), "--print-schedule", "kubernetes", "--every", "45m")
    assert code == 1 and out == "" and "one cron schedule" in err


SLOW = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam", "faults": {"delay_seconds": 300}},
]


def test_sigterm_ends_a_run_with_a_slow_server_within_the_grace_period_and_writes_the_reports(make_lab, capsys, tmp_path):
    lab = make_lab(SLOW)
    text = inventory_text().split("    edge:")[0]  # the two Mailbox servers
    inv = lab.inventory(text)
    junit, prom = tmp_path / "drift.xml", tmp_path / "drift.prom"
    env = {**os.environ, "NO_COLOR": "1", "EXCONF_TEST_NET": os.environ.get("EXCONF_TEST_NET", "150")}
    proc = subprocess.Popen([sys.executable, "-m", "exconf", "drift", str(inv), "--junit", str(junit), "--prometheus", str(prom), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while lab.stats()["EX01"]["requests"] < 7 and time.monotonic() < deadline:  # EX01 read (7); EX02 answers in 300 s
            time.sleep(0.2)
        assert lab.stats()["EX01"]["requests"] >= 7
        proc.send_signal(signal.SIGTERM)
        out, rest = proc.communicate(timeout=schedule.GRACE_SECONDS)  # the pod's grace period: it ends before SIGKILL
    finally:
        proc.kill()
    assert proc.returncode == 1 and "Traceback" not in rest
    doc = json.loads(out)
    assert any("interrupted" in n for n in doc["drift"]["notes"]), (doc["drift"]["notes"], [f.get("message") for f in doc["findings"] if f["drift"] == "error"])
    host = [f for f in doc["findings"] if f["resource"] == "host"]
    assert [h["host"] for h in host] == ["ex02.contoso.lab"] and "interrupted" in host[0]["message"]
    assert junit.is_file() and "exconf_drift_last_run_exit_code 1" in prom.read_text()
    # the abandoned host is not recorded as an outage (a stopped run is not the server's fault)
    code, out, _ = run(capsys, "drift", "history", str(inv), "--json")
    assert code == 0 and json.loads(out)["outages"] == []
