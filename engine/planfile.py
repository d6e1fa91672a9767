"""Saved plans: what was reviewed, authenticated, and the rule for applying it.

``plan --out FILE`` writes the Contract's JSON plan plus a ``saved`` section:
where the plan came from (exconf version, remote program hash, the inventory's
sources and digest, ``--limit``, the organisation's carrier) and the *review*
(review.py): every change and every cmdlet it runs, as ``show`` prints them. The
whole file carries an HMAC with the user's plan key (plankey.py).

Nothing executable is read back from a plan file. ``apply FILE`` checks the file
(owner, mode, size, MAC) before reading any host, loads the inventory the plan
names, reads the hosts the plan changes again, plans them again, derives the
review of that fresh plan and runs the fresh plan only when its review is the
one in the file (docs/plan-files.md). No secret is ever written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exconf import __version__
from exconf.remote import program_hash

from . import plankey
from .controllerfiles import FileChanged, read_checked
from .inventory import Inventory
from .model import FileRef, Plan
from .review import files, review

PLANFILE_VERSION = 2
MAX_BYTES = 64 * 1024 * 1024  # a plan of thousands of hosts is a few MB; anything far beyond is not a plan
MAX_DEPTH = 32  # a plan nests about 8 deep


class PlanFileError(Exception):
    """The file is not a plan exconf can apply; the message says why (never a line of the file)."""


@dataclass(frozen=True)
class SavedPlan:
    review: dict[str, Any]  # what show prints and apply compares (review.py)
    public: dict[str, Any]  # the Contract's plan document, as plan --json printed it
    exconf_version: str
    program_hash: str
    inventory: Path  # absolute: the first source
    inventory_digest: str
    limit: str | None
    created: str
    org_host: str | None
    sources: tuple[Path, ...] = ()  # every inventory source (-i), absolute
    carrier_only: tuple[str, ...] = ()  # hosts outside --limit read only to carry organisation-wide objects
    authentic: str | None = None  # None when the MAC verified with this user's key; else why not

    @property
    def overridden(self) -> tuple[str, ...]:
        return tuple(self.review["overridden"])


def inventory_files(inventory: Inventory) -> list[Path]:
    """Every file the inventory's values came from, and the inventory file itself."""
    # Found without reading them: reading every host's files would decrypt vaults no selected host needs.
    return sorted({inventory.path.resolve(), *inventory.files()})


def inventory_digest(inventory: Inventory, extra_vars: tuple[str, ...] = ()) -> str:
    """SHA-256 over the inventory's files (path relative to the inventory's folder, and content)
    and the ``-e`` arguments (which are not stored: they may hold secrets)."""
    h = hashlib.sha256()
    for arg in extra_vars:
        h.update(b"-e\0" + hashlib.sha256(arg.encode()).digest())
    base = inventory.path.resolve().parent
    for file in inventory_files(inventory):
        try:
            data = file.read_bytes()
        except OSError:
            data = b""
        h.update(os.path.relpath(file, base).encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


# --- writing -------------------------------------------------------------------


def new(
    plan: Plan, inventory: Inventory, limit: str | None, org_host: str | None, extra_vars: tuple[str, ...] = (), carrier_only: tuple[str, ...] = ()
) -> SavedPlan:
    if inventory is not None and len(inventory.paths) < len(inventory.sources):
        raise PlanFileError("a plan made from a host list (-i 'ex01,ex02,') cannot be saved: apply PLANFILE loads the plan's inventory "
                            "again, and a host list is not a file; write the hosts in an inventory file")
    for change in plan.changes:
        if any(p.sensitive for p in change.properties):
            raise PlanFileError(f"{change.host}: {change.kind} {change.name!r}: a sensitive value cannot be saved in a plan file")
    return SavedPlan(
        review=review(plan),
        public={},
        exconf_version=__version__,
        program_hash=program_hash(),
        inventory=inventory.path.resolve(),
        inventory_digest=inventory_digest(inventory, extra_vars),
        limit=limit,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        org_host=org_host,
        sources=tuple(p.resolve() for p in (inventory.paths or (inventory.path,))),
        carrier_only=carrier_only,
    )


def to_json(saved: SavedPlan, public: dict[str, Any]) -> dict[str, Any]:
    """The Contract's plan document (``public``) plus the ``saved`` section (the MAC is added by ``save``)."""
    return {
        **public,
        "saved": {
            "planfile_version": PLANFILE_VERSION,
            "exconf_version": saved.exconf_version,
            "program_hash": saved.program_hash,
            "inventory": str(saved.inventory),
            "sources": [str(s) for s in saved.sources],
            "inventory_digest": saved.inventory_digest,
            "limit": saved.limit,
            "created": saved.created,
            "org_host": saved.org_host,
            "carrier_only": list(saved.carrier_only),
            "review": saved.review,
        },
    }


def save(path: Path, saved: SavedPlan, public: dict[str, Any], key: bytes) -> None:
    """Write the plan file, authenticated with ``key``, with mode 0600 (never readable by others, even
    for an instant) and atomically."""
    document = to_json(saved, public)
    document["mac"] = plankey.sign(key, document)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- reading -------------------------------------------------------------------


def _read_bounded(path: Path, *, strict: bool) -> bytes:
    """The file's bytes: a regular file within MAX_BYTES; with ``strict`` (apply), owned by this user and
    writable by no one else, as ssh wants a private key."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise PlanFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PlanFileError(f"{path} is not a regular file, so not a plan file")
        if st.st_size > MAX_BYTES:
            raise PlanFileError(f"{path} is {st.st_size:,} bytes; a plan file is at most {MAX_BYTES:,}")
        if strict and st.st_uid != os.geteuid():
            raise PlanFileError(f"{path} belongs to another user (uid {st.st_uid}); exconf applies only plan files of its own user")
        if strict and st.st_mode & 0o022:
            raise PlanFileError(f"{path} can be written by others (mode {stat.S_IMODE(st.st_mode):04o}), so anyone could have changed it; "
                                f"make it private (chmod 600 {path}) and review it again")
        chunks = []
        left = MAX_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise PlanFileError(f"{path} is larger than {MAX_BYTES:,} bytes; a plan file is not")
    return data


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return deepest


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not text")
    return value


def _review_shape(doc: Any) -> dict[str, Any]:
    """The review document, checked for the shape show and apply rely on (never executed, only compared and printed)."""
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), t) for k, t in
                                            (("hosts", dict), ("changes", list), ("refusals", list), ("overridden", list), ("warnings", list), ("findings", list))):
        raise TypeError("the review is not the shape exconf writes")
    for c in doc["changes"]:
        if not isinstance(c, dict) or not isinstance(c.get("properties"), list) or not isinstance(c.get("operations"), list):
            raise TypeError("a change of the review is not the shape exconf writes")
    return doc


def load(path: Path, key: bytes | None = None, *, strict: bool = False) -> SavedPlan:
    """Read a plan file (``strict``: for apply, see _read_bounded); raise PlanFileError naming what is wrong.

    With ``key``, the MAC is checked: ``SavedPlan.authentic`` is None when it verifies, else why not
    (apply refuses such a file; show says so).
    """
    data = _read_bounded(path, strict=strict)
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_not_json, parse_float=_finite)
    except UnicodeDecodeError:
        raise PlanFileError(f"{path} is not a plan file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a JSON plan file ({exc.msg})") from None
    except ValueError as exc:  # NaN, Infinity, 1e999, an integer of 5,000 digits: Python would read them, the MAC's canonical form has no such numbers
        raise PlanFileError(f"{path} is not a JSON plan file ({exc})") from None
    except RecursionError:
        raise PlanFileError(f"{path} nests deeper than a plan file does") from None
    if _depth(doc) > MAX_DEPTH:
        raise PlanFileError(f"{path} nests deeper than a plan file does (more than {MAX_DEPTH} levels)")
    saved = doc.get("saved") if isinstance(doc, dict) else None
    if not isinstance(saved, dict):
        raise PlanFileError(f"{path} is not a saved plan: write one with exconf plan INVENTORY --out {path}")
    if saved.get("planfile_version") != PLANFILE_VERSION:
        raise PlanFileError(f"{path} is a plan file of format {saved.get('planfile_version')!r}; this exconf reads format {PLANFILE_VERSION}: "
                            "make a new one with exconf plan --out")
    authentic = plankey.problem(key, doc) if key is not None else "not checked"
    try:
        limit = saved.get("limit")
        org_host = saved.get("org_host")
        if limit is not None and not isinstance(limit, str) or org_host is not None and not isinstance(org_host, str):
            raise TypeError("limit or org_host is not text")
        return SavedPlan(
            review=_review_shape(saved["review"]),
            public={k: v for k, v in doc.items() if k not in ("saved", "mac")},
            exconf_version=_str(saved, "exconf_version"),
            program_hash=_str(saved, "program_hash"),
            inventory=Path(_str(saved, "inventory")),
            inventory_digest=_str(saved, "inventory_digest"),
            limit=limit,
            created=_str(saved, "created"),
            org_host=org_host,
            sources=tuple(Path(str(s)) for s in saved.get("sources") or [saved["inventory"]]),
            carrier_only=tuple(str(h) for h in saved.get("carrier_only") or ()),
            authentic=authentic,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(f"{path} is damaged ({type(exc).__name__}: {str(exc)[:200]}); make a new one with exconf plan --out") from None


# --- staleness -------------------------------------------------------------------


def file_problems(saved: SavedPlan) -> list[str]:
    """Controller-side files the reviewed commands send (a PFX) that are gone or changed: found before any host is read."""
    out = []
    for host, path, digest in files(saved.review):
        try:
            now = read_checked(FileRef(path, digest))
        except FileChanged as exc:
            out.append(f"{host}: {exc}")
            continue
        del now
    return out


def provenance_problems(saved: SavedPlan, inventory: Inventory | None, extra_vars: tuple[str, ...] = ()) -> list[str]:
    """Why a saved plan cannot be applied by this exconf to this inventory, before any host is read."""
    out = file_problems(saved)
    if saved.exconf_version != __version__:
        out.append(f"the plan was made by exconf {saved.exconf_version}; this is exconf {__version__}")
    if saved.program_hash != program_hash():
        out.append(f"the plan was made for remote program {saved.program_hash[:12]}…; this exconf sends {program_hash()[:12]}…")
    if inventory is not None and inventory_digest(inventory, extra_vars) != saved.inventory_digest:
        out.append(f"the inventory {saved.inventory} changed since the plan was made (or -e differs from the plan's)")
    return out
