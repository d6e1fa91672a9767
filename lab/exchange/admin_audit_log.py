"""The administrator audit log of the lab's organisation, and Search-AdminAuditLog.

What Exchange records, and where (Microsoft's documentation):

* Search-AdminAuditLog "search[es] the contents of the administrator audit log. Administrator
  audit logging records when a user or administrator makes a change in your organization (in
  the Exchange admin center or by using cmdlets)" [office-docs-powershell
  exchange/exchange-ps/exchange/Search-AdminAuditLog.md]. Cmdlets that only read (Get-, Search-,
  and by default Test-) are not logged [learn.microsoft.com "Administrator audit logging in
  Exchange Server"]: the lab records a cmdlet when it changed something.
* The log is kept in the organisation (an arbitration mailbox since Exchange 2010 SP1), so it is
  one log for every Mailbox server; an Edge Transport server has no mailbox and no such log,
  and the cmdlet is not in its shell (the lab registers it for Mailbox servers only, and records
  nothing for changes made on an Edge).
* Without parameters the cmdlet returns "up to 1,000 log entries"; -ResultSize's default is
  1000 and its maximum 250,000 (same page). Entries come newest first.
* Result properties (same page): ObjectModified (what -ObjectIds filters), CmdletName
  (-Cmdlets), CmdletParameters (-Parameters), Caller (-UserIds), Succeeded (-IsSuccess),
  RunDate (-StartDate/-EndDate), plus Error, ModifiedProperties and OriginatingServer
  ["Administrator audit log structure"]. ModifiedProperties is filled only with
  ``Set-AdminAuditLogConfig -LogLevel Verbose``; the default LogLevel is None, so it stays empty.
* ObjectModified is the object the cmdlet operated on ("A valid value depends on how the object is
  represented in the audit log", -ObjectIds): a connector's identity (EX01\\Default EX01, or a send
  connector's name), a server's name for its transport service, a certificate's Identity
  (ServerFQDN\\Thumbprint, cmdlets.md §2) for New/Import/Enable/Remove-ExchangeCertificate, the Edge's name
  for New/Remove-EdgeSubscription. -ObjectIds, -Cmdlets and -UserIds take several values and match whole
  values, case-insensitively; -StartDate keeps entries on or after it and -EndDate on or before it, to the
  second and below (the Exchange 2010 SP2 help of New-AdminAuditLogSearch: "log entries that occurred on or
  after/before the specified date").
* Caller: on premises the caller's account as a canonical name (contoso.lab/Users/exadmin);
  the cmdlet page says callers without such a name appear as Domain\\Username.

Simplifications: CmdletParameters lists the parameter *names* only (Exchange also keeps the
values; the lab never stores a value that could be a secret); failed cmdlets are not recorded;
entries older than the default AdminAuditLogAgeLimit (90 days) are dropped as new ones arrive.
The lab keeps the log in slots per Mailbox server (the server that ran the cmdlet), at most
MAX_PER_SERVER entries each, so that journalling a change costs one bounded slot however many
changes the organisation has seen (docs/lab.md, journal); the cmdlet merges them.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from . import stored
from .binder import Param, Signature
from .context import Context
from .param_types import BOOL, FQDN, INT, STRING, ParsedString, multi
from .spec import OrgSpec, ServerEntry

KEY = "admin_audit_log"
AGE_LIMIT = timedelta(days=90)  # AdminAuditLogAgeLimit's default
MAX_PER_SERVER = 2000
DEFAULT_RESULT_SIZE = 1000
MAX_RESULT_SIZE = 250_000
_NOT_LOGGED = ("get-", "search-", "test-")  # verbs Exchange does not log (module docstring)
_COMMON = {"verbose", "debug", "erroraction", "warningaction", "informationaction", "errorvariable", "warningvariable",
           "informationvariable", "outvariable", "outbuffer", "pipelinevariable", "whatif", "confirm"}


def _load(raw: Any, org: OrgSpec | None = None, entry: ServerEntry | None = None) -> dict[str, list[dict[str, Any]]]:
    """A server's log: {"entries": [...]} (a dict, not a list: the state indexes lists of objects by Guid)."""
    if raw is None:
        return {"entries": []}
    entries = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("RunDate"), str) for e in entries):
        raise ValueError("the admin audit log of the state file is damaged")
    return {"entries": entries}


STORED = stored.Stored(KEY, stored.on_mailbox_servers, lambda org, entry, now: {"entries": []},
                       lambda log: {"entries": list(log["entries"])}, _load)


def caller_name(org: OrgSpec, principal: str) -> str:
    """DOMAIN\\user of the organisation's domain as its canonical name; anything else as given."""
    domain, sep, user = principal.partition("\\")
    if sep and domain.lower() == org.organization.netbios.lower():
        return f"{org.organization.domain}/Users/{user}"
    return principal


def console_caller(org: OrgSpec) -> str:
    """Who ``lab exec`` runs as: the organisation's first domain account (the administrator at the console)."""
    for account in org.accounts:
        if account.domain.lower() == org.organization.netbios.lower():
            return f"{account.domain}\\{account.user}"
    return f"{org.organization.netbios}\\Administrator"


def record(state: Any, org: OrgSpec, local: ServerEntry, cmdlet: str, named: list[tuple[str, Any]],
           modified: list[str], principal: str, now: datetime) -> None:
    """Add one entry per changed object (none on an Edge, which keeps no admin audit log).

    A cmdlet that only reads is never recorded, even when the lab made something on first use
    (Get-ExchangeCertificate creates a server's fresh-install certificates the first time)."""
    if local.is_edge or cmdlet.lower().startswith(_NOT_LOGGED):
        return
    log = state.get(local.name, KEY)["entries"]
    names = [n.lstrip("-") for n, _ in named if n.lstrip("-").lower() not in _COMMON]
    identity = next((str(v) for n, v in named if n.lstrip("-").lower() == "identity"), "")
    run_date = now.astimezone(timezone.utc).isoformat()
    for target in modified or [identity]:
        log.append({
            "ObjectModified": target, "CmdletName": cmdlet, "CmdletParameters": names, "ModifiedProperties": [],
            "Caller": caller_name(org, principal), "Succeeded": True, "Error": None, "RunDate": run_date,
            "OriginatingServer": local.name,
            "Order": time.time_ns(),  # orders entries of one second across servers (not a property)
        })
    oldest = (now - AGE_LIMIT).astimezone(timezone.utc).isoformat()
    if log and (log[0]["RunDate"] < oldest or len(log) > MAX_PER_SERVER):
        log[:] = [e for e in log if e["RunDate"] >= oldest][-MAX_PER_SERVER:]


def _parse_date(text: str) -> str:
    """An ExDateTime as exconf sends it (ISO 8601) or the invariant short form (MM/dd/yyyy [HH:mm:ss])."""
    text = text.strip()
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%m/%d/%Y %H:%M:%S"),
                  lambda t: datetime.strptime(t, "%m/%d/%Y")):
        try:
            moment = parse(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat()
    raise ValueError("String was not recognized as a valid DateTime.")


def _result_size(value: int) -> str | None:
    if not 1 <= value <= MAX_RESULT_SIZE:
        return f"The value must be between 1 and {MAX_RESULT_SIZE}."
    return None


EX_DATETIME = ParsedString("Microsoft.Exchange.ExchangeSystem.ExDateTime", _parse_date)
TEXTS = multi(STRING, "Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]")

SEARCH = Signature(
    "Search-AdminAuditLog",
    (
        Param("Cmdlets", TEXTS),
        Param("DomainController", FQDN),
        Param("EndDate", EX_DATETIME),
        Param("ExternalAccess", BOOL),
        Param("IsSuccess", BOOL),
        Param("ObjectIds", TEXTS),
        Param("Parameters", TEXTS),
        Param("ResultSize", INT, check=_result_size),
        Param("StartDate", EX_DATETIME),
        Param("StartIndex", INT),
        Param("UserIds", TEXTS),
    ),
)


def _any(values: Any) -> set[str]:
    return {str(v).lower() for v in values or ()}


def search(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries matching every filter given, newest first."""
    if bound.get("Parameters") and not bound.get("Cmdlets"):
        # "You can only use this parameter with the Cmdlets parameter" (Search-AdminAuditLog.md)
        raise ctx.error("The Parameters parameter can only be used with the Cmdlets parameter.", "ArgumentException",
                        "InvalidArgument")
    cmdlets, objects, users, params = (_any(bound.get(k)) for k in ("Cmdlets", "ObjectIds", "UserIds", "Parameters"))
    start, end = bound.get("StartDate"), bound.get("EndDate")
    out = []
    merged = [(e["RunDate"], e.get("Order", i), e) for server in ctx.org.mailbox_servers
              for i, e in enumerate(ctx.state.get(server.name, KEY)["entries"])]
    merged.sort(key=lambda t: (t[0], t[1]), reverse=True)
    for _, _, e in merged:
        if cmdlets and e["CmdletName"].lower() not in cmdlets:
            continue
        if objects and e["ObjectModified"].lower() not in objects:
            continue
        if users and e["Caller"].lower() not in users:
            continue
        if params and not params & _any(e["CmdletParameters"]):
            continue
        if "IsSuccess" in bound and bound["IsSuccess"] is not None and bool(bound["IsSuccess"]) != e["Succeeded"]:
            continue
        when = datetime.fromisoformat(e["RunDate"])
        if (start and when < datetime.fromisoformat(start)) or (end and when > datetime.fromisoformat(end)):
            continue  # StartDate: on or after; EndDate: on or before (New-AdminAuditLogSearch's page, Exchange 2010 SP2+)
        out.append(e)
    first = max(0, bound.get("StartIndex") or 0)
    size = bound.get("ResultSize") or DEFAULT_RESULT_SIZE
    return [_view(e) for e in out[first:first + size]]


def _view(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "ObjectModified": e["ObjectModified"],
        "CmdletName": e["CmdletName"],
        "CmdletParameters": tuple(e["CmdletParameters"]),
        "ModifiedProperties": tuple(e["ModifiedProperties"]),
        "Caller": e["Caller"],
        "ExternalAccess": False,
        "Succeeded": e["Succeeded"],
        "Error": e["Error"],
        "RunDate": datetime.fromisoformat(e["RunDate"]),
        "OriginatingServer": e["OriginatingServer"],
    }
