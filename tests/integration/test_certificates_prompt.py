"""The PFX password typed at a prompt (password_prompt: true), over real WinRM against the lab, with exconf
in a child process on a pseudo-terminal (getpass reads the controlling terminal, with echo off): asked once
per PFX file, never echoed; a saved plan holds only "typed at a prompt" and apply PLANFILE asks again (the
PFX's digest still checked); with no terminal, a clear error naming where it was declared, before any host."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from .test_certificates import PFX_PASSWORD, TestCA, certs, commands, inventory_text, write_pfx

PROMPT = b"Password for the PFX "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

SERVERS = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}]

DECLARED = """\
        certificates:
          - match: {subject: "CN=mail.contoso.lab", issuer: "*Test Public CA*"}
            services: [SMTP]
            import: {pfx: certs/mail.pfx, password_prompt: true}
"""


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def _controlling_tty() -> None:  # in the child: a session of its own, the pty as its controlling terminal
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def in_pty(args: list[str], answers: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str, int]:
    """Run exconf on a pseudo-terminal, typing the next answer at each password prompt.
    Returns (exit code, everything the terminal showed, prompts seen)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("SMTP_PFX_PASSWORD",)} | {"COLUMNS": "200", "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "exconf", *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                            preexec_fn=_controlling_tty, close_fds=True)
    os.close(slave)
    seen, prompts, deadline = b"", 0, time.monotonic() + timeout
    answers = list(answers)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                while seen.count(PROMPT) > prompts:
                    prompts += 1
                    os.write(master, ((answers.pop(0) if answers else "") + "\n").encode("utf-8"))
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, ANSI.sub("", seen.decode("utf-8", "replace")), prompts


def secret_refs(doc):
    """Every password reference a plan file holds."""
    if isinstance(doc, dict):
        if "secret" in doc:  # a command's -Password, as the review shows it
            yield {"origin": doc["origin"], "name": doc["name"]}
        for value in doc.values():
            yield from secret_refs(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from secret_refs(value)


def test_plan_out_saves_a_reference_and_apply_planfile_asks_again(lab, ca, tmp_path):
    thumb = write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": DECLARED}))
    plan_file = tmp_path / "mail.plan"
    code, shown, prompts = in_pty(["plan", str(inv), "--out", str(plan_file)], [PFX_PASSWORD], tmp_path)
    assert code == 0, shown
    assert prompts == 1 and f"Password for the PFX {(lab.dir / 'certs' / 'mail.pfx').resolve()}: " in shown
    assert PFX_PASSWORD not in shown  # getpass turned echo off
    assert re.search(r'password\s+= "\(none\)" -> "typed at a prompt"', shown)
    saved = plan_file.read_text(encoding="utf-8")
    assert PFX_PASSWORD not in saved and json.dumps(PFX_PASSWORD)[1:-1] not in saved
    refs = list(secret_refs(json.loads(saved)))  # the change's password and its Import step's -Password
    assert refs and all(r == {"origin": "prompt", "name": str((lab.dir / "certs" / "mail.pfx").resolve())} for r in refs)
    assert thumb not in certs(lab, "EX01")  # plan changed nothing

    code, shown, prompts = in_pty(["apply", str(plan_file)], ["Typo-Pfx-Password"], tmp_path)
    assert code == 1 and prompts == 1, shown
    assert "the password typed at a prompt does not open the PFX" in shown and "Typo-Pfx-Password" not in shown
    assert commands(lab)["EX01"] == 1  # only the plan's read: nothing sent with a wrong password

    code, shown, prompts = in_pty(["apply", str(plan_file)], [PFX_PASSWORD], tmp_path)
    assert code == 0, shown
    assert prompts == 1  # the inventory's PFX and the plan's import share one answer
    assert PFX_PASSWORD not in shown
    assert "SMTP" in str(certs(lab, "EX01")[thumb]["Services"])
    assert PFX_PASSWORD not in lab.state_file.read_text(encoding="utf-8")


def test_a_pfx_changed_since_the_plan_is_refused_after_the_prompt(lab, ca, tmp_path):
    write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": DECLARED}))
    plan_file = tmp_path / "mail.plan"
    code, shown, _ = in_pty(["plan", str(inv), "--out", str(plan_file)], [PFX_PASSWORD], tmp_path)
    assert code == 0, shown
    write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])  # re-issued
    code, shown, prompts = in_pty(["apply", str(plan_file)], [PFX_PASSWORD], tmp_path)
    assert code == 1 and prompts == 0  # refused as stale before anything is asked: the password is not needed
    assert "the saved plan is stale" in shown and "mail.pfx changed since the plan was made" in shown
    assert commands(lab)["EX01"] == 1


def test_no_terminal_is_a_clear_error_naming_where_and_drift_needs_no_password(lab, ca, tmp_path):
    """Without a terminal (cron, a pipe), a command that would import the PFX fails the host that needs it, naming
    where the prompt was declared, and changes nothing; drift imports nothing, so it needs no password at all."""
    thumb = write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": DECLARED}))
    line = next(n for n, text in enumerate(inv.read_text(encoding="utf-8").splitlines(), start=1) if "- match:" in text)
    for argv in (["plan", str(inv)], ["apply", str(inv), "--auto-approve"]):
        done = subprocess.run([sys.executable, "-m", "exconf", *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              start_new_session=True, timeout=120, cwd=tmp_path)  # no controlling terminal, as under cron
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "FAILED: ex01.contoso.lab" in out, out
        assert re.search(rf"inventory\.yaml:{line}:\d+: exchange\.certificates: the password of the PFX \S+mail\.pfx: "
                         r"it is typed at a prompt \(password_prompt\), but there is no terminal to type it on; run exconf in a terminal, "
                         r"or give it with password_env or password_file", out), out
        assert "Traceback" not in out
    assert thumb not in certs(lab, "EX01")  # nothing was imported
    done = subprocess.run([sys.executable, "-m", "exconf", "drift", str(inv), "--no-history"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, start_new_session=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # drift: the certificate is not on the server
    assert "it would be imported from the PFX certs/mail.pfx (not opened: this command imports nothing)" in done.stdout
    assert "password" not in done.stderr.lower() and "Traceback" not in done.stdout + done.stderr


def test_apply_inventory_asks_once_for_a_pfx_two_hosts_import(make_lab, ca, tmp_path):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"}])
    thumb = write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab", "ex02.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": "", "ex02": ""}, common=DECLARED.replace("        ", "      ", 1).replace("\n          ", "\n        ")))
    code, shown, prompts = in_pty(["apply", str(inv), "--auto-approve"], [PFX_PASSWORD], tmp_path)
    assert code == 0, shown
    assert prompts == 1 and PFX_PASSWORD not in shown
    assert all("SMTP" in str(certs(lab, server)[thumb]["Services"]) for server in ("EX01", "EX02"))
