"""Planning certificates: declarations × a server's store → changes, findings, warnings and refusals.

Pure: ``now`` is passed in. Each declaration resolves to the certificate it
means (by thumbprint, by the newest valid match, or by the PFX it imports);
then services, renewal or removal decide the change. Rails are judged on the
store as it would be *after* the plan (a replacement made before the old one
is removed counts), so a renewal never trips "no SMTP certificate left".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from exconf.controllerfiles import PfxBytes, RefSecret
from exconf.model import (Change, Desired, Finding, FindingProperty, FindingStatus, HostStatus, ObservedObject, Operation, Plan,
                          PropertyChange, Refusal)
from exconf.remote import LOCAL_SERVER, OutputRef, Step
from exconf.yamlsource import Location

from .base import KindPlan, PlanContext
from .certificate_values import DEFAULT_WARN_DAYS, Cert, CertSpec, cert_from_answer, covers, order, selected_by

KIND = "exchange_certificate"
CONNECTOR = "exchange_certificate.connector"  # connectors read beside the certificates (their FQDN and TlsCertificateName)

# Rail names, as --override takes them (docs/certificates.md, "Safety rails").
RAIL_SMTP = "smtp-certificate-kept"
RAIL_CONNECTOR = "connector-certificate"
RAIL_NAMES = "smtp-certificate-names"
RAIL_IIS = "iis-self-signed"
RAIL_EXPIRED = "certificate-expired"
RAIL_EXPIRING = "certificate-expiring"
RAIL_WEAK = "certificate-weak-key"
RAIL_SHA1 = "certificate-sha1"
RAIL_EDGE_MAILBOX = "edge-mailbox-same-certificate"  # plan_rails: needs the whole plan
RAILS = (RAIL_SMTP, RAIL_CONNECTOR, RAIL_NAMES, RAIL_IIS, RAIL_EXPIRED, RAIL_EXPIRING, RAIL_WEAK, RAIL_SHA1, RAIL_EDGE_MAILBOX)

NOT_ON_SERVER = "(not on the server)"
NEW_THUMBPRINT = "(new, known after apply)"
SELF_SIGNED_YEARS = 5  # New-ExchangeCertificate's validity (cmdlets.md §2, lab-certificates.md)
EDGE_SERVICES = frozenset({"SMTP"})
ORDER = {"create": 0, "update": 1, "replace": 2, "delete": 3}


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "(unknown)"


def _validity(cert: Cert, now: dt.datetime) -> str:
    """A date, never "N days left": a plan made in the evening must read the same in the night (its
    saved form is compared with a fresh plan at apply), and only an expiry changes it."""
    left = cert.days_left(now)
    if left is None:
        return "(unknown)"
    if left <= 0:
        return f"{_day(cert.not_after)} (expired)"
    return _day(cert.not_after)


@dataclass(frozen=True)
class CertWork:
    """What a certificate change sends (its ``Change.payload``): the shown properties say what changes, this how."""

    services: str = "None"  # the -Services value (only what is added: services are additive)
    pfx: PfxBytes | None = None  # create: the PFX's bytes, read at plan time, with their path and SHA-256
    password: RefSecret | None = None  # create: where its password comes from
    subject: str = ""  # replace: the new self-signed certificate's subject and names
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Connector:
    which: str  # receive | send
    name: str
    fqdn: str
    tls_name: str
    sources: tuple[str, ...]


def _connectors(observed: tuple[ObservedObject, ...], server: str, role: str) -> list[Connector]:

    out = []
    for o in observed:
        if o.kind != CONNECTOR:
            continue
        sources = o.values.get("SourceTransportServers") or []
        sources = tuple(str(s) for s in (sources if isinstance(sources, list) else [sources]))
        if o.identity == "send" and role != "Edge" and sources and not any(s.split("\\")[-1].lower() == server.lower() for s in sources):
            continue  # a send connector another server sources: not this server's certificate to present
        out.append(Connector(o.identity, o.name, str(o.values.get("Fqdn") or ""), str(o.values.get("TlsCertificateName") or ""), sources))
    return out


@dataclass
class Draft:
    """What planning one scope builds up."""

    changes: list[Change]
    findings: list[Finding]
    problems: list[str]
    warnings: list[str]
    binds: dict[str, frozenset[str]]  # change id -> services newly bound
    certs: dict[str, Cert]  # every certificate a change touches (by change id), for the rails
    warn_days: dict[str, int]  # change id -> the declaration's expiry threshold


def plan_certificates(desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext, now: dt.datetime) -> KindPlan:

    store = {o.name: cert_from_answer(o.values) for o in observed if o.kind == KIND}
    connectors = _connectors(observed, ctx.facts.name, ctx.facts.role)
    d = Draft([], [], [], [], {}, {}, {})
    claimed: dict[str, Desired] = {}
    for want in desired:
        spec: CertSpec = want.values[0].value
        _plan_one(spec, want, store, ctx, now, d, claimed)
    # Replacements after imports and enables, removals last, whatever the declaration order: a removal
    # never runs before the certificate that takes over from it exists (and, with -Force, is the default).
    # Said as ``after`` (the planner's needs), not by list order, which nothing downstream keeps.
    d.changes.sort(key=lambda c: ORDER[c.action])
    d.changes[:] = [replace(c, after=tuple(e.id for e in d.changes if ORDER[e.action] < ORDER[c.action])) if c.action in ("replace", "delete") else c
                    for c in d.changes]
    if ctx.facts.role == "Edge":
        for change in d.changes:
            if "SMTP" in d.binds.get(change.id, frozenset()):
                # -Force makes it the Edge's internal transport certificate; Exchange then asks for a new
                # Edge Subscription and an AD LDS restart (cmdlets.md §6, §10.3).
                d.warnings.append(f"{ctx.where}: {change.name} becomes this Edge's default SMTP certificate; "
                                  "if the Edge is subscribed, create its Edge Subscription again and restart AD LDS afterwards")
    refusals = _rails(d, store, connectors, ctx, now)
    return KindPlan(changes=tuple(d.changes), findings=tuple(d.findings), problems=tuple(d.problems), refusals=tuple(refusals), warnings=tuple(d.warnings))


def _error(d: Draft, ctx: PlanContext, want: Desired, message: str) -> None:
    problem = f"{want.source}: exchange.certificates: {message}"
    d.problems.append(problem)
    d.findings.append(Finding(ctx.host, want.kind, want.pattern, FindingStatus.ERROR, want.source, message=problem))


def _resolve(spec: CertSpec, store: dict[str, Cert], now: dt.datetime) -> tuple[list[Cert], str]:
    """The certificates a declaration means (all of them for state absent), or why none."""
    if spec.thumbprint:
        hit = store.get(spec.thumbprint)
        return ([hit] if hit else []), f"no certificate with thumbprint {spec.thumbprint}"
    assert spec.match is not None
    hits = [c for c in store.values() if spec.match.selects(c)]
    if spec.absent:
        return hits, ""
    valid = [c for c in hits if c.valid_at(now)]
    pool = valid or (hits if spec.renew_days else [])
    if not pool:
        seen = "; ".join(f"{c.label} {c.status}, until {_day(c.not_after)}" for c in hits)
        return [], f"match ({spec.match.describe()}) selects no valid certificate" + (f" (found: {seen})" if seen else "")
    newest = max(pool, key=lambda c: (c.not_after or now, c.not_before or now))
    tied = [c for c in pool if (c.not_after, c.not_before) == (newest.not_after, newest.not_before)]
    if len(tied) > 1:
        return [], f"match ({spec.match.describe()}) selects {len(tied)} equally new certificates: " + ", ".join(c.label for c in tied) + "; narrow the match or use a thumbprint"
    return [newest], ""


def _plan_one(spec: CertSpec, want: Desired, store: dict[str, Cert], ctx: PlanContext, now: dt.datetime, d: Draft, claimed: dict[str, Desired]) -> None:

    if spec.pfx_error:
        _error(d, ctx, want, spec.pfx_error)
        return
    if ctx.facts.role == "Edge" and spec.services and spec.services - EDGE_SERVICES:
        # IMAP and POP are refused on servers without Client Access, and an Edge has no IIS for Exchange (cmdlets.md §2).
        _error(d, ctx, want, f"{ctx.where} is an Edge Transport server, where a certificate serves only SMTP (declared: {', '.join(order(spec.services))})")
        return
    if spec.pfx is not None and spec.pfx.cert.thumbprint not in store:
        _import(spec, want, ctx, now, d)
        return
    targets, why = ([store[spec.pfx.cert.thumbprint]], "") if spec.pfx is not None else _resolve(spec, store, now)
    if not targets:
        if spec.absent:
            d.findings.append(Finding(ctx.host, KIND, want.pattern, FindingStatus.IN_SYNC, want.source, message="absent"))
        else:
            _error(d, ctx, want, f"{why} on {ctx.where}")
        return
    for cert in targets:
        if cert.thumbprint in claimed:
            _error(d, ctx, want, f"{cert.label} is also declared at {claimed[cert.thumbprint].source}; declare each certificate once")
            continue
        claimed[cert.thumbprint] = want
        if spec.absent:
            _remove(cert, want, ctx, now, d)
            continue
        if cert.services is None:
            message = f"the services of {cert.label} could not be read on {ctx.where}: unknown, so no change is proposed"
            d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.ERROR, want.source, _props(want.source, cert, None, None), message))
            continue
        _present(spec, cert, want, ctx, now, d)


def _instant(value: dt.datetime | None) -> str:
    """ISO 8601 UTC to the second: what drift's expiry timeline and Prometheus timestamps read."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "(unknown)"


def _props(here: Location, cert: Cert, after: frozenset[str] | None, thumb_after: str | None = None, before_thumb: str | None = None) -> tuple[FindingProperty, ...]:
    """What a finding says of a certificate; engine/safety.py reads thumbprint, services and self_signed;
    engine/drift reads not_after (any finding carrying one is on its expiry timeline)."""
    services_before = order(cert.services) if cert.services is not None else "(unknown)"
    return (
        FindingProperty("thumbprint", thumb_after or cert.thumbprint, before_thumb or cert.thumbprint, here),
        FindingProperty("subject", cert.subject, cert.subject, here),
        FindingProperty("services", order(after) if after is not None else services_before, services_before, here),
        FindingProperty("self_signed", cert.self_signed, cert.self_signed, here),
        FindingProperty("not_after", _instant(cert.not_after), _instant(cert.not_after), here),
    )


def _expiry(spec: CertSpec, cert: Cert, want: Desired, now: dt.datetime) -> FindingProperty | None:
    """The property that makes a certificate in use (serving a service) that expires within its declared
    threshold a finding of its own (status expiring): expected at least ``warn_within_days`` days left."""
    left = cert.days_left(now)
    if not cert.services or left is None or left >= spec.warn_days:
        return None
    return FindingProperty("days_left", f"at least {spec.warn_days}", max(int(left), 0), spec.at.get("warn_within_days", want.source))


def _change(ctx: PlanContext, cert: Cert, action: str, props: list[PropertyChange], reason: str, work: CertWork = CertWork()) -> Change:

    return Change(id=f"{ctx.host}/{KIND}/{cert.thumbprint}", host=ctx.host, kind=KIND, name=cert.label, identity=cert.thumbprint,
                  action=action, properties=tuple(props), reason=reason, payload=work)


def _health(cert: Cert, warn_days: int, now: dt.datetime) -> list[tuple[str, str]]:
    """(rail, what is wrong) for a certificate exconf should not bind, or warns about."""

    out = []
    left = cert.days_left(now)
    if not cert.valid_at(now) or (left is not None and left <= 0):
        out.append((RAIL_EXPIRED, f"is not valid (status {cert.status}, valid until {_day(cert.not_after)})"))
    elif left is not None and left < warn_days:
        out.append((RAIL_EXPIRING, f"expires in {int(left)} days ({_day(cert.not_after)}; warning threshold {warn_days} days)"))
    if cert.weak:
        out.append((RAIL_WEAK, f"has a {cert.key_size}-bit key (under 2048 bits)"))
    if cert.sha1:
        out.append((RAIL_SHA1, f"is signed with SHA-1 ({cert.signature})"))
    return out


def _import(spec: CertSpec, want: Desired, ctx: PlanContext, now: dt.datetime, d: Draft) -> None:

    assert spec.pfx is not None
    cert = replace(spec.pfx.cert, services=frozenset())
    services = spec.services or frozenset()
    src = spec.at.get("import", want.source)
    props = [
        PropertyChange("pfx", "", NOT_ON_SERVER, spec.pfx.describe(), None, src),
        PropertyChange("password", "", "(none)", spec.pfx.password.describe(), None, src),
        PropertyChange("services", "", [], order(services), None, spec.at.get("services", want.source)),
        PropertyChange("valid_until", "", "(none)", _validity(cert, now), None, src),
    ]
    work = CertWork(services=_wire(services), pfx=spec.pfx.data, password=RefSecret(spec.pfx.password))
    change = _change(ctx, cert, "create", props, f"import {spec.pfx.ref.path}" + (f" and enable {', '.join(order(services))}" if services else ""), work)
    d.changes.append(change)
    d.binds[change.id] = services
    d.warn_days[change.id] = spec.warn_days
    d.certs[change.id] = replace(cert, services=services)
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source, _props(want.source, cert, services, cert.thumbprint, NOT_ON_SERVER)))


def _wire(services: frozenset[str]) -> str:
    return ", ".join(order(services)) or "None"


def _remove(cert: Cert, want: Desired, ctx: PlanContext, now: dt.datetime, d: Draft) -> None:

    before = order(cert.services) if cert.services is not None else "(unknown)"
    props = [
        PropertyChange("thumbprint", "", cert.thumbprint, "(removed)", None, want.source),
        PropertyChange("services", "", before, [], None, want.source),
        PropertyChange("valid_until", "", _validity(cert, now), "(removed)", None, want.source),
    ]
    change = _change(ctx, cert, "delete", props, "declared absent")
    d.changes.append(change)
    d.certs[change.id] = cert
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source, _props(want.source, cert, frozenset(), "(absent)")))


def _present(spec: CertSpec, cert: Cert, want: Desired, ctx: PlanContext, now: dt.datetime, d: Draft) -> None:

    assert cert.services is not None
    declared = spec.services if spec.services is not None else frozenset()
    missing = declared - cert.services
    extra = cert.services - declared if spec.exact else frozenset()
    left = cert.days_left(now)
    renew = spec.renew_days is not None and cert.self_signed and left is not None and left < spec.renew_days  # never from an unknown date
    if spec.renew_days is not None and not cert.self_signed:
        d.warnings.append(f"{ctx.where}: {cert.label} is not self-signed; renew (declared at {spec.at.get('renew', want.source)}) renews only self-signed certificates: import its successor instead")
    if extra and not cert.self_signed:
        _error(d, ctx, want, f"{cert.label} serves {', '.join(order(extra))} beyond the exact services {order(declared)}; Exchange cannot take a service away, "
               "and exconf replaces only self-signed certificates: import a replacement and remove this one")
        return
    if renew or extra:
        services = (declared if spec.exact else cert.services | declared)
        why = (f"expires {_day(cert.not_after)}, within the {spec.renew_days} days of renew" if renew
               else f"serves {', '.join(order(extra))} beyond the exact services; Exchange cannot remove a service")
        new = replace(cert, thumbprint="", not_before=now, not_after=now + dt.timedelta(days=365 * SELF_SIGNED_YEARS), services=services,
                      status="Valid", key_size=max(cert.key_size or 2048, 2048), signature="sha256RSA", self_signed=True)
        at = spec.at.get("renew" if renew else "services_mode", want.source)
        props = [
            PropertyChange("thumbprint", "", cert.thumbprint, NEW_THUMBPRINT, None, at),
            PropertyChange("subject", "", cert.subject, cert.subject, None, at),
            PropertyChange("domains", "", list(cert.domains), list(cert.domains), None, at),
            PropertyChange("services", "", order(cert.services), order(services), None, at),
            PropertyChange("valid_until", "", _validity(cert, now), f"(new self-signed, valid {SELF_SIGNED_YEARS} years from its creation)", None, at),
        ]
        change = _change(ctx, cert, "replace", props, why, CertWork(services=_wire(services), subject=cert.subject, domains=tuple(cert.domains)))
        d.changes.append(change)
        d.binds[change.id] = services - cert.services  # what the replacement serves beyond the old one
        d.certs[change.id] = cert
        d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source, _props(want.source, cert, services, NEW_THUMBPRINT)))
        return
    health = _health(cert, spec.warn_days, now)
    if missing:
        after = cert.services | missing
        at = spec.at.get("services", want.source)
        props = [
            PropertyChange("services", "", order(cert.services), order(after), None, at),
            PropertyChange("valid_until", "", _validity(cert, now), _validity(cert, now), None, at),
        ]
        change = _change(ctx, cert, "update", props, f"enable {', '.join(order(missing))}", CertWork(services=_wire(missing)))
        d.changes.append(change)
        d.binds[change.id] = missing
        d.warn_days[change.id] = spec.warn_days
        d.certs[change.id] = cert
        d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source, _props(want.source, cert, after)))
        return
    for rail, what in health:
        d.warnings.append(f"{ctx.where}: certificate {cert.label} {what}" + (" (renew it: declare renew, or import its successor)" if rail == RAIL_EXPIRING else ""))
    expiry = _expiry(spec, cert, want, now)
    if expiry is None:
        d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.IN_SYNC, want.source, _props(want.source, cert, cert.services)))
        return
    # As declared (nothing to change), but in use and expiring: drift reports it (issue 10).
    why = next(what for rail, what in health if rail in (RAIL_EXPIRED, RAIL_EXPIRING))
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.EXPIRING, want.source,
                              (expiry, *_props(want.source, cert, cert.services)), f"{cert.label} serves {', '.join(order(cert.services))} and {why}"))


# --- rails ------------------------------------------------------------------------------------------------


def _after(d: Draft, store: dict[str, Cert]) -> dict[str, Cert]:
    """The store as it would be once every change of this scope is made."""
    state = dict(store)
    for change in d.changes:
        cert = d.certs[change.id]
        if change.action == "delete":
            state.pop(cert.thumbprint, None)
        elif change.action == "replace":
            state.pop(cert.thumbprint, None)
            after = next(p.after for p in change.properties if p.prop == "services")
            state[f"new:{cert.thumbprint}"] = replace(cert, thumbprint=f"new:{cert.thumbprint}", services=frozenset(after),
                                                      not_after=None, status="Valid")
        else:
            bound = d.binds.get(change.id, frozenset())
            base = state.get(cert.thumbprint, cert)
            if "IIS" in bound:  # only one certificate serves IIS (cmdlets.md §11): enabling it moves it
                state = {t: replace(c, services=c.services - {"IIS"}) if c.services else c for t, c in state.items()}
            state[cert.thumbprint] = replace(base, services=(base.services or frozenset()) | bound)
    return state


def _serves_smtp(cert: Cert, now: dt.datetime) -> bool:
    # The Auth certificate lists SMTP but names no host: it is not a transport certificate.
    fresh = cert.thumbprint.startswith("new:")
    return bool(cert.services and "SMTP" in cert.services and cert.domains and (fresh or cert.valid_at(now)))


def _rails(d: Draft, store: dict[str, Cert], connectors: list[Connector], ctx: PlanContext, now: dt.datetime) -> list[Refusal]:

    out: list[Refusal] = []
    after = _after(d, store)
    removing = [c for c in d.changes if c.action in ("delete", "replace")]
    if removing and not any(_serves_smtp(c, now) for c in after.values()):
        for change in removing:
            out.append(Refusal(RAIL_SMTP, ctx.host, f"{ctx.where}: removing {change.name} would leave no valid certificate enabled for SMTP; "
                                                    "declare its replacement (with services [SMTP]) in the same apply", change.id))
    for change in removing:
        cert = d.certs[change.id]
        for conn in connectors:
            if conn.tls_name and selected_by(conn.tls_name, cert) and not any(
                selected_by(conn.tls_name, c) and (c.thumbprint.startswith("new:") or c.valid_at(now)) for c in after.values()
            ):
                out.append(Refusal(RAIL_CONNECTOR, ctx.host, f"{ctx.where}: {change.name} is the certificate the {conn.which} connector "
                                                            f"\"{conn.name}\" selects (TlsCertificateName {conn.tls_name}); removing it leaves the connector none", change.id))
    fqdns = {ctx.facts.fqdn.lower()} | {c.fqdn.lower() for c in connectors if c.fqdn}
    for change in d.changes:
        bound = d.binds.get(change.id, frozenset())
        if not bound:
            continue
        cert = d.certs[change.id]
        if "SMTP" in bound and not any(covers(name, fqdn) for name in cert.domains for fqdn in fqdns):
            out.append(Refusal(RAIL_NAMES, ctx.host, f"{ctx.where}: {change.name} would serve SMTP, but its names ({', '.join(cert.domains) or 'none'}) "
                                                    f"cover neither the server's FQDN {ctx.facts.fqdn} nor a connector's FQDN ({', '.join(sorted(fqdns - {ctx.facts.fqdn.lower()})) or 'none'})", change.id))
        if "IIS" in bound and cert.self_signed and ctx.facts.role == "Mailbox":
            out.append(Refusal(RAIL_IIS, ctx.host, f"{ctx.where}: {change.name} is self-signed; Outlook Anywhere and ActiveSync clients reject it for IIS", change.id))
        if change.action == "replace":
            continue  # a replacement is a new certificate: the old one's age and key are why it goes
        for rail, what in _health(cert, d.warn_days.get(change.id, DEFAULT_WARN_DAYS), now):
            out.append(Refusal(rail, ctx.host, f"{ctx.where}: {change.name} {what}; exconf will not bind {', '.join(order(bound))} to it", change.id))
    return out


# --- operations and verification ---------------------------------------------------------------------------


def _prop(change: Change, name: str) -> PropertyChange | None:
    return next((p for p in change.properties if p.prop == name), None)


def operations_for(change: Change) -> tuple[Operation, ...]:
    """One operation per change: its cmdlets always with -Force on Enable and New (cmdlets.md §1a), -Confirm:$false on Remove."""
    return (Operation(id=change.id, host=change.host, change=change.id, steps=steps_for(change), role=change.action),)


def steps_for(change: Change) -> tuple[Step, ...]:
    sid = change.id
    work: CertWork = change.payload
    if change.action == "delete":
        return (Step(f"{sid}:remove", "Remove-ExchangeCertificate", {"Thumbprint": change.identity, "Server": LOCAL_SERVER, "Confirm": False}),)
    if change.action == "update":
        return (Step(f"{sid}:enable", "Enable-ExchangeCertificate", _enable_params(change.identity, work.services)),)
    if change.action == "create":
        assert work.pfx is not None and work.password is not None
        steps = [Step(f"{sid}:import", "Import-ExchangeCertificate", {"FileData": work.pfx, "Password": work.password, "Server": LOCAL_SERVER},
                      select=("Thumbprint",))]
        if work.services != "None":
            steps.append(Step(f"{sid}:enable", "Enable-ExchangeCertificate", _enable_params(OutputRef(f"{sid}:import", "Thumbprint"), work.services)))
        return tuple(steps)
    new = {"SubjectName": work.subject, "DomainName": list(work.domains), "Services": work.services, "Force": True, "Server": LOCAL_SERVER}
    return (
        Step(f"{sid}:new", "New-ExchangeCertificate", new, select=("Thumbprint",)),
        Step(f"{sid}:remove", "Remove-ExchangeCertificate", {"Thumbprint": change.identity, "Server": LOCAL_SERVER, "Confirm": False}),
    )


def _enable_params(thumbprint: str | OutputRef, services: str) -> dict[str, object]:
    params: dict[str, object] = {"Thumbprint": thumbprint, "Services": services, "Server": LOCAL_SERVER, "Force": True}
    if "IIS" in services.split(", "):
        # Without it Exchange asks whether to require SSL on the Default Web Site (cmdlets.md §2); exconf leaves that setting alone.
        params["DoNotRequireSsl"] = True
    return params


def verify_change(change: Change, readback: tuple[ObservedObject, ...]) -> str | None:

    store = {o.name: cert_from_answer(o.values) for o in readback if o.kind == KIND}
    services = _prop(change, "services")
    wanted = frozenset(services.after) if services and isinstance(services.after, list) else frozenset()
    if change.action == "delete":
        return None if change.identity not in store else f"{change.name} is still on the server"
    if change.action == "replace":
        if change.identity in store:
            return f"{change.name} is still on the server"
        subject = _prop(change, "subject")
        new = [c for c in store.values() if subject and c.subject == subject.after and c.services is not None and wanted <= c.services]
        return None if new else f"no replacement for {change.name} serving {order(wanted)} was read back"
    cert = store.get(change.identity)
    if cert is None:
        return f"{change.name} was not read back"
    if cert.services is None or not wanted <= cert.services:
        return f"{change.name} serves {order(cert.services) if cert.services is not None else '(unknown)'}, expected at least {order(wanted)}"
    return None


# --- the rail that needs the whole plan -------------------------------------------------------------------


def _smtp_third_party(plan: Plan) -> list[tuple[str, str, str, bool, str]]:
    """(host, role, thumbprint, newly bound, certificate) for each third-party certificate serving SMTP after the plan,
    read from this kind's findings (thumbprint, services expected after the plan and actual before, self_signed)."""
    out = []
    for hp in plan.hosts.values():
        if hp.status is not HostStatus.OK or hp.facts is None:
            continue
        for f in hp.findings:
            if f.kind != KIND or f.status not in (FindingStatus.CHANGE, FindingStatus.IN_SYNC, FindingStatus.EXPIRING):
                continue
            props = {p.prop: p for p in f.properties}
            if not {"thumbprint", "services", "self_signed"} <= props.keys() or props["self_signed"].expected:
                continue
            after, before = props["services"].expected, props["services"].actual
            if isinstance(after, list) and "SMTP" in after:
                newly = not (isinstance(before, list) and "SMTP" in before)
                out.append((hp.host, hp.facts.role, str(props["thumbprint"].expected), newly, f.name))
    return out


def plan_rails(plan: Plan) -> list[Refusal]:
    """One third-party certificate for SMTP on an Edge and a Mailbox server: both ends of one secure
    transaction (Edge ↔ Mailbox) must not present the same certificate (cmdlets.md §11, [FIELD]).
    Refused where this plan binds it; a pairing that exists already is left to drift to report."""
    seen = _smtp_third_party(plan)
    out = []
    for host, role, thumb, newly, name in seen:
        others = [h for h, r, t, _, _ in seen if t == thumb and r != role and {r, role} == {"Edge", "Mailbox"}]
        if newly and others:
            out.append(Refusal(RAIL_EDGE_MAILBOX, host, f"{host}: {name} would serve SMTP on this {role} server and also serves SMTP on "
                                                        f"{', '.join(sorted(set(others)))}; an Edge and the Mailbox servers it synchronises with "
                                                        "must not present the same certificate (keep the self-signed one for Edge ↔ Mailbox)",
                               f"{host}/{KIND}/{thumb}"))
    return out
