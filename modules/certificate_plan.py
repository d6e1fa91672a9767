"""Planning certificates: declarations × a server's store → changes, findings, warnings and refusals.

Pure: ``now`` is passed in. Each declaration resolves to the certificate it
means (by thumbprint, by the newest valid match, or by the PFX it imports);
then services, renewal or removal decide the change. Rails are judged on the
store as it would be *after* the plan (a replacement made before the old one
is removed counts), so a renewal never trips "no SMTP certificate left".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from exconf.controllerfiles import PfxBytes, RefSecret
from exconf.model import (Change, Desired, Finding, FindingProperty, FindingStatus, HostStatus, ObservedObject, Operation, Plan,
                          PropertyChange, Refusal)
from exconf.remote import LOCAL_SERVER, OutputRef, Step
from exconf.yamlsource import Location

from . import certificate_requests
from .base import KindPlan, PlanContext
from .certificate_values import DEFAULT_WARN_DAYS, Cert, CertSpec, ServerCerts, cert_from_answer, covers, order, selected_by
from .certificate_values import instant as _instant

KIND = "exchange_certificate"
CONNECTOR = "exchange_certificate.connector"  # connectors read beside the certificates (their FQDN and TlsCertificateName)
SERVER_INFO = "exchange_certificate.server"  # how the server uses its certificates, and its clock (ServerCerts)

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
RAIL_DEFAULT = "default-smtp-certificate"
RAIL_IIS_KEPT = "iis-certificate-kept"
RAIL_AUTH = "auth-certificate"
RAILS = (RAIL_SMTP, RAIL_DEFAULT, RAIL_CONNECTOR, RAIL_NAMES, RAIL_IIS_KEPT, RAIL_AUTH, RAIL_IIS, RAIL_EXPIRED, RAIL_EXPIRING, RAIL_WEAK,
         RAIL_SHA1, RAIL_EDGE_MAILBOX)

NOT_ON_SERVER = "(not on the server)"
NEW_THUMBPRINT = "(new, known after apply)"
NEW_CERTIFICATE = "(its replacement)"
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
    default: bool = False  # it becomes the server's default SMTP certificate: -Force answers Exchange's question
    # SMTP without becoming the default: -NetworkServiceAllowed lets NETWORK SERVICE read the key, which is what
    # SMTP needs, and asks nothing [PS Enable-ExchangeCertificate -NetworkServiceAllowed]; -Services SMTP would ask
    # to overwrite the default, a question a non-interactive shell cannot answer.
    network_service: bool = False
    expect: frozenset[str] = frozenset()  # the services the certificate (or its replacement) shows afterwards, at least
    cert: Cert | None = None  # the certificate the change leaves on the server (a replacement's thumbprint is not known)


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
    info: ServerCerts = ServerCerts()
    specs: dict[str, CertSpec] = field(default_factory=dict)  # change id -> its declaration
    replaced: dict[str, frozenset[str]] = field(default_factory=dict)  # replace: what the replacement will show


def server_certs(observed: tuple[ObservedObject, ...]) -> ServerCerts:
    """How the server uses its certificates, from the read beside them (ServerCerts)."""
    row = next((o.values for o in observed if o.kind == SERVER_INFO), {})

    def text(key: str) -> str | None:
        value = row.get(key)
        return str(value).upper() if key.endswith("Thumbprint") and value else str(value) if value else None

    now = row.get("UtcNow")
    moment = None
    if isinstance(now, str):
        try:
            moment = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    auth = tuple(t for t in (text("auth.CurrentCertificateThumbprint"), text("auth.NextCertificateThumbprint")) if t)
    return ServerCerts(default_smtp=text("transport.InternalTransportCertificateThumbprint"), imap=text("imap.X509CertificateName"),
                       pop=text("pop.X509CertificateName"), auth=auth, now=moment)


def plan_certificates(desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext, now: dt.datetime) -> KindPlan:
    """``now``: the controller's clock, used only when the server did not say what time it is: expiry is
    judged on the server's clock (the lab's clock in the lab), as Exchange judges it."""
    store = {o.name: cert_from_answer(o.values) for o in observed if o.kind == KIND}
    info = server_certs(observed)
    now = info.now or now
    connectors = _connectors(observed, ctx.facts.name, ctx.facts.role)
    d = Draft([], [], [], [], {}, {}, {}, info)
    claimed: dict[str, Desired] = {}
    for want in desired:
        spec: CertSpec = want.values[0].value
        _plan_one(spec, want, store, ctx, now, d, claimed)
    _keep_default(d, store, ctx, desired, claimed)
    # Replacements after imports and enables, removals last, whatever the declaration order: a removal
    # never runs before the certificate that takes over from it exists (and, with -Force, is the default).
    # Said as ``after`` (the planner's needs), not by list order, which nothing downstream keeps.
    d.changes.sort(key=lambda c: ORDER[c.action])
    d.changes[:] = [replace(c, after=tuple(e.id for e in d.changes if ORDER[e.action] < ORDER[c.action])) if c.action in ("replace", "delete") else c
                    for c in d.changes]
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


def _plan_request(spec: CertSpec, want: Desired, store: dict[str, Cert], ctx: PlanContext, now: dt.datetime, d: Draft,
                  claimed: dict[str, Desired]) -> None:
    """A requested certificate (certificate_requests.py), with the draft's bookkeeping for the rails."""
    change, finding, problems, warnings, cert = certificate_requests.plan_request(spec, want, store, ctx, now, d.info.default_smtp)
    d.warnings += warnings
    if problems:
        d.problems += problems
        d.findings.append(finding)
        return
    if not cert.thumbprint.startswith("new:"):
        if cert.thumbprint in claimed:
            _error(d, ctx, want, f"{cert.label} is also declared at {claimed[cert.thumbprint].source}; declare each certificate once")
            return
        claimed[cert.thumbprint] = want
    d.findings.append(finding)
    if change is None:
        return
    work: certificate_requests.RequestWork = change.payload
    d.changes.append(change)
    d.certs[change.id] = cert
    d.specs[change.id] = spec
    d.warn_days[change.id] = spec.warn_days
    bound = work.services | ({"SMTP"} if work.network_service else frozenset())
    d.binds[change.id] = bound if change.action != "replace" else bound - (cert.services or frozenset())
    if change.action == "replace":
        d.replaced[change.id] = work.expect


def _plan_one(spec: CertSpec, want: Desired, store: dict[str, Cert], ctx: PlanContext, now: dt.datetime, d: Draft, claimed: dict[str, Desired]) -> None:

    if spec.request is not None:
        _plan_request(spec, want, store, ctx, now, d, claimed)
        return
    if spec.pfx_error:
        _error(d, ctx, want, spec.pfx_error)
        return
    if ctx.facts.role == "Edge" and spec.services and spec.services - EDGE_SERVICES:
        # IMAP and POP are refused on servers without Client Access, and an Edge has no IIS for Exchange (cmdlets.md §2).
        _error(d, ctx, want, f"{ctx.where} is an Edge Transport server, where a certificate serves only SMTP (declared: {', '.join(order(spec.services))})")
        return
    if spec.pfx is not None and spec.pfx.cert.thumbprint not in store:
        _import(spec, want, ctx, now, d, store)
        return
    if spec.pfx is None and spec.source is not None and not (spec.thumbprint or spec.match):
        # A PFX left closed (a command that never imports, and its password not at hand): nothing else names it.
        d.findings.append(Finding(ctx.host, KIND, want.pattern, FindingStatus.ERROR, want.source, message=(
            f"{want.source}: exchange.certificates: which certificate the PFX {spec.pfx_named()} holds is not known without its password, which "
            "this command does not ask for (it imports nothing): declare a match or thumbprint beside import to check it")))
        return
    targets, why = ([store[spec.pfx.cert.thumbprint]], "") if spec.pfx is not None else _resolve(spec, store, now)
    if not targets and spec.pfx is None and spec.source is not None and not spec.absent:
        # Not on the server, and the PFX it would come from left closed: drift of the declaration.
        d.findings.append(Finding(ctx.host, KIND, want.pattern, FindingStatus.CHANGE, want.source, message=(
            f"{why} on {ctx.where}: it would be imported from the PFX {spec.pfx_named()} (not opened: this command imports nothing)")))
        return
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
            d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.ERROR, want.source,
                                      _props(want.source, cert, None, None, None, _is_default(d, cert), spec.default_smtp), message))
            continue
        _present(spec, cert, want, ctx, now, d, store)


def _props(here: Location, cert: Cert, after: frozenset[str] | None, thumb_after: str | None = None, before_thumb: str | None = None,
           is_default: bool | None = None, want_default: bool | None = None) -> tuple[FindingProperty, ...]:
    """What a finding says of a certificate; plan_rails reads thumbprint, services and self_signed; engine/drift
    reads not_after (any finding carrying one is on its expiry timeline); default_smtp says whether it is the
    server's default SMTP certificate (expected: as declared, else as it is)."""
    services_before = order(cert.services) if cert.services is not None else "(unknown)"
    actual_default = "(unknown)" if is_default is None else is_default
    return (
        FindingProperty("thumbprint", thumb_after or cert.thumbprint, before_thumb or cert.thumbprint, here),
        FindingProperty("subject", cert.subject, cert.subject, here),
        FindingProperty("services", order(after) if after is not None else services_before, services_before, here),
        FindingProperty("self_signed", cert.self_signed, cert.self_signed, here),
        FindingProperty("not_after", _instant(cert.not_after), _instant(cert.not_after), here),
        FindingProperty("default_smtp", actual_default if want_default is None else want_default, actual_default, here),
    )


def _expiry(spec: CertSpec, cert: Cert, want: Desired, now: dt.datetime) -> FindingProperty | None:
    """The property that makes a certificate in use (serving a service) that expires within its declared
    threshold a finding of its own (status expiring): expected at least ``warn_within_days`` days left."""
    left = cert.days_left(now)
    if not cert.services or left is None or left >= spec.warn_days:
        return None
    return FindingProperty("days_left", f"at least {spec.warn_days}", max(int(left), 0), spec.at.get("warn_within_days", want.source))


def _change(ctx: PlanContext, cert: Cert, action: str, props: list[PropertyChange], reason: str, work: CertWork = CertWork(),
            effects: tuple[str, ...] = ()) -> Change:

    return Change(id=f"{ctx.host}/{KIND}/{cert.thumbprint}", host=ctx.host, kind=KIND, name=cert.label, identity=cert.thumbprint,
                  action=action, properties=tuple(props), reason=reason, payload=work, effects=effects)


def _default_label(d: Draft, store: dict[str, Cert]) -> str:
    """The server's default SMTP certificate as the plan names it."""
    thumb = d.info.default_smtp
    if thumb is None:
        return "(unknown)"
    return store[thumb].label if thumb in store else f"({thumb[:8]}, not in the certificate store)"


def _default_effects(ctx: PlanContext) -> tuple[str, ...]:
    """What a new default SMTP certificate brings with it, said before it happens (cmdlets.md §6, §10.3)."""
    if ctx.facts.role == "Edge":
        return (f"{ctx.where}'s default SMTP certificate changes: its Edge Subscription stops synchronising until it is "
                "made again and AD LDS restarted (Exchange warns so)",)
    return (f"{ctx.where}'s default SMTP certificate changes (Exchange re-encrypts the EdgeSync credentials with it)",)


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


def _smtp_work(binds: frozenset[str], default: bool) -> tuple[frozenset[str], bool]:
    """(the services to pass to -Services, -NetworkServiceAllowed): SMTP is passed only to make the certificate
    the default (with -Force); otherwise NETWORK SERVICE is let read its key, which is all SMTP needs."""
    if "SMTP" not in binds or default:
        return binds, False
    return binds - {"SMTP"}, True


def _import(spec: CertSpec, want: Desired, ctx: PlanContext, now: dt.datetime, d: Draft, store: dict[str, Cert]) -> None:

    assert spec.pfx is not None
    cert = replace(spec.pfx.cert, services=frozenset())
    services = spec.services or frozenset()
    default = spec.default_smtp is True
    if default:
        services = services | {"SMTP"}
    src = spec.at.get("import", want.source)
    props = [
        PropertyChange("pfx", "", NOT_ON_SERVER, spec.pfx.describe(), None, src),
        PropertyChange("password", "", "(none)", spec.pfx.password.describe(), None, src),
        PropertyChange("services", "", [], order(services), None, spec.at.get("services", want.source)),
        PropertyChange("valid_until", "", "(none)", _validity(cert, now), None, src),
    ]
    effects: tuple[str, ...] = ()
    if default:
        props.append(PropertyChange("default_smtp", "", _default_label(d, store), cert.label, None, spec.at.get("default_smtp", want.source)))
        effects = _default_effects(ctx)
    passed, network = _smtp_work(services, default)
    work = CertWork(services=_wire(passed), pfx=spec.pfx.data, password=RefSecret(spec.pfx.password), default=default, network_service=network,
                    expect=services, cert=replace(cert, services=services))
    change = _change(ctx, cert, "create", props, f"import {spec.pfx.ref.path}" + (f" and enable {', '.join(order(services))}" if services else ""),
                     work, effects)
    d.changes.append(change)
    d.binds[change.id] = services
    d.warn_days[change.id] = spec.warn_days
    d.certs[change.id] = replace(cert, services=services)
    d.specs[change.id] = spec
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source,
                              _props(want.source, cert, services, cert.thumbprint, NOT_ON_SERVER, _is_default(d, cert), default or None)))


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
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source,
                              _props(want.source, cert, frozenset(), "(absent)", None, _is_default(d, cert), False)))


def _is_default(d: Draft, cert: Cert) -> bool | None:
    return None if d.info.default_smtp is None else d.info.default_smtp == cert.thumbprint


def will_show(declared: frozenset[str], cert: Cert, info: ServerCerts) -> frozenset[str]:
    """What Get-ExchangeCertificate would show on a certificate with this one's names that is enabled for
    ``declared``: SMTP as soon as NETWORK SERVICE may read its key (enabling SMTP, IMAP or POP grants it), and
    IMAP or POP when one of its names is that service's X509CertificateName [SRC ExchangeCertificateServerHelper.
    UpdateServices, ManageExchangeCertificate.EnableForServices]. A replacement cannot take these away."""
    shown = set(declared) | info.shown_by_name(cert)
    if declared & {"SMTP", "IMAP", "POP"}:
        shown.add("SMTP")
    return frozenset(shown)


def _present(spec: CertSpec, cert: Cert, want: Desired, ctx: PlanContext, now: dt.datetime, d: Draft, store: dict[str, Cert]) -> None:

    assert cert.services is not None
    declared = spec.services if spec.services is not None else frozenset()
    is_default = _is_default(d, cert)
    make_default = spec.default_smtp is True and is_default is False
    if make_default:
        declared = declared | {"SMTP"}
    missing = declared - cert.services
    # exact: what the certificate serves beyond the declaration and Exchange would not show again on a
    # replacement with the same names (IMAP/POP by name, SMTP with IMAP/POP): only what is really bound to it.
    extra = cert.services - will_show(declared, cert, d.info) if spec.exact else frozenset()
    by_name = (cert.services - declared) & d.info.shown_by_name(cert) if spec.exact else frozenset()
    if by_name:
        names = ", ".join(f"{s} ({getattr(d.info, s.lower())})" for s in order(by_name))
        d.warnings.append(f"{ctx.where}: {cert.label} shows {', '.join(order(by_name))} because it carries the name {names} "
                          "that service uses (Get-ImapSettings/Get-PopSettings X509CertificateName): Exchange shows it on every "
                          "certificate with that name, so exact mode does not count it")
    left = cert.days_left(now)
    renew = spec.renew_days is not None and cert.self_signed and left is not None and left < spec.renew_days  # never from an unknown date
    if spec.renew_days is not None and not cert.self_signed:
        d.warnings.append(f"{ctx.where}: {cert.label} is not self-signed; renew (declared at {spec.at.get('renew', want.source)}) renews only self-signed certificates: import its successor instead")
    if extra and not cert.self_signed:
        _error(d, ctx, want, f"{cert.label} serves {', '.join(order(extra))} beyond the exact services {order(declared)}; Exchange cannot take a service away, "
               "and exconf replaces only self-signed certificates: import a replacement and remove this one")
        return
    if renew or extra:
        _replace(spec, cert, want, ctx, now, d, store, declared, renew, extra)
        return
    health = _health(cert, spec.warn_days, now)
    if missing or make_default:
        after = cert.services | missing
        at = spec.at.get("services", want.source)
        props = []
        if missing:
            props.append(PropertyChange("services", "", order(cert.services), order(after), None, at))
        effects: tuple[str, ...] = ()
        if make_default:
            props.append(PropertyChange("default_smtp", "", _default_label(d, store), cert.label, None, spec.at.get("default_smtp", want.source)))
            effects = _default_effects(ctx)
        passed, network = _smtp_work(missing, make_default)
        why = ", ".join(([f"enable {', '.join(order(missing))}"] if missing else []) + (["make it the default SMTP certificate"] if make_default else []))
        work = CertWork(services=_wire(passed | ({"SMTP"} if make_default else frozenset())), default=make_default, network_service=network,
                        expect=after, cert=replace(cert, services=after))
        change = _change(ctx, cert, "update", props, why, work, effects)
        d.changes.append(change)
        d.binds[change.id] = missing
        d.warn_days[change.id] = spec.warn_days
        d.certs[change.id] = cert
        d.specs[change.id] = spec
        d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source,
                                  _props(want.source, cert, after, None, None, is_default, spec.default_smtp)))
        return
    for rail, what in health:
        d.warnings.append(f"{ctx.where}: certificate {cert.label} {what}" + (" (renew it: declare renew, or import its successor)" if rail == RAIL_EXPIRING else ""))
    expiry = _expiry(spec, cert, want, now)
    props_ = _props(want.source, cert, cert.services, None, None, is_default, spec.default_smtp)
    if expiry is None:
        d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.IN_SYNC, want.source, props_))
        return
    # As declared (nothing to change), but in use and expiring: drift reports it (issue 10).
    why = next(what for rail, what in health if rail in (RAIL_EXPIRED, RAIL_EXPIRING))
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.EXPIRING, want.source,
                              (expiry, *props_), f"{cert.label} serves {', '.join(order(cert.services))} and {why}"))


def _replace(spec: CertSpec, cert: Cert, want: Desired, ctx: PlanContext, now: dt.datetime, d: Draft, store: dict[str, Cert],
             declared: frozenset[str], renew: bool, extra: frozenset[str]) -> None:
    """A new self-signed certificate with the same names, then the old one removed (renewal, or exact services).

    The default SMTP certificate can only be replaced by one that becomes the default first (Exchange refuses to
    remove the default): -Force, which its declaration must ask for (default_smtp: true; rail default-smtp-certificate).
    Any other one keeps the default where it is: its replacement gets SMTP through -NetworkServiceAllowed."""
    assert cert.services is not None
    services = declared if spec.exact else cert.services | declared
    services = services - (d.info.shown_by_name(cert) - declared)  # shown by name: not enabled, shown again anyway
    is_default = _is_default(d, cert) is True
    why = (f"expires {_day(cert.not_after)}, within the {spec.renew_days} days of renew" if renew
           else f"serves {', '.join(order(extra))} beyond the exact services; Exchange cannot remove a service")
    at = spec.at.get("renew" if renew else "services_mode", want.source)
    props = [PropertyChange("thumbprint", "", cert.thumbprint, NEW_THUMBPRINT, None, at)]
    shown_after = will_show(services, cert, d.info)
    if shown_after != cert.services:
        props.append(PropertyChange("services", "", order(cert.services), order(shown_after), None, at))
    props.append(PropertyChange("valid_until", "", _validity(cert, now), f"(new self-signed, valid {SELF_SIGNED_YEARS} years from its creation)", None, at))
    effects: tuple[str, ...] = ()
    if is_default:
        props.append(PropertyChange("default_smtp", "", cert.label, NEW_CERTIFICATE, None, spec.at.get("default_smtp", at)))
        effects = _default_effects(ctx)
    passed, network = _smtp_work(services, is_default)
    new = replace(cert, thumbprint="", not_before=now, not_after=now + dt.timedelta(days=365 * SELF_SIGNED_YEARS), services=shown_after,
                  status="Valid", self_signed=True, issuer=cert.subject)
    work = CertWork(services=_wire(passed), subject=cert.subject, domains=tuple(cert.domains), default=is_default,
                    network_service=network, expect=services, cert=new)
    change = _change(ctx, cert, "replace", props, why, work, effects)
    d.changes.append(change)
    d.binds[change.id] = services - cert.services  # what the replacement serves beyond the old one
    d.replaced[change.id] = shown_after
    d.certs[change.id] = cert
    d.specs[change.id] = spec
    d.findings.append(Finding(ctx.host, KIND, cert.label, FindingStatus.CHANGE, want.source,
                              _props(want.source, cert, shown_after, NEW_THUMBPRINT, None, _is_default(d, cert), spec.default_smtp)))


def _keep_default(d: Draft, store: dict[str, Cert], ctx: PlanContext, desired: tuple[Desired, ...], claimed: dict[str, Desired]) -> None:
    """default_smtp: false on the default SMTP certificate: only another certificate becoming the default takes
    it away (Exchange has no way to unset it), so unless this plan makes one, it is an error naming both."""
    current = d.info.default_smtp
    if current is None or current not in claimed:
        return
    want = claimed[current]
    spec: CertSpec = want.values[0].value
    if spec.default_smtp is not False or any(getattr(c.payload, "default", False) for c in d.changes if c.identity != current):
        return
    _error(d, ctx, want, f"{store[current].label} is {ctx.where}'s default SMTP certificate, declared default_smtp: false; only "
           "another certificate becoming the default replaces it: declare default_smtp: true on that one")


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
            state[f"new:{cert.thumbprint}"] = replace(cert, thumbprint=f"new:{cert.thumbprint}", services=d.replaced[change.id],
                                                      not_after=None, status="Valid")
        else:
            bound = d.binds.get(change.id, frozenset())
            base = state.get(cert.thumbprint, cert)
            if "IIS" in bound:  # the Default Web Site is bound to one certificate (cmdlets.md §11): enabling it moves it
                state = {t: replace(c, services=c.services - {"IIS"}) if c.services else c for t, c in state.items()}
            state[cert.thumbprint] = replace(base, services=(base.services or frozenset()) | bound)
    return state


def _serves_smtp(cert: Cert, now: dt.datetime) -> bool:
    # The Auth certificate lists SMTP but names no host: it is not a transport certificate.
    fresh = cert.thumbprint.startswith("new:")
    return bool(cert.services and "SMTP" in cert.services and cert.domains and (fresh or cert.valid_at(now)))


def _serves(cert: Cert, service: str) -> bool:
    return bool(cert.services and service in cert.services)


def _rails(d: Draft, store: dict[str, Cert], connectors: list[Connector], ctx: PlanContext, now: dt.datetime) -> list[Refusal]:
    """Rails judge what this plan changes: a certificate it removes, a binding it makes; never what was already so."""
    out: list[Refusal] = []
    after = _after(d, store)
    removing = [c for c in d.changes if c.action in ("delete", "replace")]
    smtp_left = any(_serves_smtp(c, now) for c in after.values())
    iis_left = any(_serves(c, "IIS") for c in after.values())
    new_default = any(getattr(c.payload, "default", False) for c in d.changes)
    for change in removing:
        cert = d.certs[change.id]
        if _serves_smtp(cert, now) and not smtp_left:
            out.append(Refusal(RAIL_SMTP, ctx.host, f"{ctx.where}: removing {change.name} would leave no valid certificate enabled for SMTP; "
                                                    "declare its replacement (with services [SMTP]) in the same apply", change.id))
        if d.info.default_smtp == cert.thumbprint:
            spec = d.specs.get(change.id)
            if change.action == "replace" and not (spec and spec.default_smtp is True):
                out.append(Refusal(RAIL_DEFAULT, ctx.host, f"{ctx.where}: {change.name} is the default SMTP certificate: replacing it makes its "
                                                            "replacement the default (Exchange removes the default only once another one is); "
                                                            "declare default_smtp: true on it to say so", change.id))
            elif change.action == "delete" and not new_default:
                out.append(Refusal(RAIL_DEFAULT, ctx.host, f"{ctx.where}: {change.name} is the default SMTP certificate, which Exchange refuses to "
                                                            "remove; declare its successor with default_smtp: true in the same apply", change.id))
        if ctx.facts.role == "Mailbox" and _serves(cert, "IIS") and not iis_left:
            out.append(Refusal(RAIL_IIS_KEPT, ctx.host, f"{ctx.where}: {change.name} is the only certificate serving IIS; removing it leaves "
                                                        "Outlook on the web, ActiveSync and EWS without one: enable IIS on its successor first", change.id))
        if cert.thumbprint in d.info.auth:
            which = "current" if d.info.auth[0] == cert.thumbprint else "next"
            out.append(Refusal(RAIL_AUTH, ctx.host, f"{ctx.where}: {change.name} is the {which} certificate of the organisation's AuthConfig "
                                                    "(the Exchange Server Auth Certificate): removing it breaks OAuth (hybrid, Outlook on the web "
                                                    "add-ins); renew it with the Auth certificate procedure and remove it after", change.id))
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
        if change.action == "replace" or (change.action == "create" and isinstance(change.payload, certificate_requests.RequestWork)):
            continue  # a new certificate (a replacement, a request): the old one's age and key are why it goes, the new one is not there yet
        for rail, what in _health(cert, d.warn_days.get(change.id, DEFAULT_WARN_DAYS), now):
            out.append(Refusal(rail, ctx.host, f"{ctx.where}: {change.name} {what}; exconf will not bind {', '.join(order(bound))} to it", change.id))
    return out


# --- operations and verification ---------------------------------------------------------------------------


def operations_for(change: Change) -> tuple[Operation, ...]:
    """One operation per change, -Confirm:$false on Remove; -Force only where the certificate is to become the
    default SMTP certificate (it answers Exchange's "Overwrite the existing default SMTP certificate?"). A requested
    certificate's change has its own sequence (certificate_requests.operations)."""
    if isinstance(change.payload, certificate_requests.RequestWork):
        return certificate_requests.operations(change)
    return (Operation(id=change.id, host=change.host, change=change.id, steps=steps_for(change), role=change.action),)


def steps_for(change: Change) -> tuple[Step, ...]:
    sid = change.id
    work: CertWork = change.payload
    remove = Step(f"{sid}:remove", "Remove-ExchangeCertificate", {"Thumbprint": change.identity, "Server": LOCAL_SERVER, "Confirm": False})
    if change.action == "delete":
        return (remove,)
    if change.action == "update":
        return (Step(f"{sid}:enable", "Enable-ExchangeCertificate", _enable_params(change.identity, work)),)
    if change.action == "create":
        assert work.pfx is not None and work.password is not None
        steps = [Step(f"{sid}:import", "Import-ExchangeCertificate", {"FileData": work.pfx, "Password": work.password, "Server": LOCAL_SERVER},
                      select=("Thumbprint",))]
        if work.services != "None" or work.network_service:
            # The thumbprint is the PFX's own (exconf read the certificate from it; the change is named by it), so the
            # binding needs no answer from the import and travels in the same pipeline (docs/remote-powershell.md).
            steps.append(Step(f"{sid}:enable", "Enable-ExchangeCertificate", _enable_params(change.identity, work)))
        return tuple(steps)
    new: dict[str, object] = {"SubjectName": work.subject, "DomainName": list(work.domains), "Services": work.services, "Server": LOCAL_SERVER}
    if work.default:
        new["Force"] = True
    steps = [Step(f"{sid}:new", "New-ExchangeCertificate", new, select=("Thumbprint",))]
    if work.network_service:
        steps.append(Step(f"{sid}:enable", "Enable-ExchangeCertificate",
                          _enable_params(OutputRef(f"{sid}:new", "Thumbprint"), replace(work, services="None"))))
    return (*steps, remove)


def _enable_params(thumbprint: str | OutputRef, work: CertWork) -> dict[str, object]:
    params: dict[str, object] = {"Thumbprint": thumbprint, "Services": work.services, "Server": LOCAL_SERVER}
    if work.default:
        params["Force"] = True
    if work.network_service:
        params["NetworkServiceAllowed"] = True
    if "IIS" in work.services.split(", "):
        # Without it Exchange asks whether to require SSL on the Default Web Site (cmdlets.md §2); exconf leaves that setting alone.
        params["DoNotRequireSsl"] = True
    return params


def _replacement(change: Change, store: dict[str, Cert]) -> Cert | None:
    """The newest certificate with the replaced one's subject and names that is not it."""
    work: CertWork = change.payload
    found = [c for c in store.values() if c.thumbprint != change.identity and c.subject == work.subject
             and set(n.lower() for n in c.domains) == set(n.lower() for n in work.domains)]
    return max(found, key=lambda c: (c.not_before or dt.datetime.min.replace(tzinfo=dt.timezone.utc)), default=None)


def verify_change(change: Change, readback: tuple[ObservedObject, ...]) -> str | None:

    store = {o.name: cert_from_answer(o.values) for o in readback if o.kind == KIND}
    info = server_certs(readback)
    work: CertWork = change.payload
    wanted = work.expect if isinstance(work, CertWork) else frozenset()
    if change.action == "delete":
        return None if change.identity not in store else f"{change.name} is still on the server"
    if change.action == "replace":
        if change.identity in store:
            return f"{change.name} is still on the server"
        new = _replacement(change, store)
        if new is None or new.services is None or not wanted <= new.services:
            return f"no replacement for {change.name} serving {order(wanted)} was read back"
        if work.default and info.default_smtp not in (None, new.thumbprint):
            return f"the replacement {new.label} is not the default SMTP certificate ({info.default_smtp} is)"
        return None
    cert = store.get(change.identity)
    if cert is None:
        return f"{change.name} was not read back"
    if cert.services is None or not wanted <= cert.services:
        return f"{change.name} serves {order(cert.services) if cert.services is not None else '(unknown)'}, expected at least {order(wanted)}"
    if work.default and info.default_smtp not in (None, cert.thumbprint):
        return f"{change.name} is not the default SMTP certificate ({info.default_smtp} is)"
    return None


def applied_note(change: Change, readback: tuple[ObservedObject, ...]) -> str:
    """After a renewal, the thumbprint the new certificate got (the plan could only say "known after apply")."""
    if change.action != "replace":
        return ""
    new = _replacement(change, {o.name: cert_from_answer(o.values) for o in readback if o.kind == KIND})
    return "" if new is None else f"new thumbprint {new.thumbprint} (valid until {_day(new.not_after)})"


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
