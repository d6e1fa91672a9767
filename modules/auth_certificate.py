"""The auth_certificate kind: the organisation's Exchange Server Auth Certificate, rotated before it expires.

Declared once, ``exchange_organization: auth_certificate: {renew_within_days: 60, effective_in_days: 30}``.
OAuth (hybrid, Outlook on the web add-ins, the admin centre) signs tokens with the certificate AuthConfig names;
when it expires they stop working (CSS-Exchange ships MonitorExchangeAuthCertificate.ps1 for that alone). The
plan follows Microsoft's procedure, as that script automates it (New-ExchangeAuthCertificate.ps1,
Import-ExchangeAuthCertificateToServers.ps1; EXD maintain-oauth-certificate.md):

1. **staging**, when the current certificate has fewer than ``renew_within_days`` left: on the Mailbox server
   that carries the organisation, ``New-ExchangeCertificate -KeySize 2048 -PrivateKeyExportable $true
   -SubjectName "cn=Microsoft Exchange Server Auth Certificate" -FriendlyName … -DomainName @() -Force``, the
   server's default SMTP certificate given back with ``Enable-ExchangeCertificate -Services SMTP -Force`` (the
   new certificate took it, as the script does and then undoes), ``Export-ExchangeCertificate`` with a random
   password; ``Import-ExchangeCertificate -PrivateKeyExportable $true`` on every other Mailbox server (the PFX
   carried in memory); then ``Set-AuthConfig -NewCertificateThumbprint … -NewCertificateEffectiveDate … -Force``.
   The effective date is ``effective_in_days`` after the day renewal became due (the script's 30 days of
   EnableDaysInFuture), so it depends only on the current certificate's expiry and a saved plan reads the same
   the next day; if that day has passed, today;
2. **publishing**, on a later run once the effective date is reached: ``Set-AuthConfig -PublishCertificate`` and
   ``-ClearPreviousCertificate``, then on every Mailbox server ``Restart-Service MSExchangeServiceHost`` (its
   AuthAdmin servicelet) and ``Restart-WebAppPool`` of MSExchangeOWAAppPool and MSExchangeECPAppPool, which cache
   the certificate (the doc's "recycle those application pools"). Should the servicelet have published it first,
   the previous certificate is cleared and the same restarts made;
3. a current certificate that has expired or is missing is replaced at once (the script's
   ReplaceExpiredAuthCertificate: the new one effective now, published, the previous cleared, restarts);
4. a Mailbox server that lacks the current or next certificate gets it from one that has it (the doc's FAQ:
   export it and import it there).

The kind reads AuthConfig and the certificates of every Mailbox server of the run (``reads_peers``); the
organisation's Mailbox servers (Get-ExchangeServer) must all be in the run for a change that imports everywhere.
Drift reports the current and next certificates, the effective date and the days left. Removing the current or
next certificate is refused by the certificate kind's rail ``auth-certificate``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exconf.model import (PROGRAM, Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Operation,
                          PropertyChange)
from exconf.remote import LOCAL_SERVER, STATUS_NOT_APPLICABLE, Answer, FromOperation, OutputRef, Step
from exconf.yamlsource import Location, PathKey

from .base import ORGANIZATION, DriftTraits, KindDefaults, KindPlan, PlanContext, ReadError
from .certificate_requests import TransitPassword
from .certificate_values import Cert, cert_from_answer, utc_instant

KIND = "auth_certificate"
CONFIG = "auth_certificate.config"
CERT = "auth_certificate.certificate"
SERVERS = "auth_certificate.servers"
DEFAULT = "auth_certificate.default_smtp"
SUBJECT = "cn=Microsoft Exchange Server Auth Certificate"  # as the script and the doc pass it
FRIENDLY = "Microsoft Exchange Server Auth Certificate"
APP_POOLS = ("MSExchangeOWAAppPool", "MSExchangeECPAppPool")

# operation roles
NEW, IMPORT, STAGE, PUBLISH, CLEAR, RESTART, EXPORT = "new", "import:", "stage", "publish", "clear", "restart:", "export"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The Exchange Server Auth Certificate (OAuth), rotated as Microsoft's MonitorExchangeAuthCertificate does it.",
    "properties": {
        "renew_within_days": {"type": "integer", "minimum": 3, "maximum": 1800,
                              "description": "Stage the next certificate when the current one expires within this many days (default 60)."},
        "effective_in_days": {"type": "integer", "minimum": 2, "maximum": 1800,
                              "description": "It takes over this many days after renewal became due (default 30; at least 2: it reaches every server first)."},
    },
}


@dataclass(frozen=True)
class AuthSpec:
    renew_within: int = 60
    effective_in: int = 30


@dataclass(frozen=True)
class AuthWork:
    """What an Auth certificate change does, and where (its ``Change.payload``)."""

    action: str  # stage | replace | publish | clear | import
    carrier: str  # inventory host that runs the organisation's cmdlets
    mailboxes: tuple[str, ...]  # every Mailbox server of the run (restarts)
    imports: tuple[str, ...] = ()  # hosts that import the certificate
    source: str = ""  # import: the host that exports it
    thumbprint: str = ""  # import: the certificate copied
    default_smtp: str = ""  # stage/replace: the carrier's default SMTP certificate, given back
    effective: str = ""  # stage: the effective date (ISO 8601)
    transit: TransitPassword | None = None


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "(unknown)"


@dataclass(frozen=True)
class ServerAuth:
    """What one Mailbox server read: its certificates, its default SMTP certificate."""

    host: str
    name: str
    certs: dict[str, Cert]
    default_smtp: str


def _servers(observed: tuple[ObservedObject, ...], host: str, name: str) -> ServerAuth:
    certs = {o.name: cert_from_answer(o.values) for o in observed if o.kind == CERT}
    default = next((str(o.values.get("InternalTransportCertificateThumbprint") or "").upper() for o in observed if o.kind == DEFAULT), "")
    return ServerAuth(host, name, certs, default)


def plan_auth(want: Desired, observed: tuple[ObservedObject, ...], ctx: PlanContext, now: dt.datetime) -> KindPlan:
    """Pure: the AuthConfig and every Mailbox server's certificates -> the step of Microsoft's procedure to take."""
    spec: AuthSpec = want.values[0].value
    here = want.source
    row = next((o.values for o in observed if o.kind == CONFIG), None)
    if row is None:
        problem = f"{here}: exchange_organization.auth_certificate: Get-AuthConfig answered nothing on {ctx.where}"
        return KindPlan(problems=(problem,), findings=(Finding(ctx.host, KIND, FRIENDLY, FindingStatus.ERROR, here, message=problem),))
    clock = utc_instant(row.get("UtcNow")) or now
    current = str(row.get("CurrentCertificateThumbprint") or "").upper()
    nxt = str(row.get("NextCertificateThumbprint") or "").upper()
    previous = str(row.get("PreviousCertificateThumbprint") or "").upper()
    effective = utc_instant(row.get("NextCertificateEffectiveDate"))
    servers = [_servers(observed, ctx.host, ctx.facts.name)] + [
        _servers(p.objects, p.host, p.facts.name) for p in ctx.peers if p.facts.role == "Mailbox"]
    org = sorted({str(o.values.get("Name")) for o in observed if o.kind == SERVERS})
    outside = [n for n in org if n.lower() not in {s.name.lower() for s in servers}]
    holders = {t: [s for s in servers if t in s.certs] for t in (current, nxt) if t}
    cert = next((s.certs[current] for s in servers if current in s.certs), None)
    left = cert.days_left(clock) if cert is not None else None
    props = [
        FindingProperty("current_thumbprint", current or "(none)", current or "(none)", here),
        FindingProperty("current_not_after", _day(cert.not_after) if cert else "(not on any Mailbox server read)",
                        _day(cert.not_after) if cert else "(not on any Mailbox server read)", here),
        FindingProperty("days_left", f"at least {spec.renew_within}", int(left) if left is not None else "(unknown)", here),
        FindingProperty("next_thumbprint", nxt or "(none)", nxt or "(none)", here),
        FindingProperty("next_effective_date", _day(effective) if effective else "(none)", _day(effective) if effective else "(none)", here),
    ]
    mailboxes = tuple(s.host for s in servers)

    def change(action: str, cprops: list[PropertyChange], reason: str, work: AuthWork, effects: tuple[str, ...] = ()) -> KindPlan:
        needs_all = action in ("stage", "replace", "import")
        if needs_all and outside:
            problem = (f"{here}: exchange_organization.auth_certificate: the Auth certificate must be on every Mailbox server, and "
                       f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not in this run (--limit, or not read): "
                       f"{reason}; run with every Mailbox server")
            return KindPlan(problems=(problem,), findings=(Finding(ctx.host, KIND, FRIENDLY, FindingStatus.ERROR, here, tuple(props), problem),))
        c = Change(f"{ctx.host}/{KIND}/{action}", ctx.host, KIND, FRIENDLY, current, "replace" if action in ("stage", "replace") else "update",
                   tuple(cprops), reason, payload=work, effects=effects)
        return KindPlan(changes=(c,), findings=(Finding(ctx.host, KIND, FRIENDLY, FindingStatus.CHANGE, here, tuple(props), reason),))

    restarts = (f"MSExchangeServiceHost is restarted and the app pools {', '.join(APP_POOLS)} recycled on "
                f"{', '.join(s.name for s in servers)} (they cache the Auth certificate)",)
    # 4. a Mailbox server without the current or next certificate
    for thumb in (current, nxt):
        if not thumb:
            continue
        lacking = [s for s in servers if thumb not in s.certs]
        source = next((s for s in holders.get(thumb, ()) if s.certs[thumb].has_key), None)
        if lacking and source is not None:
            which = "current" if thumb == current else "next"
            work = AuthWork("import", ctx.host, mailboxes, tuple(s.host for s in lacking), source.host, thumb, transit=TransitPassword())
            return change("import", [PropertyChange(f"{which}_on", "", sorted(s.name for s in holders[thumb]), sorted(s.name for s in servers), None, here)],
                          f"the {which} Auth certificate {thumb[:8]} is missing on {', '.join(s.name for s in lacking)}", work)
    # 2. publishing the next one, or clearing the previous one the servicelet left
    if nxt and effective is not None and effective <= clock:
        work = AuthWork("publish", ctx.host, mailboxes)
        return change("publish", [PropertyChange("current_thumbprint", "", current, nxt, None, here),
                                  PropertyChange("next_thumbprint", "", nxt, "(none)", None, here)],
                      f"the next Auth certificate {nxt[:8]} became effective on {_day(effective)}: published, the previous one cleared", work,
                      (f"OAuth signs with {nxt[:8]} from now on", *restarts))
    if not nxt and previous:
        work = AuthWork("clear", ctx.host, mailboxes)
        return change("clear", [PropertyChange("previous_thumbprint", "", previous, "(none)", None, here)],
                      f"{current[:8]} was published (the AuthAdmin servicelet), the previous certificate {previous[:8]} is still kept", work, restarts)
    if nxt:
        return KindPlan(findings=(Finding(ctx.host, KIND, FRIENDLY, FindingStatus.IN_SYNC, here, tuple(props),
                                          f"the next Auth certificate {nxt[:8]} takes over on {_day(effective)}"),))
    # 3. and 1. a new certificate
    default = servers[0].default_smtp
    expired = cert is None or not cert.valid_at(clock)
    if expired or (left is not None and left < spec.renew_within):
        if expired:
            work = AuthWork("replace", ctx.host, mailboxes, tuple(s.host for s in servers[1:]), default_smtp=default, effective=_iso(clock),
                            transit=TransitPassword())
            why = (f"the current Auth certificate {current[:8]} " + ("is on no Mailbox server read" if cert is None else f"expired on {_day(cert.not_after)}")
                   + ": replaced at once (Microsoft's ReplaceExpiredAuthCertificate)")
            return change("replace", [PropertyChange("current_thumbprint", "", current or "(none)", "(new, known after apply)", None, here)], why, work,
                          ("OAuth signs with the new certificate at once", *restarts))
        assert cert is not None and cert.not_after is not None
        due = cert.not_after - dt.timedelta(days=spec.renew_within)
        take_over = max(due + dt.timedelta(days=spec.effective_in), clock.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=2))
        take_over = take_over.replace(hour=0, minute=0, second=0, microsecond=0)
        work = AuthWork("stage", ctx.host, mailboxes, tuple(s.host for s in servers[1:]), default_smtp=default, effective=_iso(take_over),
                        transit=TransitPassword())
        return change("stage", [PropertyChange("next_thumbprint", "", "(none)", "(new, known after apply)", None, here),
                                PropertyChange("next_effective_date", "", "(none)", _day(take_over), None, here)],
                      f"the current Auth certificate {current[:8]} expires on {_day(cert.not_after)}, within the {spec.renew_within} days of "
                      f"renew_within_days: the next one is made on {ctx.facts.name}, imported on every Mailbox server and takes over on {_day(take_over)}",
                      work)
    return KindPlan(findings=(Finding(ctx.host, KIND, FRIENDLY, FindingStatus.IN_SYNC, here, tuple(props)),))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- operations ------------------------------------------------------------------------------------------


def operations_for(change: Change) -> tuple[Operation, ...]:
    work: AuthWork = change.payload
    base = change.id

    def op(role: str, host: str, steps: tuple[Step, ...], needs: tuple[str, ...] = (), where: str = "") -> Operation:
        return Operation(f"{base}#{role}", host, change.id, steps, needs=needs, role=role, where=where)

    out: list[Operation] = []
    if work.action in ("stage", "replace"):
        new = Step(f"{base}#{NEW}:new", "New-ExchangeCertificate", {
            "KeySize": 2048, "PrivateKeyExportable": True, "SubjectName": SUBJECT, "FriendlyName": FRIENDLY, "DomainName": [],
            "Force": True, "Server": LOCAL_SERVER}, select=("Thumbprint",), carry="Thumbprint")
        steps = [new]
        if work.default_smtp:
            steps.append(Step(f"{base}#{NEW}:default", "Enable-ExchangeCertificate",
                              {"Thumbprint": work.default_smtp, "Services": "SMTP", "Server": LOCAL_SERVER, "Force": True}))
        export = Step(f"{base}#{NEW}:export", "Export-ExchangeCertificate", {
            "Thumbprint": OutputRef(new.id, "Thumbprint"), "BinaryEncoded": True, "Password": work.transit, "Server": LOCAL_SERVER},
            select=("FileData",), carry="FileData")
        if work.imports:
            steps.append(export)
        out.append(op(NEW, work.carrier, tuple(steps)))
        imports = _imports(base, work, f"{base}#{NEW}", export.id)
        out += imports
        set_params: dict[str, Any] = {"NewCertificateThumbprint": FromOperation(f"{base}#{NEW}", new.id), "NewCertificateEffectiveDate": work.effective,
                                      "Force": True}
        steps = [Step(f"{base}#{STAGE}:set", "Set-AuthConfig", set_params)]
        if work.action == "replace":
            steps += [Step(f"{base}#{STAGE}:publish", "Set-AuthConfig", {"PublishCertificate": True, "Force": True}),
                      Step(f"{base}#{STAGE}:clear", "Set-AuthConfig", {"ClearPreviousCertificate": True, "Force": True})]
        out.append(op(STAGE, work.carrier, tuple(steps), needs=(f"{base}#{NEW}", *(i.id for i in imports))))
        if work.action == "replace":
            out += _restarts(base, work, f"{base}#{STAGE}")
        return tuple(out)
    if work.action == "import":
        export = Step(f"{base}#{EXPORT}:export", "Export-ExchangeCertificate", {
            "Thumbprint": work.thumbprint, "BinaryEncoded": True, "Password": work.transit, "Server": LOCAL_SERVER},
            select=("FileData",), carry="FileData")
        out.append(op(EXPORT, work.source, (export,)))
        out += _imports(base, work, f"{base}#{EXPORT}", export.id)
        return tuple(out)
    steps = []
    if work.action == "publish":
        steps.append(Step(f"{base}#{PUBLISH}:publish", "Set-AuthConfig", {"PublishCertificate": True, "Force": True}))
    steps.append(Step(f"{base}#{PUBLISH}:clear", "Set-AuthConfig", {"ClearPreviousCertificate": True, "Force": True}))
    out.append(op(PUBLISH, work.carrier, tuple(steps)))
    out += _restarts(base, work, f"{base}#{PUBLISH}")
    return tuple(out)


def _imports(base: str, work: AuthWork, exported_by: str, export_step: str) -> list[Operation]:
    return [Operation(f"{base}#{IMPORT}{host}", host, f"{base}", (Step(f"{base}#{IMPORT}{host}:import", "Import-ExchangeCertificate", {
        "FileData": FromOperation(exported_by, export_step), "Password": work.transit, "PrivateKeyExportable": True, "Server": LOCAL_SERVER},
        select=("Thumbprint",)),), needs=(exported_by,), role=f"{IMPORT}{host}") for host in work.imports]


def _restarts(base: str, work: AuthWork, after: str) -> list[Operation]:
    """On every Mailbox server, through exconf's program (no Exchange session restarts a service): the servicelet's
    service and the app pools that cache the certificate [EXD maintain-oauth-certificate.md]."""
    return [Operation(f"{base}#{RESTART}{host}", host, base, (
        Step(f"{base}#{RESTART}{host}:servicehost", "Restart-Service", {"Name": "MSExchangeServiceHost"}),
        *(Step(f"{base}#{RESTART}{host}:{pool}", "Restart-WebAppPool", {"Name": pool}) for pool in APP_POOLS),
    ), needs=(after,), role=f"{RESTART}{host}", where=PROGRAM) for host in work.mailboxes]


def verify_operation(op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
    work: AuthWork = change.payload
    if op.role.startswith(RESTART):
        return None  # services and app pools: nothing an Exchange cmdlet reads back
    certs = {o.name: cert_from_answer(o.values) for o in readback if o.kind == CERT}
    row = next((o.values for o in readback if o.kind == CONFIG), {})
    if op.role == NEW:
        if not any(c.subject.lower() == SUBJECT.lower() and c.thumbprint != change.identity and c.has_key for c in certs.values()):
            return f"no new Auth certificate was read back on {op.host}"
        default = next((str(o.values.get("InternalTransportCertificateThumbprint") or "").upper() for o in readback if o.kind == DEFAULT), "")
        if work.default_smtp and default and default != work.default_smtp:
            return f"the default SMTP certificate of {op.host} is {default[:8]}, not {work.default_smtp[:8]} as before"
        return None
    if op.role.startswith(IMPORT):
        wanted = work.thumbprint
        ok = wanted in certs if wanted else any(c.subject.lower() == SUBJECT.lower() and c.thumbprint != change.identity for c in certs.values())
        return None if ok else f"the Auth certificate was not read back on {op.host}"
    if op.role == STAGE:
        if work.action == "replace":
            return None if row.get("CurrentCertificateThumbprint") and str(row["CurrentCertificateThumbprint"]).upper() != change.identity else \
                "AuthConfig still names the old certificate as current"
        return None if row.get("NextCertificateThumbprint") else "AuthConfig names no next certificate"
    if op.role == PUBLISH:
        if row.get("NextCertificateThumbprint") or row.get("PreviousCertificateThumbprint"):
            return "AuthConfig still names a next or previous certificate"
    return None


def applied_note(op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str:
    row = next((o.values for o in readback if o.kind == CONFIG), {})
    if op.role == STAGE and row.get("NextCertificateThumbprint"):
        return f"next Auth certificate {row['NextCertificateThumbprint']}, effective {_day(utc_instant(str(row.get('NextCertificateEffectiveDate') or '')))}"
    if op.role == PUBLISH or (op.role == STAGE and not row.get("NextCertificateThumbprint")):
        return f"current Auth certificate {row.get('CurrentCertificateThumbprint', '')}"
    return ""


@dataclass(frozen=True)
class AuthCertificateKind(KindDefaults):
    """Implements ``base.Kind`` for the organisation's Auth certificate."""

    kind: str = KIND
    section: str = "auth_certificate"
    scope: str = ORGANIZATION
    title: str = "Auth certificate"
    roles: frozenset[str] = frozenset({"Mailbox"})
    reads_peers: bool = True  # every Mailbox server's certificates: each must hold it
    # drift: an Auth certificate that expires, or is missing on a server, stops OAuth (hybrid, the admin centre);
    # never corrected unattended: a rotation restarts services and spans runs.
    drift: DriftTraits = field(default_factory=lambda: DriftTraits(
        "high", ("Set-AuthConfig", "New-ExchangeCertificate", "Import-ExchangeCertificate", "Remove-ExchangeCertificate")),
        compare=False, repr=False)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)

    def schema(self) -> dict[str, Any]:
        return SCHEMA

    def inventory_issues(self, declared: Any, base: Path) -> list[tuple[PathKey, str]]:
        if isinstance(declared, dict) and int(declared.get("effective_in_days", 30)) >= int(declared.get("renew_within_days", 60)):
            return [(("effective_in_days",), "effective_in_days must be less than renew_within_days: the next certificate takes over "
                                             "before the current one expires")]
        return []

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]:
        if declared is None:
            return ()
        raw = declared or {}
        spec = AuthSpec(int(raw.get("renew_within_days", 60)), int(raw.get("effective_in_days", 30)))
        return (Desired(kind=self.kind, pattern="", values=(DesiredValue("auth_certificate", spec, where(())),), source=where(())),)

    def read_steps(self, prefix: str) -> list[Step]:
        steps = [
            Step(f"{prefix}{KIND}:config", "Get-AuthConfig", {}, select=("CurrentCertificateThumbprint", "NextCertificateThumbprint",
                                                                         "NextCertificateEffectiveDate", "PreviousCertificateThumbprint"),
                 skip_on_edge=True),
            Step(f"{prefix}{KIND}:certificates", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER},
                 select=("Thumbprint", "Subject", "Issuer", "NotBefore", "NotAfter", "HasPrivateKey", "Status"), skip_on_edge=True),
            Step(f"{prefix}{KIND}:default", "Get-TransportService", {"Identity": LOCAL_SERVER},
                 select=("InternalTransportCertificateThumbprint",), skip_on_edge=True),
        ]
        if prefix.startswith("org"):
            steps.append(Step(f"{prefix}{KIND}:servers", "Get-ExchangeServer", {}, select=("Name", "ServerRole"), skip_on_edge=True))
        return steps

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None:
        out: list[ObservedObject] = []
        config = answer.results.get(f"{prefix}{KIND}:config")
        if config is None or config.status == STATUS_NOT_APPLICABLE:
            return None if answer.edge else ()
        for which, kind in (("config", CONFIG), ("certificates", CERT), ("default", DEFAULT), ("servers", SERVERS)):
            result = answer.results.get(f"{prefix}{KIND}:{which}")
            if result is None or result.status == STATUS_NOT_APPLICABLE:
                continue
            if not result.ok:
                raise ReadError(f"{result.id.rsplit(':', 1)[-1]}: {result.error.message if result.error else result.status}")
            for obj in result.objects:
                if kind == CONFIG:
                    out.append(ObservedObject(CONFIG, "", "", {**obj, "UtcNow": answer.utc_now}))
                elif kind == CERT:
                    out.append(ObservedObject(CERT, str(obj.get("Thumbprint") or "").upper(), "", dict(obj)))
                elif kind == SERVERS:
                    if "Mailbox" in str(obj.get("ServerRole") or ""):
                        out.append(ObservedObject(SERVERS, str(obj.get("Name") or ""), "", dict(obj)))
                else:
                    out.append(ObservedObject(DEFAULT, "", "", dict(obj)))
        return tuple(out)

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
        return plan_auth(desired[0], observed, ctx, self.clock())

    def operations(self, change: Change) -> tuple[Operation, ...]:
        return operations_for(change)

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return None

    def verify_operation(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return verify_operation(op, change, readback)

    def applied_note(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str:
        return applied_note(op, change, readback)


KIND_INSTANCE = AuthCertificateKind()

__all__ = ["KIND", "KIND_INSTANCE", "AuthCertificateKind", "plan_auth"]
