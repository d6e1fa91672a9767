"""What a run shows: the plan (Terraform-like), apply results, the recap, and JSON.

Text is built with rich ``Text`` objects, never markup strings, so a
connector named ``[x]`` prints as written. Colour only on a terminal
(rich honours NO_COLOR); secrets are never part of any of this.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from .model import Change, ChangeOutcome, HostPlan, HostResult, HostStatus, Plan

FORMAT_VERSION = "1"
SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "replace": ("-/+", "red")}
VERB = {"create": "created", "update": "updated in-place", "delete": "destroyed", "replace": "replaced"}


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def change_text(change: Change) -> Text:
    symbol, colour = SYMBOL[change.action]
    out = Text()
    out.append(f"  # {change.host}: ", style="bold")
    out.append(f"{change.kind} {_q(change.name)}", style="bold")
    out.append(f" will be {VERB[change.action]}\n", style="bold")
    out.append(f"  {symbol} ", style=colour)
    out.append(f"{change.kind} {_q(change.name)} {{\n")
    width = max(len(p.prop) for p in change.properties)
    for p in change.properties:
        out.append(f"      {symbol} ", style=colour)
        out.append(f"{p.prop.ljust(width)} = {_q(p.before)} -> {_q(p.after)}")
        out.append(f"  # {p.source.file}:{p.source.line}\n", style="dim")
    out.append("    }\n")
    return out


def print_plan(console: Console, plan: Plan) -> None:
    changes = plan.changes
    for warning in plan.warnings:
        console.print(Text("Warning: ", style="bold yellow") + Text(warning))
    if changes:
        console.print(Text("exconf will perform the following actions:\n"))
        for change in changes:
            console.print(change_text(change))
        s = plan.summary()
        console.print(Text(f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy.", style="bold"))
    elif all(hp.status is HostStatus.OK for hp in plan.hosts.values()):
        console.print(Text("No changes. ", style="bold green") + Text("The servers match the configuration."))
    else:
        console.print(Text("No changes on the hosts that could be read and planned; see the errors below.", style="bold"))
    for hp in plan.hosts.values():
        if hp.status is not HostStatus.OK:
            print_host_error(console, hp.host, hp.status, hp.error)


def print_host_error(console: Console, host: str, status: HostStatus, error: str) -> None:
    head = "UNREACHABLE" if status is HostStatus.UNREACHABLE else "FAILED"
    console.print(Text(f"\n{head}: {host}", style="bold red"))
    for line in error.splitlines():
        console.print(Text("  " + line))


def print_apply(console: Console, plan: Plan, results: dict[str, HostResult]) -> None:
    """Each change's outcome, and the errors of hosts that failed during apply (plan errors were shown)."""
    for result in results.values():
        for r in result.results:
            label = {
                ChangeOutcome.APPLIED: ("changed", "yellow"),
                ChangeOutcome.FAILED: ("FAILED", "bold red"),
                ChangeOutcome.UNVERIFIED: ("NOT VERIFIED", "bold red"),
                ChangeOutcome.NOT_RUN: ("not applied", "red"),
            }[r.outcome]
            line = Text(f"{label[0]}: ", style=label[1]) + Text(f"[{r.change.host}] {r.change.kind} {_q(r.change.name)}")
            props = ", ".join(f"{p.prop}={p.after}" for p in r.change.properties)
            line.append(f" ({props})", style="dim")
            if r.message:
                line.append(f": {r.message}")
            console.print(line)
        if result.status is not HostStatus.OK and plan.hosts[result.host].status is HostStatus.OK:
            print_host_error(console, result.host, result.status, result.error)


def recap_counts(host: str, plan_entry: HostPlan | None, result: HostResult | None) -> dict[str, int]:
    """ok/changed/unreachable/failed for one host, after a plan (result None) or an apply."""
    if result is not None:
        status = result.status
        failed = result.failed + (1 if status is HostStatus.FAILED and not result.results else 0)
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
        console.print(Text(f"{host:<26}", style=colour) + Text(f" : {fields}"))


def plan_json(plan: Plan) -> dict[str, Any]:
    """The JSON plan of the contract (spec §2)."""
    hosts: dict[str, Any] = {}
    for name, hp in plan.hosts.items():
        entry: dict[str, Any] = {"status": hp.status.value}
        if hp.facts:
            entry.update(role=hp.facts.role, version=hp.facts.version, site=hp.facts.site)
        if hp.error:
            entry["error"] = hp.error
        hosts[name] = entry
    return {
        "format_version": FORMAT_VERSION,
        "hosts": hosts,
        "changes": [c.to_json() for c in plan.changes],
        "warnings": list(plan.warnings),
        "summary": plan.summary(),
    }


def apply_json(plan: Plan, results: dict[str, HostResult]) -> dict[str, Any]:
    doc = plan_json(plan)
    outcomes = {r.change.id: r for res in results.values() for r in res.results}
    for change, entry in zip(plan.changes, doc["changes"], strict=True):
        r = outcomes.get(change.id)
        entry["outcome"] = r.outcome.value if r else ChangeOutcome.NOT_RUN.value
        if r and r.message:
            entry["message"] = r.message
    for name, res in results.items():
        if res.status is not HostStatus.OK:
            doc["hosts"][name]["status"] = res.status.value
            doc["hosts"][name]["error"] = res.error
    doc["recap"] = {name: recap_counts(name, plan.hosts.get(name), res) for name, res in results.items()}
    return doc
