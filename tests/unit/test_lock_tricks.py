"""Issue 14: the apply lock against file tricks — real files, real flock.

A symbolic link in its place (it used to truncate its target), a folder, a FIFO (it used to hang), a
read-only folder: each a clear error naming the file, and ``exconf apply`` exits 1 with no traceback.
A lock file deleted and recreated between opening and locking is not trusted: exconf locks the one there
now. A holder whose file was deleted while it held it says so when it lets go.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exconf import lock as lockmod
from exconf.cli import main
from exconf.lock import LockError, LockHeld, acquire, lock_path

INVENTORY = "all:\n  hosts:\n    ex01.contoso.com: {ansible_host: 127.0.0.1, ansible_port: 9, ansible_user: u, ansible_password: p}\n"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    return path


def apply(capsys, inventory: Path) -> tuple[int, str]:
    code = main(["apply", str(inventory), "--auto-approve"])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_symlink_in_place_of_the_lock_is_refused_and_its_target_untouched(inventory, capsys, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    lock_path(inventory, "inv").symlink_to(target)
    code, text = apply(capsys, inventory)
    assert code == 1, text
    assert f"the apply lock {lock_path(inventory, 'inv')} is a symbolic link; exconf does not follow one" in text
    assert target.read_text() == "keep me\n" and "Traceback" not in text


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_folder_or_a_fifo_in_place_of_the_lock_is_a_clear_error(inventory, capsys, kind):
    path = lock_path(inventory, "inv")
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    code, text = apply(capsys, inventory)
    assert code == 1, text
    expected = "is a folder, not a file" if kind == "folder" else "is a FIFO (named pipe), not a regular file"
    assert f"the apply lock {path} {expected}: remove it" in text and "Traceback" not in text


def test_a_lock_in_a_read_only_folder_is_a_clear_error(tmp_path):
    """As root, permissions are dropped with capsh (CAP_DAC_OVERRIDE would let root write anyway)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "inv.yaml").write_text(INVENTORY)
    folder.chmod(0o555)
    argv = [sys.executable, "-m", "exconf", "apply", str(folder / "inv.yaml"), "--auto-approve"]
    if os.geteuid() == 0:
        if shutil.which("capsh") is None:
            pytest.skip("root without capsh: a read-only folder cannot be made")
        argv = ["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner", "--", "-c", " ".join(f"'{a}'" for a in argv)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    finally:
        folder.chmod(0o755)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot take the apply lock {folder / '.exconf-inv.lock'}: Permission denied (the inventory's folder is read-only)" in done.stderr
    assert "Traceback" not in done.stderr and not (folder / ".exconf-inv.lock").exists()


def test_a_lock_file_replaced_between_open_and_lock_is_not_trusted(inventory, monkeypatch):
    """The race: this apply opened the file; before it locked it, the file was deleted and another apply
    created a new one and locked it. Locking the deleted file would guard nothing: exconf sees that the
    path names another file now, opens that one, and finds it held."""
    path = lock_path(inventory, "inv")
    path.write_text("")
    real = fcntl.flock
    other: list[int] = []

    def flock_after_a_swap(fd: int, op: int) -> None:
        if not other:
            path.unlink()
            fd2 = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            real(fd2, fcntl.LOCK_EX)  # another apply holds the new file
            os.pwrite(fd2, b'{"host": "other-pc", "pid": 4242, "since": "now", "command": "exconf apply"}', 0)
            other.append(fd2)
        real(fd, op)

    monkeypatch.setattr(lockmod.fcntl, "flock", flock_after_a_swap)
    try:
        with pytest.raises(LockHeld) as exc:
            acquire(inventory, "inv", "exconf apply")
    finally:
        for fd in other:
            os.close(fd)
    assert "other-pc, pid 4242" in str(exc.value)


def test_a_holder_whose_file_was_deleted_says_so_when_it_lets_go(inventory):
    told: list[str] = []
    held = acquire(inventory, "inv", "exconf apply")
    held.on_lost = told.append
    assert held.lost() == ""
    lock_path(inventory, "inv").unlink()  # e.g. a clean-up of ignored files while the apply runs
    second = acquire(inventory, "inv", "exconf apply")  # nothing can tell it about the first
    second.release()
    held.release()
    assert len(told) == 1 and "was deleted or replaced while this apply held it" in told[0]
    assert "another apply may have run at the same time" in told[0]


def test_the_lock_is_created_private_and_taken_once(inventory):
    first = acquire(inventory, "inv", "exconf apply")
    try:
        assert lock_path(inventory, "inv").stat().st_mode & 0o777 == 0o600
        with pytest.raises(LockHeld):
            acquire(inventory, "inv", "exconf apply")
    finally:
        first.release()
    acquire(inventory, "inv", "exconf apply").release()


def test_lock_errors_are_lock_errors():
    assert issubclass(LockHeld, LockError)
