"""Issue 14: Ctrl-C and "result unknown" end with the documented exit code and a recap, never a traceback.

- Ctrl-C between two waves of an apply (after the Edge wrote its subscription file, before the import):
  the recap prints and the exit code is never 1 once something was changed.
- Ctrl-C while exconf starts (importing its modules, at the vault password prompt): one line, exit 1.
- An apply whose answer is lost after the server made the change ("result unknown"): exit 4, as
  docs/faults.md says, and the change was indeed made.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from exconf import commands, runner
from exconf.cli import main

from .conftest import EDGE_PASSWORD, PASSWORD
from .hostile_winrm import TamperingProxy, reply


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


EDGE_INVENTORY = f"""
all:
  hosts:
    ex01: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}
    edge01:
      ansible_host: "{{EDGE01}}"
      ansible_user: EDGE01\\Administrator
      ansible_password: {EDGE_PASSWORD}
      ansible_winrm_transport: ntlm
      exchange:
        edge_subscription: {{site: Amsterdam}}
"""


def test_ctrl_c_between_waves_prints_the_recap_and_never_exits_1(make_lab, capsys, monkeypatch):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}])
    real = runner.late_for_window
    pressed: list[str] = []
    heard = threading.Event()
    told = commands.interrupted

    def press_between_waves(op, sent_at, now):
        # Called as a host's later wave starts (a wave is not a barrier: apply_tasks): a real SIGINT lands here, and
        # the runner, which counts presses while hosts are in flight, lets that host finish and starts nothing more.
        if op.within and not pressed:
            pressed.append(op.id)
            signal.raise_signal(signal.SIGINT)
            assert heard.wait(30)  # the main thread has seen the press (it says so) before this host goes on
        return real(op, sent_at, now)

    def interrupted(err, flying):
        told(err, flying)
        heard.set()

    monkeypatch.setattr(runner, "late_for_window", press_between_waves)
    monkeypatch.setattr(commands, "interrupted", interrupted)
    code, out, err = run(capsys, "apply", str(lab.inventory(EDGE_INVENTORY)), "--auto-approve")
    assert pressed, "the apply never reached a second wave"
    assert code == 2, out + err  # the Edge made its file: something changed, so never 1
    assert "Interrupted: no new host will be started; waiting up to 10 s for 1 host in flight (ex01)" in err
    assert "RECAP" in out and "not attempted: the run was interrupted" in out
    assert "failed=1" in [line for line in out.splitlines() if line.startswith("edge01")][0]
    assert "Traceback" not in out + err


def _exconf(*argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *argv], env={**os.environ, "NO_COLOR": "1"}, **kwargs)


def test_ctrl_c_while_exconf_imports_its_modules_is_one_line(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    ex01: {ansible_user: u, ansible_password: p}\n")
    # -X importtime reports each import as it completes: exconf.remote says the command line is being imported.
    proc = _exconf("-X", "importtime", "-m", "exconf", "plan", str(inv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   stdin=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.split("|")[-1].strip() == "exconf.remote":  # imported by the command line, early
            proc.send_signal(signal.SIGINT)
            break
    out, rest = proc.communicate(timeout=60)
    messages = [line for line in seen + rest.splitlines(keepends=True) if not line.startswith("import time:")]
    assert proc.returncode == 1, "".join(messages)
    assert [m.strip() for m in messages if m.strip()] == ["Interrupted."]
    assert out == ""


def test_ctrl_c_at_the_vault_password_prompt_is_one_line(tmp_path):
    inv = tmp_path / "inv.yaml"
    # The password is a vaulted value the host needs: exconf asks for the vault password when it decrypts it.
    inv.write_text("all:\n  hosts:\n    ex01: {ansible_user: u, ansible_password: '{{ vault_exadmin_password }}'}\n")
    (tmp_path / "group_vars").mkdir()
    vaulted = Path(__file__).resolve().parents[1] / "data" / "inventories" / "estate" / "group_vars" / "all" / "vault.yml"
    (tmp_path / "group_vars" / "all.yml").write_text(vaulted.read_text())
    main_fd, child_fd = pty.openpty()

    def own_terminal() -> None:  # a session of its own, with the pty as its controlling terminal, as in a shell
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = _exconf("-m", "exconf", "plan", str(inv), "--ask-vault-pass", stdin=child_fd, stdout=child_fd, stderr=child_fd,
                   preexec_fn=own_terminal)
    os.close(child_fd)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"Vault password" not in shown and time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 1)
            if ready:
                shown += os.read(main_fd, 4096)
        assert b"Vault password" in shown, shown
        os.write(main_fd, b"\x03")  # Ctrl-C typed on the terminal: the kernel sends SIGINT
        proc.wait(timeout=60)
        while True:
            ready, _, _ = select.select([main_fd], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main_fd)
        if proc.poll() is None:
            proc.kill()
    text = shown.decode(errors="replace")
    assert proc.returncode == 1, text
    assert "Interrupted." in text and "Traceback" not in text


def test_an_answer_lost_after_the_change_was_made_exits_4_result_unknown(make_lab, capsys):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "winrm": {"allow_unencrypted": True}}])

    def lose_the_apply_answer(action, counts, response):
        # The second command is the apply: the lab makes the change; its answer is replaced by garbage.
        if action == "Receive" and counts.get("Command") == 2:
            return reply("200 OK", b"<not-ws-management")
        return None

    proxy = TamperingProxy((lab.addresses["EX01"], 5985), lose_the_apply_answer)
    text = (f"all:\n  hosts:\n    ex01:\n      ansible_host: {proxy.host}\n      ansible_port: {proxy.port}\n"
            f"      ansible_user: CONTOSO\\exadmin\n      ansible_password: {PASSWORD}\n"
            "      ansible_winrm_message_encryption: never\n      exconf_accept_cleartext: true\n"
            '      exchange: {receive_connectors: {"Default {server}": {protocol_logging_level: Verbose}}}\n')
    try:
        code, out, err = run(capsys, "apply", str(lab.inventory(text)), "--auto-approve")
    finally:
        proxy.stop()
    assert code == 4, out + err
    assert "result unknown" in out and "Traceback" not in out + err
    (connector,) = lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default EX01")
    assert connector["ProtocolLoggingLevel"] == "Verbose"  # it was made; exconf could not know


@pytest.mark.parametrize("when", ["plan", "apply"])
def test_the_message_of_an_interrupt_before_any_change_says_nothing_was_changed(tmp_path, capsys, monkeypatch, when):
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    ex01: {ansible_user: u, ansible_password: p}\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("exconf.cli.load_from_args", interrupted)
    code, out, err = run(capsys, when, str(inv), *(["--auto-approve"] if when == "apply" else []))
    assert code == 1
    assert err.strip() == "Interrupted." + (" Nothing was changed on any server." if when == "apply" else "")
