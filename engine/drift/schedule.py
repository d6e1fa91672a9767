"""Running drift on a schedule: the --every loop, and ready-to-install units (--print-schedule).

The loop never overlaps runs (the next one starts only after the previous one ended, then
waits the interval plus a random jitter of up to 10 % so that many instances do not hit the
servers at once), and leaves cleanly on SIGTERM or SIGINT: a signal during a wait ends the
loop at once; during a run, after that run.
"""

from __future__ import annotations

import random
import re
import shlex
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Iterator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")
MIN_INTERVAL = 1
JITTER = 0.10


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
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (main thread only) instead of killing the process mid-run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
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


def command_line(inventory: str, extra: list[str]) -> list[str]:
    return ["exconf", "drift", inventory, *extra]


def render(kind: str, inventory: str, extra: list[str], every: int) -> str:
    """A systemd service and timer, a crontab line, or a Kubernetes CronJob that runs this drift check."""
    argv = command_line(inventory, extra)
    cmd = shlex.join(argv)
    minutes = max(1, every // 60)
    if kind == "systemd":
        return f"""# /etc/systemd/system/exconf-drift.service
[Unit]
Description=exconf drift check
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={cmd}
# Exit 2 means drift was found: a result, not a failure of the unit.
SuccessExitStatus=2
# Secrets: a file only root can read, e.g. EXCONF_PASSWORD=...
EnvironmentFile=-/etc/exconf/drift.env
DynamicUser=yes
StateDirectory=exconf
WorkingDirectory=/var/lib/exconf
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

# /etc/systemd/system/exconf-drift.timer
[Unit]
Description=Run the exconf drift check every {minutes} min

[Timer]
OnBootSec=5min
OnUnitActiveSec={minutes}min
RandomizedDelaySec={max(1, minutes * 6)}s
Persistent=true

[Install]
WantedBy=timers.target
"""
    if kind == "cron":
        step = f"*/{minutes}" if minutes < 60 else "0"
        hours = "*" if minutes < 60 else f"*/{max(1, minutes // 60)}"
        return (f"# crontab -e (flock: a run never overlaps the previous one)\n"
                f"{step} {hours} * * * flock -n /tmp/exconf-drift.lock {cmd} >>/var/log/exconf-drift.log 2>&1\n")
    if kind == "kubernetes":
        step = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{max(1, minutes // 60)} * * *"
        args = "".join(f"\n            - {a!r}" if any(c in a for c in ":#{}[]&*!|>'\"%@`") else f"\n            - {a}" for a in argv[1:])
        return f"""apiVersion: batch/v1
kind: CronJob
metadata:
  name: exconf-drift
spec:
  schedule: "{step}"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          securityContext:
            runAsNonRoot: true
          containers:
          - name: exconf
            image: exconf:latest
            command: ["exconf"]
            args:{args}
            envFrom:
            - secretRef:
                name: exconf-credentials   # the passwords the inventory reads with exconf_password_env
            securityContext:
              allowPrivilegeEscalation: false
              readOnlyRootFilesystem: true
            volumeMounts:
            - {{name: inventory, mountPath: /etc/exconf, readOnly: true}}
            - {{name: state, mountPath: /var/lib/exconf}}
          volumes:
          - {{name: inventory, configMap: {{name: exconf-inventory}}}}
          - {{name: state, persistentVolumeClaim: {{claimName: exconf-drift-history}}}}
"""
    raise ValueError(f"--print-schedule {kind!r}: choose systemd, cron or kubernetes")
