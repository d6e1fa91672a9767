"""JSON Schemas of every JSON document exconf prints, published in docs/schemas/.

One schema per document: ``plan`` (``plan --json``, ``show --json``, the public part of a
plan file), ``apply`` (``apply --json``), ``drift`` (``drift --json``), ``drift-history``
(``drift history --json``), ``lab-stats`` (``lab stats --json``) and ``inventory-list``
(``inventory --list``: ansible-inventory's document, exconf's head under ``_meta.exconf``).
``python -m exconf.output_schemas DIR`` writes them; tests check that the published files are
these and that what the commands print validates against them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://exconf.invalid/schemas/"  # an identifier, not a download location

_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}

# The head of every document: which exconf, when, from which inventory sources and --limit.
META = {
    "exconf_version": {**_TEXT, "description": "the exconf that printed (or planned) it"},
    "timestamp": {**_TEXT, "format": "date-time", "description": "when: the run's start (a saved plan: when it was planned), UTC"},
    "inventory": {"type": "array", "items": _TEXT, "description": "the inventory sources, as given (-i)"},
    "limit": {**_TEXT_OR_NULL, "description": "--limit, or null"},
}
_META_REQUIRED = list(META)

_HOST = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["ok", "unreachable", "failed"]},
        "role": {"enum": ["Mailbox", "Edge"]},
        "version": _TEXT,
        "site": {**_TEXT_OR_NULL, "description": "the AD site; null for an Edge, which has none"},
        "error": _TEXT,
        "notes": {"type": "array", "items": _TEXT},
    },
    "additionalProperties": False,
}

_COMMAND = {
    "type": "object",
    "required": ["step", "cmdlet", "parameters"],
    "properties": {"step": _TEXT, "cmdlet": _TEXT, "parameters": {"type": "object", "description": "values, or references: a file by path and SHA-256, a secret by where it comes from"}},
    "additionalProperties": False,
}

_OPERATION = {
    "type": "object",
    "required": ["id", "host", "wave", "role", "needs", "within", "commands"],
    "properties": {
        "id": _TEXT, "host": _TEXT, "wave": _COUNT, "role": _TEXT,
        "needs": {"type": "array", "items": _TEXT},
        "within": {"type": ["array", "null"]},
        "commands": {"type": "array", "items": _COMMAND},
    },
    "additionalProperties": False,
}

_CHANGE = {
    "type": "object",
    "required": ["address", "host", "resource", "name", "action", "actions", "properties", "reason", "operations"],
    "properties": {
        "address": {**_TEXT, "description": "HOST/KIND/NAME (a certificate: HOST/KIND/THUMBPRINT): the change's id, the same in every run that plans it"},
        "host": _TEXT,
        "resource": _TEXT,
        "name": _TEXT,
        "action": {"enum": ["create", "update", "delete", "replace"]},
        "actions": {
            "description": "as terraform show -json: a replace is create and delete in the order its steps run",
            "oneOf": [
                {"const": ["create"]}, {"const": ["update"]}, {"const": ["delete"]},
                {"const": ["create", "delete"]}, {"const": ["delete", "create"]},
            ],
        },
        "properties": {
            "type": "object",
            "additionalProperties": {"type": "object", "required": ["before", "after"], "properties": {"before": {}, "after": {}}, "additionalProperties": False},
        },
        "reason": _TEXT,
        "operations": {"type": "array", "items": _OPERATION, "description": "the cmdlets it runs, as plan and show print them"},
    },
    "additionalProperties": False,
}

_FINDING = {
    "type": "object",
    "required": ["host", "resource", "name", "status", "declared_at", "properties"],
    "properties": {
        "host": _TEXT,
        "resource": _TEXT,
        "name": _TEXT,
        "status": {"enum": ["in_sync", "change", "error", "refused", "expiring"]},
        "declared_at": _TEXT,
        "properties": {
            "type": "array",
            "items": {"type": "object", "required": ["property", "expected", "actual", "declared_at"],
                      "properties": {"property": _TEXT, "expected": {}, "actual": {}, "declared_at": _TEXT}, "additionalProperties": False},
        },
        "message": _TEXT,
    },
    "additionalProperties": False,
}

_SUMMARY = {
    "type": "object",
    "required": ["add", "change", "destroy", "replace", "unreachable", "failed"],
    "properties": {k: _COUNT for k in ("add", "change", "destroy", "replace", "unreachable", "failed")},
    "additionalProperties": False,
}

_REFUSAL = {
    "type": "object",
    "required": ["rail", "host", "message", "overridden"],
    "properties": {"rail": _TEXT, "host": _TEXT, "message": _TEXT, "overridden": {"type": "boolean"}},
    "additionalProperties": False,
}

_RECAP = {
    "type": "object",
    "additionalProperties": {"type": "object", "required": ["ok", "changed", "unreachable", "failed"],
                             "properties": {k: _COUNT for k in ("ok", "changed", "unreachable", "failed")}, "additionalProperties": False},
}


def _document(name: str, title: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}{name}.schema.json",
        "title": title,
        "type": "object",
        "required": ["format_version", *_META_REQUIRED, *required],
        "properties": {"format_version": {"const": "1"}, **META, **properties},
        "additionalProperties": False,
    }


def plan_schema() -> dict[str, Any]:
    return _document("plan", "exconf plan --json (also show --json, and a plan file without its 'saved' section)", {
        "hosts": {"type": "object", "additionalProperties": _HOST},
        "changes": {"type": "array", "items": _CHANGE},
        "warnings": {"type": "array", "items": _TEXT},
        "summary": _SUMMARY,
        "findings": {"type": "array", "items": _FINDING},
        "refusals": {"type": "array", "items": _REFUSAL},
    }, ["hosts", "changes", "warnings", "summary", "findings", "refusals"])


def apply_schema() -> dict[str, Any]:
    change = json.loads(json.dumps(_CHANGE))
    change["required"] = [*change["required"], "outcome"]
    change["properties"].update(outcome={"enum": ["applied", "failed", "unverified", "not_run"]}, message=_TEXT, warnings={"type": "array", "items": _TEXT})
    summary = json.loads(json.dumps(_SUMMARY))
    summary["required"] += ["made", "not_made"]
    summary["properties"].update(made=_COUNT, not_made=_COUNT)
    summary["description"] = "what was planned (add/change/destroy/replace), and what the apply did: hosts unreachable and failed as in the recap, changes made and not"
    return _document("apply", "exconf apply --json", {
        "hosts": {"type": "object", "additionalProperties": _HOST},
        "changes": {"type": "array", "items": change},
        "warnings": {"type": "array", "items": _TEXT},
        "summary": summary,
        "findings": {"type": "array", "items": _FINDING},
        "refusals": {"type": "array", "items": _REFUSAL},
        "recap": _RECAP,
    }, ["hosts", "changes", "warnings", "summary", "findings", "refusals", "recap"])


def drift_schema() -> dict[str, Any]:
    finding = json.loads(json.dumps(_FINDING))
    finding["required"] = [*finding["required"], "drift"]
    window = {"type": "object", "properties": {"after": _TEXT_OR_NULL, "until": _TEXT_OR_NULL}}
    culprit = {"type": "object", "required": ["status"],
               "properties": {"status": {"enum": ["found", "not_in_log", "no_in_sync_run", "not_searched", "too_many", "no_log", "pending"]},
                              "window": window, "note": _TEXT, "caller": _TEXT, "cmdlet": _TEXT, "when": _TEXT, "object": _TEXT,
                              "parameters": {"type": "array"}}}
    finding["properties"].update(
        drift={"enum": ["in_sync", "drift", "error"]},
        severity={"enum": ["critical", "high", "medium", "low"]},
        since=_TEXT,
        read_on={**_TEXT, "description": "the server that read an organisation-wide object (its host is 'organization')"},
        changed_by=culprit,
        acknowledged={"type": "object", "required": ["owner", "reason", "expires"],
                      "properties": {"id": {"type": "integer"}, "owner": _TEXT, "reason": _TEXT, "expires": _TEXT}},
        corrected={"type": "boolean"},
        correction={**_TEXT, "description": "why drift --correct did not put it back"},
    )
    key = {"type": "object", "required": ["host", "resource", "name"], "properties": {"host": _TEXT, "resource": _TEXT, "name": _TEXT}}
    event = {"type": "object", "required": ["event", "host", "resource", "name", "at", "since", "severity"],
             "properties": {"event": {"enum": ["drift_appeared", "drift_resolved", "drift_corrected", "not_checked", "checked_again",
                                               "no_longer_declared"]},
                            "host": _TEXT, "resource": _TEXT, "name": _TEXT, "at": _TEXT, "since": _TEXT, "severity": _TEXT,
                            "resolved": _TEXT, "resolution": _TEXT, "changed_by": culprit, "resolved_by": culprit, "late": _TEXT}}
    return _document("drift", "exconf drift --json (one document per run; JSON Lines with --every)", {
        "hosts": {"type": "object", "additionalProperties": _HOST},
        "changes": {"type": "array", "items": _CHANGE, "description": "what drifted, as plan would change it back"},
        "warnings": {"type": "array", "items": _TEXT},
        "summary": _SUMMARY,
        "findings": {"type": "array", "items": finding},
        "refusals": {"type": "array", "items": _REFUSAL},
        "drift": {
            "type": "object",
            "required": ["started", "duration_seconds", "exit_code", "counts", "appeared", "resolved", "audit", "notes"],
            "properties": {
                "started": _TEXT, "duration_seconds": {"type": "number"}, "exit_code": {"enum": [0, 1, 2]},
                "counts": {"type": "object", "additionalProperties": _COUNT},
                "appeared": {"type": "array", "items": key},
                "resolved": {"type": "array", "items": {**event, "required": ["host", "resource", "name", "since", "resolved"]}},
                "events": {"type": "array", "items": event, "description": "this run's transitions, each announced once"},
                "audit": _TEXT, "notes": {"type": "array", "items": _TEXT},
                "undelivered": {"type": "array", "items": {"type": "object", "required": ["sink", "created", "attempts"]},
                                "description": "messages still in the outbox"},
                "last_run": {"type": ["object", "null"], "description": "the run before this one: started, ended, exit_code"},
                "undeclared": {"type": "array", "items": key, "description": "with --undeclared: what exists and nothing declares"},
                "report": _TEXT,
            },
        },
    }, ["hosts", "changes", "warnings", "summary", "findings", "refusals", "drift"])


def drift_history_schema() -> dict[str, Any]:
    episode = {"type": "object", "required": ["host", "resource", "name", "type", "since", "last_seen", "resolved"],
               "properties": {"host": _TEXT, "resource": _TEXT, "name": _TEXT, "type": {"enum": ["drift", "not_checked"]},
                              "severity": _TEXT, "since": _TEXT, "last_seen": _TEXT_OR_NULL, "resolved": _TEXT_OR_NULL,
                              "resolution": {"enum": ["in_sync", "corrected", "checked", "no_longer_declared", None]},
                              "changed_by": {"type": "object"}, "resolved_by": {"type": "object"}}}
    return _document("drift-history", "exconf drift history --json", {
        "history": {**_TEXT, "description": "the SQLite history file read"},
        "host": _TEXT_OR_NULL,
        "since": _TEXT_OR_NULL,
        "episodes": {"type": "array", "items": episode, "description": "drift episodes: the newest --max"},
        "outages": {"type": "array", "items": episode, "description": "hosts (and runs) not checked: the newest --max"},
        "not_checked": {"type": "array", "items": episode, "description": "objects not checked: the newest --max"},
        "totals": {"type": "object", "properties": {k: _COUNT for k in ("drift", "outages", "not_checked")}},
        "runs": {"type": "object", "properties": {"runs": _COUNT, "exit_codes": {"type": "object"}, "last": _TEXT_OR_NULL}},
    }, ["history", "host", "since", "episodes", "outages", "not_checked", "totals", "runs"])


def lab_stats_schema() -> dict[str, Any]:
    counters = {"type": "object", "additionalProperties": _COUNT}
    server = {"type": "object", "properties": {**{k: _COUNT for k in ("requests", "shells", "commands", "bytes_in", "bytes_out", "auth_failures")},
                                               # per endpoint (/wsman, /PowerShell): its own counters
                                               "endpoints": {"type": "object", "additionalProperties": counters}}}
    lab = {"type": "object", "required": ["org_file", "state_file", "pid", "servers"],
           "properties": {"org_file": _TEXT, "state_file": _TEXT, "pid": {"type": "integer"}, "servers": {"type": "object", "additionalProperties": server}}}
    return _document("lab-stats", "exconf lab stats --json (no inventory: 'inventory' is empty, 'limit' null)", {
        "labs": {"type": "array", "items": lab},
    }, ["labs"])


def inventory_list_schema() -> dict[str, Any]:
    group = {"type": "object", "properties": {"hosts": {"type": "array", "items": _TEXT}, "children": {"type": "array", "items": _TEXT}}, "additionalProperties": False}
    head = {"type": "object", "required": ["format_version", *_META_REQUIRED], "properties": {"format_version": {"const": "1"}, **META}, "additionalProperties": False}
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}inventory-list.schema.json",
        "title": "exconf inventory --list: ansible-inventory --list's document; exconf's head is _meta.exconf",
        "type": "object",
        "required": ["_meta", "all"],
        "properties": {
            "_meta": {"type": "object", "required": ["hostvars", "exconf"],
                      "properties": {"hostvars": {"type": "object", "additionalProperties": {"type": "object"}}, "provenance": {"type": "object"}, "exconf": head},
                      "additionalProperties": False},
        },
        "additionalProperties": group,
    }


SCHEMAS = {
    "plan": plan_schema,
    "apply": apply_schema,
    "drift": drift_schema,
    "drift-history": drift_history_schema,
    "lab-stats": lab_stats_schema,
    "inventory-list": inventory_list_schema,
}


def main(argv: list[str] | None = None) -> int:
    """Write every schema to DIR (docs/schemas), one file per document."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path("docs/schemas")
    folder.mkdir(parents=True, exist_ok=True)
    for name, build in SCHEMAS.items():
        (folder / f"{name}.schema.json").write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
