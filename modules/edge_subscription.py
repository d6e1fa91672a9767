"""The edge_subscription kind: an Edge Transport server subscribed to an Active Directory site.

Declared on each Edge under ``exchange.edge_subscription``. A subscription
has two sides (cmdlets.md §6): the Edge's AD LDS and the organisation's
record, which Mailbox servers show, with ``Test-EdgeSynchronization`` on a
Mailbox server of the site saying whether synchronisation works. So the
kind ``reads_peers``: it is read on every selected host when one declares
it, and its plan for an Edge sees what the Mailbox servers read
(``PlanContext.peers``). Its change runs on three hosts' worth of
operations in one plan graph (docs/edgesync.md): the Edge writes the
subscription file, a Mailbox server of the site imports its bytes
(``FromOperation``: carried by the runner in memory only), the Edge
restarts AD LDS, the Mailbox server synchronises and tests.

The file holds the bootstrap account's password in clear, as Exchange's does:
its bytes never appear in a change, a finding, a plan file or a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exconf.model import Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Operation, PropertyChange
from exconf.remote import STATUS_NOT_APPLICABLE, Answer, FromOperation, Step
from exconf.yamlsource import Location, PathKey

from .base import LOCAL_SERVER, SERVER, DriftTraits, KindDefaults, KindPlan, PeerRead, PlanContext, ReadError

KIND = "edge_subscription"
STATUS = "edge_subscription.status"  # a Test-EdgeSynchronization row, read beside the subscriptions
SITE_READ = "edge_subscription.site"  # a Mailbox server read its site's side (its name: the site)
EDGE_DEFAULT = "edge_subscription.default"  # the Edge's default SMTP certificate (what its subscription must hold)
SEND_CONNECTOR = "send_connector"
TITLE = "edge subscription"

# New-EdgeSubscription's AccountExpiryDuration default is 1440 minutes, and a Mailbox server refuses a
# file with less than 5 minutes of it left (cmdlets.md §6; docs/lab-edgesync.md "The cmdlets").
BOOTSTRAP_SECONDS = 1440 * 60
IMPORT_MARGIN_SECONDS = 5 * 60
STATUS_FIELDS = ("Name", "SyncStatus", "FailureDetail", "LeaseExpiryUtc", "LastSynchronizedUtc")
ADAM = "ADAM_MSExchange"

# Operation roles: what each operation of a change does (verify_operation and polls read them).
UNSUBSCRIBE = "unsubscribe"  # the organisation's record, when the Edge moves to another site
FILE = "file"
IMPORT = "import"
RESTART = "restart-adam"
SYNC = "sync"
REMOVE_ORG = "remove-org"
REMOVE_EDGE = "remove-edge"
REMOVALS = frozenset({UNSUBSCRIBE, REMOVE_ORG, REMOVE_EDGE})


@dataclass(frozen=True)
class SubscriptionWork:
    """Where each operation of a subscription change runs (its ``Change.payload``); hosts are inventory names."""

    site: str = ""
    imported_on: str = ""  # the Mailbox server of the site that imports the file
    synced_on: str = ""  # the one that synchronises after the restart ("" : the importer)
    unsubscribe_on: str = ""  # a Mailbox server of the old site, when the Edge moves
    remove_through: str = ""  # delete: the Mailbox server that removes the organisation's record
    remove_on_edge: bool = False  # delete: the Edge still holds a subscription
    internet: bool | None = None
    inbound: bool | None = None


@dataclass(frozen=True)
class SubSpec:
    """One Edge's declaration, parsed once."""

    site: str
    present: bool
    internet: bool | None  # create_internet_send_connector; None = Exchange's default (true)
    inbound: bool | None


SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "This Edge Transport server's Edge Subscription to an Active Directory site (docs/edgesync.md).",
    "properties": {
        # New-EdgeSubscription refuses a site name over 41 characters (docs/lab-edgesync.md).
        "site": {"type": "string", "minLength": 1, "maxLength": 41, "description": "Active Directory site the Edge is subscribed to."},
        "state": {"enum": ["present", "absent"], "description": "present (default): subscribed and synchronising; absent: no subscription."},
        "create_internet_send_connector": {"type": "boolean", "description": "New-EdgeSubscription -CreateInternetSendConnector (default true)."},
        "create_inbound_send_connector": {"type": "boolean", "description": "New-EdgeSubscription -CreateInboundSendConnector (default true)."},
    },
    "if": {"properties": {"state": {"const": "absent"}}, "required": ["state"]},
    "else": {"required": ["site"]},
}


def _site_of(value: Any) -> str:
    """``contoso.lab/Configuration/Sites/Amsterdam`` -> ``Amsterdam`` (Get-EdgeSubscription's Site)."""
    return str(value or "").rstrip("/").rsplit("/", 1)[-1]


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


@dataclass(frozen=True)
class Sides:
    """What the hosts read about one Edge's subscription."""

    on_edge: bool  # the Edge's AD LDS holds a subscription
    org_site: str  # the site of the organisation's record, "" when there is none
    status: dict[str, Any] | None  # its Test-EdgeSynchronization row, from a Mailbox server of its site
    read: bool = True  # a Mailbox server read the organisation's side (Get-EdgeSubscription is organisation-wide)
    site_mates: tuple[str, ...] = ()  # other Edges the organisation has subscribed to the same site
    default: str = ""  # the Edge's default SMTP certificate (thumbprint), "" when not read


def sides(edge: str, own: tuple[ObservedObject, ...], peers: tuple[PeerRead, ...], site: str = "") -> Sides:
    """Pure: gather both sides of one Edge's subscription from the reads. The organisation's side is read
    once per AD site, by one Mailbox server of it (SITE_READ says which sites were)."""
    on_edge = any(o.kind == KIND and _same(o.name, edge) for o in own)
    default = next((str(o.values.get("InternalTransportCertificateThumbprint") or "") for o in own if o.kind == EDGE_DEFAULT), "")
    org_site, status, read = "", None, False
    records: dict[str, str] = {}
    for peer in peers:
        if peer.facts.role != "Mailbox":
            continue
        if any(o.kind == SITE_READ for o in peer.objects):
            read = True
        for o in peer.objects:
            if o.kind == KIND:
                records.setdefault(o.name.casefold(), _site_of(o.values.get("Site")))
    org_site = next((s for n, s in records.items() if n == edge.casefold()), "")
    for peer in peers:
        if peer.facts.role == "Mailbox" and org_site and _same(peer.facts.site, org_site):
            row = next((o.values for o in peer.objects if o.kind == STATUS and _same(o.name, edge)), None)
            if row is not None:
                status = row
                break
    mates = tuple(sorted(n for n, s in records.items() if n != edge.casefold() and site and _same(s, site)))
    return Sides(on_edge, org_site, status, read, mates, default)


def _finding_props(status: dict[str, Any] | None, at: Location) -> tuple[FindingProperty, ...]:
    """The fields that say why a subscription is (un)healthy."""
    row = status or {}
    names = (("sync_status", "SyncStatus", "Normal"), ("failure_detail", "FailureDetail", ""),
             ("lease_expiry_utc", "LeaseExpiryUtc", None), ("last_synchronized_utc", "LastSynchronizedUtc", None))
    out = []
    for prop, field_, expected in names:
        actual = row.get(field_)
        out.append(FindingProperty(prop, expected if expected is not None else "(any)", "" if actual is None else str(actual), at))
    return tuple(out)


def plan_subscription(want: Desired, own: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
    """Pure: one Edge's declaration × both sides → in sync, create, replace, delete, or a problem."""
    spec: SubSpec = want.values[0].value
    edge = ctx.facts.name

    def problem(message: str) -> KindPlan:
        text = f"{want.source}: exchange.edge_subscription: {message}"
        return KindPlan(problems=(text,), findings=(Finding(ctx.host, KIND, edge, FindingStatus.ERROR, want.source, message=text),))

    if ctx.facts.role != "Edge":
        return problem(f"{edge} is a {ctx.facts.role} server; an Edge Subscription is declared on the Edge Transport server it subscribes")
    twice = [(p, d) for p in ctx.peers if p.facts.role == "Edge" and _same(p.facts.name, edge) for d in p.declared]
    if twice:
        other, where = twice[0]
        theirs: SubSpec = where.values[0].value
        sites = f"site {spec.site or '(absent)'} here, site {theirs.site or '(absent)'} at {where.source}"
        return problem(f"{edge} is declared twice, by inventory hosts {ctx.host} and {other.host} ({sites}); "
                       "an Edge is subscribed to one site: declare it on one host")
    now = sides(edge, own, ctx.peers, spec.site)
    # Mailbox servers that can do the work: read, and planned without a problem (a typo on one must not pick it).
    mailboxes = sorted((p for p in ctx.peers if p.facts.role == "Mailbox" and p.clean), key=lambda p: p.host)
    props: list[PropertyChange] = []
    findings_props = _finding_props(now.status, want.source) + (
        (FindingProperty("default_smtp_certificate", "(any)", now.default, want.source),) if now.default else ())
    if not now.read and any(p.facts.role == "Mailbox" for p in ctx.peers):
        return problem("no Mailbox server could read the organisation's side of the subscription (Get-EdgeSubscription, "
                       "Test-EdgeSynchronization): see the errors of the Mailbox servers")

    if not spec.present:
        if not now.on_edge and not now.org_site:
            return KindPlan(findings=(Finding(ctx.host, KIND, edge, FindingStatus.IN_SYNC, want.source),))
        remove_through = ""
        if now.org_site:
            if not mailboxes:
                return problem(f"{edge} is subscribed to site {now.org_site}, and no Mailbox server that was read and planned cleanly "
                               "can remove the organisation's side")
            remove_through = mailboxes[0].host
        props.append(PropertyChange("site", "", now.org_site or "(Edge side only)", "(none)", None, want.source))
        work = SubscriptionWork(remove_through=remove_through, remove_on_edge=now.on_edge)
        change = Change(f"{ctx.host}/{KIND}/{edge}", ctx.host, KIND, edge, edge, "delete", tuple(props), "declared absent", payload=work)
        return KindPlan(changes=(change,), findings=(Finding(ctx.host, KIND, edge, FindingStatus.CHANGE, want.source, findings_props),))

    in_site = [p for p in mailboxes if _same(p.facts.site, spec.site)]
    if not in_site:
        seen = sorted({p.facts.site for p in mailboxes if p.facts.site})
        return problem(f"site {spec.site!r}: no Mailbox server of that site among the hosts read and planned cleanly "
                       f"(sites of those Mailbox servers: {', '.join(seen) or 'none'}); "
                       "a Mailbox server of the site imports the subscription (select one with --limit, fix the one that failed, or check the site's name)")
    through = in_site[0]
    # Another Mailbox server of the site synchronises, where the site has one: the import gives every Mailbox server
    # of the site its EdgeSync credentials [EXD edge-subscriptions.md], and the importer's own changes then travel
    # with the import (wave 2) and the synchroniser's with the synchronisation (wave 4): one round trip each
    # instead of three on one server (engine/graph.py; docs/edgesync.md).
    syncs = in_site[1] if len(in_site) > 1 else through
    reason = ""
    action = "replace"
    if not now.on_edge and not now.org_site:
        action, reason = "create", f"{edge} is not subscribed"
    elif now.org_site and not _same(now.org_site, spec.site):
        reason = f"subscribed to site {now.org_site}, declared {spec.site}"
    elif not now.org_site:
        reason = "the Edge holds a subscription that the organisation does not have (removed in the organisation, or an import that did not finish)"
    elif not now.on_edge:
        reason = "the organisation has the subscription, the Edge no longer does (removed on the Edge)"
    elif now.status is None:
        reason = f"Test-EdgeSynchronization on {through.facts.name} reports nothing for {edge}"
    elif str(now.status.get("SyncStatus")) != "Normal":
        detail = str(now.status.get("FailureDetail") or "")
        reason = f"SyncStatus {now.status.get('SyncStatus')}" + (f", FailureDetail {detail}" if detail else "")
    certificate = smtp_certificate_change(ctx.planned)
    if certificate is not None and action == "replace" and not reason:
        # A new default SMTP certificate breaks synchronisation until the Edge is subscribed again and AD LDS
        # restarted (cmdlets.md §6, §10.3): the resubscription follows the certificate in the same plan.
        reason = f"this plan changes the Edge's default SMTP certificate ({certificate.name}): subscribed again after it"
    if not reason:
        return KindPlan(findings=(Finding(ctx.host, KIND, edge, FindingStatus.IN_SYNC, want.source, findings_props),))

    if not _same(now.org_site, spec.site):
        props.append(PropertyChange("site", "", now.org_site or "(none)", spec.site, None, want.source))
    unsubscribe_on = ""
    if now.org_site:
        # The organisation's record goes first: a subscription is deleted and made again ("you need to remove the
        # old certificate, and then delete and recreate the Edge Subscription" [EXD client-access/renew-certificates.md];
        # to change site, "remove the Edge Subscription from the Exchange organization" only [EXD
        # edge-subscription-procedures.md]). The Edge keeps its side, which New-EdgeSubscription -Force replaces.
        unsubscribe_on = next((p for p in mailboxes if _same(p.facts.site, now.org_site)), through).host
    for key, value in (("create_internet_send_connector", spec.internet), ("create_inbound_send_connector", spec.inbound)):
        if value is not None:
            props.append(PropertyChange(key, "", "", value, None, want.source))
    # The plan's text shows properties, so the reason travels as the status before (JSON has it as ``reason`` too).
    props.append(PropertyChange("status", "", reason, "SyncStatus Normal", None, want.source))
    work = SubscriptionWork(site=spec.site, imported_on=through.host, synced_on=syncs.host, unsubscribe_on=unsubscribe_on,
                            internet=spec.internet, inbound=spec.inbound)
    makes = made_connectors(spec, now)
    effects = _effects(edge, spec.site, unsubscribe_on, now.org_site, syncs.facts.name, makes)
    change = Change(f"{ctx.host}/{KIND}/{edge}", ctx.host, KIND, edge, edge, action, tuple(props), reason,
                    after=(certificate.id,) if certificate is not None else (), payload=work, effects=effects,
                    makes=tuple((SEND_CONNECTOR, name) for name in makes))
    return KindPlan(changes=(change,), findings=(Finding(ctx.host, KIND, edge, FindingStatus.CHANGE, want.source, findings_props, message=reason),))


CERTIFICATE = "exchange_certificate"


def made_connectors(spec: SubSpec, now: Sides) -> tuple[str, ...]:
    """The EdgeSync send connectors the import makes anew, with Exchange's defaults: those of the site when no
    other Edge of the site is subscribed (a second Edge joins the existing ones as a source; removing the
    organisation's record deletes a connector only when the Edge was its only source) [EXD edge-subscriptions.md,
    "Send connectors created automatically by the Edge Subscription"; edge-subscription-procedures.md]."""
    if now.site_mates:
        return ()
    out = []
    if spec.internet is not False:
        out.append(f"EdgeSync - {spec.site} to Internet")
    if spec.inbound is not False:
        out.append(f"EdgeSync - Inbound to {spec.site}")
    return tuple(out)


def _effects(edge: str, site: str, unsubscribe_on: str, org_site: str, mailbox: str, makes: tuple[str, ...]) -> tuple[str, ...]:
    """What a (re)subscription does beyond the subscription, said before it happens."""
    out = []
    if unsubscribe_on:
        out.append(f"the organisation's Edge Subscription of {edge} (site {org_site}) is removed first, through {unsubscribe_on}")
    if makes:
        out.append(f"the EdgeSync connectors {', '.join(makes)} are made again with Exchange's defaults; declared send connector "
                   "settings of them are set again after it (they reach the Edge with the next synchronisation)")
    out.append(f"AD LDS (ADAM_MSExchange) is restarted on {edge} with the services that depend on it, Microsoft Exchange "
               "Transport among them: mail through the Edge pauses for the restart")
    out.append(f"{mailbox} synchronises {edge} at once (Start-EdgeSynchronization)")
    return tuple(out)


# Exchange's warning after a new default SMTP certificate on an Edge (cmdlets.md §6): a change of this kind
# that follows it in the plan is that resubscription.
RESUBSCRIBE_WARNING = "you must subscribe it again by using the New-EdgeSubscription cmdlet"


def smtp_certificate_change(planned: tuple[Change, ...]) -> Change | None:
    """A certificate change of this plan on this Edge that makes another certificate its default SMTP certificate
    (the one New-EdgeSubscription puts in the file and AD LDS presents): the certificate kind shows it as the
    property ``default_smtp`` (before: the default now, after: the one that takes over)."""
    for change in planned:
        if change.kind != CERTIFICATE or change.action == "delete":
            continue
        if any(p.prop == "default_smtp" for p in change.properties):
            return change
    return None


def operations_for(change: Change) -> tuple[Operation, ...]:
    """The cross-host sequence of docs/edgesync.md for one change (pure)."""
    base, edge = change.id, change.identity
    work: SubscriptionWork = change.payload

    def op(role: str, host: str, step: Step, **kw: Any) -> Operation:
        return Operation(f"{base}#{role}", host, change.id, (step,), role=role, **kw)

    def sid(role: str) -> str:
        return f"{base}#{role}"

    if change.action == "delete":
        out: list[Operation] = []
        if work.remove_through:
            out.append(op(REMOVE_ORG, work.remove_through, Step(sid(REMOVE_ORG), "Remove-EdgeSubscription", {"Identity": edge, "Confirm": False})))
        if work.remove_on_edge:
            # Without -Force, the Edge side asks about its recipients after the removal (docs/lab-edgesync.md).
            out.append(op(REMOVE_EDGE, change.host, Step(sid(REMOVE_EDGE), "Remove-EdgeSubscription", {"Identity": edge, "Confirm": False, "Force": True})))
        return tuple(out)
    out = []
    first: tuple[str, ...] = ()
    if work.unsubscribe_on:
        out.append(op(UNSUBSCRIBE, work.unsubscribe_on, Step(sid(UNSUBSCRIBE), "Remove-EdgeSubscription", {"Identity": edge, "Confirm": False})))
        first = (sid(UNSUBSCRIBE),)
    file_step = Step(sid(FILE), "New-EdgeSubscription", {"Force": True}, output_file="FileName")
    out.append(op(FILE, change.host, file_step, needs=first))
    params: dict[str, Any] = {"FileData": FromOperation(sid(FILE), file_step.id), "Site": work.site}
    for value, param in ((work.internet, "CreateInternetSendConnector"), (work.inbound, "CreateInboundSendConnector")):
        if value is not None:
            params[param] = value
    out.append(op(IMPORT, work.imported_on, Step(sid(IMPORT), "New-EdgeSubscription", params, select=("Name", "Site")),
                  needs=(sid(FILE),), within=(sid(FILE), BOOTSTRAP_SECONDS - IMPORT_MARGIN_SECONDS)))
    # AD LDS has dependent services on an Edge (Transport, Credential Service, Service Host, Anti-spam Update,
    # Transport Log Search [EXD services-overview.md]): Restart-Service stops it only with -Force, which
    # restarts them too.
    out.append(op(RESTART, change.host, Step(sid(RESTART), "Restart-Service", {"Name": ADAM, "Force": True}), needs=(sid(IMPORT),)))
    out.append(op(SYNC, work.synced_on or work.imported_on, Step(sid(SYNC), "Start-EdgeSynchronization", {"TargetServer": edge},
                                               select=("Name", "Type", "Result", "FailureDetails")), needs=(sid(RESTART),)))
    return tuple(out)


def verify_step(op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
    """Whether one operation did what it is for, from its host's read-back (pure)."""
    edge = change.identity
    listed = any(o.kind == KIND and _same(o.name, edge) for o in readback)
    if op.role in REMOVALS:
        return f"removed, but Get-EdgeSubscription on {op.host} still lists {edge}" if listed else None
    if op.role == IMPORT:
        return None if listed else f"imported, but Get-EdgeSubscription on {op.host} does not list {edge}"
    if op.role == SYNC:
        row = next((o.values for o in readback if o.kind == STATUS and _same(o.name, edge)), None)
        if row is None:
            return f"synchronised, but Test-EdgeSynchronization on {op.host} reports nothing for {edge}"
        if str(row.get("SyncStatus")) != "Normal":
            detail = str(row.get("FailureDetail") or "")
            return f"Test-EdgeSynchronization on {op.host}: SyncStatus {row.get('SyncStatus')}" + (f", FailureDetail {detail}" if detail else "")
    return None


@dataclass(frozen=True)
class EdgeSubscriptionKind(KindDefaults):
    """Implements ``base.Kind`` for Edge Subscriptions (one per Edge)."""

    kind: str = KIND
    section: str = "edge_subscription"
    scope: str = SERVER
    title: str = TITLE
    roles: frozenset[str] = frozenset({"Edge"})
    reads_peers: bool = True  # the plan sees the Mailbox servers' side
    reads_per_site: bool = True  # ... read once per AD site, by one Mailbox server of it (Test-EdgeSynchronization contacts every Edge)
    sees_planned: bool = True  # resubscribes after a new SMTP certificate of the same plan; picks a clean importer
    # drift: a broken subscription stops mail through the Edge; never corrected unattended (a new file,
    # the bootstrap window, an AD LDS restart).
    drift: DriftTraits = field(default_factory=lambda: DriftTraits(
        "critical", ("New-EdgeSubscription", "Remove-EdgeSubscription", "Start-EdgeSynchronization")), compare=False, repr=False)
    # After Start-EdgeSynchronization, Test-EdgeSynchronization is read back until SyncStatus Normal:
    # at most this many more times, this many seconds apart (the runner's ``polls``).
    sync_polls: int = 6
    poll_seconds: float = 10.0

    def needed_sites(self, desired: tuple[Desired, ...]) -> frozenset[str]:
        # An Edge declared subscribed needs its site's Test-EdgeSynchronization; one declared absent needs only the
        # organisation's records, which any site's Get-EdgeSubscription lists.
        return frozenset(d.values[0].value.site.casefold() for d in desired
                         if d.values and d.values[0].value.present and d.values[0].value.site)

    def schema(self) -> dict[str, Any]:
        return SCHEMA

    def inventory_issues(self, declared: Any, base: Path) -> list[tuple[PathKey, str]]:
        return []  # the schema says it all; sites are checked against what the servers report

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]:
        if not declared:
            return ()
        spec = SubSpec(
            site=str(declared.get("site") or ""),
            present=declared.get("state", "present") == "present",
            internet=declared.get("create_internet_send_connector"),
            inbound=declared.get("create_inbound_send_connector"),
        )
        source = where(())
        return (Desired(kind=self.kind, pattern="", values=(DesiredValue("subscription", spec, source),), source=source),)

    def read_steps(self, prefix: str) -> list[Step]:
        return [
            Step(id=f"{prefix}{self.kind}", cmdlet="Get-EdgeSubscription", params={}, select=("Name", "Site")),
            Step(id=f"{prefix}{STATUS}", cmdlet="Test-EdgeSynchronization", params={"ExcludeRecipientTest": True},
                 select=STATUS_FIELDS, skip_on_edge=True),
            # Which certificate the subscription must hold: the Edge's default SMTP certificate (the file carries it).
            Step(id=f"{prefix}{EDGE_DEFAULT}", cmdlet="Get-TransportService", params={"Identity": LOCAL_SERVER},
                 select=("InternalTransportCertificateThumbprint",)),
        ]

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None:
        out = []
        for step_id, kind in ((f"{prefix}{self.kind}", KIND), (f"{prefix}{STATUS}", STATUS)):
            result = answer.result(step_id)
            if result.status == STATUS_NOT_APPLICABLE:
                continue
            if not result.ok:
                raise ReadError(f"{'Get-EdgeSubscription' if kind == KIND else 'Test-EdgeSynchronization'} failed: "
                                f"{result.error.message if result.error else result.status}")
            if kind == STATUS:
                out.append(ObservedObject(kind=SITE_READ, name="", identity="", values={}))
            for obj in result.objects:
                name = str(obj.get("Name") or "")
                if name:  # NoSyncConfigured comes with an empty Name
                    out.append(ObservedObject(kind=kind, name=name, identity=name, values=dict(obj)))
        default = answer.results.get(f"{prefix}{EDGE_DEFAULT}")
        if answer.edge and default is not None and default.ok and len(default.objects) == 1:
            out.append(ObservedObject(kind=EDGE_DEFAULT, name="", identity="", values=dict(default.objects[0])))
        return tuple(out)

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
        results = [plan_subscription(d, observed, ctx) for d in desired]
        return KindPlan(
            changes=tuple(c for r in results for c in r.changes),
            findings=tuple(f for r in results for f in r.findings),
            problems=tuple(p for r in results for p in r.problems),
        )

    def operations(self, change: Change) -> tuple[Operation, ...]:
        return operations_for(change)

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return None  # each operation is verified on its own host: verify_operation

    def verify_operation(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return verify_step(op, change, readback)

    def polls(self, op: Operation) -> tuple[int, float]:
        """Synchronisation may take a moment to report Normal; nothing else is worth reading again."""
        return (self.sync_polls, self.poll_seconds) if op.role == SYNC else (0, 0.0)

    def answers(self, change: Change, warning: str) -> bool:
        """Exchange's "subscribe it again" warning, when this change (which follows the certificate's) does it."""
        return change.action in ("create", "replace") and RESUBSCRIBE_WARNING in warning


KIND_INSTANCE = EdgeSubscriptionKind()

__all__ = ["KIND", "KIND_INSTANCE", "EdgeSubscriptionKind", "SubscriptionWork", "operations_for", "plan_subscription", "sides", "verify_step"]
