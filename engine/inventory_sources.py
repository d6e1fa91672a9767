"""Reading inventory sources: files in any of Ansible's formats, directories, vars files, ``-e``.

Which format a file is follows ansible-core's plugin order (script, yaml,
ini): an executable file with a ``#!`` line is a script; ``.yml``/``.yaml``/
``.json`` (or no extension, when it reads as a YAML mapping) is YAML, or the
JSON of ``ansible-inventory --list``; anything else is INI. A directory is
every file in it, in name order, except hidden files, ``group_vars``,
``host_vars`` and Ansible's ignored extensions. A whole file encrypted with
ansible-vault is decrypted first, and everything in it is sensitive.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import safepath
from .hostpattern import split_port
from .inventory_data import UNGROUPED, InventoryData, VarsBlock
from .inventory_ini import read_ini_inventory
from .inventory_script import ScriptError, looks_like_list_output, read_list_json, read_script
from .inventory_yaml import read_yaml_inventory
from .schema import Issue
from .sensitive import mark
from .templating import Unsafe
from .vault import Encrypted, VaultError, VaultSecrets, decrypt, is_encrypted
from .yamlsource import Document, Location, SourceError, load_text, read_text_file
from .yamltags import Untagged, untag

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
# ansible-core's INVENTORY_IGNORE_EXTS (REJECT_EXTS + .orig, .cfg, .retry) and IGNORED_ALWAYS.
IGNORED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")


def display_path(path: Path) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Text:
    """A file's text, decrypted when it was a vault, and whether it was."""

    text: str
    secret: bool


def read_text(path: Path, secrets: VaultSecrets) -> Text:
    """Read a file; raise SourceError (or VaultError) naming it."""
    name = display_path(path)
    text = read_text_file(path, name)  # bounded in size, UTF-8 checked with the position of a bad byte
    if is_encrypted(text):
        return Text(decrypt(text, secrets, name), True)
    return Text(text, False)


def load_yaml(path: Path, secrets: VaultSecrets) -> tuple[Document, bool]:
    """A YAML file as a Document, its ``!vault`` values decrypted (and sensitive); and whether the whole file was a vault."""
    read = read_text(path, secrets)
    return yaml_document(read.text, display_path(path), secrets), read.secret


def yaml_document(text: str, name: str, secrets: VaultSecrets) -> Document:
    """Parse YAML; ``!vault`` values come back decrypted (VaultText), ``!unsafe`` ones as Unsafe."""
    tagged = untag(text)
    if not (tagged.vault or tagged.unsafe):
        return load_text(text, name)
    doc = load_text(tagged.text, name)
    hits: set[tuple[int, int]] = set()
    doc.data = _tagged(doc, (), doc.data, tagged, secrets, hits)
    for line, column in sorted((tagged.vault | tagged.unsafe) - hits):
        raise SourceError(f"{name}:{line}:{column}: !vault and !unsafe tag a text value (a scalar), not a mapping or a list")
    return doc


def _tagged(doc: Document, path: tuple[Any, ...], value: Any, tagged: Untagged, secrets: VaultSecrets, hits: set[tuple[int, int]]) -> Any:
    if isinstance(value, dict):
        return {k: _tagged(doc, path + (k,), v, tagged, secrets, hits) for k, v in value.items()}
    if isinstance(value, list):
        return [_tagged(doc, path + (i,), v, tagged, secrets, hits) for i, v in enumerate(value)]
    if isinstance(value, str) and path in doc.locations:
        at = doc.locations[path]
        if (at.line, at.column) in tagged.vault:
            hits.add((at.line, at.column))
            return Encrypted(value, secrets, str(at))  # decrypted when a selected host uses it
        if (at.line, at.column) in tagged.unsafe:
            hits.add((at.line, at.column))
            return Unsafe(value)
    return value


def json_tags(value: Any, secrets: VaultSecrets, where: str) -> Any:
    """ansible-core's JSON encoding of tagged values: ``{"__ansible_vault": ...}`` and ``{"__ansible_unsafe": ...}``."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("__ansible_vault"), str):
            return Encrypted(value["__ansible_vault"], secrets, where)
        if len(value) == 1 and isinstance(value.get("__ansible_unsafe"), str):
            return Unsafe(value["__ansible_unsafe"])
        return {k: json_tags(v, secrets, where) for k, v in value.items()}
    if isinstance(value, list):
        return [json_tags(v, secrets, where) for v in value]
    return value


def read_source(path: Path, data: InventoryData, secrets: VaultSecrets) -> None:
    """Add one ``-i`` source (file or directory) to ``data``; problems go to ``data.issues``."""
    name = display_path(path)
    if path.is_dir():
        for entry in sorted(path.iterdir(), key=lambda p: p.name):
            if entry.name.startswith(".") or entry.name in IGNORED_NAMES or entry.name.endswith(IGNORED_EXTENSIONS):
                continue
            read_source(entry, data, secrets)
        return
    if not path.exists():
        data.issues.append(f"{name}: no such inventory file or directory")
        return
    data.current_source = path.resolve()
    data.files_read.append(path.resolve())
    try:
        if os.access(path, os.X_OK) and _has_shebang(path):
            read_script(path, name, data, lambda value, where: json_tags(value, secrets, where))
            return
        read = read_text(path, secrets)
        suffix = path.suffix.lower()
        if suffix in YAML_EXTENSIONS or not suffix:
            try:
                doc = yaml_document(read.text, name, secrets)
            except SourceError:
                if suffix:
                    raise
                doc = None
            if doc is not None and isinstance(doc.data, dict):
                if looks_like_list_output(doc.data):
                    listed = json_tags(doc.data, secrets, name)
                    read_list_json(mark(listed) if read.secret else listed, name, data)
                else:
                    read_yaml_inventory(doc, data, read.secret)
                return
            if suffix:
                data.issues.append(f"{doc.where(()) if doc else name}: an inventory is a mapping of groups, starting with 'all:'")
                return
        read_ini_inventory(read.text, name, data, read.secret)
    except (SourceError, ScriptError, VaultError) as exc:
        data.issues.append(str(exc))


def is_host_list(source: str) -> bool:
    """ansible-core's host_list plugin takes a source that names no existing path and holds a comma: ``-i 'ex01,ex02,'``."""
    return "," in source and not Path(source).exists()


def read_host_list(source: str, data: InventoryData) -> None:
    """The hosts of a host list, in ``ungrouped``, each with its ``:port`` (host_list.py: ``parse_address`` per name).

    A host list has no folder: no group_vars/ or host_vars/ are read for it, as ansible-core reads none.
    """
    offset = 0
    for part in source.split(","):
        column = offset + len(part) - len(part.lstrip()) + 1
        offset += len(part) + 1
        text = part.strip()
        if not text:
            continue
        host, port = split_port(text)
        where = Location(source, 1, column)
        data.current_source = None
        data.add_host(UNGROUPED, host, where)
        data.host_source.setdefault(host, source)
        if port is not None:
            doc = Document(data={"ansible_port": port}, file=source, locations={("ansible_port",): where}, key_locations={("ansible_port",): where}, scalars={})
            data.add_host_block(host, VarsBlock(doc, (), doc.data, f"host {host}"))


def _has_shebang(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def vars_files(folder: Path, name: str, issues: list[Issue | str]) -> list[Path]:
    """ansible-core's ``find_vars_files``: the first of NAME, NAME.yml, NAME.yaml, NAME.json; a folder is every
    file in it, in order. Names are untrusted: safepath never leaves the inventory's folder and reports links
    that loop, dangle or lead outside it."""
    found = safepath.vars_files(folder, name, folder.parent)
    issues.extend(f"{display_path(p)}: {problem}" for p, problem in found.problems)
    return found.files


def vars_blocks(files: list[Path], owner: str, secrets: VaultSecrets, issues: list[Issue | str]) -> list[VarsBlock]:
    """The variables of group_vars/host_vars files, one block each."""
    blocks: list[VarsBlock] = []
    for file in files:
        try:
            doc, secret = load_yaml(file, secrets)
        except (SourceError, VaultError) as exc:
            issues.append(str(exc))
            continue
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            issues.append(Issue(str(doc.where(())), "", f"variables of {owner} must be a mapping, found {type(doc.data).__name__}"))
            continue
        blocks.append(VarsBlock(doc, (), doc.data, owner, secret))
    return blocks


def extra_vars(options: tuple[str, ...], secrets: VaultSecrets, issues: list[Issue | str]) -> list[VarsBlock]:
    """``-e key=value``, ``-e '{"yaml": "or json"}'`` and ``-e @file``, as ansible-core's load_extra_vars reads them."""
    blocks: list[VarsBlock] = []
    for index, option in enumerate(options, start=1):
        label = f"-e #{index}"  # never the option's text: it may hold a password
        try:
            doc, secret = _extra_document(option, label, secrets)
        except (SourceError, VaultError) as exc:
            issues.append(str(exc))
            continue
        if not isinstance(doc.data, dict):
            issues.append(Issue(str(doc.where(())), "", "extra variables must be a mapping"))
            continue
        blocks.append(VarsBlock(doc, (), doc.data, "extra vars", secret))
    return blocks


def _extra_document(option: str, label: str, secrets: VaultSecrets) -> tuple[Document, bool]:
    """One ``-e`` option as a Document, and whether it came from a vault-encrypted file."""
    if option.startswith("@"):
        path = Path(option[1:]).expanduser()
        if not path.is_file():
            raise SourceError(f"{label}: no extra-vars file {option[1:]}")
        return load_yaml(path, secrets)
    if option.strip()[:1] in ("{", "["):
        return yaml_document(option, label, secrets), False
    try:
        tokens = shlex.split(option)
    except ValueError as exc:
        raise SourceError(f"{label}: cannot split it as a shell would: {exc}") from None
    data: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise SourceError(f"{label}: expected key=value, @file or a YAML/JSON mapping")
        data[key] = value  # texts, as Ansible's parse_kv leaves them
    return Document(data=data, file=label, locations={(): Location(label, 1, 1)}, key_locations={}, scalars={}), False
