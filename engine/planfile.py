"""Saved plans: the plan as a versioned JSON file, and the staleness rule for applying one.

``plan --out FILE`` writes the Contract's JSON plan plus a ``saved`` section
with what apply needs: the exconf version and remote program hash it was made
with, a digest of the inventory files, per host the endpoint and facts, and
the full changes and operations (steps as the remote contract sends them).
No secret is ever written: a sensitive value appears only as a reference.

``apply FILE`` re-reads the hosts it changes (one command each), plans them
again from the same inventory and refuses, changing nothing anywhere, when
the fresh plan is not the saved one (docs/plan-files.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exconf import __version__
from exconf.remote import FromOperation, OutputRef, Secret, SecretError, Step, program_hash

from .controllerfiles import FileChanged, PfxBytes, RefSecret, read_checked

from .inventory import Inventory
from .model import Change, FileRef, Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Operation, Plan, PropertyChange, Refusal, SecretRef, ServerFacts
from .yamlsource import Location

PLANFILE_VERSION = 1


class PlanFileError(Exception):
    """The file is not a plan exconf can apply; the message says why."""


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    exconf_version: str
    program_hash: str
    inventory: Path  # absolute: the first source
    inventory_digest: str
    limit: str | None
    created: str
    org_host: str | None
    sources: tuple[Path, ...] = ()  # every inventory source (-i), absolute
    carrier_only: tuple[str, ...] = ()  # hosts outside --limit read only to carry organisation-wide objects


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


# --- controller-side files and secrets: saved as references only ------------------

FILE_MARK = "exconf_file"  # {"exconf_file": {"path": ..., "sha256": ...}}: a PFX, read again (and checked) at apply
SECRET_MARK = "exconf_secret_ref"  # {"exconf_secret_ref": {"origin": "env", "name": ...}}: the password's source, never its value


def _saveable(value: Any, where: str) -> Any:
    """A parameter value as the plan file holds it: a file and a secret by reference, never their content."""
    if isinstance(value, PfxBytes):
        return {FILE_MARK: {"path": value.ref.path, "sha256": value.ref.digest}}
    if isinstance(value, RefSecret):
        return {SECRET_MARK: {"origin": value.ref.origin, "name": value.ref.name}}
    if isinstance(value, Secret):
        raise PlanFileError(f"{where}: a secret typed at a prompt cannot be saved in a plan file")
    if isinstance(value, (bytes, bytearray)):
        raise PlanFileError(f"{where}: bytes with no file behind them cannot be saved in a plan file")
    if isinstance(value, (OutputRef, FromOperation)):  # a reference: the bytes it names are never saved
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_saveable(v, where) for v in value]
    return value


@dataclass(frozen=True)
class GoneFile:
    """A file the saved plan needs that is gone or changed: ``provenance_problems`` refuses the plan
    (nothing is sent); ``show`` can still print it."""

    ref: FileRef
    reason: str


def _loaded(value: Any) -> Any:
    """The reverse of _saveable: the file read again (GoneFile if its SHA-256 moved), the secret's source."""
    if isinstance(value, dict) and set(value) == {FILE_MARK}:
        ref = FileRef(str(value[FILE_MARK]["path"]), str(value[FILE_MARK]["sha256"]))
        try:
            return read_checked(ref)
        except FileChanged as exc:
            return GoneFile(ref, str(exc))
    if isinstance(value, dict) and set(value) == {SECRET_MARK}:
        return RefSecret(SecretRef(str(value[SECRET_MARK]["origin"]), str(value[SECRET_MARK]["name"])))
    if isinstance(value, dict) and value.get("exconf_ref") == "Output" and set(value) == {"exconf_ref", "step", "property"}:
        return OutputRef(str(value["step"]), str(value["property"]))
    if isinstance(value, dict) and value.get("exconf_ref") == "Operation" and set(value) == {"exconf_ref", "operation", "step"}:
        return FromOperation(str(value["operation"]), str(value["step"]))
    if isinstance(value, list):
        return [_loaded(v) for v in value]
    return value


def _input_problems(plan: Plan) -> list[str]:
    """Controller-side inputs of the plan's steps that are not as planned: a PFX changed, a password source
    missing. A password typed at a prompt is asked here (once per PFX file), before any host is contacted,
    and must open the PFX the same step imports."""
    out: list[str] = []
    checked: dict[tuple[str, str], str] = {}  # (password source, PFX digest) -> problem: one PKCS#12 decryption per PFX, not per host
    for op in plan.operations:
        for step in op.steps:
            for value in step.params.values():
                if isinstance(value, GoneFile):
                    out.append(f"{op.host}: {value.reason}")
                elif isinstance(value, RefSecret):
                    ref = value.ref
                    if (ref.origin == "env" and ref.name not in os.environ) or (ref.origin == "file" and not os.access(ref.name, os.R_OK)):
                        out.append(f"{op.host}: the plan needs a password {ref.describe()}, which is not available")
                    elif ref.origin == "prompt":
                        files = [v for v in step.params.values() if isinstance(v, PfxBytes)]
                        key = (ref.name, ",".join(f.ref.digest for f in files))
                        if key not in checked:
                            checked[key] = _prompted_problem(value, files)
                        problem = checked[key]
                        if problem:
                            out.append(f"{op.host}: {problem}")
    return list(dict.fromkeys(out))


def _prompted_problem(secret: RefSecret, files: list[PfxBytes]) -> str:
    """Ask for a prompted PFX password now (not while hosts are being changed) and check it opens the PFX."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        text = secret.reveal()
    except SecretError as exc:
        return f"the password of the PFX {secret.ref.name}: {exc}"
    try:
        for data in files:
            try:
                pkcs12.load_key_and_certificates(bytes(data), text.encode("utf-8") if text else None)
            except ValueError:
                return f"the password typed at the prompt does not open the PFX {data.ref.path}"
    finally:
        del text
    return ""


def _step_json(step: Step, where: str) -> dict[str, Any]:
    doc = step.to_json()
    doc["params"] = {k: _saveable(v, where) for k, v in step.params.items()}
    return doc


# --- writing -------------------------------------------------------------------


def _loc(loc: Location) -> list[Any]:
    return [loc.file, loc.line, loc.column]


def _change(c: Change) -> dict[str, Any]:
    for p in c.properties:
        if p.sensitive:
            raise PlanFileError(f"{c.host}: {c.kind} {c.name!r}: a sensitive value cannot be saved in a plan file")
    return {
        "id": c.id,
        "host": c.host,
        "kind": c.kind,
        "name": c.name,
        "identity": c.identity,
        "action": c.action,
        "reason": c.reason,
        "properties": [
            {"prop": p.prop, "param": p.param, "before": p.before, "after": p.after, "wire": _saveable(p.wire, f"{c.host}: {c.kind} {c.name!r}"), "source": _loc(p.source)}
            for p in c.properties
        ],
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "host": f.host,
        "kind": f.kind,
        "name": f.name,
        "status": f.status.value,
        "source": _loc(f.source),
        "message": f.message,
        "properties": [
            {"prop": p.prop, "expected": None if p.sensitive else p.expected, "actual": None if p.sensitive else p.actual, "source": _loc(p.source), "sensitive": p.sensitive}
            for p in f.properties
        ],
    }


def to_json(saved: SavedPlan, public: dict[str, Any]) -> dict[str, Any]:
    """The Contract's plan document (``public``) plus the ``saved`` section."""
    plan = saved.plan
    hosts = {
        name: {
            "status": hp.status.value,
            "error": hp.error,
            "endpoint": hp.endpoint,
            "facts": hp.facts.to_json() if hp.facts else None,
            "changes": [_change(c) for c in hp.changes],
            "findings": [_finding(f) for f in hp.findings],
        }
        for name, hp in plan.hosts.items()
    }
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
            "hosts": hosts,
            "operations": [
                {"id": op.id, "host": op.host, "change": op.change, "needs": list(op.needs), "steps": [_step_json(s, op.host) for s in op.steps],
                 **({"within": list(op.within)} if op.within else {})} for op in plan.operations
            ],
            "refusals": [r.to_json() | {"change": r.change} for r in plan.refusals],
            "overridden": list(plan.overridden),
        },
    }


def new(
    plan: Plan, inventory: Inventory, limit: str | None, org_host: str | None, extra_vars: tuple[str, ...] = (), carrier_only: tuple[str, ...] = ()
) -> SavedPlan:
    return SavedPlan(
        plan=plan,
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


def save(path: Path, saved: SavedPlan, public: dict[str, Any]) -> None:
    """Write the plan file with mode 0600 (created so: never readable by others, even for an instant)."""
    text = json.dumps(to_json(saved, public), indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- reading -------------------------------------------------------------------


def _location(raw: Any) -> Location:
    return Location(str(raw[0]), int(raw[1]), int(raw[2]))


def load(path: Path) -> SavedPlan:
    """Read a plan file; raise PlanFileError naming what is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a JSON plan file ({exc.msg})") from None
    saved = doc.get("saved") if isinstance(doc, dict) else None
    if not isinstance(saved, dict):
        raise PlanFileError(f"{path} is not a saved plan: write one with exconf plan INVENTORY --out {path}")
    if saved.get("planfile_version") != PLANFILE_VERSION:
        raise PlanFileError(f"{path} is a plan file of format {saved.get('planfile_version')!r}; this exconf reads format {PLANFILE_VERSION}")
    try:
        hosts: dict[str, HostPlan] = {}
        for name, h in saved["hosts"].items():
            changes = tuple(
                Change(
                    id=c["id"],
                    host=c["host"],
                    kind=c["kind"],
                    name=c["name"],
                    identity=c["identity"],
                    action=c["action"],
                    reason=c["reason"],
                    properties=tuple(
                        PropertyChange(p["prop"], p["param"], p["before"], p["after"], _loaded(p["wire"]), _location(p["source"])) for p in c["properties"]
                    ),
                )
                for c in h["changes"]
            )
            findings = tuple(
                Finding(
                    host=f["host"],
                    kind=f["kind"],
                    name=f["name"],
                    status=FindingStatus(f["status"]),
                    source=_location(f["source"]),
                    message=f["message"],
                    properties=tuple(
                        FindingProperty(p["prop"], p["expected"], p["actual"], _location(p["source"]), bool(p.get("sensitive"))) for p in f["properties"]
                    ),
                )
                for f in h["findings"]
            )
            facts = ServerFacts.from_json(h["facts"]) if h.get("facts") else None
            hosts[name] = HostPlan(name, HostStatus(h["status"]), facts, changes, h["error"], findings, h["endpoint"])
        operations = tuple(
            Operation(
                id=op["id"],
                host=op["host"],
                change=op["change"],
                needs=tuple(op["needs"]),
                within=(str(op["within"][0]), int(op["within"][1])) if op.get("within") else None,
                steps=tuple(
                    Step(
                        id=s["id"],
                        cmdlet=s["cmdlet"],
                        params={k: _loaded(v) for k, v in (s.get("params") or {}).items()},
                        select=tuple(s.get("select") or ()),
                        skip_on_edge=bool(s.get("skip_on_edge")),
                        always_run=bool(s.get("always_run")),
                        output_file=s.get("output_file"),
                    )
                    for s in op["steps"]
                ),
            )
            for op in saved["operations"]
        )
        plan = Plan(
            hosts=hosts,
            operations=operations,
            warnings=tuple(doc.get("warnings", ())),
            refusals=tuple(Refusal.from_json(r) for r in saved["refusals"]),
            overridden=tuple(saved["overridden"]),
        )
        return SavedPlan(
            plan=plan,
            exconf_version=str(saved["exconf_version"]),
            program_hash=str(saved["program_hash"]),
            inventory=Path(saved["inventory"]),
            inventory_digest=str(saved["inventory_digest"]),
            limit=saved.get("limit"),
            created=str(saved["created"]),
            org_host=saved.get("org_host"),
            sources=tuple(Path(s) for s in saved.get("sources") or [saved["inventory"]]),
            carrier_only=tuple(saved.get("carrier_only") or ()),
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise PlanFileError(f"{path} is damaged: {type(exc).__name__} {exc}; make a new one with exconf plan --out") from None


# --- staleness -------------------------------------------------------------------


def provenance_problems(saved: SavedPlan, inventory: Inventory | None, extra_vars: tuple[str, ...] = ()) -> list[str]:
    """Why a saved plan cannot be applied by this exconf to this inventory, before any host is read."""
    out = []
    if saved.exconf_version != __version__:
        out.append(f"the plan was made by exconf {saved.exconf_version}; this is exconf {__version__}")
    if saved.program_hash != program_hash():
        out.append(f"the plan was made for remote program {saved.program_hash[:12]}…; this exconf sends {program_hash()[:12]}…")
    if inventory is not None and inventory_digest(inventory, extra_vars) != saved.inventory_digest:
        out.append(f"the inventory {saved.inventory} changed since the plan was made (or -e differs from the plan's)")
    out += _input_problems(saved.plan)
    return out


def _change_key(c: Change) -> dict[str, Any]:
    return {p.prop: (p.before, p.after) for p in c.properties}


def drift_between(saved: Plan, fresh: Plan, hosts: list[str]) -> list[str]:
    """What moved on the given hosts between the saved plan and a fresh one; empty when none."""
    out: list[str] = []
    for host in hosts:
        old, new = saved.hosts.get(host), fresh.hosts.get(host)
        if new is None or new.status is not HostStatus.OK:
            out.append(f"{host}: could not be read again: {new.error if new else 'not in this run'}")
            continue
        assert old is not None
        old_changes = {c.id: c for c in old.changes}
        new_changes = {c.id: c for c in new.changes}
        for cid, c in old_changes.items():
            label = f"{host}: {c.kind} {c.name!r}"
            if cid not in new_changes:
                out.append(f"{label} no longer needs this change: it was changed since the plan was made")
                continue
            was, now = _change_key(c), _change_key(new_changes[cid])
            for prop, (before, after) in was.items():
                if prop not in now:
                    out.append(f"{label}: {prop} is now already {_q(after)}")
                elif now[prop][0] != before:
                    out.append(f"{label}: {prop} was {_q(before)} at plan time, is now {_q(now[prop][0])}")
            for prop in now.keys() - was.keys():
                out.append(f"{label}: {prop} now differs too ({_q(now[prop][0])}, declared {_q(now[prop][1])})")
        for cid, c in new_changes.items():
            if cid not in old_changes:
                props = ", ".join(f"{p.prop} {_q(p.before)}" for p in c.properties)
                out.append(f"{host}: {c.kind} {c.name!r} now differs from the declaration ({props})")
        old_objects = {(f.kind, f.name.lower()) for f in old.findings if f.status is not FindingStatus.ERROR}
        new_objects = {(f.kind, f.name.lower()) for f in new.findings if f.status is not FindingStatus.ERROR}
        names = {(f.kind, f.name.lower()): f.name for f in (*old.findings, *new.findings)}
        for key in sorted(new_objects - old_objects):
            out.append(f"{host}: {key[0]} {names[key]!r} appeared since the plan was made")
        for key in sorted(old_objects - new_objects):
            out.append(f"{host}: {key[0]} {names[key]!r} disappeared since the plan was made")
        if new.facts and old.facts and new.facts != old.facts:
            out.append(f"{host}: the server is not the one planned ({old.facts.name} {old.facts.version} then, {new.facts.name} {new.facts.version} now)")
    return out


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
