"""Running drift on a schedule: the --every loop, and ready-to-install units (--print-schedule).

The loop never overlaps runs (the next one starts only after the previous one ended, then waits the interval
plus a random jitter of up to 10 % so that many instances do not hit the servers at once). SIGTERM or SIGINT
ends it: during a wait at once; during a run, hosts still being read get the runner's grace (10 s) and are
then abandoned, the reports are written, and the loop ends — so a run stops well within a pod's grace period.

The units are generated as data and checked in the tests by the real tools: ``systemd-analyze verify``,
kubernetes-validate (strict) and croniter. Secrets never appear in them: the webhook URL and the vault
password reach the run as files (systemd ``LoadCredential=``, a Kubernetes Secret volume, a root-only file
for cron), never on a command line or in a unit.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Iterator

import yaml

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")
MIN_INTERVAL = 1
JITTER = 0.10
STATE_DIR = Path("/var/lib/exconf")
CONFIG_DIR = Path("/etc/exconf")
K8S_INVENTORY = Path("/etc/exconf/inventory")
K8S_SECRETS = Path("/run/secrets/exconf")
GRACE_SECONDS = 30  # a pod's terminationGracePeriodSeconds: the runner abandons hosts 10 s after SIGTERM


def parse_interval(text: str) -> int:
    """``15m``, ``1h30m``, ``90s``, ``1d`` → seconds; ValueError naming the value otherwise."""
    s = text.strip().lower()
    if not s or _DURATION.sub("", s):
        raise ValueError(f"--every {text!r} is not a duration: use a number and a unit, such as 15m, 1h, 90s or 1d12h")
    total = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(s))
    if total < MIN_INTERVAL:
        raise ValueError(f"--every {text!r} must be at least {MIN_INTERVAL} s")
    return total


@contextmanager
def stop_on_signals(stop: threading.Event, *, interrupt: bool = True) -> Iterator[None]:
    """SIGTERM (and SIGINT when ``interrupt``: a loop) set ``stop`` instead of killing the process mid-run; SIGTERM
    also reaches the runner as an interrupt, so hosts in flight are abandoned after its grace (main thread only).
    A single run keeps Ctrl-C as every exconf command has it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_int(signum: int, frame: object) -> None:
        stop.set()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler not in (on_int, signal.default_int_handler):  # the runner counts interrupts
            handler(signal.SIGINT, frame)  # while hosts are in flight: the first one gives them their grace

    if interrupt:
        signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def loop(run: Callable[[], int], every: int, *, count: int | None = None, stop: threading.Event | None = None,
         rng: random.Random | None = None, on_wait: Callable[[float], None] | None = None) -> int:
    """Run, wait, run … until ``count`` runs or a stop; returns the last run's exit code."""
    stop = stop or threading.Event()
    rng = rng or random.Random()
    code = 0
    done = 0
    while not stop.is_set():
        code = run()
        done += 1
        if (count is not None and done >= count) or stop.is_set():
            break
        delay = every + rng.uniform(0, every * JITTER)
        if on_wait is not None:
            on_wait(delay)
        if stop.wait(delay):
            break
    return code


# --- what a scheduled run repeats --------------------------------------------------------------------


def exconf_command() -> list[str]:
    """The absolute command that runs this exconf: its console script when that is what runs, else this Python."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "exconf" and script.exists():
        return [str(script.resolve())]
    found = shutil.which("exconf", path=str(Path(sys.executable).parent))
    if found:
        return [str(Path(found).resolve())]
    return [str(Path(sys.executable).absolute()), "-m", "exconf"]


@dataclass
class Job:
    """One drift check as a scheduler will run it: absolute paths, outputs, secrets as files."""

    inventory: Path
    sources: list[Path] = field(default_factory=list)  # more -i sources
    options: list[str] = field(default_factory=list)  # options without paths or secrets (--limit, --keep-days …)
    outputs: dict[str, Path] = field(default_factory=dict)  # --html, --junit, --prometheus, --openmetrics, --events
    history: Path | None = None
    vault_files: list[Path] = field(default_factory=list)
    notify: bool = False  # a webhook: its URL comes from a secret file
    notify_file: Path | None = None  # where the user keeps it
    correct: bool = False

    @staticmethod
    def from_args(args: argparse.Namespace, inventory: Path) -> Job:
        options: list[str] = []
        for flag in ("limit", "syslog", "digest_at", "report_url"):
            value = getattr(args, flag, None)
            if value is not None:
                options += [f"--{flag.replace('_', '-')}", str(value)]
        if args.keep_days != 90:
            options += ["--keep-days", str(args.keep_days)]
        if args.forks != 10:
            options += ["--forks", str(args.forks)]
        if args.correct:
            options += ["--correct", *[k for c in args.correct for k in c.split(",") if k]]
        if args.undeclared:
            options.append("--undeclared")
        outputs = {flag: Path(getattr(args, flag)).absolute() for flag in ("html", "junit", "prometheus", "openmetrics", "events")
                   if getattr(args, flag, None) is not None}
        return Job(
            inventory=inventory.absolute(),
            sources=[Path(s).absolute() for s in args.inventories if Path(s) != inventory],
            options=options, outputs=outputs,
            history=None if args.no_history or args.history is None else Path(args.history).absolute(),
            vault_files=[Path(f).absolute() for f in args.vault_password_files],
            notify=bool(args.notify or args.notify_url_file),
            notify_file=Path(args.notify_url_file).absolute() if args.notify_url_file else None,
            correct=bool(args.correct),
        )

    def history_path(self, state_dir: Path) -> Path:
        return self.history or state_dir / f"{self.inventory.stem}.drift.sqlite"

    def argv(self, *, inventory: Path, sources: list[Path], outputs: dict[str, Path], history: Path, vault: list[str],
             notify: str | None) -> list[str]:
        args = ["drift", str(inventory)]
        for s in sources:
            args += ["-i", str(s)]
        for v in vault:
            args += ["--vault-password-file", v]
        args += ["--history", str(history)]
        for flag, path in outputs.items():
            args += [f"--{flag}", str(path)]
        if notify:
            args += ["--notify-url-file", notify]
        return args + self.options


# --- systemd -----------------------------------------------------------------------------------------


def _calendar(every: int) -> str | None:
    """An OnCalendar= expression that fires exactly every ``every`` seconds, when there is one."""
    if every % 60:
        return None
    minutes = every // 60
    if minutes < 60 and 60 % minutes == 0:
        return f"*-*-* *:00/{minutes}:00"
    if minutes % 60 == 0 and minutes <= 1440 and 24 % (minutes // 60) == 0:
        return f"*-*-* 00/{minutes // 60}:00:00"
    return None


def _systemd_quote(arg: str) -> str:
    """ExecStart= quoting (systemd.service "Command lines"): double quotes, backslash escapes; % doubled, except the
    credentials directory specifier %d that this module puts in front of a credential's name."""
    text = "%d/" + arg[3:].replace("%", "%%") if arg.startswith("%d/") else arg.replace("%", "%%")
    if text and not re.search(r"[\s\"'\\;$]", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd(job: Job, every: int) -> dict[str, str]:
    """exconf-drift.service and exconf-drift.timer."""
    creds: list[tuple[str, Path]] = []
    vault = []
    for i, f in enumerate(job.vault_files):
        name = f"vault-password-{i}" if len(job.vault_files) > 1 else "vault-password"
        creds.append((name, f))
        vault.append(f"%d/{name}")
    notify = None
    if job.notify:
        creds.append(("notify-url", job.notify_file or CONFIG_DIR / "notify-url"))
        notify = "%d/notify-url"
    history = job.history_path(STATE_DIR)
    argv = exconf_command() + job.argv(inventory=job.inventory, sources=job.sources, outputs=job.outputs, history=history,
                                      vault=vault, notify=notify)
    writable = sorted({str(p.parent) for p in [history, *job.outputs.values()] if not _inside(p, STATE_DIR)})
    if job.correct:  # the apply lock (drift --correct) is taken beside the inventory
        writable.append(str(job.inventory.parent))
    lines = [
        "[Unit]",
        f"Description=exconf drift check of {job.inventory}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "ExecStart=" + " ".join(_systemd_quote(a) if i else a for i, a in enumerate(argv)),
        "# Exit 2 means drift was found: a result, not a failure of the unit.",
        "SuccessExitStatus=2",
        "# SIGTERM: hosts still being read are abandoned after 10 s and the reports written.",
        f"TimeoutStopSec={GRACE_SECONDS}",
        "DynamicUser=yes",
        "# The history and the reports: /var/lib/exconf (the inventory must be readable by any user, or by a group given here).",
        "StateDirectory=exconf",
        "WorkingDirectory=/var/lib/exconf",
    ]
    lines += [f"ReadWritePaths={p}" for p in writable]
    lines += [f"LoadCredential={name}:{path}" for name, path in creds]
    lines += [
        "# Passwords named by exconf_password_env: VAR=... lines in a file only root reads (or a vault, with its",
        "# password file given to --vault-password-file, which is passed as a credential above).",
        "EnvironmentFile=-/etc/exconf/drift.env",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectSystem=strict",
        "ProtectHome=" + ("read-only" if any(_inside(p, Path(h)) for p in (Path(argv[0]), job.inventory) for h in ("/home", "/root", "/run/user"))
                          else "yes"),
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "",
    ]
    calendar = _calendar(every)
    timer = ["[Unit]", f"Description=Run the exconf drift check every {_human(every)}", "", "[Timer]"]
    if calendar:
        timer += [f"OnCalendar={calendar}", "# A run missed while the machine was off runs at boot.", "Persistent=true"]
    else:  # not a calendar interval (45min): monotonic timers, which Persistent= does not apply to
        timer += ["OnBootSec=1min", f"OnUnitActiveSec={every}s"]
    timer += [f"RandomizedDelaySec={max(1, int(every * JITTER))}s", "AccuracySec=1s", "", "[Install]", "WantedBy=timers.target", ""]
    return {"exconf-drift.service": "\n".join(lines), "exconf-drift.timer": "\n".join(timer)}


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# --- cron --------------------------------------------------------------------------------------------


def cron_lines(every: int) -> list[str]:
    """The five-field schedules that together fire exactly every ``every`` seconds (each day alike); ValueError
    when cron cannot: not whole minutes, or an interval that does not divide a day evenly."""
    if every % 60:
        raise ValueError(f"cron runs on whole minutes: every {every} s cannot be expressed; use --every in a service, or whole minutes")
    minutes = every // 60
    if minutes > 1440 or 1440 % minutes:
        raise ValueError(f"cron cannot run every {_human(every)} evenly (it restarts each day): choose an interval that divides "
                         "24 hours (5m, 15m, 45m, 90m, 2h, 8h …) or use systemd (--print-schedule systemd) or --every")
    if minutes == 1440:
        return ["0 0 * * *"]
    if 60 % minutes == 0:
        return [f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"]
    cycle = minutes * 60 // math.gcd(minutes, 60)  # minutes after which the pattern of minutes repeats
    hours_step = cycle // 60
    out = []
    for k in range(cycle // minutes):
        at = k * minutes
        minute, hour = at % 60, at // 60
        hours = f"*/{hours_step}" if hour == 0 else f"{hour}-23/{hours_step}"
        out.append(f"{minute} {hours if hours_step > 1 else '*'} * * *")
    return out


def cron(job: Job, every: int) -> str:
    notify = str(job.notify_file or CONFIG_DIR / "notify-url") if job.notify else None
    argv = exconf_command() + job.argv(inventory=job.inventory, sources=job.sources, outputs=job.outputs,
                                      history=job.history_path(STATE_DIR), vault=[str(v) for v in job.vault_files], notify=notify)
    flock = shutil.which("flock") or "/usr/bin/flock"
    cmd = f"{flock} -n /run/lock/exconf-drift.lock {shlex.join(argv)} >>/var/log/exconf-drift.log 2>&1"
    lines = cron_lines(every)
    head = [f"# crontab -e: every {_human(every)} (flock: a run never overlaps the previous one). Absolute paths only:",
            "# cron's PATH is short. Secrets are files only their owner reads (the webhook URL, a vault password)."]
    return "\n".join(head + [f"{when} {cmd}" for when in lines]) + "\n"


# --- Kubernetes --------------------------------------------------------------------------------------


def inventory_files(job: Job) -> list[Path]:
    """The inventory file, its group_vars/ and host_vars/ and the other -i sources inside its folder (mounted from a
    ConfigMap at the same relative paths)."""
    base = job.inventory.parent
    files = [job.inventory]
    for folder in ("group_vars", "host_vars"):
        d = base / folder
        if d.is_dir():
            files += sorted(p for p in d.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(base).parts))
    for s in job.sources:
        if not _inside(s, base):
            raise ValueError(f"--print-schedule kubernetes mounts the inventory's folder: {s} is outside {base}")
        files += [s] if s.is_file() else sorted(p for p in s.rglob("*") if p.is_file())
    return list(dict.fromkeys(files))


def _key(rel: Path) -> str:
    """A ConfigMap key ([-._a-zA-Z0-9]+) for a relative path."""
    return re.sub(r"[^-._a-zA-Z0-9]", "_", "__".join(rel.parts))


def kubernetes(job: Job, every: int) -> str:
    lines = cron_lines(every)
    if len(lines) != 1:
        raise ValueError(f"a Kubernetes CronJob has one cron schedule, and every {_human(every)} needs {len(lines)}: choose an interval "
                         "that divides an hour or a day (5m, 15m, 30m, 1h, 2h …), or run --every in a Deployment")
    base = job.inventory.parent
    files = inventory_files(job)
    items = [{"key": _key(f.relative_to(base)), "path": str(f.relative_to(base))} for f in files]
    state = Path("/var/lib/exconf")
    outputs = {flag: state / p.name for flag, p in job.outputs.items()}
    secret_items = []
    vault = []
    for i, _ in enumerate(job.vault_files):
        name = f"vault-password-{i}" if len(job.vault_files) > 1 else "vault-password"
        secret_items.append({"key": name, "path": name})
        vault.append(str(K8S_SECRETS / name))
    notify = None
    if job.notify:
        secret_items.append({"key": "notify-url", "path": "notify-url"})
        notify = str(K8S_SECRETS / "notify-url")
    args = job.argv(inventory=K8S_INVENTORY / job.inventory.name, sources=[K8S_INVENTORY / s.relative_to(base) for s in job.sources],
                    outputs=outputs, history=state / f"{job.inventory.stem}.drift.sqlite", vault=vault, notify=notify)
    deadline = max(60, every - 60)  # a run ends before the next one is due
    mounts = [{"name": "inventory", "mountPath": str(K8S_INVENTORY), "readOnly": True},
              {"name": "state", "mountPath": str(state)}]
    volumes: list[dict] = [{"name": "inventory", "configMap": {"name": "exconf-inventory", "items": items}},
                           {"name": "state", "persistentVolumeClaim": {"claimName": "exconf-drift"}}]
    if secret_items:
        mounts.append({"name": "secrets", "mountPath": str(K8S_SECRETS), "readOnly": True})
        volumes.append({"name": "secrets", "secret": {"secretName": "exconf-drift-secrets", "items": secret_items, "defaultMode": 0o400}})
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "exconf-drift", "labels": {"app.kubernetes.io/name": "exconf-drift"}},
        "spec": {
            "schedule": lines[0],
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": max(60, every // 2),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": deadline,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "exconf-drift"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "terminationGracePeriodSeconds": GRACE_SECONDS,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "exconf",
                            "image": "exconf:latest",
                            "command": ["exconf"],
                            "args": [str(a) for a in args],
                            "envFrom": [{"secretRef": {"name": "exconf-credentials"}}],  # exconf_password_env variables
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": mounts,
                        }],
                        "volumes": volumes,
                    },
                },
            }},
        },
    }
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "exconf-drift"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    create = " ".join(f"--from-file={_key(f.relative_to(base))}={f}" for f in files)
    head = ["# kubectl create configmap exconf-inventory " + create,
            "# kubectl create secret generic exconf-credentials --from-env-file=drift.env   # the exconf_password_env variables"]
    if secret_items:
        head.append("# kubectl create secret generic exconf-drift-secrets " + " ".join(
            f"--from-file={i['key']}=FILE" for i in secret_items) + "   # the webhook URL, the vault password")
    head.append("# Files the inventory names (PFX, certificates) must be in the image or another volume at the same paths.")
    body = yaml.safe_dump_all([cronjob, pvc], sort_keys=False, default_flow_style=False, allow_unicode=True)
    return "\n".join(head) + "\n" + body


def render(kind: str, job: Job, every: int) -> str:
    """A systemd service and timer, a crontab, or a Kubernetes CronJob and its claim that run this drift check."""
    if kind == "systemd":
        units = systemd(job, every)
        return "".join(f"# /etc/systemd/system/{name}\n{text}\n" for name, text in units.items())
    if kind == "cron":
        return cron(job, every)
    if kind == "kubernetes":
        return kubernetes(job, every)
    raise ValueError(f"--print-schedule {kind!r}: choose systemd, cron or kubernetes")
