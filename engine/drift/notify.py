"""Messages: one per transition for syslog and the events file, one per run for a webhook, and a daily digest.

A webhook message is ``{"text": …, "exconf": {…}}``: ``text`` is what Slack incoming webhooks and Teams
incoming webhooks display (both accept a plain ``{"text": …}``), with for each transition the values
(expected → actual), who changed it and since when, and a link (or path) to the report; ``exconf`` holds the
same as data. Sensitive values show as "(sensitive)", as in every report; nothing else is ever sent.
"""

from __future__ import annotations

from typing import Any

from ..render import value_text
from ..termsafe import safe
from .report import DriftItem, DriftReport, DriftState, event_json

LABEL = {
    "drift_appeared": "DRIFT",
    "drift_resolved": "RESOLVED",
    "drift_corrected": "CORRECTED",
    "not_checked": "NOT CHECKED",
    "checked_again": "CHECKED AGAIN",
    "no_longer_declared": "NO LONGER DECLARED",
}
MAX_LINES = 30  # per message; the rest is counted, the report has all


def _values(properties: list[dict[str, Any]], *, back: bool = False) -> str:
    """expected → actual (what drifted); actual → expected with ``back`` (what a correction did)."""
    shown = [p for p in properties if p.get("expected") != p.get("actual") or p.get("expected") == "(sensitive)"] or properties
    pairs = [(p.get("actual"), p.get("expected")) if back else (p.get("expected"), p.get("actual")) for p in shown[:5]]
    return "; ".join(f"{p.get('property')}: {value_text(a)} → {value_text(b)}" for p, (a, b) in zip(shown, pairs))


def _who(doc: dict[str, Any] | None, verb: str = "changed") -> str:
    if not doc:
        return ""
    if doc.get("caller"):
        return f"{verb} by {doc['caller']} with {doc.get('cmdlet', '?')} at {doc.get('when', '?')}"
    return {"not_in_log": f"who {verb} it: not in the admin audit log", "no_log": f"who {verb} it: not known (Edge: no admin audit log)",
            "no_in_sync_run": f"who {verb} it: not known (never seen in sync before)"}.get(str(doc.get("status")), f"who {verb} it: not known yet")


def event_text(e: dict[str, Any]) -> str:
    """One line for one transition."""
    head = f"{LABEL.get(e['event'], e['event'])} [{e.get('severity', '?')}] {e['host']}: {e['resource']} \"{e['name']}\""
    parts: list[str] = []
    kind = e["event"]
    if kind == "drift_appeared":
        if e.get("properties"):
            parts.append(_values(e["properties"]))
        elif e.get("message"):
            parts.append(e["message"].splitlines()[0])
        parts.append(_who(e.get("changed_by")))
        parts.append(f"since {e['since']}")
        if e.get("late"):
            parts.append(e["late"])
    elif kind == "drift_resolved":
        parts.append(f"drifting since {e['since']}, resolved {e.get('resolved', e['at'])}")
        parts.append(_who(e.get("resolved_by"), "resolved"))
    elif kind == "drift_corrected":
        parts.append(f"put back by exconf drift --correct: {_values(e.get('properties', []), back=True)}")
    elif kind == "not_checked":
        parts.append((e.get("message") or "").splitlines()[0] if e.get("message") else "could not be checked")
        parts.append(f"since {e['since']}")
    elif kind == "checked_again":
        parts.append(f"not checked since {e['since']}, checked again {e.get('resolved', e['at'])}")
    elif kind == "no_longer_declared":
        parts.append(f"open since {e['since']}; the inventory no longer declares it")
    return safe(head + ": " + "; ".join(p for p in parts if p), newlines=False)


def event_records(report: DriftReport) -> list[dict[str, Any]]:
    """One record per transition of this run (syslog, JSON Lines, the webhook's data)."""
    out = []
    for e in report.events:
        doc = event_json(e) | {"inventory": report.inventory}
        if report.report_url:
            doc["report"] = report.report_url
        doc["text"] = event_text(doc)
        out.append(doc)
    return out


def run_message(report: DriftReport, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The webhook message for this run's transitions, or None when nothing changed."""
    if not records:
        return None
    counts: dict[str, int] = {}
    for r in records:
        counts[r["event"]] = counts.get(r["event"], 0) + 1
    summary = ", ".join(f"{n} {LABEL[k].lower()}" for k, n in counts.items())
    lines = [f"exconf drift: {summary} in {report.inventory} (run {report.started})"]
    lines += [f"• {r['text']}" for r in records[:MAX_LINES]]
    if len(records) > MAX_LINES:
        lines.append(f"… and {len(records) - MAX_LINES} more: see the report")
    if report.report_url:
        lines.append(f"Report: {report.report_url}")
    return {"text": "\n".join(lines),
            "exconf": {"inventory": report.inventory, "started": report.started, "exit_code": report.exit_code,
                       "events": [{k: v for k, v in r.items() if k != "text"} for r in records],
                       "report": report.report_url or None}}


def _item_line(i: DriftItem) -> str:
    f = i.finding
    head = f"[{i.severity}] {i.key[0]}: {f.kind} \"{f.name}\""
    if i.state is DriftState.ERROR:
        return safe(f"NOT CHECKED {head} since {i.since}: {(f.message or '').splitlines()[0] if f.message else ''}", newlines=False)
    values = _values([p.to_json() for p in f.properties]) if f.properties else (f.message.splitlines()[0] if f.message else "")
    ack = f"; acknowledged by {i.ack.owner} until {i.ack.expires}: {i.ack.reason}" if i.ack else ""
    who = f"; {i.culprit.text()}" if i.culprit is not None else ""
    return safe(f"DRIFT {head} since {i.since}: {values}{who}{ack}", newlines=False)


def digest(report: DriftReport) -> dict[str, Any]:
    """The daily digest: what is still drifting or not checked, worst first."""
    open_items = report.worst_first([i for i in report.items if i.state is not DriftState.IN_SYNC and not i.corrected])
    lines = [f"exconf drift daily digest for {report.inventory} ({report.started}): "
             f"{sum(1 for i in open_items if i.state is DriftState.DRIFT)} drifting, "
             f"{sum(1 for i in open_items if i.state is DriftState.ERROR)} not checked"]
    lines += [f"• {_item_line(i)}" for i in open_items[:MAX_LINES]]
    if len(open_items) > MAX_LINES:
        lines.append(f"… and {len(open_items) - MAX_LINES} more: see the report")
    if report.report_url:
        lines.append(f"Report: {report.report_url}")
    return {"text": "\n".join(lines),
            "exconf": {"inventory": report.inventory, "started": report.started, "digest": True,
                       "open": [i.to_json() for i in open_items], "report": report.report_url or None}}
