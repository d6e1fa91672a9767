"""Requested certificates: made on the server, signed by an issuer, completed, bound, copied, renewed.

A declaration with ``request:`` and ``issuer:`` names a certificate by what it must be (subject, names, key size,
exportable) rather than by a file. The plan, pure here, decides:

* **in sync**: the server holds a valid certificate with that subject and exactly those names, issued by a CA,
  that does not expire within ``renew_within_days``, serving the declared services, and every ``copy_to`` host
  holds it too;
* **create** (none) or **replace** (due for renewal, the same declaration): one change whose operations, on the
  server and on the controller, in order (needs) —

  1. ``request``: ``New-ExchangeCertificate -GenerateRequest -BinaryEncoded`` (the key is made and kept on the
     server; the PKCS#10 comes back as FileData [PS New-ExchangeCertificate -BinaryEncoded]), or, when a pending
     request with that subject and those names is in the store (an interrupted run), ``Export-ExchangeCertificate
     -BinaryEncoded`` of it: "a pending request exports as PKCS#10" (cmdlets.md §2) — never a second request;
  2. ``order`` (on the controller): the issuer opens an order for the request (ACME: the challenges to answer);
  3. ``challenge`` (HTTP-01 only, through exconf's program over WinRM: no Exchange session writes files): each
     key authorization into the Default Web Site's ``/.well-known/acme-challenge/``;
  4. ``issue`` (on the controller): the issuer validates and signs; the chain comes back as PKCS#7;
  5. ``unchallenge`` (HTTP-01, a cleanup: it runs whether the issue succeeded or not): the files removed;
  6. ``import``: ``Import-ExchangeCertificate -FileData`` with the chain completes the pending request [PS
     Import-ExchangeCertificate; EXD client-access/complete-pending-certificate-requests.md], then
     ``Enable-ExchangeCertificate`` for the services, ``Export-ExchangeCertificate -Password`` when it is copied
     (a random password made for this apply, in memory), and for a renewal ``Remove-ExchangeCertificate`` of the
     one it replaces;
  7. ``copy:<host>`` on each ``copy_to`` host that lacks it, one wave later: ``Import-ExchangeCertificate
     -FileData`` (the exported PFX, carried in memory by the runner, never written on the controller) and
     ``Enable-ExchangeCertificate``;

* **update**: the certificate is there and valid, but lacks services here, or a copy there.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import Any, Mapping

from exconf.model import (CONTROLLER, PROGRAM, Change, ControllerError, Desired, Finding, FindingStatus, ObservedObject, Operation,
                          PropertyChange)
from exconf.remote import LOCAL_SERVER, FromOperation, OutputRef, Secret, Step

from .base import PlanContext
from .certificate_issuers import Issuer, IssuerError, IssuerSpec, Session
from .certificate_values import Cert, CertSpec, RequestSpec, cert_from_answer, instant, order

KIND = "exchange_certificate"
NEW = "(new, known after apply)"

# Operation roles
REQUEST, ORDER, CHALLENGE, ISSUE, UNCHALLENGE, IMPORT, EXPORT = "request", "order", "challenge", "issue", "unchallenge", "import", "export"
COPY = "copy:"


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "(unknown)"


def _wire(services: frozenset[str]) -> str:
    return ", ".join(order(services)) or "None"


@dataclass(frozen=True)
class CopyWork:
    """One copy_to host: whether it must import the certificate, and the services to enable there."""

    host: str
    imports: bool
    services: frozenset[str]


class TransitPassword(Secret):
    """The password of the PFX a copy travels in: random, made when first needed in this process, never kept
    anywhere but memory (as Microsoft's MonitorExchangeAuthCertificate protects its export, Import-
    ExchangeAuthCertificateToServers.ps1). Export and imports of one change share one."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: str | None = None
        super().__init__("made at random for this copy, kept in memory", self._make)

    def _make(self) -> str:
        if self._value is None:
            self._value = secrets.token_urlsafe(32)
        return self._value


@dataclass(frozen=True)
class RequestWork:
    """What a requested certificate's change does (its ``Change.payload``)."""

    request: RequestSpec
    issuer: IssuerSpec | None  # None: nothing to issue (an update: services or copies of a certificate there)
    services: frozenset[str]  # enabled on this server (only what it lacks, for an update)
    network_service: bool  # SMTP without becoming the default: -NetworkServiceAllowed (certificate_plan._smtp_work)
    default: bool = False
    pending: str = ""  # a pending request completed instead of a new one
    old: str = ""  # the certificate a renewal replaces (removed after)
    thumbprint: str = ""  # an update: the certificate there
    copies: tuple[CopyWork, ...] = ()
    transit: Secret | None = None
    expect: frozenset[str] = frozenset()  # the services it shows afterwards, at least


def requested_in(store: dict[str, Cert], req: RequestSpec, now: dt.datetime) -> tuple[Cert | None, Cert | None, list[Cert]]:
    """(the newest valid issued certificate of the request, the newest pending request of it, every issued one)."""
    issued = [c for c in store.values() if c.status != "PendingRequest" and not c.self_signed and req.is_one(c)]
    valid = [c for c in issued if c.valid_at(now)]
    pending = [c for c in store.values() if c.status == "PendingRequest" and req.is_one(c)
               and (c.key_size is None or c.key_size == req.key_size)]
    newest = max(valid, key=lambda c: (c.not_after, c.not_before or now)) if valid else None
    waiting = max(pending, key=lambda c: c.not_before or now) if pending else None
    return newest, waiting, issued


def _peer_store(ctx: PlanContext, host: str) -> dict[str, Cert] | None:
    peer = next((p for p in ctx.peers if p.host == host), None)
    if peer is None:
        return None
    return {o.name: cert_from_answer(o.values) for o in peer.objects if o.kind == KIND}


def plan_request(spec: CertSpec, want: Desired, store: dict[str, Cert], ctx: PlanContext, now: dt.datetime,
                 default_smtp: str | None) -> tuple[Change | None, Finding, list[str], list[str], Cert]:
    """(the change, or None when in sync; its finding; problems; warnings; the certificate it judges or makes)."""
    req = spec.request
    assert req is not None
    problems: list[str] = []
    warnings: list[str] = []
    current, pending, issued = requested_in(store, req, now)
    at = spec.at.get("request", want.source)
    services = spec.services or frozenset()
    default = spec.default_smtp is True
    if default:
        services = services | {"SMTP"}
    due = current is not None and (current.days_left(now) or 0) < spec.renew_within
    copies: list[CopyWork] = []
    for target in spec.copy_to:
        theirs = _peer_store(ctx, target.host)
        if theirs is None:
            problems.append(f"{spec.at.get('copy_to', want.source)}: exchange.certificates: copy_to {target.host}: that host was not "
                            "read in this run (outside --limit, or it failed): the certificate cannot be copied there")
            continue
        peer = next(p for p in ctx.peers if p.host == target.host)
        if peer.facts.role == "Edge" and target.services - {"SMTP"}:
            problems.append(f"{spec.at.get('copy_to', want.source)}: exchange.certificates: copy_to {target.host} is an Edge Transport "
                            f"server, where a certificate serves only SMTP (declared: {', '.join(order(target.services))})")
            continue
        there = theirs.get(current.thumbprint) if current is not None and not due else None
        if there is None:
            copies.append(CopyWork(target.host, True, target.services))
        elif there.services is not None and not target.services <= there.services:
            copies.append(CopyWork(target.host, False, target.services - there.services))
    if problems:
        return None, Finding(ctx.host, KIND, req.subject, FindingStatus.ERROR, want.source, message="; ".join(problems)), problems, warnings, \
            _placeholder(req, services)
    if current is not None and not due:
        missing = services - (current.services or frozenset())
        make_default = default and default_smtp != current.thumbprint
        if not missing and not copies and not make_default:
            return None, _finding(ctx, want, current, services, FindingStatus.IN_SYNC, current.thumbprint), problems, warnings, current
        props = []
        if missing:
            props.append(PropertyChange("services", "", order(current.services or frozenset()), order((current.services or frozenset()) | missing),
                                        None, spec.at.get("services", want.source)))
        if copies:
            props.append(PropertyChange("copied_to", "", [], [c.host for c in copies], None, spec.at.get("copy_to", want.source)))
        passed, network = _smtp(missing, make_default)
        work = RequestWork(req, None, passed | ({"SMTP"} if make_default else frozenset()), network, make_default, thumbprint=current.thumbprint,
                           copies=tuple(copies), transit=TransitPassword() if any(c.imports for c in copies) else None,
                           expect=(current.services or frozenset()) | missing)
        why = ", ".join(([f"enable {', '.join(order(missing))}"] if missing else []) + [f"copy to {c.host}" for c in copies])
        change = Change(f"{ctx.host}/{KIND}/{current.thumbprint}", ctx.host, KIND, current.label, current.thumbprint, "update", tuple(props), why,
                        payload=work)
        return change, _finding(ctx, want, current, services | (current.services or frozenset()), FindingStatus.CHANGE, current.thumbprint), \
            problems, warnings, current
    if spec.issuer is None:
        raise AssertionError("a request is declared with its issuer")  # the inventory check says so first
    issuer: IssuerSpec = spec.issuer
    if issuer.http_files and ctx.facts.role == "Edge":
        problems.append(f"{spec.at.get('issuer', want.source)}: exchange.certificates: {ctx.where} is an Edge Transport server, which has no "
                        "IIS to serve an HTTP-01 challenge: prove the names with dns-01, or request the certificate on a Mailbox server "
                        "and copy it here (copy_to)")
        return None, Finding(ctx.host, KIND, req.subject, FindingStatus.ERROR, want.source, message=problems[-1]), problems, warnings, \
            _placeholder(req, services)
    made = (f"completes the pending request {pending.thumbprint[:8]} made {_day(pending.not_before)} on {ctx.where}" if pending is not None
            else f"New-ExchangeCertificate -GenerateRequest on {ctx.where}: a {req.key_size}-bit key made there"
                 + (", exportable" if req.exportable else ", not exportable"))
    props = []
    if due:
        assert current is not None
        props.append(PropertyChange("thumbprint", "", current.thumbprint, NEW, None, spec.at.get("renew_within_days", at)))
        props.append(PropertyChange("valid_until", "", _day(current.not_after), "(as the issuer signs it)", None, spec.at.get("renew_within_days", at)))
    props += [
        PropertyChange("request", "", "(none)", made, None, at),
        PropertyChange("issuer", "", "(none)", issuer.describe(), None, spec.at.get("issuer", at)),
    ]
    if not due:
        props.append(PropertyChange("services", "", [], order(services), None, spec.at.get("services", want.source)))
        props.append(PropertyChange("valid_until", "", "(none)", "(as the issuer signs it)", None, at))
    if copies:
        props.append(PropertyChange("copied_to", "", [], [c.host for c in copies], None, spec.at.get("copy_to", want.source)))
    if default:
        props.append(PropertyChange("default_smtp", "", default_smtp or "(unknown)", "(the new certificate)", None, spec.at.get("default_smtp", at)))
    passed, network = _smtp(services, default)
    work = RequestWork(req, issuer, passed, network, default, pending=pending.thumbprint if pending is not None else "",
                       old=current.thumbprint if due and current is not None else "", copies=tuple(copies),
                       transit=TransitPassword() if copies else None, expect=services)
    if pending is not None and len([c for c in store.values() if c.status == "PendingRequest" and req.is_one(c)]) > 1:
        warnings.append(f"{ctx.where}: several pending requests for {req.subject}; the plan completes the newest, {pending.thumbprint[:8]}")
    if due:
        assert current is not None
        reason = f"expires {_day(current.not_after)}, within the {spec.renew_within} days of renew_within_days: requested again from {issuer.describe()}"
        change = Change(f"{ctx.host}/{KIND}/{current.thumbprint}", ctx.host, KIND, current.label, current.thumbprint, "replace", tuple(props),
                        reason, payload=work)
        return change, _finding(ctx, want, current, services, FindingStatus.CHANGE, NEW), problems, warnings, current
    reason = (f"no valid certificate {req.subject} for {', '.join(req.names)} on {ctx.where}"
              + (f" ({len(issued)} expired or not valid)" if issued else "") + f": requested from {issuer.describe()}")
    placeholder = _placeholder(req, services)
    change = Change(f"{ctx.host}/{KIND}/request:{req.subject.lower()}", ctx.host, KIND, f"{req.subject} (requested)", "", "create",
                    tuple(props), reason, payload=work)
    return change, _finding(ctx, want, placeholder, services, FindingStatus.CHANGE, NEW, before="(not on the server)"), problems, warnings, placeholder


def _smtp(services: frozenset[str], default: bool) -> tuple[frozenset[str], bool]:
    if "SMTP" not in services or default:
        return services, False
    return services - {"SMTP"}, True


def _placeholder(req: RequestSpec, services: frozenset[str]) -> Cert:
    return Cert(thumbprint=f"new:{req.subject}", subject=req.subject, issuer="", domains=req.names, not_before=None, not_after=None,
                services=services, status="Valid", self_signed=False, key_size=req.key_size)


def _finding(ctx: PlanContext, want: Desired, cert: Cert, services: frozenset[str], status: FindingStatus, thumb_after: str,
             before: str | None = None) -> Finding:
    from exconf.model import FindingProperty

    here = want.source
    actual_services = order(cert.services) if cert.services is not None and not cert.thumbprint.startswith("new:") else []
    return Finding(ctx.host, KIND, cert.label if not cert.thumbprint.startswith("new:") else f"{cert.subject} (requested)", status, here, (
        FindingProperty("thumbprint", thumb_after, before or cert.thumbprint, here),
        FindingProperty("subject", cert.subject, cert.subject, here),
        FindingProperty("services", order(services | (cert.services or frozenset())) if status is FindingStatus.IN_SYNC else order(services),
                        actual_services, here),
        FindingProperty("self_signed", False, cert.self_signed, here),
        FindingProperty("not_after", instant(cert.not_after), instant(cert.not_after), here),
    ))


# --- operations -------------------------------------------------------------------------------------------


def operations(change: Change) -> tuple[Operation, ...]:
    work: RequestWork = change.payload
    base = change.id

    def sid(role: str) -> str:
        return f"{base}#{role}"

    def op(role: str, steps: tuple[Step, ...], needs: tuple[str, ...] = (), host: str = "", where: str = "", cleanup: bool = False) -> Operation:
        return Operation(sid(role), host or change.host, change.id, steps, needs=needs, role=role, where=where, cleanup=cleanup)

    out: list[Operation] = []
    export_step: Step | None = None
    if work.issuer is None:  # an update of a certificate there: services here, copies there
        steps: list[Step] = []
        if work.services or work.network_service or work.default:
            steps.append(Step(f"{sid(IMPORT)}:enable", "Enable-ExchangeCertificate", _enable(work.thumbprint, work)))
        if any(c.imports for c in work.copies):
            assert work.transit is not None
            export_step = Step(f"{sid(IMPORT)}:export", "Export-ExchangeCertificate",
                               {"Thumbprint": work.thumbprint, "BinaryEncoded": True, "Password": work.transit, "Server": LOCAL_SERVER},
                               select=("FileData",), carry="FileData")
            steps.append(export_step)
        if steps:
            out.append(op(IMPORT, tuple(steps)))
        out += _copies(change, work, export_step, sid(IMPORT) if steps else "")
        return tuple(out)
    issuer = work.issuer
    if work.pending:
        request = Step(f"{sid(REQUEST)}:export", "Export-ExchangeCertificate", {"Thumbprint": work.pending, "BinaryEncoded": True, "Server": LOCAL_SERVER},
                       select=("FileData",), carry="FileData")
    else:
        request = Step(f"{sid(REQUEST)}:new", "New-ExchangeCertificate", {
            "GenerateRequest": True, "BinaryEncoded": True, "SubjectName": work.request.subject, "DomainName": list(work.request.domains),
            "KeySize": work.request.key_size, "PrivateKeyExportable": work.request.exportable, "Server": LOCAL_SERVER,
        }, select=("FileData",), carry="FileData")
    out.append(op(REQUEST, (request,)))
    order_params: dict[str, Any] = {"Directory": issuer.directory, "DomainName": list(work.request.names), "Challenge": issuer.challenge,
                                    "Request": FromOperation(sid(REQUEST), request.id)}
    if issuer.dns is not None:
        order_params["DnsUpdate"] = issuer.dns.describe()
    order_step = Step(f"{sid(ORDER)}:new", "New-AcmeOrder", order_params)
    out.append(op(ORDER, (order_step,), needs=(sid(REQUEST),), where=CONTROLLER))
    issue_needs = (sid(ORDER),)
    if issuer.http_files:
        writes = tuple(Step(f"{sid(CHALLENGE)}:{i}", "Set-Content",
                            {"Value": FromOperation(sid(ORDER), order_step.id, part=f"the key authorization of {name}'s HTTP-01 challenge")},
                            web_file=FromOperation(sid(ORDER), order_step.id, part=f"the token of {name}'s HTTP-01 challenge"))
                       for i, name in enumerate(work.request.names))
        out.append(op(CHALLENGE, writes, needs=(sid(ORDER),), where=PROGRAM))
        issue_needs = (sid(CHALLENGE),)
    issue_step = Step(f"{sid(ISSUE)}:complete", "Complete-AcmeOrder", {"Directory": issuer.directory, "Timeout": issuer.timeout_seconds},
                      carry="Chain")
    out.append(op(ISSUE, (issue_step,), needs=issue_needs, where=CONTROLLER))
    if issuer.http_files:
        removes = tuple(Step(f"{sid(UNCHALLENGE)}:{i}", "Remove-Item", {},
                             web_file=FromOperation(sid(ORDER), order_step.id, part=f"the token of {name}'s HTTP-01 challenge"))
                        for i, name in enumerate(work.request.names))
        out.append(op(UNCHALLENGE, removes, needs=(sid(ISSUE),), where=PROGRAM, cleanup=True))
    imported = Step(f"{sid(IMPORT)}:import", "Import-ExchangeCertificate", {"FileData": FromOperation(sid(ISSUE), issue_step.id),
                                                                             "Server": LOCAL_SERVER}, select=("Thumbprint",))
    steps = [imported]
    thumb = OutputRef(imported.id, "Thumbprint")
    if work.services or work.network_service or work.default:
        steps.append(Step(f"{sid(IMPORT)}:enable", "Enable-ExchangeCertificate", _enable(thumb, work)))
    if work.copies:
        assert work.transit is not None
        export_step = Step(f"{sid(IMPORT)}:export", "Export-ExchangeCertificate",
                           {"Thumbprint": thumb, "BinaryEncoded": True, "Password": work.transit, "Server": LOCAL_SERVER},
                           select=("FileData",), carry="FileData")
        steps.append(export_step)
    if work.old:
        steps.append(Step(f"{sid(IMPORT)}:remove", "Remove-ExchangeCertificate", {"Thumbprint": work.old, "Server": LOCAL_SERVER, "Confirm": False}))
    out.append(op(IMPORT, tuple(steps), needs=(sid(ISSUE),)))
    out += _copies(change, work, export_step, sid(IMPORT))
    return tuple(out)


def _copies(change: Change, work: RequestWork, export_step: Step | None, after: str) -> list[Operation]:
    out = []
    for copy in work.copies:
        role = f"{COPY}{copy.host}"
        oid = f"{change.id}#{role}"
        steps: list[Step] = []
        if copy.imports:
            assert export_step is not None and work.transit is not None
            imported = Step(f"{oid}:import", "Import-ExchangeCertificate", {
                "FileData": FromOperation(after, export_step.id), "Password": work.transit, "Server": LOCAL_SERVER}, select=("Thumbprint",))
            steps.append(imported)
            thumb: Any = OutputRef(imported.id, "Thumbprint")
        else:
            thumb = work.thumbprint
        if copy.services:
            passed, network = _smtp(copy.services, False)
            steps.append(Step(f"{oid}:enable", "Enable-ExchangeCertificate",
                              _enable(thumb, RequestWork(work.request, None, passed, network))))
        out.append(Operation(oid, copy.host, change.id, tuple(steps), needs=(after,) if after else (), role=role))
    return out


def _enable(thumbprint: Any, work: RequestWork) -> dict[str, Any]:
    params: dict[str, Any] = {"Thumbprint": thumbprint, "Services": _wire(work.services), "Server": LOCAL_SERVER}
    if work.default:
        params["Force"] = True
    if work.network_service:
        params["NetworkServiceAllowed"] = True
    if "IIS" in work.services:
        params["DoNotRequireSsl"] = True  # exconf leaves the Default Web Site's Require SSL as it is (cmdlets.md §2)
    return params


# --- at apply: the controller's part, and the steps built from it ----------------------------------------------


def issuer_for(spec: IssuerSpec) -> Issuer:
    """The issuer that implements a declaration (made at apply, on the controller)."""
    if spec.kind == "acme":
        from .acme_issuer import AcmeIssuer  # the acme package is loaded only by an apply that issues

        return AcmeIssuer(spec)
    raise IssuerError(f"issuer {spec.kind!r} is not known")


def run_on_controller(op: Operation, change: Change, carried: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
    """ORDER: the issuer opens an order for the server's request; ISSUE: it signs it (PKCS#7 chain back)."""
    work: RequestWork = change.payload
    step = op.steps[0]
    if op.role == ORDER:
        request = step.params["Request"]  # resolved by the runner: the request's bytes
        if not isinstance(request, (bytes, bytearray)):
            raise ControllerError(f"not attempted: {op.id} got no request from the server")
        assert work.issuer is not None
        return {step.id: issuer_for(work.issuer).begin(bytes(request))}
    if op.role == ISSUE:
        session = _session(op, carried)
        return {step.id: session.issuer.finish(session)}
    raise ControllerError(f"{op.id} does not run on the controller")


def _session(op: Operation, carried: Mapping[tuple[str, str], Any]) -> Session:
    base = op.id.rsplit("#", 1)[0]
    found = next((v for (o, _), v in carried.items() if o == f"{base}#{ORDER}" and isinstance(v, Session)), None)
    if found is None:
        raise ControllerError(f"not attempted: {base}#{ORDER} opened no order")
    return found


def resolve(op: Operation, carried: Mapping[tuple[str, str], Any]) -> Operation:
    """CHALLENGE and UNCHALLENGE: one step per HTTP-01 challenge the order has (none for a name proved before);
    no order opened, nothing to remove."""
    try:
        session = _session(op, carried)
    except ControllerError:
        if op.role == UNCHALLENGE:
            return replace(op, steps=())
        raise
    by_name = {c.name.lower(): c for c in session.challenges}
    steps = []
    for step in op.steps:
        part = step.web_file.part if isinstance(step.web_file, FromOperation) else ""
        name = part.removeprefix("the token of ").removesuffix("'s HTTP-01 challenge").lower()
        challenge = by_name.get(name)
        if challenge is None:
            continue
        params = {"Value": challenge.content} if step.cmdlet == "Set-Content" else {}
        steps.append(replace(step, params=params, web_file=challenge.token))
    return replace(op, steps=tuple(steps))


# --- verification --------------------------------------------------------------------------------------------


def verify(op: Operation, change: Change, readback: tuple[ObservedObject, ...], now: dt.datetime) -> str | None:
    work: RequestWork = change.payload
    store = {o.name: cert_from_answer(o.values) for o in readback if o.kind == KIND}
    req = work.request
    if op.role in (ORDER, ISSUE, CHALLENGE, UNCHALLENGE):
        return None  # the controller's part and IIS's files: the import that follows proves them
    if op.role == REQUEST:
        return None if any(c.status == "PendingRequest" and req.is_one(c) for c in store.values()) else \
            f"no pending request for {req.subject} was read back on {op.host}"
    if op.role == IMPORT or op.role.startswith(COPY):
        wanted = work.expect if op.role == IMPORT else next((c.services for c in work.copies if f"{COPY}{c.host}" == op.role), frozenset())
        found = [c for c in store.values() if c.status != "PendingRequest" and req.is_one(c) and not c.self_signed and c.has_key]
        if work.thumbprint:
            found = [c for c in found if c.thumbprint == work.thumbprint] or found
        if not found:
            return f"no certificate {req.subject} for {', '.join(req.names)} with its private key was read back on {op.host}"
        cert = max(found, key=lambda c: (c.not_before or now))
        if cert.services is None or not wanted <= cert.services:
            return f"{cert.label} serves {order(cert.services) if cert.services is not None else '(unknown)'} on {op.host}, expected at least {order(wanted)}"
        if op.role == IMPORT and work.old and work.old in store:
            return f"{work.old[:8]}, which the new certificate replaces, is still on {op.host}"
        if op.role == IMPORT and work.issuer is not None and any(c.status == "PendingRequest" and req.is_one(c) for c in store.values()):
            return f"a pending request for {req.subject} is still on {op.host}: the import did not complete it"
    return None


def applied_note(op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str:
    work: RequestWork = change.payload
    if op.role != IMPORT or work.issuer is None:
        return ""
    store = [cert_from_answer(o.values) for o in readback if o.kind == KIND]
    found = [c for c in store if c.status != "PendingRequest" and work.request.is_one(c) and not c.self_signed]
    if not found:
        return ""
    cert = max(found, key=lambda c: (c.not_before or dt.datetime.min.replace(tzinfo=dt.timezone.utc)))
    return f"new thumbprint {cert.thumbprint} (valid until {_day(cert.not_after)}), issued by {cert.issuer}"
