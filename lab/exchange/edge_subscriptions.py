"""EdgeSync in the lab (cmdlets.md §6, §9, §10): Edge subscriptions and their synchronisation.

Cmdlets: New-/Get-/Remove-EdgeSubscription, Start-EdgeSynchronization and Test-EdgeSynchronization.
Behaviour follows cmdlets.md, Microsoft's cmdlet reference [PS] and the decompiled Exchange 2013
tasks NewEdgeSubscription.cs, RemoveEdgeSubscription.cs, GetEdgeSubscription.cs and
TestEdgeSynchronization.cs [SRC]. Exchange's resource texts for most EdgeSync errors were not found;
those messages are the lab's wording, each named after the string id Exchange uses.

What the lab keeps, and how synchronisation works, is edge_sync.py's; the file is edge_subscription_file.py's.
"""

from __future__ import annotations

import secrets
import uuid

from cryptography import x509
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import edge_subscription_file as subscription_file
from . import edge_sync as sync
from . import errors, send_connectors, stored
from . import param_types as v
from . import x509 as lab_x509
from .binder import Param, Signature
from .certificate_store import certificate_of, server_store
from .certificates import NON_INTERACTIVE as NON_INTERACTIVE_PROMPT
from .context import Context, lab_guid, name_matches
from .dotnet_values import TimeSpan
from .enums import EnumDef, EnumValue
from .secure import BYTES
from .spec import ServerEntry

# [SRC NewEdgeSubscription] MinimumAccountExpiry 2 minutes; CompleteSubscription refuses a file whose
# bootstrap account expires within 5 minutes.
MINIMUM_BOOTSTRAP = timedelta(minutes=2)
EXPIRY_MARGIN = timedelta(minutes=5)
MAX_SITE_NAME = 41  # [SRC NewEdgeSubscription.MaxADSiteNameLength]
MIN_DATE = subscription_file.TICKS_EPOCH  # DateTime.MinValue: a DateTime property that was never set
VALIDATION_STATUS = EnumDef(
    "Microsoft.Exchange.Management.SystemConfigurationTasks.ValidationStatus",
    (("NoSyncConfigured", 0), ("Normal", 1), ("Warning", 2), ("Failed", 3), ("Inconclusive", 4), ("FailedUrgent", 5)),
)  # [SRC EdgeSubscriptionStatus.cs / cmdlets.md §6]
LEASE_TYPE = EnumDef("Microsoft.Exchange.EdgeSync.LeaseTokenType", (("Lock", 0), ("Option", 1), ("None", 2)))
SYNC_RESULT = EnumDef(
    "Microsoft.Exchange.EdgeSync.StatusResult",
    tuple((n, i) for i, n in enumerate(("InProgress", "Success", "Aborted", "CouldNotConnect", "CouldNotLease",
                                        "LostLease", "Incomplete", "NoSubscriptions", "SyncDisabled"))),
)  # [SRC EdgeSync.Common/StatusResult.cs]
SYNC_TREE = EnumDef("Microsoft.Exchange.EdgeSync.SyncTreeType", (("Configuration", 1), ("Recipients", 2)))

# Texts. Exchange's own, where cmdlets.md or a public source gives them:
# [cmdlets.md §3] SetSendConnector on a subscribed Edge (send_connectors.py has the same).
# ConfirmationMessageNewEdgeSubscriptionWarnEdgeFQDNMustbeResolvable, as Exchange 2013+ prints it
# after an import (the warning administrators quote); the lab fills site, FQDN and port.
FQDN_WARNING = (
    "EdgeSync requires that the Mailbox servers in Active Directory site {site} must be able to resolve the IP "
    "address for {fqdn} and be able to connect to that host on ports {port}."
)

# The lab's wording, after the string ids of NewEdgeSubscription / RemoveEdgeSubscription /
# TestEdgeSynchronization [SRC]:
MSG = {
    "ErrorSubscriptionFileMustBeXml": "The Edge Subscription file must have the .xml file name extension.",
    "ErrorMinimumAccountExpiry": "The AccountExpiryDuration parameter must be at least 00:02:00 (2 minutes).",
    "ExportFileNameMissing": "The FileName parameter is required when you run this command on an Edge Transport "
                             "server.",
    "FileDataShouldNotBeSet": "The FileData parameter can't be used on an Edge Transport server. Use the FileName "
                              "parameter to create the Edge Subscription file.",
    "ExportFileNameShouldNotBeSet": "The FileName parameter can only be used on an Edge Transport server. Use the "
                                    "FileData parameter to import the Edge Subscription file on a Mailbox server.",
    "FileDataMissing": "The FileData parameter is required when you run this command on a Mailbox server.",
    "SiteParameterRequired": "The Site parameter is required when you run this command on a Mailbox server.",
    "FailedToLoadSubscriptionFile": "The Edge Subscription file couldn't be loaded: {0}",
    "ClockOutofSync": "The Edge Subscription file was created in the future. The clocks of the Edge Transport "
                      "server and this server aren't synchronized.",
    "BootstrapAccountExpireTooSoon": "The bootstrap account in the Edge Subscription file has expired or expires "
                                     "within 5 minutes. Run New-EdgeSubscription on the Edge Transport server again "
                                     "and import the new file.",
    "CannotFindSubscriptionSite": "The Active Directory site '{0}' couldn't be found.",
    "NoHubInSubscribedSite": "There is no Mailbox server in Active Directory site '{0}' to which the Edge Transport "
                             "server can be subscribed.",
    "CannotSubscribeToMultipleSites": "The Edge Transport server {0} is already subscribed to Active Directory site "
                                      "{1}. Remove that Edge Subscription before you subscribe it to another site.",
    "ServerNameConflict": "A server named {0} that isn't an Edge Transport server already exists in the "
                          "organization.",
    "ErrorSiteNameIsLongerThanLimit": "The name of Active Directory site '{0}' is longer than 41 characters, so "
                                      "the EdgeSync Send connectors can't be named after it.",
    "ForeignSubscriptionFile": "The Edge Subscription file was created by Edge Transport server '{0}' ({1}), which "
                               "isn't an Edge Transport server of this lab's organization: the file comes from "
                               "another organization.",
    "CertificateNoLongerCurrent": "The certificate in the Edge Subscription file (thumbprint {0}) is no longer the "
                                  "default SMTP certificate of Edge Transport server {1} (now {2}). Run "
                                  "New-EdgeSubscription on the Edge Transport server again and import the new file.",
    "ErrorFindCertificateOnServerObject": "The internal transport certificate of the local server couldn't be found.",
    "WrongSubscriptionIdentity": "The identity '{0}' isn't an Edge Transport server. Specify the name of a subscribed "
                                 "Edge Transport server.",
    "ErrorTaskRunningLocationHubOnly": "This task can only be run on a Mailbox server.",
    "NoSubscription": "There are no Edge Subscriptions in Active Directory site {0}.",
    "LeaseExpired": "LeaseExpired",
    "CookieNotUpdated": "CookieNotUpdated",
}


# --- views -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigStatus:
    """EdgeConfigStatus: prints its SyncStatus; the counts are its sub-properties [cmdlets.md §6]."""

    SyncStatus: str
    SynchronizedObjects: int = 0
    OrgOnlyObjects: tuple[str, ...] = ()
    EdgeOnlyObjects: tuple[str, ...] = ()
    ConflictObjects: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.SyncStatus


@dataclass(frozen=True)
class Records:
    """CredentialRecords / CookieRecords: print "Number of credentials N"; ``.Records`` lists them."""

    label: str
    Records: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return f"Number of {self.label} {len(self.Records)}"


def _subscription_view(ctx: Context, entry: ServerEntry, site: str | None) -> dict[str, Any]:
    """The EdgeSubscription object [SRC EdgeSubscription.cs]: Name, Site, Domain."""
    fqdn = entry.spec.fqdn
    return {
        "Name": entry.name,
        "Site": None if site is None else f"{ctx.domain}/Configuration/Sites/{site}",
        "Domain": fqdn.split(".", 1)[1] if "." in fqdn else "",
        "Identity": entry.name,
        "IsValid": True,
        "ObjectState": "Unchanged",
    }


def _credentials(ctx: Context, rec: dict[str, Any]) -> Records:
    """The EdgeSync credentials the Mailbox servers of the site hold for the Edge [SRC
    NewEdgeSubscription.SetEdgeSyncBootStrapAccount / SetEdgeSyncPermenantAccount]."""
    rows = []
    for cred in sync.credential_rows(rec):
        rows.append(f"TargetEdgeServerFQDN: {rec['fqdn']}; ESRAUsername: {cred['user']}; EffectiveDate: "
                    f"{cred['effective']}; Duration: {cred['duration']}; IsBootStrapAccount: {cred['bootstrap']}")
    return Records("credentials", tuple(rows))


def _status(ctx: Context, rec: dict[str, Any], full: bool, recipients: bool) -> dict[str, Any]:
    """One EdgeSubscriptionStatus [SRC TestEdgeSynchronization.InternalProcessRecord]."""
    sync.catch_up(ctx, rec)
    now = ctx.now
    last = sync.moment(rec["last_sync"])
    broken = sync.problem(ctx, rec)
    holder = rec["lease_holder"] or sync.site_mailbox(ctx, rec["site"])
    holder_dn = None
    if holder is not None:
        holder_entry = ctx.org.by_name.get(holder.lower(), ())
        holder_dn = ctx.server_dn(holder_entry[0]) if holder_entry else None
    lease_expiry = last + sync.OPTION_LEASE if last is not None else MIN_DATE
    trees = ("TransportServerStatus", "TransportConfigStatus", "AcceptedDomainStatus", "RemoteDomainStatus",
             "SendConnectorStatus", "MessageClassificationStatus", "RecipientStatus")
    tree_status = {t: ConfigStatus("Skipped") for t in trees}
    failure = None
    if broken is None and last is None:
        # LeaseTokenType.None: the initial synchronisation has not run -> Inconclusive, trees NotStarted.
        verdict, lease_type = "Inconclusive", "None"
        tree_status = {t: ConfigStatus("NotStarted") for t in trees}
    elif broken is None:
        verdict, lease_type = "Normal", "Option"
    else:
        verdict, lease_type = "Failed", "Option" if last is not None else "None"
        # The lease is checked first, then the cookies, each with the alert padding; a subscription
        # the lab knows to be unreachable has cookies that a synchronisation can no longer update.
        failure = MSG["LeaseExpired"] if last is not None and now > lease_expiry + sync.ALERT_PADDING else MSG["CookieNotUpdated"]
    if full and last is not None:
        diff = sync.compare(ctx, rec)
        in_sync = not (diff.added or diff.updated or diff.deleted)
        connectors = ConfigStatus("Synchronized" if in_sync else "NotSynchronized", diff.same,
                                  diff.added, diff.deleted, diff.updated)
        transport = ConfigStatus("Synchronized", 1) if diff.transport_same else ConfigStatus(
            "NotSynchronized", 0, (), (), ("Transport Settings",))
        tree_status.update(
            TransportServerStatus=ConfigStatus("Synchronized", 1),
            TransportConfigStatus=transport,
            AcceptedDomainStatus=ConfigStatus("Synchronized"),
            RemoteDomainStatus=ConfigStatus("Synchronized"),
            SendConnectorStatus=connectors,
            MessageClassificationStatus=ConfigStatus("Synchronized"),
            RecipientStatus=ConfigStatus("Synchronized") if recipients else ConfigStatus("Skipped"),
        )
    cookies = () if last is None else (
        f"BaseDN: {ctx.config_dn()}; DomainController: {ctx.org.organization.dc}; LastUpdated: {sync.iso(last)}",)
    return {
        "UtcNow": now,
        "Name": rec["name"],
        "LeaseHolder": holder_dn if lease_type != "None" else None,
        "LeaseType": EnumValue(LEASE_TYPE, LEASE_TYPE.parse(lease_type)),
        "FailureDetail": failure,
        "LeaseExpiryUtc": lease_expiry,
        "LastSynchronizedUtc": last or MIN_DATE,
        "SyncStatus": EnumValue(VALIDATION_STATUS, VALIDATION_STATUS.parse(verdict)),
        **tree_status,
        "CredentialRecords": _credentials(ctx, rec),
        "CookieRecords": Records("cookies", cookies),
    }


# --- New-EdgeSubscription ----------------------------------------------------------------------------------------

SERVER_ID = v.id_param("ServerIdParameter")
TRANSPORT_SERVER_ID = v.id_param("TransportServerIdParameter")
SITE_ID = v.id_param("AdSiteIdParameter")
LONG_PATH = v.ParsedString("Microsoft.Exchange.Data.LongPath", str)
NEW = Signature(
    "New-EdgeSubscription",
    (
        Param("AccountExpiryDuration", v.TimeSpanType("System.TimeSpan")),
        Param("CreateInboundSendConnector", v.BOOL),
        Param("CreateInternetSendConnector", v.BOOL),
        Param("DomainController", v.FQDN),
        Param("FileData", BYTES),
        Param("FileName", LONG_PATH),
        Param("Force", v.SWITCH),
        Param("Site", SITE_ID),
    ),
    should_process=True,
)


def _prompt(ctx: Context, changed: bool = False) -> errors.CmdletError:
    """A ShouldContinue / high-impact confirmation in `powershell.exe -NonInteractive` (as certificates.py)."""
    error = errors.CmdletError(NON_INTERACTIVE_PROMPT, f"InvalidOperation,{ctx.dotnet}", "InvalidOperation",
                               "PSInvalidOperationException", ctx.cmdlet)
    error.changed = changed  # type: ignore[attr-defined]  # read by LabStore.invoke: persist what was done
    return error


def _fail(ctx: Context, key: str, *args: Any, exception: str = "InvalidOperationException",
          category: str = "InvalidOperation") -> errors.CmdletError:
    return ctx.error(MSG[key].format(*args), exception, category)


def new(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    # InternalValidate [SRC]: the file name's extension, then the minimum expiry.
    filename = bound.get("FileName")
    if filename is not None and not filename.lower().endswith(".xml"):
        raise _fail(ctx, "ErrorSubscriptionFileMustBeXml", exception="ArgumentException", category="InvalidData")
    duration = bound.get("AccountExpiryDuration")
    if duration is not None and duration.ticks < subscription_file.span_ticks(MINIMUM_BOOTSTRAP):
        raise _fail(ctx, "ErrorMinimumAccountExpiry", exception="ArgumentException", category="InvalidData")
    if ctx.edge:
        return _new_on_edge(ctx, bound, filename, duration)
    return _new_in_org(ctx, bound, filename)


def _new_on_edge(ctx: Context, bound: dict[str, Any], filename: str | None, duration: TimeSpan | None) -> list[dict[str, Any]]:
    """InitiateSubscriptionOnEdge [SRC]: the bootstrap account, the file, the Edge's own objects deleted."""
    if filename is None:
        raise _fail(ctx, "ExportFileNameMissing")
    if bound.get("FileData") is not None:
        raise _fail(ctx, "FileDataShouldNotBeSet")
    expiry = timedelta(microseconds=duration.ticks // 10) if duration is not None else sync.DEFAULT_BOOTSTRAP
    # "If you create an Edge Subscription, this Edge Transport server will be managed via EdgeSync
    # replication ... in the next "{0}" minutes before the bootstrap account expires." [cmdlets.md §6]:
    # ShouldContinue unless -Force, which a non-interactive shell cannot answer.
    if not bound.get("Force"):
        raise _prompt(ctx)
    if ctx.whatif:
        return []
    entry = ctx.local
    sync.catch_up_edge(ctx, entry)
    side = sync.edge_side(ctx, entry)
    store = server_store(ctx, entry)
    thumb = store["internal_transport"]
    cert = next((c for c in store["certs"] if _thumb_of(c) == thumb), None)
    if cert is None:
        raise _fail(ctx, "ErrorFindCertificateOnServerObject", category="ObjectNotFound")
    now = ctx.now
    adam_guid = str(lab_guid("adam", entry.name)).upper()
    user = f"cn=ESRA.{entry.name},OU=Services,CN=Configuration,CN={{{adam_guid}}}"
    password = secrets.token_urlsafe(24)  # written into the file only, as Exchange does; never kept
    ctx.files[filename] = subscription_file.write(entry, cert["der"], user, password, now, expiry)
    side["bootstrap"] = {"user": user, "effective": sync.iso(now), "expires": sync.iso(now + expiry)}
    side["adam_store"] = thumb  # InstallCertificateToADAMServiceStore
    if side["adam_presented"] is None:
        side["adam_presented"] = thumb  # a first subscription: nothing else was presented before
    if not side["subscribed"]:
        # The Edge's own send connectors go, and New/Set/Remove-SendConnector are refused from now on.
        own = ctx.state.get(entry.name, send_connectors.STORED.key)
        own.clear()
        side.update(subscribed=True, replica=dict(sync.EMPTY_REPLICA, connectors=[]))
    ctx.changed = True
    return []


def _thumb_of(stored_cert: dict[str, Any]) -> str:
    return lab_x509.thumbprint(certificate_of(stored_cert).certificate)


def _sites(ctx: Context) -> dict[str, str]:
    """The AD sites of the organisation (lower case -> name): those its servers are in."""
    return {e.spec.site.lower(): e.spec.site for e in ctx.org.servers}


def _new_in_org(ctx: Context, bound: dict[str, Any], filename: str | None) -> list[dict[str, Any]]:
    """CompleteSubscription [SRC]: checks in Exchange's order, then the Edge's server object, the
    EdgeSync credentials of the site's Mailbox servers and the EdgeSync send connectors."""
    if filename is not None:
        raise _fail(ctx, "ExportFileNameShouldNotBeSet")
    data = bound.get("FileData")
    if data is None:
        raise _fail(ctx, "FileDataMissing")
    site_ident = bound.get("Site")
    if site_ident is None:
        raise _fail(ctx, "SiteParameterRequired")
    try:
        parsed = subscription_file.read(data)
    except ValueError as exc:
        raise _fail(ctx, "FailedToLoadSubscriptionFile", str(exc)) from None
    now = ctx.now
    if parsed.effective > now:
        raise _fail(ctx, "ClockOutofSync")
    if now + EXPIRY_MARGIN > parsed.expires:
        raise _fail(ctx, "BootstrapAccountExpireTooSoon")
    site = _sites(ctx).get(site_ident.rsplit("/", 1)[-1].lower())
    if site is None:
        raise _fail(ctx, "CannotFindSubscriptionSite", site_ident)
    edge = sync.edge_entry(ctx, parsed.edge_name)
    if edge is None or edge.spec.fqdn.lower() != parsed.edge_fqdn.lower():
        if edge is None and ctx.org.by_name.get(parsed.edge_name.lower()):
            raise _fail(ctx, "ServerNameConflict", parsed.edge_name)
        raise _fail(ctx, "ForeignSubscriptionFile", parsed.edge_name, parsed.edge_fqdn)
    # The lab checks what Exchange finds out only at the first LDAP session: the file's certificate
    # must be the Edge's default SMTP certificate now.
    file_thumb = lab_x509.thumbprint(x509.load_der_x509_certificate(parsed.certificate_der))
    current = sync.internal_transport(ctx, edge)
    if file_thumb != current:
        raise _fail(ctx, "CertificateNoLongerCurrent", file_thumb, edge.name, current)
    if sync.site_mailbox(ctx, site) is None:
        raise _fail(ctx, "NoHubInSubscribedSite", site)
    existing = sync.records(ctx).get(edge.name)
    if existing is not None and existing["site"].lower() != site.lower():
        raise _fail(ctx, "CannotSubscribeToMultipleSites", edge.name, existing["site"])
    internet = bound.get("CreateInternetSendConnector", True)
    inbound = bound.get("CreateInboundSendConnector", True)
    if (internet or inbound) and len(site) > MAX_SITE_NAME:
        raise _fail(ctx, "ErrorSiteNameIsLongerThanLimit", site)
    if ctx.whatif:
        return []
    if existing is not None:
        sync.catch_up(ctx, existing)
        existing["resumed"] = sync.iso(now)
    rec = existing or {"name": edge.name, "fqdn": edge.spec.fqdn, "site": site, "subscribed_at": sync.iso(now),
                       "last_sync": None, "lease_holder": None}
    rec.update(certificate=file_thumb, bootstrap={"user": parsed.user, "expires": sync.iso(parsed.expires)},
               credentials=sync.new_credentials(ctx, edge, site, parsed))
    sync.records(ctx)[edge.name] = rec
    connectors = ctx.state.get(stored.ORG, send_connectors.STORED.key)
    values = send_connectors.edgesync_values(site, (edge.name,))
    for wanted, which, make in ((values[0], "internet", internet), (values[1], "inbound", inbound)):
        if make:
            _ensure_connector(ctx, connectors, wanted, which, site, edge.name)
    ctx.changed = True
    ctx.modified.append(edge.name)  # ObjectModified: the subscription, named after its Edge (its Identity)
    ctx.warn(FQDN_WARNING.format(site=site, fqdn=edge.spec.fqdn, port=subscription_file.ADAM_SSL_PORT))
    return [_subscription_view(ctx, edge, site)]


def _ensure_connector(ctx: Context, connectors: list[dict[str, Any]], wanted: dict[str, Any], which: str, site: str,
                      edge: str) -> None:
    """EnsureDefaultToInternet / EnsureDefaultInbound [SRC]: create the connector, or put the Edge first
    among the source servers of the one that exists (a second Edge in the site joins it)."""
    found = next((c for c in connectors if c["Name"].lower() == wanted["Name"].lower()), None)
    if found is None:
        # A new AD object: a new objectGUID, also when a connector of that name was deleted before (a subscription
        # removed and made again makes its connectors anew, with their defaults [EXD edge-subscriptions.md]).
        connectors.append(send_connectors.KIND.new(wanted, guid=uuid.uuid4(), created=ctx.now))
        return
    sources = (edge,) + tuple(s for s in found["SourceTransportServers"] if s != edge)
    if sources != found["SourceTransportServers"]:
        found["SourceTransportServers"] = sources
        found["WhenChanged"] = ctx.now


# --- Get-EdgeSubscription ----------------------------------------------------------------------------------------

GET = Signature(
    "Get-EdgeSubscription",
    (Param("Identity", TRANSPORT_SERVER_ID, position=1), Param("DomainController", v.FQDN)),
)


def _matches(ident: str, entry: ServerEntry) -> bool:
    return name_matches(ident, entry.name) or name_matches(ident, entry.spec.fqdn)


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """Server objects with the Edge role; those not subscribed are left out (WriteVerbose) [SRC]."""
    ident = bound.get("Identity")
    if ctx.edge:  # AD LDS holds the Edge's own server object; its Site is empty there
        candidates = [(ctx.local, None)] if sync.subscribed_on_edge(ctx, ctx.local) else []
        known = [ctx.local]
    else:
        candidates = []
        for name, rec in sync.records(ctx).items():
            entry = sync.edge_entry(ctx, name)
            if entry is not None:
                candidates.append((entry, rec["site"]))
        known = [e for e, _ in candidates]
    if ident is not None:
        if not any(_matches(ident, e) for e in known):
            raise ctx.not_found(ident)
        candidates = [(e, s) for e, s in candidates if _matches(ident, e)]
    return [_subscription_view(ctx, e, s) for e, s in candidates]


# --- Remove-EdgeSubscription -------------------------------------------------------------------------------------

REMOVE = Signature(
    "Remove-EdgeSubscription",
    (Param("Identity", TRANSPORT_SERVER_ID, mandatory=True, position=1), Param("DomainController", v.FQDN),
     Param("Force", v.SWITCH)),
    should_process=True,
)


def remove(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    ident = bound["Identity"]
    if ctx.edge:
        if not _matches(ident, ctx.local):
            raise ctx.not_found(ident)
        target = ctx.local
    else:
        found = [sync.edge_entry(ctx, n) for n in sync.records(ctx)]
        hits = [e for e in found if e is not None and _matches(ident, e)]
        if not hits:
            others = [e for e in ctx.find_server(ident) if not e.is_edge]
            if others:
                raise _fail(ctx, "WrongSubscriptionIdentity", ident)
            raise ctx.not_found(ident)
        if len(hits) > 1:
            raise ctx.ambiguous(ident)
        target = hits[0]
    # ConfirmImpact.High: "Are you sure you want to perform this action?" unless -Confirm:$false.
    if bound.get("Confirm") is not False and not ctx.whatif:
        raise _prompt(ctx)
    if ctx.whatif:
        return []
    if ctx.edge:
        _remove_on_edge(ctx, target, bool(bound.get("Force")))
    else:
        _remove_in_org(ctx, target)
    return []


def _remove_on_edge(ctx: Context, entry: ServerEntry, force: bool) -> None:
    """HandleRemoveOnEdge [SRC]: the replicated objects and AD LDS accounts go, the transport settings'
    replicated lists are cleared, then (unless -Force) a question about the recipients."""
    from . import transport_config

    sync.catch_up_edge(ctx, entry)
    side = sync.edge_side(ctx, entry)
    side.update(subscribed=False, bootstrap=None, replica=None)
    ctx.state.get(entry.name, send_connectors.STORED.key).clear()
    local = ctx.state.get(entry.name, transport_config.STORED.key)
    for name in transport_config.SYNCED:
        local[name] = ()
    local["WhenChanged"] = ctx.now
    ctx.changed = True
    if not force:
        # ConfirmationMessageRemoveEdgeSubscriptionRecipients: asked after the subscription is gone.
        raise _prompt(ctx, changed=True)


def _remove_in_org(ctx: Context, entry: ServerEntry) -> None:
    """HandleRemoveInsideOrg [SRC]: the Edge leaves the connectors' source servers (a connector whose only
    source it was is deleted), its credentials and server object go."""
    connectors = ctx.state.get(stored.ORG, send_connectors.STORED.key)
    for connector in list(connectors):
        sources = connector["SourceTransportServers"]
        if entry.name in sources:
            if len(sources) == 1:
                connectors.remove(connector)
            else:
                connector["SourceTransportServers"] = tuple(s for s in sources if s != entry.name)
                connector["WhenChanged"] = ctx.now
    del sync.records(ctx)[entry.name]
    ctx.state.get(entry.name, sync.EDGE_KEY).pop("seed", None)  # an org-file subscription removed stays removed
    ctx.changed = True


# --- Start-EdgeSynchronization -----------------------------------------------------------------------------------

START = Signature(
    "Start-EdgeSynchronization",
    (Param("Server", SERVER_ID), Param("TargetServer", v.STRING), Param("ForceFullSync", v.SWITCH),
     Param("ForceUpdateCookie", v.SWITCH)),
    should_process=True,
)


def _site_records(ctx: Context, site: str, target: str | None) -> list[dict[str, Any]]:
    out = []
    for name in sorted(sync.records(ctx)):
        rec = sync.record(ctx, name)
        if rec is None or rec["site"].lower() != site.lower():
            continue
        if target and target.lower() not in (rec["name"].lower(), rec["fqdn"].lower()):
            continue
        out.append(rec)
    return out


def _result(result: str, tree: str, name: str, start: datetime, *, failure: str | None = None,
            counts: tuple[int, int, int, int] = (0, 0, 0, 0)) -> dict[str, Any]:
    added, deleted, updated, scanned = counts
    return {
        "Result": EnumValue(SYNC_RESULT, SYNC_RESULT.parse(result)), "Type": EnumValue(SYNC_TREE, SYNC_TREE.parse(tree)),
        "Name": name, "FailureDetails": failure, "StartUTC": start, "EndUTC": start, "Added": added,
        "Deleted": deleted, "Updated": updated, "Scanned": scanned, "TargetScanned": scanned,
    }


def start(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """Synchronise now: one Configuration and one Recipients result per subscribed Edge of the site of
    the Mailbox server (-Server, else this one) [cmdlets.md §6; SRC Status.cs]."""
    server = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    if server.is_edge:
        raise _fail(ctx, "ErrorTaskRunningLocationHubOnly")
    now = ctx.now
    chosen = _site_records(ctx, server.spec.site, bound.get("TargetServer"))
    if not chosen:
        return [_result("NoSubscriptions", "Configuration", "", now)]
    if ctx.whatif:
        return []
    out = []
    for rec in chosen:
        sync.catch_up(ctx, rec)
        broken = sync.problem(ctx, rec)
        if broken is not None:
            out.append(_result("CouldNotConnect", "Configuration", rec["name"], now, failure=broken))
            out.append(_result("CouldNotConnect", "Recipients", rec["name"], now, failure=broken))
            continue
        diff = sync.compare(ctx, rec)
        updated = len(diff.updated) + (0 if diff.transport_same else 1)
        if bound.get("ForceFullSync"):  # every object is written again, not only the changed ones
            updated = diff.scanned - len(diff.added)
        sync.synchronise(ctx, rec, server.name)
        counts = (len(diff.added), len(diff.deleted), updated, diff.scanned)
        out.append(_result("Success", "Configuration", rec["name"], now, counts=counts))
        out.append(_result("Success", "Recipients", rec["name"], now))
    return out


# --- Test-EdgeSynchronization ------------------------------------------------------------------------------------

TEST = Signature(
    "Test-EdgeSynchronization",
    (
        Param("ExcludeRecipientTest", v.SWITCH, sets=("Default",)),
        Param("FullCompareMode", v.SWITCH, sets=("Default",)),
        Param("MaxReportSize", v.UNLIMITED_INT, sets=("Default",)),
        Param("MonitoringContext", v.BOOL, sets=("Default",)),
        Param("TargetServer", v.STRING, sets=("Default",)),
        Param("VerifyRecipient", v.STRING, mandatory=True, sets=("SingleValidation",)),
        Param("DomainController", v.FQDN),
    ),
    default_set="Default",
    should_process=True,
)


def test(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """One EdgeSubscriptionStatus per subscribed Edge of this server's site, or NoSyncConfigured [SRC]."""
    site = ctx.local.spec.site
    chosen = _site_records(ctx, site, bound.get("TargetServer"))
    if not chosen and _site_records(ctx, site, None):
        return []  # the site has subscriptions, none of them the -TargetServer [SRC: the loop writes nothing]
    if not chosen:
        return [{
            "UtcNow": ctx.now, "Name": "", "LeaseHolder": None,
            "LeaseType": EnumValue(LEASE_TYPE, LEASE_TYPE.parse("None")),
            "FailureDetail": MSG["NoSubscription"].format(site), "LeaseExpiryUtc": MIN_DATE,
            "LastSynchronizedUtc": MIN_DATE,
            "SyncStatus": EnumValue(VALIDATION_STATUS, VALIDATION_STATUS.parse("NoSyncConfigured")),
        }]
    full = bool(bound.get("FullCompareMode"))
    recipients = not bound.get("ExcludeRecipientTest")
    out = [_status(ctx, rec, full, recipients) for rec in chosen]
    if bound.get("VerifyRecipient") is not None:  # fills only RecipientStatus [cmdlets.md §6]; no recipients here
        for row in out:
            row["RecipientStatus"] = ConfigStatus("NotSynchronized")
    return out
