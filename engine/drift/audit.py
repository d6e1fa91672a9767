"""Who changed a drifted object: the organisation's admin audit log (Search-AdminAuditLog).

Exchange records every cmdlet that changes the organisation — the caller, the cmdlet, the
parameters, the object and the time — in the administrator audit log, kept in the organisation
and searched from a Mailbox server; reads (Get-*, Search-*) are not logged, and an Edge
Transport server has no such log (office-docs-powershell Search-AdminAuditLog.md; learn.microsoft.com
"Administrator audit logging in Exchange Server"). exconf reads it in the same round trip as the
facts, on the Mailbox server that carries the organisation's reads, filtered as the cmdlet
documents: by time (-StartDate, -EndDate), by the cmdlets that change the kinds declared
(-Cmdlets) and, for drift whose culprit an earlier run could not look up, by the objects
(-ObjectIds). Only the documented output fields are used: ObjectModified, CmdletName,
CmdletParameters, Caller, RunDate.

The rule that keeps blame honest: an entry may be named for a drift only when it falls between
the end of the last run that saw the object in sync and the end of the first run that saw it
drifting (the episode's window); when none fits, the answer is "not in the admin audit log",
never the newest entry about the object (which may be the change that set the right value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exconf.remote import Answer, ContractError, Step

STEP_ID = "drift:audit"  # changes since the objects were last seen in sync (new drift, who resolved)
OPEN_STEP_ID = "drift:audit-open"  # drift an earlier run could not attribute: its windows and objects
RESULT_SIZE = 5000  # per search; more in the window means the answer is "not known", never a guess
SELECT = ("ObjectModified", "CmdletName", "CmdletParameters", "Caller", "RunDate")

# Culprit statuses: what an episode says about who changed it.
FOUND = "found"
NOT_IN_LOG = "not_in_log"
NO_IN_SYNC_RUN = "no_in_sync_run"
NOT_SEARCHED = "not_searched"
TOO_MANY = "too_many"
NO_LOG = "no_log"  # an Edge Transport server keeps no admin audit log
SETTLED = frozenset({FOUND, NOT_IN_LOG, NO_IN_SYNC_RUN, NO_LOG})  # an episode keeps these; others are looked up again


@dataclass(frozen=True)
class AuditEntry:
    """One change the audit log recorded."""

    object: str  # ObjectModified, e.g. EX01\\Default Frontend EX01
    cmdlet: str
    parameters: tuple[str, ...]
    caller: str
    when: str  # RunDate, ISO 8601 UTC

    def to_json(self) -> dict[str, Any]:
        return {"caller": self.caller, "cmdlet": self.cmdlet, "when": self.when, "object": self.object,
                "parameters": list(self.parameters)}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> AuditEntry:
        params = doc.get("parameters") or ()
        return AuditEntry(str(doc.get("object", "")), str(doc.get("cmdlet", "")),
                          tuple(str(p) for p in params) if isinstance(params, (list, tuple)) else (),
                          str(doc.get("caller", "")), str(doc.get("when", "")))


@dataclass(frozen=True)
class Culprit:
    """What an episode knows about who made (or resolved) it: an entry, or why there is none."""

    status: str
    entry: AuditEntry | None = None
    window: tuple[str, str] = ("", "")  # (after, up to): ISO times; "" = unknown
    note: str = ""  # why not searched

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"status": self.status, "window": {"after": self.window[0] or None, "until": self.window[1] or None}}
        if self.entry is not None:
            doc |= self.entry.to_json()
        if self.note:
            doc["note"] = self.note
        return doc

    def to_row(self) -> dict[str, Any]:
        """The history's compact form (the window flat)."""
        doc: dict[str, Any] = {"status": self.status, "after": self.window[0], "until": self.window[1]}
        if self.entry is not None:
            doc |= self.entry.to_json()
        if self.note:
            doc["note"] = self.note
        return doc

    @staticmethod
    def from_json(doc: dict[str, Any] | None) -> Culprit | None:
        if not isinstance(doc, dict) or "status" not in doc:
            return None
        window = doc.get("window") or {"after": doc.get("after"), "until": doc.get("until")}
        entry = AuditEntry.from_json(doc) if doc.get("cmdlet") else None
        return Culprit(str(doc["status"]), entry, (str(window.get("after") or ""), str(window.get("until") or "")),
                       str(doc.get("note", "")))

    def text(self) -> str:
        """How reports say it."""
        if self.entry is not None:
            return f"changed by {self.entry.caller} with {self.entry.cmdlet} at {self.entry.when}"
        after, until = self.window
        return {
            NOT_IN_LOG: f"who changed it: not in the admin audit log (searched {after} to {until})",
            NO_IN_SYNC_RUN: "who changed it: not known (no earlier run saw it in sync, so no change can be told apart)",
            NO_LOG: "who changed it: not known (an Edge Transport server keeps no admin audit log)",
            TOO_MANY: f"who changed it: not known yet (more than {RESULT_SIZE} changes between {after} and {until}; looked up again by object)",
            NOT_SEARCHED: f"who changed it: not known yet ({self.note or 'the admin audit log was not searched'}; looked up again next run)",
        }.get(self.status, "who changed it: not known")


@dataclass(frozen=True)
class AuditLog:
    """The entries read (newest first), or why there are none; ``full`` when a search hit RESULT_SIZE."""

    entries: tuple[AuditEntry, ...] = ()
    note: str = ""  # why the log could not be read ("" when it was)
    searched: bool = False
    full: bool = False
    after: str = ""  # the earliest time searched ("" = not searched)


def search_step(step_id: str, *, after: str, until: str = "", cmdlets: tuple[str, ...] = (), objects: tuple[str, ...] = ()) -> Step:
    """Search-AdminAuditLog filtered as documented: -StartDate/-EndDate (the window; RunDate), -Cmdlets
    (CmdletName), -ObjectIds (ObjectModified), -IsSuccess, -ResultSize (default 1000, at most 250,000)."""
    params: dict[str, Any] = {"StartDate": after, "IsSuccess": True, "ResultSize": RESULT_SIZE}
    if until:
        params["EndDate"] = until
    if cmdlets:
        params["Cmdlets"] = list(cmdlets)
    if objects:
        params["ObjectIds"] = list(objects)
    return Step(id=step_id, cmdlet="Search-AdminAuditLog", params=params, select=SELECT, skip_on_edge=True)


def read(answer: Answer | None, steps: tuple[Step, ...]) -> AuditLog:
    """The audit log from the carrier's answer (None when no Mailbox server was read)."""
    if not steps:
        return AuditLog(note="nothing to look up (no run on record saw these objects in sync)")
    if answer is None:
        return AuditLog(note="no Mailbox server was read, so the admin audit log was not searched")
    out: list[AuditEntry] = []
    full = False
    for step in steps:
        try:
            result = answer.result(step.id)
        except ContractError:
            return AuditLog(note="the admin audit log was not searched")
        if not result.ok:
            why = result.error.message if result.error else result.status
            return AuditLog(note=f"Search-AdminAuditLog failed on {answer.computer}: {why}")
        full = full or len(result.objects) >= RESULT_SIZE
        for obj in result.objects:
            params = obj.get("CmdletParameters") or []
            out.append(AuditEntry(
                object=str(obj.get("ObjectModified") or ""), cmdlet=str(obj.get("CmdletName") or ""),
                parameters=tuple(_param_name(p) for p in (params if isinstance(params, list) else [params])),
                caller=str(obj.get("Caller") or ""), when=str(obj.get("RunDate") or ""),
            ))
    out = sorted(set(out), key=lambda e: (e.when, e.object, e.cmdlet), reverse=True)
    after = min((str(s.params.get("StartDate", "")) for s in steps), default="")
    return AuditLog(tuple(out), searched=True, full=full, after=after)


def _param_name(value: Any) -> str:
    """A CmdletParameters item: the parameter's name (Exchange keeps ``Name`` and ``Value``; the lab the name)."""
    if isinstance(value, dict):
        return str(value.get("Name") or "")
    return str(value).split("=", 1)[0].strip()


@dataclass(frozen=True)
class Target:
    """What an audit entry must name to be about one object: its identities and the cmdlets that change it."""

    names: tuple[str, ...]  # the object's name, and thumbprints for certificates
    servers: tuple[str, ...]  # the Exchange server name and FQDN, for SERVER\\NAME identities ("" for the organisation)
    cmdlets: tuple[str, ...]  # the kind's cmdlets (empty: any)
    params: tuple[str, ...]  # parameters of the drifted properties (a Set- entry must use one; empty: any)

    def object_ids(self) -> tuple[str, ...]:
        """The ObjectModified values this object can have, for -ObjectIds."""
        ids = list(self.names)
        ids += [f"{s}\\{n}" for s in self.servers if s for n in self.names]
        return tuple(dict.fromkeys(ids))


def names_object(entry: AuditEntry, target: Target) -> bool:
    """ObjectModified names this object: a name or thumbprint alone, or as SERVER\\NAME (or FQDN\\THUMBPRINT)
    of its own server — a server's own settings, such as its transport service, are named after the server."""
    modified = entry.object.strip().lower()
    names = {n.lower() for n in target.names if n}
    owner, sep, leaf = modified.rpartition("\\")
    if sep:
        servers = {s.lower() for s in target.servers if s}
        return leaf in names and (not servers or owner in servers)
    return modified in names


def matches(entry: AuditEntry, target: Target) -> bool:
    """The entry names the object, by one of its kind's cmdlets; a Set- entry must set a drifted property
    (New-, Remove-, Enable-, Import- … change the object as a whole: matched by identity and cmdlet)."""
    if not names_object(entry, target):
        return False
    if target.cmdlets and entry.cmdlet.lower() not in {c.lower() for c in target.cmdlets}:
        return False
    if entry.cmdlet.lower().startswith("set-") and target.params:
        return bool({p.lower() for p in target.params} & {p.lower() for p in entry.parameters})
    return True


def blame(log: AuditLog, target: Target, after: str, until: str, *, no_log: bool = False) -> Culprit:
    """The newest entry about the object strictly after ``after`` and up to ``until``, or why there is none."""
    window = (after, until)
    if no_log:
        return Culprit(NO_LOG, window=window)
    if not after:
        return Culprit(NO_IN_SYNC_RUN, window=window)
    if not log.searched or (log.after and log.after > after):
        return Culprit(NOT_SEARCHED, window=window, note=log.note or "the search did not reach back to the window")
    for entry in log.entries:  # newest first
        if after < entry.when <= until and matches(entry, target):
            return Culprit(FOUND, entry, window)
    return Culprit(TOO_MANY if log.full else NOT_IN_LOG, window=window)
