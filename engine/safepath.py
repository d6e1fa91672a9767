"""Which group_vars/host_vars files belong to a group or host, read only inside the inventory's folder.

Host and group names come from the inventory, so they are untrusted file names: a
host named ``../x`` or a group named ``/etc/passwd`` must not reach a file outside
``host_vars``/``group_vars``. Ansible's vars plugin skips names that start with a path
separator ("chroot" host names; ansible-core lib/ansible/plugins/vars/host_group_vars.py);
exconf skips every name that is not a single file name, since no file in the folder can
carry it. Inside a folder the rules are Ansible's DataLoader._get_dir_vars_files
(lib/ansible/parsing/dataloader.py): sorted; hidden files and ``~`` backups skipped; a
sub-folder is read only when its name has no extension; a file only with no extension or
one of C.YAML_FILENAME_EXTENSIONS. Where Ansible silently skips a link that leads nowhere,
exconf reports it (a symlink loop, a dangling link), and a link that leads outside the
inventory's folder is refused rather than followed.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

YAML_EXTENSIONS = (".yml", ".yaml", ".json")  # ansible-core's C.YAML_FILENAME_EXTENSIONS


@dataclass
class Found:
    """The files to read, in order, and the problems met on the way (path, what is wrong)."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)


def is_file_name(name: str) -> bool:
    """True when ``name`` can only name an entry of the folder it is joined to."""
    return name not in ("", ".", "..") and not any(c in name for c in ("/", "\\", "\0")) and not os.path.isabs(name)


def inside(root: Path, name: str) -> Path | None:
    """``root / name`` with every link resolved, if it stays inside ``root`` (an absolute ``name`` too); else None."""
    boundary = root.resolve()
    try:
        target = (root / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL in the name
        return None
    return target if target == boundary or boundary in target.parents else None


def vars_files(folder: Path, name: str, root: Path) -> Found:
    """The first of ``folder/name``, ``name.yml``, ``name.yaml``, ``name.json``; for a folder, the files in it.

    ``root`` is the inventory's folder: nothing outside it is read.
    """
    found = Found()
    if not is_file_name(name):
        return found
    boundary = root.resolve()
    for ext in ("",) + YAML_EXTENSIONS:  # the first that exists wins (DataLoader.find_vars_files)
        candidate = folder / (name + ext)
        if not candidate.is_symlink() and not candidate.exists():
            continue
        kind = _kind(candidate, boundary, found)
        if kind == "file":
            found.files.append(candidate)
        elif kind == "dir":
            _walk(candidate, boundary, found, (candidate.resolve(),))
        break
    return found


def _kind(path: Path, boundary: Path, found: Found) -> str | None:
    """'file', 'dir', or None (absent, or a problem recorded in ``found``)."""
    if not path.is_symlink() and not path.exists():
        return None
    try:
        real = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a symlink loop this way
        found.problems.append((path, "symbolic link loop; exconf cannot read it"))
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            found.problems.append((path, "symbolic link loop; exconf cannot read it"))
        else:
            found.problems.append((path, "symbolic link to a file that does not exist"))
        return None
    if real != boundary and boundary not in real.parents:
        found.problems.append((path, "leads outside the inventory's folder; exconf reads only files inside it"))
        return None
    if real.is_dir():
        return "dir"
    if real.is_file():
        return "file"
    return None  # a socket, a device or a pipe is not a vars file (Ansible's is_file skips it too)


def _walk(folder: Path, boundary: Path, found: Found, trail: tuple[Path, ...]) -> None:
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        found.problems.append((folder, f"cannot list: {exc.strerror or exc}"))
        return
    for entry in names:
        if entry.startswith(".") or entry.endswith("~"):  # hidden files (.DS_Store) and backups
            continue
        path = folder / entry
        ext = os.path.splitext(entry)[1]
        kind = _kind(path, boundary, found)
        if kind == "dir" and not ext:
            real = path.resolve()
            if real in trail:
                found.problems.append((path, "symbolic link loop: leads back to a folder that contains it"))
                continue
            _walk(path, boundary, found, trail + (real,))
        elif kind == "file" and (not ext or ext in YAML_EXTENSIONS):
            found.files.append(path)
