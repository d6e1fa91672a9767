"""Ctrl-C, as a user presses it: a real exconf process, a real SIGINT, a lab server that answers slowly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from .conftest import PASSWORD

FAST_SLOW_FAST = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam", "faults": {"delay_seconds": 1.5}},
    {"name": "EX03", "role": "Mailbox", "site": "Amsterdam"},
]

INVENTORY = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange:
      receive_connectors:
        "Default {{server}}": {{protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
    ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
    ex03.contoso.lab: {{ansible_host: "{{EX03}}"}}
"""


class Exconf:
    """exconf in its own process; stderr read line by line as the user would watch it."""

    def __init__(self, *argv: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exconf", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.err: list[str] = []
        self.seen = threading.Condition()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.seen:
                self.err.append(line)
                self.seen.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self.seen:
            ok = self.seen.wait_for(lambda: any(text in line for line in self.err), timeout)
        assert ok, f"never saw {text!r} in: {''.join(self.err)}"

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self) -> tuple[int, str, str]:
        out, _ = self.proc.communicate(timeout=60)
        self.pump.join(timeout=30)  # every line of stderr, to the end
        return self.proc.returncode, out, "".join(self.err)


@pytest.fixture
def inv(make_lab):
    lab = make_lab(FAST_SLOW_FAST)
    return lab, lab.inventory(INVENTORY)


def test_first_ctrl_c_stops_new_hosts_and_a_second_leaves_at_once(inv):
    lab, path = inv
    run = Exconf("plan", str(path), "--forks", "1")
    run.wait_for("read ok: ex01.contoso.lab")
    run.interrupt()
    run.wait_for("Interrupted: no new host will be started")
    run.interrupt()
    code, out, err = run.finish()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "ex02.contoso.lab" in err.split("Interrupted:")[1].splitlines()[0]  # named as in flight
    assert "not read: interrupted" in out  # EX03 was never started
    assert "RECAP" in out
    assert lab.stats()["EX03"]["requests"] == 0


def test_an_interrupted_apply_reports_what_was_changed_and_what_is_unknown(inv):
    lab, path = inv
    run = Exconf("apply", str(path), "--forks", "1", "--auto-approve")
    run.wait_for("read ok: ex03.contoso.lab")
    read_requests = lab.stats()["EX02"]["requests"]
    run.wait_for("apply ok: ex01.contoso.lab")
    deadline = time.monotonic() + 30
    while lab.stats()["EX02"]["requests"] == read_requests and time.monotonic() < deadline:
        time.sleep(0.02)  # until EX02's apply is in flight (each of its answers takes 1.5 s)
    run.interrupt()
    run.wait_for("Interrupted:")
    run.interrupt()
    code, out, err = run.finish()
    assert "Traceback" not in out + err
    assert code in (4, 6), out + err  # something was changed: never 1
    assert "changed: [ex01.contoso.lab]" in out
    # EX02 was in flight: reported with its result unknown (or, if its answer came first, as it
    # ended); never silently dropped, never "changed".
    assert "[ex02.contoso.lab]" in out and 'changed: [ex02.contoso.lab]' not in out
    assert "result unknown" in out or "failed: ex02.contoso.lab" in err, repr(out[-700:]) + repr(err)
    assert "ex03.contoso.lab" in out and "not attempted: the run was interrupted" in out
    (ex01,) = lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    (ex03,) = lab.exec("EX03", "Get-ReceiveConnector", Identity="EX03\\Default EX03")
    assert ex01["ProtocolLoggingLevel"] == "Verbose" and ex03["ProtocolLoggingLevel"] == "None"
