"""Who changed a drifted object: the organisation's admin audit log (Search-AdminAuditLog).

Exchange records every cmdlet that changes the organisation — the caller, the cmdlet, the
parameters, the object and the time — in the administrator audit log, kept in the organisation
and searched from a Mailbox server; reads (Get-*, Search-*) are not logged, and an Edge
Transport server has no such log (office-docs-powershell Search-AdminAuditLog.md; learn.microsoft.com
"Administrator audit logging in Exchange Server"). exconf reads it in the same round trip as
the facts, on the Mailbox server that carries the organisation's reads, and matches entries
to drifted objects by the object's name and the parameters of the drifted properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exconf.remote import Answer, ContractError, Step

STEP_ID = "drift:audit"
RESULT_SIZE = 1000  # the cmdlet's documented default; newest entries first
STEP = Step(
    id=STEP_ID,
    cmdlet="Search-AdminAuditLog",
    params={"ResultSize": RESULT_SIZE, "IsSuccess": True},
    select=("ObjectModified", "CmdletName", "CmdletParameters", "Caller", "RunDate", "OriginatingServer"),
    skip_on_edge=True,
)


@dataclass(frozen=True)
class AuditEntry:
    """One change the audit log recorded."""

    object: str  # ObjectModified, e.g. EX01\\Default Frontend EX01
    cmdlet: str
    parameters: tuple[str, ...]
    caller: str
    when: str  # RunDate, ISO 8601 UTC
    server: str  # OriginatingServer

    def to_json(self) -> dict[str, Any]:
        return {"caller": self.caller, "cmdlet": self.cmdlet, "when": self.when, "object": self.object,
                "parameters": list(self.parameters)}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> AuditEntry:
        return AuditEntry(str(doc.get("object", "")), str(doc.get("cmdlet", "")), tuple(doc.get("parameters", ())),
                          str(doc.get("caller", "")), str(doc.get("when", "")), "")


@dataclass(frozen=True)
class AuditLog:
    """The entries read (newest first), or why there are none."""

    entries: tuple[AuditEntry, ...] = ()
    note: str = ""  # why the log could not be read ("" when it was)


def read(answer: Answer | None) -> AuditLog:
    """The audit log from the carrier's answer (None when no Mailbox server was read)."""
    if answer is None:
        return AuditLog(note="no Mailbox server was read, so the admin audit log was not searched")
    try:
        result = answer.result(STEP_ID)
    except ContractError:
        return AuditLog(note="the admin audit log was not searched")
    if not result.ok:
        why = result.error.message if result.error else result.status
        return AuditLog(note=f"Search-AdminAuditLog failed on {answer.computer}: {why}")
    out = []
    for obj in result.objects:
        params = obj.get("CmdletParameters") or []
        out.append(AuditEntry(
            object=str(obj.get("ObjectModified") or ""), cmdlet=str(obj.get("CmdletName") or ""),
            parameters=tuple(str(p) for p in (params if isinstance(params, list) else [params])),
            caller=str(obj.get("Caller") or ""), when=str(obj.get("RunDate") or ""), server=str(obj.get("OriginatingServer") or ""),
        ))
    out.sort(key=lambda e: e.when, reverse=True)
    return AuditLog(tuple(out))


def names_object(entry: AuditEntry, name: str, server: str) -> bool:
    """ObjectModified names this object: its name alone, or as SERVER\\name on its own server
    (a server's own settings, such as its transport service, are named after the server)."""
    modified = entry.object.strip().lower()
    owner, sep, leaf = modified.rpartition("\\")
    if sep and server and owner != server.lower():
        return False
    return (leaf if sep else modified) == name.lower()


def who_changed(entries: tuple[AuditEntry, ...], name: str, server: str, params: set[str]) -> AuditEntry | None:
    """The newest entry that changed this object and at least one of the drifted parameters."""
    wanted = {p.lower() for p in params}
    for entry in entries:
        if not names_object(entry, name, server):
            continue
        if wanted and not wanted & {p.lower() for p in entry.parameters}:
            continue
        return entry
    return None
