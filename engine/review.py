"""What a reviewer sees of a plan, as data: every change with its properties and every cmdlet it runs.

``review(plan)`` is pure. ``plan`` and ``show`` print this document (render.py), a
plan file stores it, and ``apply PLANFILE`` derives it again from the inventory and
a fresh read and runs only when the two are the same (``differences``): so what
``show`` prints is what ``apply`` runs, and nothing executable is ever taken from a
file. Every parameter appears as what it is: a value, a file by path and SHA-256,
a password by where it comes from, the output of an earlier step; never a secret,
never a byte of a file.

Nothing here depends on the time of day: a plan made in the evening reads the same
in the night (a certificate shows its expiry date, not the days left).
"""

from __future__ import annotations

import json
from typing import Any

from exconf.remote import LOCAL_SERVER, FromOperation, OutputRef, Secret, Step

from .controllerfiles import PfxBytes, RefSecret
from .model import Change, Operation, Plan

SENSITIVE = "(sensitive)"


def parameter(value: Any, sensitive: bool = False) -> Any:
    """A step parameter as the reviewer sees it (JSON): literals as they are, everything else by reference."""
    if sensitive:
        return SENSITIVE
    if isinstance(value, PfxBytes):
        return {"file": value.ref.path, "sha256": value.ref.digest}
    if isinstance(value, RefSecret):
        return {"secret": value.ref.describe(), "origin": value.ref.origin, "name": value.ref.name}
    if isinstance(value, Secret):
        return {"secret": value.label}
    if isinstance(value, (bytes, bytearray)):
        import hashlib

        return {"bytes": len(value), "sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, OutputRef):
        return {"output_of": value.step, "property": value.property}
    if isinstance(value, FromOperation):
        return {"file_written_by": value.step}
    if value == LOCAL_SERVER:
        return {"server": "this server"}
    if isinstance(value, (list, tuple)):
        return [parameter(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return {"value": repr(value)}  # a type exconf does not send: shown, so that it cannot pass unseen


def command(step: Step, hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    params = {name: parameter(value, name in hidden) for name, value in step.params.items()}
    if step.output_file:
        params[step.output_file] = {"temporary_file": True}
    return {"step": step.id, "cmdlet": step.cmdlet, "parameters": params}


def _operation(op: Operation, wave: int, hidden: frozenset[str]) -> dict[str, Any]:
    return {
        "id": op.id,
        "host": op.host,
        "wave": wave,
        "role": op.role,
        "needs": list(op.needs),
        "within": list(op.within) if op.within else None,
        "commands": [command(s, hidden) for s in op.steps],
    }


def _change(change: Change, ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "address": change.id,
        "host": change.host,
        "kind": change.kind,
        "name": change.name,
        "identity": change.identity,
        "action": change.action,
        "reason": change.reason,
        "after": list(change.after),
        "effects": list(change.effects),
        "properties": [
            {"prop": p.prop, "before": SENSITIVE if p.sensitive else p.before, "after": SENSITIVE if p.sensitive else p.after,
             "sensitive": p.sensitive, "declared_at": [p.source.file, p.source.line, p.source.column]}
            for p in change.properties
        ],
        "operations": ops,
    }


def review(plan: Plan) -> dict[str, Any]:
    """The plan as the reviewer sees it (JSON-ready)."""
    wave_of = {op_id: i + 1 for i, wave in enumerate(plan.schedule) for op_id in wave}
    by_change: dict[str, list[dict[str, Any]]] = {}
    changes = {c.id: c for c in plan.changes}
    for op in plan.operations:
        change = changes.get(op.change)
        hidden = frozenset(p.param for p in change.properties if p.sensitive and p.param) if change else frozenset()
        by_change.setdefault(op.change, []).append(_operation(op, wave_of.get(op.id, 0), hidden))
    for ops in by_change.values():
        ops.sort(key=lambda o: o["wave"])  # as they run (stable: operations of one wave stay by address)
    return {
        "hosts": {
            name: {"status": hp.status.value, "error": hp.error, "endpoint": hp.endpoint, "facts": hp.facts.to_json() if hp.facts else None}
            for name, hp in plan.hosts.items()
        },
        "changes": [_change(c, by_change.get(c.id, [])) for c in plan.changes],
        "refusals": [{"rail": r.rail, "host": r.host, "change": r.change, "message": r.message, "overridden": r.rail in plan.overridden}
                     for r in plan.refusals],
        "overridden": list(plan.overridden),
        "warnings": list(plan.warnings),
        "findings": [f.to_json() for f in plan.findings],
    }


def files(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host, path, SHA-256) of every controller-side file the reviewed commands send (a PFX)."""
    out = []
    for change in doc["changes"]:
        for op in change["operations"]:
            for c in op["commands"]:
                for value in c["parameters"].values():
                    if isinstance(value, dict) and set(value) == {"file", "sha256"}:
                        out.append((str(op["host"]), str(value["file"]), str(value["sha256"])))
    return list(dict.fromkeys(out))


def changed_hosts(doc: dict[str, Any]) -> list[str]:
    """The hosts a reviewed plan sends commands to, in the order they first appear."""
    return list(dict.fromkeys(op["host"] for c in doc["changes"] for op in c["operations"]))


# --- comparing a reviewed plan with a fresh one ------------------------------------------------------------


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _props(change: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {p["prop"]: (p["before"], p["after"]) for p in change["properties"]}


def differences(saved: dict[str, Any], fresh: dict[str, Any], hosts: list[str]) -> list[str]:
    """Why the plan reviewed (``saved``) is not exactly what would run now (``fresh``, derived from the
    inventory and a new read of ``hosts``); empty when they are the same. Named as an administrator reads it."""
    out: list[str] = []
    old_changes = {c["address"]: c for c in saved["changes"]}
    new_changes = {c["address"]: c for c in fresh["changes"]}
    for host in hosts:
        new = fresh["hosts"].get(host)
        if new is None or new["status"] != "ok":
            out.append(f"{host}: could not be read again: {new['error'].splitlines()[0] if new and new['error'] else 'not in this run'}")
            continue
        old = saved["hosts"].get(host) or {}
        if old.get("facts") and new.get("facts") and old["facts"] != new["facts"]:
            was, now = old["facts"], new["facts"]
            out.append(f"{host}: the server is not the one planned ({was['name']} {was['version']} then, {now['name']} {now['version']} now)")
        old_objects = {(f["resource"], f["name"].lower()): f["name"] for f in saved["findings"] if f["host"] == host and f["status"] != "error"}
        new_objects = {(f["resource"], f["name"].lower()): f["name"] for f in fresh["findings"] if f["host"] == host and f["status"] != "error"}
        for key in sorted(new_objects.keys() - old_objects.keys()):
            out.append(f"{host}: {key[0]} {new_objects[key]!r} appeared since the plan was made")
        for key in sorted(old_objects.keys() - new_objects.keys()):
            out.append(f"{host}: {key[0]} {old_objects[key]!r} disappeared since the plan was made")
    for address, c in old_changes.items():
        label = f"{c['host']}: {c['kind']} {c['name']!r}"
        now = new_changes.get(address)
        if now is None:
            out.append(f"{label} no longer needs this change: what the inventory declares and the server holds no longer calls for it "
                       "(it was changed since the plan was made)")
            continue
        was_p, now_p = _props(c), _props(now)
        moved = False
        for prop, (before, after) in was_p.items():
            if prop not in now_p:
                out.append(f"{label}: {prop} is now already {_q(after)}")
                moved = True
            elif now_p[prop][0] != before:
                out.append(f"{label}: {prop} was {_q(before)} at plan time, is now {_q(now_p[prop][0])}")
                moved = True
        for prop in now_p.keys() - was_p.keys():
            out.append(f"{label}: {prop} now differs too ({_q(now_p[prop][0])}, declared {_q(now_p[prop][1])})")
            moved = True
        if moved:
            continue
        for member in ("host", "kind", "name", "identity", "action", "after", "effects", "properties", "operations"):
            if c.get(member) != now.get(member):
                name = _field_name(member)
                out.append(f"{label}: its {name} {'differ' if name.endswith('s') else 'differs'} from what the inventory and the servers give now"
                           + _first_difference(c.get(member), now.get(member)))
                break
    for address, c in new_changes.items():
        if address not in old_changes:
            props = ", ".join(f"{p['prop']} {_q(p['before'])}" for p in c["properties"])
            out.append(f"{c['host']}: {c['kind']} {c['name']!r} now differs from the declaration ({props})")
    old_order = [a for a in old_changes if a in new_changes]
    new_order = [a for a in new_changes if a in old_changes]
    if not out and old_order != new_order:
        out.append("the changes are not in the order reviewed")
    old_stops = [(r["rail"], r["host"], r["change"], r["overridden"]) for r in saved["refusals"]]
    new_stops = [(r["rail"], r["host"], r["change"], r["overridden"]) for r in fresh["refusals"] if r["host"] in hosts]
    for rail, host, change, overridden in new_stops:
        if (rail, host, change, overridden) not in old_stops:
            out.append(f"{host}: the safety rail {rail} {'is overridden' if overridden else 'refuses'} {change or 'the plan'} now, "
                       "which the plan reviewed did not show")
    if saved["overridden"] != fresh["overridden"]:
        out.append(f"the rails overridden are not the ones reviewed ({', '.join(saved['overridden']) or 'none'})")
    return list(dict.fromkeys(out))


def _field_name(key: str) -> str:
    return {"operations": "commands", "after": "order (what it follows)", "identity": "target (Identity)", "properties": "properties",
            "effects": "side effects"}.get(key, key)


def _first_difference(was: Any, now: Any, path: str = "") -> str:
    """Where two JSON values first differ, as ``: at PATH, X then, Y now`` (values cut short)."""
    if isinstance(was, dict) and isinstance(now, dict):
        for k in list(was) + [k for k in now if k not in was]:
            if was.get(k) != now.get(k):
                return _first_difference(was.get(k), now.get(k), f"{path}.{k}" if path else str(k))
    elif isinstance(was, list) and isinstance(now, list):
        if len(was) != len(now):
            return f": at {path or 'the top'}, {len(was)} in the plan reviewed, {len(now)} now"
        for i, (a, b) in enumerate(zip(was, now, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")

    def cut(v: Any) -> str:
        text = _q(v)
        return text if len(text) <= 120 else text[:117] + "…"

    return f": at {path or 'the top'}, {cut(was)} in the plan reviewed, {cut(now)} now"
