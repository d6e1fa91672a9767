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

from .base import SERVER, DriftTraits, KindDefaults, KindPlan, PeerRead, PlanContext, ReadError

KIND = "edge_subscription"
STATUS = "edge_subscription.status"  # a Test-EdgeSynchronization row, read beside the subscriptions
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
    imported_on: str = ""  # the Mailbox server of the site that imports the file and synchronises
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


def sides(edge: str, own: tuple[ObservedObject, ...], peers: tuple[PeerRead, ...]) -> Sides:
    """Pure: gather both sides of one Edge's subscription from the reads."""
    on_edge = any(o.kind == KIND and _same(o.name, edge) for o in own)
    org_site, status = "", None
    for peer in peers:
        if peer.facts.role != "Mailbox":
            continue
        for o in peer.objects:
            if o.kind == KIND and _same(o.name, edge) and not org_site:
                org_site = _site_of(o.values.get("Site"))
    for peer in peers:
        if peer.facts.role == "Mailbox" and org_site and _same(peer.facts.site, org_site):
            row = next((o.values for o in peer.objects if o.kind == STATUS and _same(o.name, edge)), None)
            if row is not None:
                status = row
                break
    return Sides(on_edge, org_site, status)


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
    now = sides(edge, own, ctx.peers)
    # Mailbox servers that can do the work: read, and planned without a problem (a typo on one must not pick it).
    mailboxes = sorted((p for p in ctx.peers if p.facts.role == "Mailbox" and p.clean), key=lambda p: p.host)
    props: list[PropertyChange] = []
    findings_props = _finding_props(now.status, want.source)

    if not spec.present:
        if not now.on_edge and not now.org_site:
            return KindPlan(findings=(Finding(ctx.host, KIND, edge, FindingStatus.IN_SYNC, want.source),))
        through = ""
        if now.org_site:
            if not mailboxes:
                return problem(f"{edge} is subscribed to site {now.org_site}, and no Mailbox server that was read and planned cleanly "
                               "can remove the organisation's side")
            through = mailboxes[0].host
        props.append(PropertyChange("site", "", now.org_site or "(Edge side only)", "(none)", None, want.source))
        work = SubscriptionWork(remove_through=through, remove_on_edge=now.on_edge)
        change = Change(f"{ctx.host}/{KIND}/{edge}", ctx.host, KIND, edge, edge, "delete", tuple(props), "declared absent", payload=work)
        return KindPlan(changes=(change,), findings=(Finding(ctx.host, KIND, edge, FindingStatus.CHANGE, want.source, findings_props),))

    in_site = [p for p in mailboxes if _same(p.facts.site, spec.site)]
    if not in_site:
        seen = sorted({p.facts.site for p in mailboxes if p.facts.site})
        return problem(f"site {spec.site!r}: no Mailbox server of that site among the hosts read and planned cleanly "
                       f"(sites of those Mailbox servers: {', '.join(seen) or 'none'}); "
                       "a Mailbox server of the site imports the subscription (select one with --limit, fix the one that failed, or check the site's name)")
    through = in_site[0]
    reason = ""
    action = "replace"
    if not now.on_edge and not now.org_site:
        action, reason = "create", f"{edge} is not subscribed"
    elif now.org_site and not _same(now.org_site, spec.site):
        reason = f"subscribed to site {now.org_site}, declared {spec.site}"
    elif not now.org_site:
        reason = "the Edge holds a subscription that the organisation does not have (an import that did not finish)"
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

    props.append(PropertyChange("site", "", now.org_site or "(none)", spec.site, None, want.source))
    unsubscribe_on = ""
    if now.org_site and not _same(now.org_site, spec.site):
        unsubscribe_on = next((p for p in mailboxes if _same(p.facts.site, now.org_site)), through).host
    for key, value in (("create_internet_send_connector", spec.internet), ("create_inbound_send_connector", spec.inbound)):
        if value is not None:
            props.append(PropertyChange(key, "", "", value, None, want.source))
    # The plan's text shows properties, so the reason travels as the status before (JSON has it as ``reason`` too).
    props.append(PropertyChange("status", "", reason, "SyncStatus Normal", None, want.source))
    work = SubscriptionWork(site=spec.site, imported_on=through.host, unsubscribe_on=unsubscribe_on, internet=spec.internet, inbound=spec.inbound)
    change = Change(f"{ctx.host}/{KIND}/{edge}", ctx.host, KIND, edge, edge, action, tuple(props), reason,
                    after=(certificate.id,) if certificate is not None else (), payload=work)
    return KindPlan(changes=(change,), findings=(Finding(ctx.host, KIND, edge, FindingStatus.CHANGE, want.source, findings_props, message=reason),))


CERTIFICATE = "exchange_certificate"


def smtp_certificate_change(planned: tuple[Change, ...]) -> Change | None:
    """A certificate change of this plan on this Edge that binds SMTP to a certificate that did not serve it (an
    import, an enable, a replacement: each becomes the default SMTP certificate, exconf binds with -Force), read
    from the services the plan shows before and after."""
    for change in planned:
        if change.kind != CERTIFICATE or change.action == "delete":
            continue
        services = next((p for p in change.properties if p.prop == "services"), None)
        if services is None or not isinstance(services.after, list) or "SMTP" not in services.after:
            continue
        if change.action == "replace" or not (isinstance(services.before, list) and "SMTP" in services.before):
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
        out = []
        if work.remove_through:
            out.append(op(REMOVE_ORG, work.remove_through, Step(sid(REMOVE_ORG), "Remove-EdgeSubscription", {"Identity": edge, "Confirm": False})))
        if work.remove_on_edge:
            # Without -Force, the Edge side asks about its recipients after the removal (docs/lab-edgesync.md).
            out.append(op(REMOVE_EDGE, change.host, Step(sid(REMOVE_EDGE), "Remove-EdgeSubscription", {"Identity": edge, "Confirm": False, "Force": True})))
        return tuple(out)
    out: list[Operation] = []
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
    out.append(op(RESTART, change.host, Step(sid(RESTART), "Restart-Service", {"Name": ADAM}), needs=(sid(IMPORT),)))
    out.append(op(SYNC, work.imported_on, Step(sid(SYNC), "Start-EdgeSynchronization", {"TargetServer": edge},
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
    reads_peers: bool = True  # read on every selected host; the plan sees the Mailbox servers' side
    sees_planned: bool = True  # resubscribes after a new SMTP certificate of the same plan; picks a clean importer
    # drift: a broken subscription stops mail through the Edge; never corrected unattended (a new file,
    # the bootstrap window, an AD LDS restart).
    drift: DriftTraits = field(default_factory=lambda: DriftTraits(
        "critical", ("New-EdgeSubscription", "Remove-EdgeSubscription", "Start-EdgeSynchronization")), compare=False, repr=False)
    # After Start-EdgeSynchronization, Test-EdgeSynchronization is read back until SyncStatus Normal:
    # at most this many more times, this many seconds apart (the runner's ``polls``).
    sync_polls: int = 6
    poll_seconds: float = 10.0

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
            for obj in result.objects:
                name = str(obj.get("Name") or "")
                if name:  # NoSyncConfigured comes with an empty Name
                    out.append(ObservedObject(kind=kind, name=name, identity=name, values=dict(obj)))
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


KIND_INSTANCE = EdgeSubscriptionKind()

__all__ = ["KIND", "KIND_INSTANCE", "EdgeSubscriptionKind", "SubscriptionWork", "operations_for", "plan_subscription", "sides", "verify_step"]
