"""What a run shows: the plan (Terraform-like), apply results, the recap, and JSON.

Text is built with rich ``Text`` objects, never markup strings, so a
connector named ``[x]`` prints as written, and every piece of text that came
from a server or an inventory goes through ``termsafe.safe`` first. Colour
only on a terminal (rich honours NO_COLOR). Sensitive values show as
``(sensitive)``; JSON output is exact (no escaping beyond JSON's own).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from . import __version__
from .model import Change, ChangeOutcome, ChangeResult, HostPlan, HostResult, HostStatus, Operation, Plan
from .review import review
from .termsafe import safe

FORMAT_VERSION = "1"
SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "replace": ("-/+", "red")}
VERB = {"create": "created", "update": "updated in-place", "delete": "destroyed", "replace": "replaced"}
SENSITIVE = "(sensitive)"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def value_text(value: Any) -> str:
    """A shown value as the plan prints it: strings quoted as written (single backslashes), lists as lists."""
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return '"' + safe(str(value), newlines=False).replace('"', '\\"') + '"'


def _name(text: str) -> str:
    return value_text(text)


def _location(declared_at: list[Any]) -> str:
    return f"{safe(str(declared_at[0]), newlines=False)}:{declared_at[1]}"


def change_text(change: dict[str, Any], names: dict[str, str] | None = None) -> Text:
    """One change of a review document (review.py): its properties, what it follows, what it brings with it,
    then every cmdlet it runs and where."""
    symbol, colour = SYMBOL[change["action"]]
    host, kind, name = safe(change["host"], newlines=False), change["kind"], _name(change["name"])
    out = Text()
    out.append(f"  # {host}: {kind} {name} will be {VERB[change['action']]}\n", style="bold")
    out.append(f"  {symbol} ", style=colour)
    out.append(f"{kind} {name} {{\n")
    props = change["properties"]
    width = max((len(p["prop"]) for p in props), default=0)
    for p in props:
        before, after = (SENSITIVE, SENSITIVE) if p["sensitive"] else (value_text(p["before"]), value_text(p["after"]))
        out.append(f"      {symbol} ", style=colour)
        out.append(f"{p['prop'].ljust(width)} = {before} -> {after}")
        out.append(f"  # {_location(p['declared_at'])}\n", style="dim")
    out.append("    }\n")
    if change.get("after") and names is not None:
        follows = ", ".join(safe(names.get(a, a), newlines=False) for a in change["after"])
        out.append(f"    after {follows}\n", style="dim")
    for effect in change.get("effects", ()):
        out.append("    ! ", style="bold yellow")
        out.append(safe(str(effect), newlines=False) + "\n")
    steps: dict[str, tuple[str, ...]] = {c["step"]: (c["cmdlet"], op["host"], c.get("carries", "")) for op in change["operations"]
                                         for c in op["commands"]}
    for op in change["operations"]:
        when = f"wave {op['wave']}"
        if op.get("within"):
            when += f", within {int(op['within'][1]) // 60} minutes of the file it needs"
        if op.get("cleanup"):
            when += ", whatever came before"
        host = safe(op["host"], newlines=False)
        where = {"controller": f"on the controller, for {host}", "program": f"on {host} through WinRM (exconf's program)"}.get(
            str(op.get("where") or ""), f"on {host}")
        out.append(f"    {where} ({when}):\n", style="dim")
        for c in op["commands"]:
            out.append("      " + command_text(c, steps) + "\n", style="dim")
    return out


def command_text(command: dict[str, Any], steps: dict[str, tuple[str, ...]] | None = None) -> str:
    """A cmdlet as an administrator would type it, with references in words; safe for a terminal."""
    words = [safe(command["cmdlet"], newlines=False)]
    for name, value in command["parameters"].items():
        name = safe(str(name), newlines=False)
        if isinstance(value, bool):
            words.append(f"-{name}" if value else f"-{name}:$false")
        else:
            words.append(f"-{name} {_argument(value, steps or {})}")
    return " ".join(words)


def _argument(value: Any, steps: dict[str, tuple[str, ...]]) -> str:
    if isinstance(value, list):
        return ",".join(_argument(v, steps) for v in value) or "@()"
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return "'" + safe(value, newlines=False).replace("'", "''") + "'"
    if isinstance(value, dict):
        if "file" in value and "sha256" in value:
            return f"(bytes of {safe(str(value['file']), newlines=False)}, SHA-256 {str(value['sha256'])[:16]}…)"
        if "temporary_file" in value:
            return "(a temporary file on the server, whose bytes come back)"
        if "secret" in value:
            return f"(a SecureString: the password {safe(str(value['secret']), newlines=False)})"
        if "output_of" in value:
            cmdlet = steps.get(str(value["output_of"]), (str(value["output_of"]),))[0]
            return f"(the {safe(str(value.get('property')), newlines=False)} that {safe(cmdlet, newlines=False)} returns)"
        if "file_written_by" in value:
            cmdlet, host, carries = (*steps.get(str(value["file_written_by"]), (str(value["file_written_by"]), "?")), "")[:3]
            if value.get("part"):
                return f"({safe(str(value['part']), newlines=False)}, from {safe(cmdlet, newlines=False)}, carried in memory)"
            if carries:
                return (f"(the {safe(str(carries), newlines=False)} that {safe(cmdlet, newlines=False)} returns on {safe(host, newlines=False)}, "
                        "carried in memory)")
            return f"(the file {safe(cmdlet, newlines=False)} writes on {safe(host, newlines=False)}, carried in memory)"
        if "challenge_file" in value:
            name = value["challenge_file"]
            if isinstance(name, str):
                return f"(the file /.well-known/acme-challenge/{safe(name, newlines=False)} of the Default Web Site)"
            return f"(the file /.well-known/acme-challenge/<token> of the Default Web Site, <token>: {_argument(name, steps).strip('()')})"
        if "server" in value:
            return "(this server)"
        if "bytes" in value:
            return f"({value['bytes']} bytes, SHA-256 {str(value.get('sha256'))[:16]}…)"
        return safe(json.dumps(value, ensure_ascii=False), newlines=False)
    return safe(str(value), newlines=False)


def summary_line(plan: Plan | dict[str, Any]) -> str:
    s = plan.summary() if isinstance(plan, Plan) else review_summary(plan)
    line = f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy, {s['replace']} to replace."
    trouble = []
    if s["unreachable"]:
        trouble.append(f"{plural(s['unreachable'], 'host')} unreachable")
    if s["failed"]:
        trouble.append(f"{plural(s['failed'], 'host')} failed")
    return line + (" " + ", ".join(trouble) + "." if trouble else "")


LEGEND = {"create": "create", "update": "update in-place", "delete": "destroy", "replace": "replace (the new one and the old one's removal, in the order the change says)"}


def legend(actions_used: list[str]) -> Text:
    """Terraform's legend: what each symbol the plan uses means (only those it uses)."""
    out = Text("Actions are shown with these symbols:\n")
    for action in (a for a in SYMBOL if a in actions_used):
        symbol, colour = SYMBOL[action]
        out.append(f"  {symbol:>3} ", style=colour)
        out.append(f"{LEGEND[action]}\n")
    return out


def review_summary(doc: dict[str, Any]) -> dict[str, int]:
    """Plan.summary() of a review document."""
    counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    key = {"create": "add", "update": "change", "delete": "destroy", "replace": "replace"}
    for change in doc["changes"]:
        counts[key[change["action"]]] += 1
    counts["unreachable"] = sum(1 for h in doc["hosts"].values() if h["status"] == "unreachable")
    counts["failed"] = sum(1 for h in doc["hosts"].values() if h["status"] == "failed")
    return counts


def print_plan(console: Console, plan: Plan) -> None:
    print_review(console, review(plan))


def print_review(console: Console, doc: dict[str, Any]) -> None:
    """A review document (review.py) as plan prints it; ``show`` prints a saved one the same way."""
    changes = doc["changes"]
    for warning in doc["warnings"]:
        console.print(Text("Warning: ", style="bold yellow") + Text(safe(warning)))
    if changes:
        console.print(legend([c["action"] for c in changes]))
        console.print(Text("exconf will perform the following actions:\n"))
        names = {c["address"]: f'{c["kind"]} {_name(c["name"])}' for c in changes}
        for change in changes:
            console.print(change_text(change, names))
        console.print(Text(summary_line(doc), style="bold"))
    elif all(h["status"] == "ok" for h in doc["hosts"].values()):
        console.print(Text("No changes. ", style="bold green") + Text("The servers match the configuration."))
    else:
        console.print(Text("No changes on the hosts that could be read and planned; see the errors below.", style="bold"))
        console.print(Text(summary_line(doc), style="bold"))
    for name, h in doc["hosts"].items():
        if h["status"] != "ok":
            print_host_error(console, name, HostStatus(h["status"]), h["error"])
    for r in doc["refusals"]:
        head = Text(f"\n{'Overridden' if r['overridden'] else 'Refused'} [{r['rail']}]: ", style="bold yellow" if r["overridden"] else "bold red")
        console.print(head + Text(safe(r["message"])))


def print_host_error(console: Console, host: str, status: HostStatus, error: str) -> None:
    head = "UNREACHABLE" if status is HostStatus.UNREACHABLE else "FAILED"
    console.print(Text(f"\n{head}: {safe(host, newlines=False)}", style="bold red"))
    for line in safe(error).splitlines():
        console.print(Text("  " + line))


OUTCOME_LABEL = {
    ChangeOutcome.APPLIED: ("changed", "yellow"),
    ChangeOutcome.FAILED: ("FAILED", "bold red"),
    ChangeOutcome.UNVERIFIED: ("NOT VERIFIED", "bold red"),
    ChangeOutcome.NOT_RUN: ("not applied", "red"),
}


def print_change_result(console: Console, r: ChangeResult) -> None:
    """One change's outcome (``changed: [host] kind "name" (…)``), with what Exchange warned while making it."""
    label = OUTCOME_LABEL[r.outcome]
    line = Text(f"{label[0]}: ", style=label[1]) + Text(f"[{safe(r.change.host, newlines=False)}] {r.change.kind} {_name(r.change.name)}")
    props = ", ".join(f"{p.prop}={SENSITIVE if p.sensitive else value_text(p.after)}" for p in r.change.properties)
    line.append(f" ({props})", style="dim")
    if r.message:
        line.append(f": {safe(r.message)}")
    console.print(line)
    for warning in r.warnings:
        console.print(Text("  warning: ", style="bold yellow") + Text(safe(warning)))


def print_apply(console: Console, plan: Plan, results: dict[str, HostResult], shown: set[str] | None = None) -> None:
    """Each change's outcome not already printed as it happened (``shown``: change ids), then notes and
    the errors of hosts that failed during apply (plan errors were shown)."""
    for result in results.values():
        for r in result.results:
            if shown is None or r.change.id not in shown:
                print_change_result(console, r)
        for note in result.notes:
            console.print(Text(f"note: [{safe(result.host, newlines=False)}] ", style="dim") + Text(safe(note)))
        if result.status is not HostStatus.OK and plan.hosts[result.host].status is HostStatus.OK:
            print_host_error(console, result.host, result.status, result.error)


def recap_counts(host: str, plan_entry: HostPlan | None, result: HostResult | None) -> dict[str, int]:
    """ok/changed/unreachable/failed for one host, after a plan (result None) or an apply."""
    if result is not None:
        status = result.status
        failed = max(result.failed, 1 if status is HostStatus.FAILED else 0)  # a failed host is never failed=0
        return {
            "ok": result.in_sync + result.changed,
            "changed": result.changed,
            "unreachable": 1 if status is HostStatus.UNREACHABLE else 0,
            "failed": failed,
        }
    assert plan_entry is not None
    pending = len(plan_entry.changes)
    return {
        "ok": plan_entry.in_sync + pending,
        "changed": pending,
        "unreachable": 1 if plan_entry.status is HostStatus.UNREACHABLE else 0,
        "failed": 1 if plan_entry.status is HostStatus.FAILED else 0,
    }


def print_recap(console: Console, counts: dict[str, dict[str, int]]) -> None:
    console.print(Text("\nRECAP " + "*" * 66, style="bold"))
    for host in sorted(counts):
        c = counts[host]
        colour = "red" if c["failed"] or c["unreachable"] else "yellow" if c["changed"] else "green"
        fields = " ".join(f"{key}={c[key]:<4}" for key in ("ok", "changed", "unreachable", "failed")).rstrip()
        console.print(Text(f"{safe(host, newlines=False):<26}", style=colour) + Text(f" : {fields}"))


def document_meta(sources: Sequence[str], limit: str | None, *, timestamp: str | None = None, version: str | None = None) -> dict[str, Any]:
    """What every JSON document of exconf carries first: which exconf, when, from which inventory and ``--limit``."""
    return {
        "exconf_version": version or __version__,
        "timestamp": timestamp or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "inventory": [str(s) for s in sources],
        "limit": limit,
    }


def actions(change: Change, operations: Sequence[Operation]) -> list[str]:
    """``terraform show -json``'s ``actions``: a replace is a create and a delete in the order its steps run
    (``operations``: the change's own, in the plan's order)."""
    if change.action != "replace":
        return [change.action]
    for op in operations:
        for step in op.steps:
            verb = step.cmdlet.split("-", 1)[0]
            if verb in ("Remove", "Disable"):
                return ["delete", "create"]
            if verb in ("New", "Import", "Enable"):
                return ["create", "delete"]
    return ["delete", "create"]


def plan_json(plan: Plan, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON plan of the contract (spec §2), with findings and refusals beside its fields; ``meta``
    (document_meta) first when the command knows it."""
    hosts: dict[str, Any] = {}
    for name, hp in plan.hosts.items():
        entry: dict[str, Any] = {"status": hp.status.value}
        if hp.facts:
            entry.update(role=hp.facts.role, version=hp.facts.version, site=hp.facts.site or None)
        if hp.error:
            entry["error"] = hp.error
        hosts[name] = entry
    reviewed = {c["address"]: c for c in review(plan)["changes"]}
    own: dict[str, list[Operation]] = {}  # each change's operations, found once (not once per replace: renewals on every host)
    for op in plan.operations:
        own.setdefault(op.change, []).append(op)
    return {
        "format_version": FORMAT_VERSION,
        **(meta or {}),
        "hosts": hosts,
        # Each change with its stable address, the cmdlets it runs (as plan and show print them) and, as
        # terraform show -json has them, its actions as a list.
        "changes": [c.to_json() | {"address": c.id, "actions": actions(c, own.get(c.id, [])), "operations": reviewed[c.id]["operations"]} for c in plan.changes],
        "warnings": list(plan.warnings),
        "summary": plan.summary(),
        "findings": [f.to_json() for f in plan.findings],
        "refusals": [r.to_json() | {"overridden": r.rail in plan.overridden} for r in plan.refusals],
    }


def apply_json(plan: Plan, results: dict[str, HostResult], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan's document with each change's ``outcome``; hosts, ``summary`` and ``recap`` say what the apply did
    (a host with a change that failed is ``failed``, in the recap, the summary and its status alike)."""
    doc = plan_json(plan, meta)
    outcomes = {r.change.id: r for res in results.values() for r in res.results}
    for change, entry in zip(plan.changes, doc["changes"], strict=True):
        r = outcomes.get(change.id)
        entry["outcome"] = r.outcome.value if r else ChangeOutcome.NOT_RUN.value
        if r and r.message:
            entry["message"] = r.message
        if r and r.warnings:
            entry["warnings"] = list(r.warnings)
    recap = {name: recap_counts(name, plan.hosts.get(name), res) for name, res in results.items()}
    for name, res in results.items():
        if res.status is not HostStatus.OK:
            doc["hosts"][name]["status"] = res.status.value
            doc["hosts"][name]["error"] = res.error
        elif recap[name]["failed"]:
            doc["hosts"][name]["status"] = HostStatus.FAILED.value
        if res.notes:
            doc["hosts"][name]["notes"] = list(res.notes)
    made = sum(1 for e in doc["changes"] if e["outcome"] == ChangeOutcome.APPLIED.value)
    doc["summary"] = doc["summary"] | {
        "unreachable": sum(1 for c in recap.values() if c["unreachable"]),
        "failed": sum(1 for c in recap.values() if c["failed"]),
        "made": made,
        "not_made": len(doc["changes"]) - made,
    }
    doc["recap"] = recap
    return doc
