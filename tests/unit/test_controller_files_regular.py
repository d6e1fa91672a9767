"""Issue 14: a PFX or a password file must be a regular file within its size limit.

``/dev/zero`` as a PFX grew exconf until the kernel killed it; a FIFO made it wait forever. Each case
runs ``exconf plan`` in its own process, with a timeout, so a hang fails the test instead of holding it:
the inventory is refused when it loads (exit 1), naming the file and what it is, with no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exconf.controllerfiles import FileChanged, read_checked
from exconf.model import FileRef
from exconf.regularfile import PFX_LIMIT, SECRET_FILE_LIMIT, NotARegularFile, read_regular

from .test_certificate_input import PASSWORD, make_pfx


def plan(inventory: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "exconf", "plan", str(inventory), *extra], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1", **(env or {})})
    return done.returncode, done.stdout + done.stderr


def certificate_inventory(tmp_path: Path, pfx: str, password: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text("all:\n  vars:\n    exchange:\n      certificates:\n"
                    f"        - import: {{pfx: '{pfx}', {password}}}\n          services: [SMTP]\n"
                    "  hosts:\n    ex01.contoso.com: {ansible_user: u, ansible_password: p}\n")
    return path


def special(tmp_path: Path, kind: str) -> Path:
    """A path that is not a regular file: a FIFO nobody writes to, /dev/zero (through a link), a folder,
    or a regular file (sparse) over the PFX limit."""
    path = tmp_path / f"special-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        with path.open("wb") as f:
            f.truncate(PFX_LIMIT + 1)
    return path


WHAT = {"fifo": "is a FIFO (named pipe), not a regular file", "zero": "is a character device, not a regular file",
        "folder": "is a folder, not a regular file", "big": "is larger than 1 MiB; exconf reads no bigger one"}


@pytest.mark.parametrize("kind", list(WHAT))
def test_a_pfx_that_is_not_a_regular_file_is_refused_when_the_inventory_loads(tmp_path, kind):
    pfx = special(tmp_path, kind)
    code, text = plan(certificate_inventory(tmp_path, str(pfx), "password_env: PFX_PW"), env={"PFX_PW": PASSWORD})
    assert code == 1, text
    assert "inv.yaml:5:" in text and "exchange.certificates[0].import.pfx" in text
    assert f"the PFX {pfx.resolve()} {WHAT[kind]}" in text, text  # a link is named by what it leads to
    assert "Traceback" not in text


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder"])
def test_a_password_file_that_is_not_a_regular_file_is_refused_when_the_inventory_loads(tmp_path, kind):
    (tmp_path / "mail.pfx").write_bytes(make_pfx()[0])
    secret = special(tmp_path, kind)
    code, text = plan(certificate_inventory(tmp_path, "mail.pfx", f"password_file: {secret.name}"))
    assert code == 1, text
    assert f"the secret file {secret.resolve()} {WHAT[kind]}" in text, text
    assert "Traceback" not in text


def test_a_password_file_over_its_limit_is_refused(tmp_path):
    (tmp_path / "mail.pfx").write_bytes(make_pfx()[0])
    big = tmp_path / "mail.pfx.password"
    with big.open("wb") as f:
        f.truncate(SECRET_FILE_LIMIT + 1)
    code, text = plan(certificate_inventory(tmp_path, "mail.pfx", "password_file: mail.pfx.password"))
    assert code == 1 and f"the secret file {big} is larger than 64 KiB" in text, text


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_vault_password_file_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n  hosts:\n    ex01.contoso.com: {ansible_user: u, ansible_password: p}\n")
    source = special(tmp_path, kind)
    code, text = plan(inv, "--vault-password-file", str(source))
    assert code == 1, text
    assert f"vault password file {source} {WHAT[kind]}" in text, text
    assert "Traceback" not in text


def test_a_saved_plans_file_replaced_by_a_fifo_is_refused_without_waiting(tmp_path):
    """read_checked (a saved plan reading its PFX again) on a FIFO: refused at once, never blocked."""
    fifo = special(tmp_path, "fifo")
    with pytest.raises(FileChanged) as exc:
        read_checked(FileRef(str(fifo), "0" * 64))
    assert str(exc.value) == f"the file {fifo} is a FIFO (named pipe), not a regular file"


def test_a_regular_file_at_its_limit_is_read_whole(tmp_path):
    path = tmp_path / "exact"
    path.write_bytes(b"x" * 1000)
    assert read_regular(path, limit=1000, what="the file") == b"x" * 1000
    with pytest.raises(NotARegularFile, match="is larger than 999 bytes"):
        read_regular(path, limit=999, what="the file")
    with pytest.raises(NotARegularFile, match=f"cannot read the file {tmp_path / 'missing'}: No such file or directory"):
        read_regular(tmp_path / "missing", limit=10, what="the file")
