"""EdgeSync's state in the lab: Edge subscriptions on both sides, the schedule, the Edge's replica.

The cmdlets are in edge_subscriptions.py, the file format in edge_subscription_file.py; the other kinds
ask this module whether an Edge is subscribed (send_connectors, transport_config, context) and tell it
when an Edge's certificate changes or AD LDS restarts (certificates, windows_services).

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

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import stored
from .certificate_store import server_store
from .context import Context, lab_guid
from .edge_records import EDGE_KEY, ORG_KEY, iso, records, seeded_record
from .dotnet_values import TimeSpan
from .edge_subscription_file import ADAM_SSL_PORT, SubscriptionFile, span_ticks
from .spec import ServerEntry

# What EdgeSync copies of the organisation's transport settings to an Edge [EXD edge-subscriptions.md].
SYNCED = ("InternalSMTPServers", "TLSReceiveDomainSecureList", "TLSSendDomainSecureList")

# [EXD edge-subscriptions.md] "Configuration data is synchronized every 3 minutes, recipient data
# every 5 minutes"; lease option 1 hour. [SRC TestEdgeSynchronization.GetAlertPaddingTimeSpan]
# 2 x max(configuration, recipient interval) + 30 minutes.
CONFIG_INTERVAL = timedelta(minutes=3)
OPTION_LEASE = timedelta(hours=1)
ALERT_PADDING = 2 * timedelta(minutes=5) + timedelta(minutes=30)
# [SRC NewEdgeSubscription] DefaultBootStrapEdgeSyncAccountExpiry 1 day, DefaultEdgeSyncAccountExpiry 15 days.
DEFAULT_BOOTSTRAP = timedelta(days=1)
DEFAULT_ESRA = timedelta(days=15)

# Why synchronisation fails (lab wording; Exchange reports SubscriptionConnectionError with the LDAP error).
PROBLEMS = {
    "NotSubscribedOnEdge": "Edge Transport server {0} doesn't hold an Edge Subscription any more (it was removed on "
                           "the Edge Transport server).",
    "CertificateMismatch": "The LDAP connection to {0}:{1} failed: the certificate its AD LDS presents (thumbprint {2})"
                           " isn't the certificate stored for the Edge Subscription (thumbprint {3}).",
    "EdgeCertificateChanged": "The internal transport certificate of Edge Transport server {0} (thumbprint {1}) isn't "
                              "the certificate of its Edge Subscription (thumbprint {2}): subscribe it again and "
                              "restart AD LDS.",
}


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
    return {e.name: seeded_record(e, now) for e in org.servers if e.is_edge and e.subscribed}


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
                moment(rec.get(key))
            except (TypeError, ValueError):  # said without echoing the file's content
                raise ValueError(f"an Edge subscription's {key} in the state file is not a date") from None
        if not _credentials_readable(rec.get("credentials")):
            raise ValueError("an Edge subscription's credentials in the state file are damaged")
    return raw


def _credentials_readable(made: Any) -> bool:
    """What ``credential_rows`` reads: none, the rows a state kept before issue 20, or what they are made of."""
    if made is None or isinstance(made, list) and all(isinstance(row, dict) for row in made):
        return True
    if not (isinstance(made, dict) and all(isinstance(made.get(k), str) for k in ("user", "effective", "expires", "duration", "edge"))
            and isinstance(made.get("mailbox"), list) and all(isinstance(name, str) for name in made["mailbox"])):
        return False
    try:
        moment(made["expires"])
    except ValueError:
        return False
    return True


EDGE_STORED = stored.Stored(EDGE_KEY, lambda entry: entry is not None and entry.is_edge, _new_edge, dict, _load_edge)
ORG_STORED = stored.Stored(ORG_KEY, lambda entry: entry is None, _new_org, dict, _load_org)


def moment(text: str | None) -> datetime | None:
    """A moment the state keeps, read back (ValueError or TypeError when it is not one)."""
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


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
            side["replica"] = snapshot(ctx, entry.name)
        ctx.changed = True
    return side


def edge_entry(ctx: Context, name: str) -> ServerEntry | None:
    hits = [e for e in ctx.org.by_name.get(name.lower(), ()) if e.is_edge]
    return hits[0] if hits else None


def record(ctx: Context, name: str) -> dict[str, Any] | None:
    rec = records(ctx).get(name)
    if rec is None or edge_entry(ctx, name) is None:
        return None
    if rec["certificate"] is None:  # a seeded subscription: the Edge's certificate when first looked at
        entry = edge_entry(ctx, name)
        rec["certificate"] = edge_side(ctx, entry)["adam_presented"]
        subscribed = moment(rec["subscribed_at"])
        adam_guid = str(lab_guid("adam", entry.name)).upper()
        seeded = SubscriptionFile(entry.name, entry.spec.fqdn, b"", f"cn=ESRA.{entry.name},OU=Services,CN=Configuration,"
                                  f"CN={{{adam_guid}}}", subscribed, subscribed + DEFAULT_BOOTSTRAP)
        rec["credentials"] = new_credentials(ctx, entry, rec["site"], seeded)
        ctx.changed = True
    return rec


def subscribed_on_edge(ctx: Context, entry: ServerEntry) -> bool:
    """Whether an Edge's AD LDS holds a subscription (GatewayEdgeSyncSubscribed): what makes it refuse
    send connector changes and show EdgeSync's copy of the organisation's configuration."""
    if not entry.is_edge:
        return False
    return bool(ctx.state.get(entry.name, EDGE_KEY)["subscribed"])


def problem(ctx: Context, rec: dict[str, Any]) -> str | None:
    """Why EdgeSync cannot reach this Edge now, or None when it can."""
    entry = edge_entry(ctx, rec["name"])
    if entry is None:
        return PROBLEMS["NotSubscribedOnEdge"].format(rec["name"])
    side = edge_side(ctx, entry)
    if not side["subscribed"]:
        return PROBLEMS["NotSubscribedOnEdge"].format(rec["name"])
    if side["adam_presented"] != rec["certificate"]:
        return PROBLEMS["CertificateMismatch"].format(rec["fqdn"], ADAM_SSL_PORT, side["adam_presented"], rec["certificate"])
    current = internal_transport(ctx, entry)
    if current != rec["certificate"]:
        return PROBLEMS["EdgeCertificateChanged"].format(rec["name"], current, rec["certificate"])
    return None


def catch_up(ctx: Context, rec: dict[str, Any]) -> None:
    """The schedule: when 3 minutes or more passed since the last synchronisation (or since the
    subscription last started to work) and it works, a scheduled synchronisation runs now."""
    if problem(ctx, rec) is not None:
        return
    start = moment(rec["last_sync"]) or moment(rec["subscribed_at"])
    resumed = moment(rec.get("resumed"))
    if resumed is not None and resumed > start:  # it did not work before this moment
        start = resumed
    if ctx.now - start >= CONFIG_INTERVAL:
        synchronise(ctx, rec, rec["lease_holder"] or site_mailbox(ctx, rec["site"]))


def synchronise(ctx: Context, rec: dict[str, Any], holder: str | None) -> None:
    """One configuration synchronisation: the Edge's AD LDS receives the organisation's objects."""
    entry = edge_entry(ctx, rec["name"])
    if entry is not None:
        ctx.state.get(entry.name, EDGE_KEY)["replica"] = snapshot(ctx, rec["name"])
    rec.update(last_sync=iso(ctx.now), lease_holder=holder)
    ctx.changed = True


def catch_up_edge(ctx: Context, entry: ServerEntry) -> None:
    """Before something changes on an Edge: its subscription synchronised until now."""
    rec = record(ctx, entry.name) if entry.is_edge else None
    if rec is not None:
        catch_up(ctx, rec)


def site_mailbox(ctx: Context, site: str) -> str | None:
    for entry in ctx.org.mailbox_servers:
        if entry.spec.site.lower() == site.lower():
            return entry.name
    return None


def replicated(ctx: Context, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What EdgeSync carries to an Edge (configuration): the send connectors it is a source of and
    the organisation's transport settings (the lab has no accepted or remote domains)."""
    connectors = [c for c in ctx.state.get(stored.ORG, stored.SEND_CONNECTORS) if name in c["SourceTransportServers"]]
    return connectors, ctx.state.get(stored.ORG, stored.TRANSPORT_CONFIG)


def snapshot(ctx: Context, name: str) -> dict[str, Any]:
    """What a synchronisation writes into the Edge's AD LDS (JSON-ready, as the state keeps it)."""
    connectors, config = replicated(ctx, name)
    dumped = ctx.state.dumped(stored.TRANSPORT_CONFIG, config)
    return {"connectors": ctx.state.dumped(stored.SEND_CONNECTORS, connectors),
            "transport": {n: dumped[n] for n in SYNCED}}


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
    entry = edge_entry(ctx, rec["name"])
    replica = (ctx.state.get(entry.name, EDGE_KEY).get("replica") if entry is not None else None) or EMPTY_REPLICA
    now = snapshot(ctx, rec["name"])
    theirs = {r["Guid"]: r for r in replica["connectors"]}
    ours = {r["Guid"]: r for r in now["connectors"]}
    added = tuple(r["Name"] for g, r in ours.items() if g not in theirs)
    updated = tuple(r["Name"] for g, r in ours.items() if g in theirs and theirs[g] != r)
    deleted = tuple(r["Name"] for g, r in theirs.items() if g not in ours)
    same = sum(1 for g, r in ours.items() if theirs.get(g) == r)
    return Comparison(added, updated, deleted, same, replica["transport"] == now["transport"])


def replica(ctx: Context) -> dict[str, Any]:
    """What the last synchronisation wrote on this subscribed Edge, as the state keeps it (a scheduled one runs
    first if it is due): send_connectors and transport_config read their objects from it."""
    catch_up_edge(ctx, ctx.local)
    side = edge_side(ctx, ctx.local)
    return side.get("replica") or EMPTY_REPLICA


def new_credentials(ctx: Context, edge: ServerEntry, site: str, parsed: SubscriptionFile) -> dict[str, Any]:
    """What a subscription gives the Mailbox servers of its site [SRC]: per server, the bootstrap credential
    and two permanent ones, as ``credential_rows`` spells them out. The state keeps what they are made of
    (the file's account and dates, and which Mailbox servers the site had) rather than the rows: three rows
    per Mailbox server of the site for each Edge is the organisation's credentials growing as Mailbox servers
    times Edges, and the whole organisation's subscriptions are journaled with each change to one of them
    (208 MB of journal for a 1,000-server apply, issue 20)."""
    return {"user": parsed.user, "effective": iso(parsed.effective), "expires": iso(parsed.expires),
            "duration": _span(parsed.expires - parsed.effective), "edge": edge.name,
            "mailbox": [mbx.name for mbx in ctx.org.mailbox_servers if mbx.spec.site.lower() == site.lower()]}


def credential_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The credentials of a subscription record, one row each: per Mailbox server of the site, the bootstrap
    credential, then two permanent ESRA ones of 15 days each, the first from the bootstrap's expiry. A
    state written before issue 20 kept the rows themselves."""
    made = rec.get("credentials")
    if not made:
        return []
    if isinstance(made, list):
        return made
    suffix = made["user"].split(",", 1)[1] if "," in made["user"] else made["user"]
    expires = moment(made["expires"])
    out = []
    for mailbox in made["mailbox"] if expires is not None else ():
        out.append({"user": made["user"], "effective": made["effective"], "duration": made["duration"], "bootstrap": True})
        start = expires
        for i in range(2):
            out.append({"user": f"cn=ESRA.{made['edge']}.{mailbox}.{i},{suffix}", "effective": iso(start),
                        "duration": _span(DEFAULT_ESRA), "bootstrap": False})
            start += DEFAULT_ESRA
    return out


def _span(span: timedelta) -> str:
    """A duration as .NET prints a TimeSpan (1.00:00:00)."""
    return str(TimeSpan(span_ticks(span)))


# --- hooks the certificate and service cmdlets call ----------------------------------------------------------------


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
        rec = record(ctx, ctx.local.name)
        if rec is not None:
            rec["resumed"] = iso(ctx.now)
        ctx.changed = True
