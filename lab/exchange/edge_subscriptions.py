"""EdgeSync in the lab (cmdlets.md §6, §9, §10): Edge subscriptions and their synchronisation.

Cmdlets: New-/Get-/Remove-EdgeSubscription, Start-EdgeSynchronization and Test-EdgeSynchronization.
Behaviour follows cmdlets.md, Microsoft's cmdlet reference [PS] and the decompiled Exchange 2013
tasks NewEdgeSubscription.cs, RemoveEdgeSubscription.cs, GetEdgeSubscription.cs and
TestEdgeSynchronization.cs [SRC]. Exchange's resource texts for most EdgeSync errors were not found;
those messages are the lab's wording, each named after the string id Exchange uses.

What the lab keeps (stored.py), all dated by the lab clock (``ctx.now``):

- per Edge, its own side: whether its AD LDS holds a subscription (GatewayEdgeSyncSubscribed), the
  bootstrap account of its last subscription file (user, effective date, expiry; never the password,
  only what the file carries), the certificate New-EdgeSubscription installed into AD LDS's service
  store (``adam_store``) and the one AD LDS presents since it last started (``adam_presented``);
- for the organisation, one record per subscribed Edge (its server object in AD): site, FQDN, the
  Edge certificate from the imported file, the EdgeSync credentials, the last synchronisation and
  the lease.

Synchronisation works while the certificate the organisation stored for the Edge (from the file),
the one the Edge's AD LDS presents and the Edge's current internal transport (default SMTP)
certificate are the same, and the Edge still holds its subscription. So replacing the Edge's SMTP
certificate breaks it until the Edge is subscribed again (Edge file, then Mailbox import) and
``Restart-Service ADAM_MSExchange`` made AD LDS present the new certificate (cmdlets.md §6, §10).
The first subscription of an Edge needs no restart: its AD LDS presented no EdgeSync certificate
before, and the lab lets it present the one the subscription installed.

A synchronisation writes the Edge's replica (the send connectors it is a source of and the
organisation's domain-secure lists), which is what a subscribed Edge shows; ``-FullCompareMode`` and
Start's counts compare it with the organisation. The schedule (configuration every 3 minutes [EXD
edge-subscriptions.md]) runs on the lab clock, lazily: when a cmdlet looks at a subscription (or
something is about to change it) and 3 minutes have passed since the last synchronisation, one runs
then, if synchronisation works. An org-file ``subscribed: true`` Edge starts subscribed, with the
certificate it has and the replica of the organisation when it is first looked at.
"""

from __future__ import annotations

import base64
import secrets
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import errors, send_connectors, stored
from . import param_types as v
from .binder import Param, Signature
from .certificate_store import certificate_of, server_store
from .context import Context, lab_guid, name_matches
from .dotnet_values import TimeSpan
from .enums import EnumDef, EnumValue
from .secure import BYTES
from .spec import ServerEntry
from .certificates import NON_INTERACTIVE as NON_INTERACTIVE_PROMPT

EDGE_KEY = "EdgeSubscriptionEdge"  # per Edge: its side of the subscription
ORG_KEY = "EdgeSubscriptions"  # the organisation: subscribed Edges by name

# [EXD edge-subscriptions.md] "Configuration data is synchronized every 3 minutes, recipient data
# every 5 minutes"; lease option 1 hour. [SRC TestEdgeSynchronization.GetAlertPaddingTimeSpan]
# 2 x max(configuration, recipient interval) + 30 minutes.
CONFIG_INTERVAL = timedelta(minutes=3)
OPTION_LEASE = timedelta(hours=1)
ALERT_PADDING = 2 * timedelta(minutes=5) + timedelta(minutes=30)
# [SRC NewEdgeSubscription] DefaultBootStrapEdgeSyncAccountExpiry 1 day, MinimumAccountExpiry 2 minutes,
# DefaultEdgeSyncAccountExpiry 15 days; CompleteSubscription refuses a file whose bootstrap account
# expires within 5 minutes.
DEFAULT_BOOTSTRAP = timedelta(days=1)
MINIMUM_BOOTSTRAP = timedelta(minutes=2)
DEFAULT_ESRA = timedelta(days=15)
EXPIRY_MARGIN = timedelta(minutes=5)
ADAM_SSL_PORT = 50636  # [EXD edge-subscriptions.md] port 50636/TCP Mailbox -> Edge
MAX_SITE_NAME = 41  # [SRC NewEdgeSubscription.MaxADSiteNameLength]
MAX_FILE_BYTES = 1 << 20  # a subscription file is a few kilobytes; the lab reads no more than this
_TICKS_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
MIN_DATE = _TICKS_EPOCH  # DateTime.MinValue: a DateTime property that was never set

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

TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks."
EDGESYNC_TASKS = "Microsoft.Exchange.Management.EdgeSync."

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
    "InvalidSubscriptionFile": "The file isn't a valid Edge Subscription file.",
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
    "NotSubscribedOnEdge": "Edge Transport server {0} doesn't hold an Edge Subscription any more (it was removed on "
                           "the Edge Transport server).",
    "CertificateMismatch": "The LDAP connection to {0}:{1} failed: the certificate its AD LDS presents (thumbprint {2})"
                           " isn't the certificate stored for the Edge Subscription (thumbprint {3}).",
    "EdgeCertificateChanged": "The internal transport certificate of Edge Transport server {0} (thumbprint {1}) isn't "
                              "the certificate of its Edge Subscription (thumbprint {2}): subscribe it again and "
                              "restart AD LDS.",
    "LeaseExpired": "LeaseExpired",
    "CookieNotUpdated": "CookieNotUpdated",
}


# --- the state ---------------------------------------------------------------------------------------------------


def _new_edge(org: Any, entry: ServerEntry | None, now: datetime) -> dict[str, Any]:
    """An Edge's side. An org-file ``subscribed: true`` Edge starts subscribed; its certificates are
    pinned to its internal transport certificate when first looked at (making keys at start is slow)."""
    subscribed = bool(entry is not None and entry.subscribed)
    side = {"subscribed": subscribed, "bootstrap": None, "adam_store": None, "adam_presented": None}
    if subscribed:
        side["seed"] = True  # the organisation's record is made with it (records), also for an Edge added later
    return side


def _new_org(org: Any, entry: ServerEntry | None, now: datetime) -> dict[str, Any]:
    """The organisation's subscriptions: one per org-file subscribed Edge, synchronised as of now."""
    return {e.name: _seeded_record(e, now) for e in org.servers if e.is_edge and e.subscribed}


def _seeded_record(entry: ServerEntry, now: datetime) -> dict[str, Any]:
    return {"name": entry.name, "fqdn": entry.spec.fqdn, "site": entry.spec.site, "certificate": None,
            "subscribed_at": _iso(now), "bootstrap": None, "last_sync": _iso(now), "lease_holder": None}


def _load_edge(raw: Any, org: Any = None, entry: Any = None) -> dict[str, Any]:
    """An Edge's side from the state file; a damaged one is refused (the lab then refuses to start)."""
    if not (isinstance(raw, dict) and isinstance(raw.get("subscribed"), bool)
            and all(isinstance(raw.get(k), (str, type(None))) for k in ("adam_store", "adam_presented"))
            and isinstance(raw.get("replica"), (dict, type(None)))):
        raise ValueError("an Edge's subscription in the state file is damaged")
    return raw


def _load_org(raw: Any, org: Any = None, entry: Any = None) -> dict[str, Any]:
    if not isinstance(raw, dict) or not all(
        isinstance(rec, dict) and all(isinstance(rec.get(k), str) for k in ("name", "fqdn", "site", "subscribed_at"))
        for rec in raw.values()
    ):
        raise ValueError("the organisation's Edge subscriptions in the state file are damaged")
    for rec in raw.values():
        for key in ("subscribed_at", "last_sync", "resumed"):
            try:
                _time(rec.get(key))
            except (TypeError, ValueError):  # said without echoing the file's content
                raise ValueError(f"an Edge subscription's {key} in the state file is not a date") from None
    return raw


stored.register(stored.Stored(EDGE_KEY, lambda entry: entry is not None and entry.is_edge, _new_edge, dict, _load_edge))
stored.register(stored.Stored(ORG_KEY, lambda entry: entry is None, _new_org, dict, _load_org))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _ticks(moment: datetime) -> int:
    delta = moment - _TICKS_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _from_ticks(ticks: int) -> datetime:
    return _TICKS_EPOCH + timedelta(microseconds=ticks // 10)


def internal_transport(ctx: Context, entry: ServerEntry) -> str:
    """The thumbprint of a server's internal transport (default SMTP) certificate."""
    return server_store(ctx, entry)["internal_transport"]


def edge_side(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    """An Edge's side, with a seeded subscription pinned to the Edge's current certificate."""
    side = ctx.state.get(entry.name, EDGE_KEY)
    if side["subscribed"] and side["adam_presented"] is None:
        thumb = internal_transport(ctx, entry)
        side["adam_presented"] = side["adam_store"] = thumb
        if side.get("replica") is None:  # as if synchronisation had just run
            side["replica"] = _snapshot(ctx, entry.name)
        ctx.changed = True
    return side


def records(ctx: Context) -> dict[str, dict[str, Any]]:
    """The organisation's subscriptions, by Edge name. An Edge the org file declares ``subscribed`` after
    the state was made gets its record here (its side carries ``seed`` until a removal in the
    organisation clears it); reading changes nothing otherwise."""
    blob = ctx.state.get(stored.ORG, ORG_KEY)
    for entry in ctx.org.servers:
        if entry.is_edge and entry.subscribed and entry.name not in blob:
            peek = ctx.state.objects.get((entry.name, EDGE_KEY))  # a read without touching
            if peek is not None and peek.get("seed"):
                blob[entry.name] = _seeded_record(entry, ctx.now)
                ctx.changed = True
    return blob


def _entry(ctx: Context, name: str) -> ServerEntry | None:
    hits = [e for e in ctx.org.by_name.get(name.lower(), ()) if e.is_edge]
    return hits[0] if hits else None


def _record(ctx: Context, name: str) -> dict[str, Any] | None:
    rec = records(ctx).get(name)
    if rec is None or _entry(ctx, name) is None:
        return None
    if rec["certificate"] is None:  # a seeded subscription: the Edge's certificate when first looked at
        entry = _entry(ctx, name)
        rec["certificate"] = edge_side(ctx, entry)["adam_presented"]
        subscribed = _time(rec["subscribed_at"])
        adam_guid = str(lab_guid("adam", entry.name)).upper()
        seeded = SubscriptionFile(entry.name, entry.spec.fqdn, b"", f"cn=ESRA.{entry.name},OU=Services,CN=Configuration,"
                                  f"CN={{{adam_guid}}}", subscribed, subscribed + DEFAULT_BOOTSTRAP)
        rec["credentials"] = _new_credentials(ctx, entry, rec["site"], seeded)
        ctx.changed = True
    return rec


def subscribed_on_edge(ctx: Context, entry: ServerEntry) -> bool:
    """Whether an Edge's AD LDS holds a subscription (GatewayEdgeSyncSubscribed): what makes it refuse
    send connector changes and show EdgeSync's copy of the organisation's configuration."""
    if not entry.is_edge:
        return False
    return bool(ctx.state.get(entry.name, EDGE_KEY)["subscribed"])


# --- synchronisation ---------------------------------------------------------------------------------------------


def problem(ctx: Context, rec: dict[str, Any]) -> str | None:
    """Why EdgeSync cannot reach this Edge now, or None when it can."""
    entry = _entry(ctx, rec["name"])
    if entry is None:
        return MSG["NotSubscribedOnEdge"].format(rec["name"])
    side = edge_side(ctx, entry)
    if not side["subscribed"]:
        return MSG["NotSubscribedOnEdge"].format(rec["name"])
    if side["adam_presented"] != rec["certificate"]:
        return MSG["CertificateMismatch"].format(rec["fqdn"], ADAM_SSL_PORT, side["adam_presented"], rec["certificate"])
    current = internal_transport(ctx, entry)
    if current != rec["certificate"]:
        return MSG["EdgeCertificateChanged"].format(rec["name"], current, rec["certificate"])
    return None


def catch_up(ctx: Context, rec: dict[str, Any]) -> None:
    """The schedule: when 3 minutes or more passed since the last synchronisation (or since the
    subscription last started to work) and it works, a scheduled synchronisation runs now."""
    if problem(ctx, rec) is not None:
        return
    start = _time(rec["last_sync"]) or _time(rec["subscribed_at"])
    resumed = _time(rec.get("resumed"))
    if resumed is not None and resumed > start:  # it did not work before this moment
        start = resumed
    if ctx.now - start >= CONFIG_INTERVAL:
        synchronise(ctx, rec, rec["lease_holder"] or _site_mailbox(ctx, rec["site"]))


def synchronise(ctx: Context, rec: dict[str, Any], holder: str | None) -> None:
    """One configuration synchronisation: the Edge's AD LDS receives the organisation's objects."""
    entry = _entry(ctx, rec["name"])
    if entry is not None:
        ctx.state.get(entry.name, EDGE_KEY)["replica"] = _snapshot(ctx, rec["name"])
    rec.update(last_sync=_iso(ctx.now), lease_holder=holder)
    ctx.changed = True


def catch_up_edge(ctx: Context, entry: ServerEntry) -> None:
    """Before something changes on an Edge: its subscription synchronised until now."""
    rec = _record(ctx, entry.name) if entry.is_edge else None
    if rec is not None:
        catch_up(ctx, rec)


def _site_mailbox(ctx: Context, site: str) -> str | None:
    for entry in ctx.org.mailbox_servers:
        if entry.spec.site.lower() == site.lower():
            return entry.name
    return None


def _replicated(ctx: Context, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What EdgeSync carries to an Edge (configuration): the send connectors it is a source of and
    the organisation's transport settings (the lab has no accepted or remote domains)."""
    from . import transport_config

    connectors = [c for c in ctx.state.get(stored.ORG, send_connectors.STORED.key) if name in c["SourceTransportServers"]]
    return connectors, ctx.state.get(stored.ORG, transport_config.STORED.key)


def _snapshot(ctx: Context, name: str) -> dict[str, Any]:
    """What a synchronisation writes into the Edge's AD LDS (JSON-ready, as the state keeps it)."""
    from . import transport_config

    connectors, config = _replicated(ctx, name)
    dumped = transport_config.KIND.dump(config)
    return {"connectors": [send_connectors.KIND.dump(c) for c in connectors],
            "transport": {n: dumped[n] for n in transport_config.SYNCED}}


EMPTY_REPLICA: dict[str, Any] = {"connectors": [], "transport": {}}


@dataclass(frozen=True)
class Comparison:
    """The organisation's objects against the Edge's copies (by Guid; the transport settings' lists)."""

    added: tuple[str, ...]  # in the organisation, not on the Edge
    updated: tuple[str, ...]  # on both, different
    deleted: tuple[str, ...]  # on the Edge only
    same: int
    transport_same: bool

    @property
    def scanned(self) -> int:
        return len(self.added) + len(self.updated) + self.same + 1


def compare(ctx: Context, rec: dict[str, Any]) -> Comparison:
    entry = _entry(ctx, rec["name"])
    replica = (ctx.state.get(entry.name, EDGE_KEY).get("replica") if entry is not None else None) or EMPTY_REPLICA
    now = _snapshot(ctx, rec["name"])
    theirs = {r["Guid"]: r for r in replica["connectors"]}
    ours = {r["Guid"]: r for r in now["connectors"]}
    added = tuple(r["Name"] for g, r in ours.items() if g not in theirs)
    updated = tuple(r["Name"] for g, r in ours.items() if g in theirs and theirs[g] != r)
    deleted = tuple(r["Name"] for g, r in theirs.items() if g not in ours)
    same = sum(1 for g, r in ours.items() if theirs.get(g) == r)
    return Comparison(added, updated, deleted, same, replica["transport"] == now["transport"])


def replicated_connectors(ctx: Context) -> list[dict[str, Any]]:
    """The send connectors a subscribed Edge holds: what the last synchronisation wrote (a scheduled
    one runs first if it is due). Read-only copies: the Edge refuses to change them."""
    catch_up_edge(ctx, ctx.local)
    side = edge_side(ctx, ctx.local)
    replica = side.get("replica") or EMPTY_REPLICA
    return [send_connectors.KIND.load(r, send_connectors.base_values(r["Name"])) for r in replica["connectors"]]


def replicated_lists(ctx: Context) -> dict[str, Any]:
    """TLSSendDomainSecureList, TLSReceiveDomainSecureList and InternalSMTPServers as EdgeSync last
    wrote them on a subscribed Edge (empty before the first synchronisation)."""
    from . import transport_config

    catch_up_edge(ctx, ctx.local)
    side = edge_side(ctx, ctx.local)
    written = (side.get("replica") or EMPTY_REPLICA)["transport"]
    return {n: transport_config.KIND.prop(n).type.load(written[n]) if n in written else ()
            for n in transport_config.SYNCED}


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
    for cred in rec.get("credentials", ()):
        rows.append(f"TargetEdgeServerFQDN: {rec['fqdn']}; ESRAUsername: {cred['user']}; EffectiveDate: "
                    f"{cred['effective']}; Duration: {cred['duration']}; IsBootStrapAccount: {cred['bootstrap']}")
    return Records("credentials", tuple(rows))


def _status(ctx: Context, rec: dict[str, Any], full: bool, recipients: bool) -> dict[str, Any]:
    """One EdgeSubscriptionStatus [SRC TestEdgeSynchronization.InternalProcessRecord]."""
    catch_up(ctx, rec)
    now = ctx.now
    last = _time(rec["last_sync"])
    broken = problem(ctx, rec)
    holder = rec["lease_holder"] or _site_mailbox(ctx, rec["site"])
    holder_dn = None
    if holder is not None:
        holder_entry = ctx.org.by_name.get(holder.lower(), ())
        holder_dn = ctx.server_dn(holder_entry[0]) if holder_entry else None
    lease_expiry = last + OPTION_LEASE if last is not None else MIN_DATE
    trees = ("TransportServerStatus", "TransportConfigStatus", "AcceptedDomainStatus", "RemoteDomainStatus",
             "SendConnectorStatus", "MessageClassificationStatus", "RecipientStatus")
    tree_status = {t: ConfigStatus("Skipped") for t in trees}
    failure = None
    if broken is None and last is None:
        # LeaseTokenType.None: the initial synchronisation has not run -> Inconclusive, trees NotStarted.
        sync, lease_type = "Inconclusive", "None"
        tree_status = {t: ConfigStatus("NotStarted") for t in trees}
    elif broken is None:
        sync, lease_type = "Normal", "Option"
    else:
        sync, lease_type = "Failed", "Option" if last is not None else "None"
        # The lease is checked first, then the cookies, each with the alert padding; a subscription
        # the lab knows to be unreachable has cookies that a synchronisation can no longer update.
        failure = MSG["LeaseExpired"] if last is not None and now > lease_expiry + ALERT_PADDING else MSG["CookieNotUpdated"]
    if full and last is not None:
        diff = compare(ctx, rec)
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
        f"BaseDN: {ctx.config_dn()}; DomainController: {ctx.org.organization.dc}; LastUpdated: {_iso(last)}",)
    return {
        "UtcNow": now,
        "Name": rec["name"],
        "LeaseHolder": holder_dn if lease_type != "None" else None,
        "LeaseType": EnumValue(LEASE_TYPE, LEASE_TYPE.parse(lease_type)),
        "FailureDetail": failure,
        "LeaseExpiryUtc": lease_expiry,
        "LastSynchronizedUtc": last or MIN_DATE,
        "SyncStatus": EnumValue(VALIDATION_STATUS, VALIDATION_STATUS.parse(sync)),
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
    if duration is not None and duration.ticks < _span_ticks(MINIMUM_BOOTSTRAP):
        raise _fail(ctx, "ErrorMinimumAccountExpiry", exception="ArgumentException", category="InvalidData")
    if ctx.edge:
        return _new_on_edge(ctx, bound, filename, duration)
    return _new_in_org(ctx, bound, filename)


def _span_ticks(span: timedelta) -> int:
    return int(span.total_seconds()) * 10_000_000


def _new_on_edge(ctx: Context, bound: dict[str, Any], filename: str | None, duration: TimeSpan | None) -> list[dict[str, Any]]:
    """InitiateSubscriptionOnEdge [SRC]: the bootstrap account, the file, the Edge's own objects deleted."""
    if filename is None:
        raise _fail(ctx, "ExportFileNameMissing")
    if bound.get("FileData") is not None:
        raise _fail(ctx, "FileDataShouldNotBeSet")
    expiry = timedelta(microseconds=duration.ticks // 10) if duration is not None else DEFAULT_BOOTSTRAP
    # "If you create an Edge Subscription, this Edge Transport server will be managed via EdgeSync
    # replication ... in the next "{0}" minutes before the bootstrap account expires." [cmdlets.md §6]:
    # ShouldContinue unless -Force, which a non-interactive shell cannot answer.
    if not bound.get("Force"):
        raise _prompt(ctx)
    if ctx.whatif:
        return []
    entry = ctx.local
    catch_up_edge(ctx, entry)
    side = edge_side(ctx, entry)
    store = server_store(ctx, entry)
    thumb = store["internal_transport"]
    cert = next((c for c in store["certs"] if _thumb_of(c) == thumb), None)
    if cert is None:
        raise _fail(ctx, "ErrorFindCertificateOnServerObject", category="ObjectNotFound")
    now = ctx.now
    adam_guid = str(lab_guid("adam", entry.name)).upper()
    user = f"cn=ESRA.{entry.name},OU=Services,CN=Configuration,CN={{{adam_guid}}}"
    password = secrets.token_urlsafe(24)  # written into the file only, as Exchange does; never kept
    ctx.files[filename] = _subscription_file(entry, cert, user, password, now, expiry)
    side["bootstrap"] = {"user": user, "effective": _iso(now), "expires": _iso(now + expiry)}
    side["adam_store"] = thumb  # InstallCertificateToADAMServiceStore
    if side["adam_presented"] is None:
        side["adam_presented"] = thumb  # a first subscription: nothing else was presented before
    if not side["subscribed"]:
        # The Edge's own send connectors go, and New/Set/Remove-SendConnector are refused from now on.
        own = ctx.state.get(entry.name, send_connectors.STORED.key)
        own.clear()
        side.update(subscribed=True, replica=dict(EMPTY_REPLICA, connectors=[]))
    ctx.changed = True
    return []


def _thumb_of(stored_cert: dict[str, Any]) -> str:
    from . import x509 as lab_x509

    return lab_x509.thumbprint(certificate_of(stored_cert).certificate)


def _subscription_file(entry: ServerEntry, cert: dict[str, Any], user: str, password: str, now: datetime,
                       expiry: timedelta) -> bytes:
    """EdgeSubscriptionData as Exchange's XmlSerializer writes it [SRC NewEdgeSubscription.GenerateSubscriptionFile]:
    the Edge's name and FQDN, its certificate (the lab writes the DER, base64), the bootstrap account and its
    lifetime in ticks, the AD LDS SSL port and the version."""
    root = ElementTree.Element("EdgeSubscriptionData", {
        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "xmlns:xsd": "http://www.w3.org/2001/XMLSchema"})
    major, minor, build, revision = entry.spec.version.split(".")
    values = (
        ("EdgeServerName", entry.name), ("EdgeServerFQDN", entry.spec.fqdn),
        ("EdgeCertificateBlob", cert["der"]), ("ESRAUsername", user), ("ESRAPassword", password),
        ("EffectiveDate", str(_ticks(now))), ("Duration", str(_span_ticks(expiry))),
        ("AdamSslPort", str(ADAM_SSL_PORT)), ("ServerType", "Edge"), ("ProductID", ""),
        ("VersionNumber", str((int(major) << 22) | (int(minor) << 16) | (int(build) & 0x7FFF) | (1 << 15))),
        ("SerialNumber", f"Version {major}.{minor} (Build {build}.{revision})"),
    )
    for name, value in values:
        ElementTree.SubElement(root, name).text = value
    return b'<?xml version="1.0" encoding="utf-8"?>\r\n' + ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)


@dataclass(frozen=True)
class SubscriptionFile:
    edge_name: str
    edge_fqdn: str
    certificate_der: bytes
    user: str
    effective: datetime
    expires: datetime


def read_file(data: bytes) -> SubscriptionFile:
    """LoadSubscriptionFile [SRC]; ValueError with what is wrong (never the file's content)."""
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"the file is {len(data)} bytes; a subscription file is a few kilobytes")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ValueError("the file declares a document type, which a subscription file never does")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValueError(f"it isn't well-formed XML ({exc})") from None
    if root.tag != "EdgeSubscriptionData":
        raise ValueError("its root element isn't EdgeSubscriptionData")
    text = {child.tag: (child.text or "").strip() for child in root}
    required = ("EdgeServerName", "EdgeServerFQDN", "ESRAUsername", "ESRAPassword")
    if any(not text.get(k) for k in required):
        raise ValueError(MSG["InvalidSubscriptionFile"])
    try:
        der = base64.b64decode(text.get("EdgeCertificateBlob", ""), validate=True)
        from cryptography import x509

        x509.load_der_x509_certificate(der)
        effective = _from_ticks(int(text.get("EffectiveDate", "")))
        duration = timedelta(microseconds=int(text.get("Duration", "")) // 10)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(MSG["InvalidSubscriptionFile"]) from None
    return SubscriptionFile(text["EdgeServerName"], text["EdgeServerFQDN"], der, text["ESRAUsername"], effective,
                            effective + duration)


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
        parsed = read_file(data)
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
    edge = _entry(ctx, parsed.edge_name)
    if edge is None or edge.spec.fqdn.lower() != parsed.edge_fqdn.lower():
        if edge is None and ctx.org.by_name.get(parsed.edge_name.lower()):
            raise _fail(ctx, "ServerNameConflict", parsed.edge_name)
        raise _fail(ctx, "ForeignSubscriptionFile", parsed.edge_name, parsed.edge_fqdn)
    # The lab checks what Exchange finds out only at the first LDAP session: the file's certificate
    # must be the Edge's default SMTP certificate now.
    from cryptography import x509
    from . import x509 as lab_x509

    file_thumb = lab_x509.thumbprint(x509.load_der_x509_certificate(parsed.certificate_der))
    current = internal_transport(ctx, edge)
    if file_thumb != current:
        raise _fail(ctx, "CertificateNoLongerCurrent", file_thumb, edge.name, current)
    if _site_mailbox(ctx, site) is None:
        raise _fail(ctx, "NoHubInSubscribedSite", site)
    existing = records(ctx).get(edge.name)
    if existing is not None and existing["site"].lower() != site.lower():
        raise _fail(ctx, "CannotSubscribeToMultipleSites", edge.name, existing["site"])
    internet = bound.get("CreateInternetSendConnector", True)
    inbound = bound.get("CreateInboundSendConnector", True)
    if (internet or inbound) and len(site) > MAX_SITE_NAME:
        raise _fail(ctx, "ErrorSiteNameIsLongerThanLimit", site)
    if ctx.whatif:
        return []
    if existing is not None:
        catch_up(ctx, existing)
        existing["resumed"] = _iso(now)
    rec = existing or {"name": edge.name, "fqdn": edge.spec.fqdn, "site": site, "subscribed_at": _iso(now),
                       "last_sync": None, "lease_holder": None}
    rec.update(certificate=file_thumb, bootstrap={"user": parsed.user, "expires": _iso(parsed.expires)},
               credentials=_new_credentials(ctx, edge, site, parsed))
    if existing is None:
        rec["subscribed_at"] = _iso(now)
    records(ctx)[edge.name] = rec
    connectors = ctx.state.get(stored.ORG, send_connectors.STORED.key)
    values = send_connectors.edgesync_values(site, (edge.name,))
    for wanted, which, make in ((values[0], "internet", internet), (values[1], "inbound", inbound)):
        if make:
            _ensure_connector(ctx, connectors, wanted, which, site, edge.name)
    ctx.changed = True
    ctx.warn(FQDN_WARNING.format(site=site, fqdn=edge.spec.fqdn, port=ADAM_SSL_PORT))
    return [_subscription_view(ctx, edge, site)]


def _new_credentials(ctx: Context, edge: ServerEntry, site: str, parsed: SubscriptionFile) -> list[dict[str, Any]]:
    """Per Mailbox server of the site: the bootstrap credential and two permanent ones [SRC]."""
    out = []
    duration = parsed.expires - parsed.effective
    for mbx in ctx.org.mailbox_servers:
        if mbx.spec.site.lower() != site.lower():
            continue
        out.append({"user": parsed.user, "effective": _iso(parsed.effective), "duration": str(duration),
                    "bootstrap": True})
        start = parsed.expires
        suffix = parsed.user.split(",", 1)[1] if "," in parsed.user else parsed.user
        for i in range(2):
            out.append({"user": f"cn=ESRA.{edge.name}.{mbx.name}.{i},{suffix}", "effective": _iso(start),
                        "duration": str(DEFAULT_ESRA), "bootstrap": False})
            start += DEFAULT_ESRA
    return out


def _ensure_connector(ctx: Context, connectors: list[dict[str, Any]], wanted: dict[str, Any], which: str, site: str,
                      edge: str) -> None:
    """EnsureDefaultToInternet / EnsureDefaultInbound [SRC]: create the connector, or put the Edge first
    among the source servers of the one that exists (a second Edge in the site joins it)."""
    found = next((c for c in connectors if c["Name"].lower() == wanted["Name"].lower()), None)
    if found is None:
        guid = lab_guid("edgesync", ctx.domain, site, which)
        if any(c["Guid"] == guid for c in connectors):
            guid = uuid.uuid4()
        connectors.append(send_connectors.KIND.new(wanted, guid=guid, created=ctx.now))
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
        candidates = [(ctx.local, None)] if subscribed_on_edge(ctx, ctx.local) else []
        known = [ctx.local]
    else:
        candidates = []
        for name, rec in records(ctx).items():
            entry = _entry(ctx, name)
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
        found = [_entry(ctx, n) for n in records(ctx)]
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

    catch_up_edge(ctx, entry)
    side = edge_side(ctx, entry)
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
    del records(ctx)[entry.name]
    ctx.state.get(entry.name, EDGE_KEY).pop("seed", None)  # an org-file subscription removed stays removed
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
    for name in sorted(records(ctx)):
        rec = _record(ctx, name)
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
        catch_up(ctx, rec)
        broken = problem(ctx, rec)
        if broken is not None:
            out.append(_result("CouldNotConnect", "Configuration", rec["name"], now, failure=broken))
            out.append(_result("CouldNotConnect", "Recipients", rec["name"], now, failure=broken))
            continue
        diff = compare(ctx, rec)
        updated = len(diff.updated) + (0 if diff.transport_same else 1)
        if bound.get("ForceFullSync"):  # every object is written again, not only the changed ones
            updated = diff.scanned - len(diff.added)
        synchronise(ctx, rec, server.name)
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


# --- hooks for the other kinds ------------------------------------------------------------------------------------


def internal_transport_changing(ctx: Context, entry: ServerEntry) -> None:
    """Called by certificates.py before an Edge's default SMTP certificate is replaced: pin a seeded
    subscription to the certificate it had and count the synchronisations that ran until now."""
    if not entry.is_edge:
        return  # a Mailbox server re-encrypts the EdgeSync credentials itself [cmdlets.md §6]
    if ctx.state.get(entry.name, EDGE_KEY)["subscribed"]:
        edge_side(ctx, entry)
        catch_up_edge(ctx, entry)


def adam_restarted(ctx: Context) -> None:
    """Restart-Service ADAM_MSExchange on an Edge: AD LDS presents the certificate the last
    subscription installed into its service store (cmdlets.md §6, §9)."""
    if not ctx.edge:
        return
    catch_up_edge(ctx, ctx.local)
    side = ctx.state.get(ctx.local.name, EDGE_KEY)
    if side["adam_store"] is not None and side["adam_presented"] != side["adam_store"]:
        side["adam_presented"] = side["adam_store"]
        rec = _record(ctx, ctx.local.name)
        if rec is not None:
            rec["resumed"] = _iso(ctx.now)
        ctx.changed = True
