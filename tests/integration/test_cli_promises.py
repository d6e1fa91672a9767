"""What the user guide promises a script or a person at a terminal, over real WinRM against the lab.

JSON documents (their head, addresses, actions, a summary that agrees with the recap, the published
schemas, show --json), the apply verdict, change lines as they happen, apply without a terminal, plain
output on a terminal, and Ctrl-C while hosts are read.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exconf import __version__
from exconf.cli import main

from .conftest import round_trips, PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"},
]

INVENTORY = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
  children:
    mailbox:
      vars:
        exchange:
          receive_connectors:
            "Default {{server}}": {{protocol_logging_level: Verbose}}
      hosts:
        ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
        ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
    edge:
      vars:
        ansible_port: 5986
        ansible_user: EDGE01\\Administrator
        ansible_password: Lab-EdgeAdmin-1
        ansible_winrm_ca_trust_path: "{{CA}}"
        exchange:
          receive_connectors:
            "Default internal receive connector {{server}}": {{protocol_logging_level: Verbose}}
      hosts:
        edge01.contoso.lab: {{ansible_host: "{{EDGE01}}"}}
"""


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def test_json_documents_carry_their_head_addresses_and_actions_and_validate(lab, capsys):
    inv = lab.inventory(INVENTORY)
    code, out, _ = run(capsys, "plan", str(inv), "--json", "--limit", "ex01.contoso.lab,edge")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, schema("plan"))
    assert list(doc)[:5] == ["format_version", "exconf_version", "timestamp", "inventory", "limit"]
    assert doc["exconf_version"] == __version__ and doc["inventory"] == [str(inv)] and doc["limit"] == "ex01.contoso.lab,edge"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", doc["timestamp"])
    assert doc["hosts"]["edge01.contoso.lab"]["site"] is None  # an Edge has no site: null, never "None"
    assert doc["hosts"]["ex01.contoso.lab"]["site"] == "Amsterdam"
    addresses = {c["address"]: c["actions"] for c in doc["changes"]}
    assert addresses == {
        "ex01.contoso.lab/receive_connector/Default EX01": ["update"],
        "edge01.contoso.lab/receive_connector/Default internal receive connector EDGE01": ["update"],
    }
    # The same object has the same address in the next run (and in drift, which reports it).
    code, out, _ = run(capsys, "drift", str(inv), "--json", "--no-history", "--limit", "ex01.contoso.lab,edge")
    assert code == 2
    drift = json.loads(out)
    jsonschema.validate(drift, schema("drift"))
    assert {c["address"] for c in drift["changes"]} == set(addresses)
    assert drift["limit"] == "ex01.contoso.lab,edge" and drift["exconf_version"] == __version__


def test_apply_json_summary_and_status_agree_with_the_recap(make_lab, capsys):
    faults = {"cmdlets": [{"cmdlet": "Set-ReceiveConnector", "message": "Active Directory operation failed on DC01.contoso.lab."}]}
    lab = make_lab([{**SERVERS[0], "faults": faults}, SERVERS[1]])
    inv = lab.inventory(INVENTORY.split("    edge:")[0])
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve", "--json")
    assert code == 2, out + err
    doc = json.loads(out)
    jsonschema.validate(doc, schema("apply"))
    assert doc["recap"]["ex01.contoso.lab"]["failed"] == 1 and doc["recap"]["ex02.contoso.lab"]["failed"] == 0
    assert doc["hosts"]["ex01.contoso.lab"]["status"] == "failed" and doc["hosts"]["ex02.contoso.lab"]["status"] == "ok"
    assert doc["summary"]["failed"] == sum(1 for c in doc["recap"].values() if c["failed"]) == 1
    assert doc["summary"]["made"] == 1 and doc["summary"]["not_made"] == 1
    assert [c["outcome"] for c in doc["changes"]] == ["failed", "applied"]


def test_a_total_failure_says_apply_failed(make_lab, capsys):
    faults = {"cmdlets": [{"cmdlet": "Set-ReceiveConnector", "message": "The Active Directory server is busy."}]}
    lab = make_lab([{**s, "faults": faults} for s in SERVERS[:2]])
    inv = lab.inventory(INVENTORY.split("    edge:")[0])
    code, out, _ = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 2
    assert "Apply failed: 0 of 2 changes made." in out and "Apply complete" not in out


def test_show_prints_what_plan_printed(lab, capsys, tmp_path):
    inv = lab.inventory(INVENTORY)
    code, planned, _ = run(capsys, "plan", str(inv), "--json", "--out", str(tmp_path / "a.plan"))
    assert code == 0
    code, shown, _ = run(capsys, "show", str(tmp_path / "a.plan"), "--json")
    assert code == 0 and json.loads(shown) == json.loads(planned)
    jsonschema.validate(json.loads(shown), schema("plan"))
    saved = json.loads((tmp_path / "a.plan").read_text(encoding="utf-8"))
    assert {k: v for k, v in saved.items() if k not in ("saved", "mac")} == json.loads(planned)
    code, text, _ = run(capsys, "plan", str(inv), "--out", str(tmp_path / "b.plan"))
    code, shown_text, _ = run(capsys, "show", str(tmp_path / "b.plan"))
    head, body = shown_text.split("\n", 1)
    assert head.startswith(f"Saved plan: {tmp_path / 'b.plan'}, made ")
    assert body == text.split("\nRECAP")[0]  # the plan as plan printed it (plan adds the recap of what it read)


def test_the_plan_shows_a_legend_of_the_symbols_it_uses(lab, capsys):
    code, out, _ = run(capsys, "plan", str(lab.inventory(INVENTORY)))
    assert code == 0
    legend = out.split("exconf will perform the following actions:")[0]
    assert "Actions are shown with these symbols:" in legend and "~ update in-place" in legend
    assert "+ create" not in legend  # only the symbols this plan uses


class Exconf:
    """exconf in its own process, each stream read line by line as the user would watch it."""

    def __init__(self, *argv: str, stdin: int | None = subprocess.DEVNULL):
        self.proc = subprocess.Popen([sys.executable, "-m", "exconf", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                                     text=True, env={**os.environ, "NO_COLOR": "1"})
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self.seen = threading.Condition()
        self.pumps = [threading.Thread(target=self._pump, args=(name, stream), daemon=True)
                      for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr))]
        for pump in self.pumps:
            pump.start()

    def _pump(self, name: str, stream: Any) -> None:
        for line in stream:
            with self.seen:
                self.lines[name].append(line)
                self.seen.notify_all()

    def wait_for(self, text: str, stream: str = "err", timeout: float = 60) -> None:
        with self.seen:
            ok = self.seen.wait_for(lambda: any(text in line for line in self.lines[stream]), timeout)
        assert ok, f"never saw {text!r} in: {''.join(self.lines[stream])}"

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        for pump in self.pumps:
            pump.join(timeout=30)
        return code, "".join(self.lines["out"]), "".join(self.lines["err"])


def test_change_lines_stream_as_each_change_finishes(make_lab):
    lab = make_lab([SERVERS[0], {**SERVERS[1], "faults": {"delay_seconds": 1.0}}])
    inv = lab.inventory(INVENTORY.split("    edge:")[0])
    run = Exconf("apply", str(inv), "--auto-approve", "--forks", "2")
    run.wait_for("changed: [ex01.contoso.lab]", stream="out")
    with run.seen:
        so_far = "".join(run.lines["out"])
    # EX01's line is out while EX02 (each answer a second late) is still being changed: not at the end.
    assert "changed: [ex02.contoso.lab]" not in so_far and "RECAP" not in so_far and run.proc.poll() is None
    code, out, err = run.finish()
    assert code == 0, out + err
    assert out.count("changed: [ex01.contoso.lab]") == 1 and out.count("changed: [ex02.contoso.lab]") == 1
    assert "Apply complete: 2 of 2 changes made and verified." in out


def test_apply_without_a_terminal_refuses_before_reading_any_host(lab):
    run = Exconf("apply", str(lab.inventory(INVENTORY)))
    code, out, err = run.finish()
    assert code == 1
    assert "apply needs confirmation: run it in a terminal, or pass --auto-approve (no host was read)" in err
    assert all(s["requests"] == 0 for s in lab.stats().values())


def test_a_first_ctrl_c_while_reading_waits_for_the_slow_host_then_calls_it_not_read_not_unreachable(make_lab):
    lab = make_lab([SERVERS[0], {**SERVERS[1], "faults": {"delay_seconds": 600}}])
    inv = lab.inventory(INVENTORY.split("    edge:")[0])
    run = Exconf("plan", str(inv), "--forks", "2")
    run.wait_for("read ok: ex01.contoso.lab")
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("Interrupted: no new host will be started; waiting up to 10 s for 1 host in flight (ex02.contoso.lab)")
    code, out, err = run.finish(timeout=120)  # EX02 answers in 600 s: the run ends long before it
    assert code == 1
    assert "Traceback" not in out + err
    assert "FAILED: ex02.contoso.lab" in out and "not read: interrupted (still busy 10 s after Ctrl-C while it was being read)" in out
    assert "UNREACHABLE" not in out and "Left at once" not in out + err


def test_ctrl_c_while_an_apply_reads_its_hosts_applies_nothing_and_exits_1(make_lab):
    lab = make_lab([SERVERS[0], {**SERVERS[1], "faults": {"delay_seconds": 600}}])
    inv = lab.inventory(INVENTORY.split("    edge:")[0])
    run = Exconf("apply", str(inv), "--forks", "2", "--auto-approve")
    run.wait_for("read ok: ex01.contoso.lab")
    read = round_trips(lab)["EX01"]
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("Interrupted:")
    run.proc.send_signal(signal.SIGINT)  # a second press: leave now
    code, out, err = run.finish(timeout=120)
    assert code == 1, out + err  # nothing was attempted
    assert "Interrupted while hosts were read: nothing was sent to any server." in out
    assert round_trips(lab)["EX01"] == read  # no apply round trip reached EX01
    (rc,) = lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    assert rc["ProtocolLoggingLevel"] == "None"


def _controlling_tty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def on_terminal(args: list[str], env: dict[str, str], answer: str | None = None, timeout: float = 120) -> tuple[int, bytes]:
    """exconf on a pseudo-terminal (a real terminal to it: colour, a live count, the prompt); returns every byte it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "exconf", *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", **env}, preexec_fn=_controlling_tty, close_fds=True)
    os.close(slave)
    seen, answered, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if answer is not None and not answered and b"Enter a value:" in seen:
                    os.write(master, (answer + "\n").encode())
                    answered = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
    return code, seen


def test_on_a_terminal_colour_is_the_default_and_no_color_leaves_no_escape_sequence_at_all(lab):
    inv = str(lab.inventory(INVENTORY))
    code, coloured = on_terminal(["plan", inv], {})
    assert code == 0 and b"\x1b[" in coloured  # the contrast: a terminal gets colour and a live count by default
    assert re.search(rb"Reading \d/3 hosts", coloured)
    code, plain = on_terminal(["plan", inv], {"NO_COLOR": "1"})
    assert code == 0 and b"\x1b" not in plain and b"Plan: 0 to add, 3 to change" in plain
    # apply at the prompt, plain: the question, the answer, the changes, no escape sequence, no reconnection noise
    code, applied = on_terminal(["apply", inv, "--no-color"], {}, answer="yes")
    assert code == 0, applied.decode(errors="replace")
    text = applied.decode()
    assert "\x1b" not in text and "Do you want to perform these actions?" in text and "Apply complete: 3 of 3 changes made and verified." in text
    assert "reconnected" not in text  # exconf gave its sockets back while the user read: its own doing, not news


@pytest.mark.parametrize("press", [EOFError, KeyboardInterrupt], ids=["ctrl-d", "ctrl-c"])
def test_ctrl_c_or_ctrl_d_at_the_prompt_cancels_and_nothing_is_sent(lab, capsys, monkeypatch, press):
    inv = lab.inventory(INVENTORY)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)

    def typed(self, prompt=""):
        raise press

    monkeypatch.setattr("rich.console.Console.input", typed)
    read = round_trips(lab)
    code, out, _ = run(capsys, "apply", str(inv))
    assert code == 1 and "Apply cancelled: nothing was sent to any server." in out
    assert round_trips(lab) == {name: n + 1 for name, n in read.items()}  # the read only
