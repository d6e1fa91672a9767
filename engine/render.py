"""What a run shows: the plan (Terraform-like), apply results, the recap, and JSON.

Text is built with rich ``Text`` objects, never markup strings, so a
connector named ``[x]`` prints as written, and every piece of text that came
from a server or an inventory goes through ``termsafe.safe`` first. Colour
only on a terminal (rich honours NO_COLOR). Sensitive values show as
``(sensitive)``; JSON output is exact (no escaping beyond JSON's own).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from .model import Change, ChangeOutcome, HostPlan, HostResult, HostStatus, Plan, PropertyChange
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


def _prop_values(p: PropertyChange) -> tuple[str, str]:
    if p.sensitive:
        return SENSITIVE, SENSITIVE
    return value_text(p.before), value_text(p.after)


def change_text(change: Change) -> Text:
    symbol, colour = SYMBOL[change.action]
    host, kind, name = safe(change.host, newlines=False), change.kind, _name(change.name)
    out = Text()
    out.append(f"  # {host}: {kind} {name} will be {VERB[change.action]}\n", style="bold")
    out.append(f"  {symbol} ", style=colour)
    out.append(f"{kind} {name} {{\n")
    width = max((len(p.prop) for p in change.properties), default=0)
    for p in change.properties:
        before, after = _prop_values(p)
        out.append(f"      {symbol} ", style=colour)
        out.append(f"{p.prop.ljust(width)} = {before} -> {after}")
        out.append(f"  # {safe(p.source.file, newlines=False)}:{p.source.line}\n", style="dim")
    out.append("    }\n")
    return out


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    line = f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy, {s['replace']} to replace."
    trouble = []
    if s["unreachable"]:
        trouble.append(f"{plural(s['unreachable'], 'host')} unreachable")
    if s["failed"]:
        trouble.append(f"{plural(s['failed'], 'host')} failed")
    return line + (" " + ", ".join(trouble) + "." if trouble else "")


def print_plan(console: Console, plan: Plan) -> None:
    changes = plan.changes
    for warning in plan.warnings:
        console.print(Text("Warning: ", style="bold yellow") + Text(safe(warning)))
    if changes:
        console.print(Text("exconf will perform the following actions:\n"))
        for change in changes:
            console.print(change_text(change))
        console.print(Text(summary_line(plan), style="bold"))
    elif all(hp.status is HostStatus.OK for hp in plan.hosts.values()):
        console.print(Text("No changes. ", style="bold green") + Text("The servers match the configuration."))
    else:
        console.print(Text("No changes on the hosts that could be read and planned; see the errors below.", style="bold"))
        console.print(Text(summary_line(plan), style="bold"))
    for hp in plan.hosts.values():
        if hp.status is not HostStatus.OK:
            print_host_error(console, hp.host, hp.status, hp.error)
    print_refusals(console, plan)


def print_refusals(console: Console, plan: Plan) -> None:
    for r in plan.refusals:
        overridden = r.rail in plan.overridden
        head = Text(f"\n{'Overridden' if overridden else 'Refused'} [{r.rail}]: ", style="bold yellow" if overridden else "bold red")
        console.print(head + Text(safe(r.message)))


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


def print_apply(console: Console, plan: Plan, results: dict[str, HostResult]) -> None:
    """Each change's outcome, and the errors of hosts that failed during apply (plan errors were shown)."""
    for result in results.values():
        for r in result.results:
            label = OUTCOME_LABEL[r.outcome]
            line = Text(f"{label[0]}: ", style=label[1]) + Text(f"[{safe(r.change.host, newlines=False)}] {r.change.kind} {_name(r.change.name)}")
            props = ", ".join(f"{p.prop}={SENSITIVE if p.sensitive else value_text(p.after)}" for p in r.change.properties)
            line.append(f" ({props})", style="dim")
            if r.message:
                line.append(f": {safe(r.message)}")
            console.print(line)
            for warning in r.warnings:
                console.print(Text("  warning: ", style="bold yellow") + Text(safe(warning)))
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


def plan_json(plan: Plan) -> dict[str, Any]:
    """The JSON plan of the contract (spec §2), with findings and refusals beside its fields."""
    hosts: dict[str, Any] = {}
    for name, hp in plan.hosts.items():
        entry: dict[str, Any] = {"status": hp.status.value}
        if hp.facts:
            entry.update(role=hp.facts.role, version=hp.facts.version, site=hp.facts.site or None)
        if hp.error:
            entry["error"] = hp.error
        hosts[name] = entry
    return {
        "format_version": FORMAT_VERSION,
        "hosts": hosts,
        "changes": [c.to_json() for c in plan.changes],
        "warnings": list(plan.warnings),
        "summary": plan.summary(),
        "findings": [f.to_json() for f in plan.findings],
        "refusals": [r.to_json() | {"overridden": r.rail in plan.overridden} for r in plan.refusals],
    }


def apply_json(plan: Plan, results: dict[str, HostResult]) -> dict[str, Any]:
    doc = plan_json(plan)
    outcomes = {r.change.id: r for res in results.values() for r in res.results}
    for change, entry in zip(plan.changes, doc["changes"], strict=True):
        r = outcomes.get(change.id)
        entry["outcome"] = r.outcome.value if r else ChangeOutcome.NOT_RUN.value
        if r and r.message:
            entry["message"] = r.message
        if r and r.warnings:
            entry["warnings"] = list(r.warnings)
    for name, res in results.items():
        if res.status is not HostStatus.OK:
            doc["hosts"][name]["status"] = res.status.value
            doc["hosts"][name]["error"] = res.error
        if res.notes:
            doc["hosts"][name]["notes"] = list(res.notes)
    doc["recap"] = {name: recap_counts(name, plan.hosts.get(name), res) for name, res in results.items()}
    return doc
