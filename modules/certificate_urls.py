"""The certificate_urls kind: the certificates bound to IIS and SMTP against every name clients use.

Declared per server, ``exchange: certificate_urls: {autodiscover: true}``. A certificate missing a name breaks
the clients that use it (Outlook Anywhere, ActiveSync: the certificate must hold every name of the namespace,
EXD architecture/client-access/certificates.md "Names to have in a certificate"). The kind reads the names:

* on a Mailbox server, the InternalUrl and ExternalUrl of the Outlook on the web, admin centre, EWS, OAB,
  ActiveSync, MAPI and Autodiscover virtual directories, Outlook Anywhere's InternalHostname and
  ExternalHostname, the Client Access service's AutoDiscoverServiceInternalUri and, with ``autodiscover``,
  ``autodiscover.<domain>`` of each authoritative accepted domain (where Outlook looks first: EXD
  architecture/client-access/autodiscover.md); they must be covered by the certificate bound to the Default Web
  Site (the one whose IISServices names W3SVC/1, else the certificate showing IIS that is not self-signed: the
  Exchange Back End site keeps setup's);
* on every server, the FQDN of each receive connector (what a sending server asks for, and how Exchange picks
  the certificate it offers: cmdlets.md §2, §4): some valid certificate enabled for SMTP must cover each (on an
  Edge, the names the Internet sends to).

A name is covered as TLS matches it (RFC 6125 §6.4.3: ``*.contoso.com`` covers one label); a certificate that
is expired, not yet valid, or not trusted (Status other than Valid: Untrusted, Revoked, DateInvalid, …) covers
nothing; a self-signed one does not cover a name outside clients use (an ExternalUrl, ExternalHostname,
autodiscover.<domain>). What is not covered is this kind's finding (drift), naming the URL that needs it; and a
plan that binds IIS to a certificate lacking a name is refused (rail ``certificate-url-names``), naming the URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exconf.model import Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Operation, Refusal
from exconf.remote import LOCAL_SERVER, STATUS_NOT_APPLICABLE, Answer, Step
from exconf.yamlsource import Location, PathKey

from .base import SERVER, DriftTraits, KindDefaults, KindPlan, PlanContext, ReadError
from .certificate_values import Cert, cert_from_answer, covers, names_of

KIND = "certificate_urls"
RAIL = "certificate-url-names"
URLS = "certificate_urls.url"
CERT = "certificate_urls.certificate"
DOMAIN = "certificate_urls.domain"
CONNECTOR = "certificate_urls.connector"
DIRECTORIES = (("OwaVirtualDirectory", "Outlook on the web"), ("EcpVirtualDirectory", "the admin centre"), ("WebServicesVirtualDirectory", "EWS"),
               ("OabVirtualDirectory", "the offline address book"), ("ActiveSyncVirtualDirectory", "ActiveSync"),
               ("MapiVirtualDirectory", "MAPI over HTTP"), ("AutodiscoverVirtualDirectory", "Autodiscover"))
CERT_PROPERTIES = ("Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "Status", "IsSelfSigned",
                   "HasPrivateKey", "IISServices")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Judge the certificates bound to IIS and SMTP against every name clients use (URLs, host names, connector FQDNs).",
    "properties": {
        "autodiscover": {"type": "boolean", "description": "Also autodiscover.<domain> of each authoritative accepted domain (default true)."},
    },
}


@dataclass(frozen=True)
class Need:
    """A name clients use, and what uses it (the URL, host name or connector), for messages."""

    name: str
    why: str
    service: str  # IIS | SMTP
    outside: bool = False  # used from outside: a self-signed certificate does not do


def needs(observed: tuple[ObservedObject, ...], autodiscover: bool) -> list[Need]:
    out: list[Need] = []
    for o in observed:
        if o.kind == URLS:
            for prop in ("InternalUrl", "ExternalUrl"):
                url = o.values.get(prop)
                host = urlsplit(str(url)).hostname if url else None
                if host:
                    out.append(Need(host, f"{o.name} {prop} {url}", "IIS", prop == "ExternalUrl"))
            for prop in ("InternalHostname", "ExternalHostname"):
                host = o.values.get(prop)
                if host:
                    out.append(Need(str(host), f"Outlook Anywhere {prop} {host}", "IIS", prop == "ExternalHostname"))
            uri = o.values.get("AutoDiscoverServiceInternalUri")
            host = urlsplit(str(uri)).hostname if uri else None
            if host:
                out.append(Need(host, f"AutoDiscoverServiceInternalUri {uri}", "IIS"))
        elif o.kind == DOMAIN and autodiscover and str(o.values.get("DomainType") or "") == "Authoritative":
            domain = str(o.values.get("DomainName") or "")
            if domain and not domain.startswith("*"):
                out.append(Need(f"autodiscover.{domain}", f"https://autodiscover.{domain}/Autodiscover/Autodiscover.xml "
                                                          f"(Autodiscover of the accepted domain {domain})", "IIS", True))
        elif o.kind == CONNECTOR and o.values.get("Fqdn"):
            out.append(Need(str(o.values["Fqdn"]), f'the receive connector "{o.name}" (Fqdn {o.values["Fqdn"]})', "SMTP"))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for n in out:
        key = (n.name.lower(), n.why, n.service)
        if key not in seen:
            seen.add(key)
            unique.append(n)
    return unique


def iis_certificate(observed: tuple[ObservedObject, ...]) -> Cert | None:
    """The certificate of the Default Web Site: IISServices names W3SVC/1; else the one showing IIS that is not
    self-signed (the Back End keeps setup's); else the self-signed one."""
    rows = [o.values for o in observed if o.kind == CERT]
    front = [r for r in rows if any(str(s).upper().endswith("/W3SVC/1") for s in (r.get("IISServices") or ()))]
    if front:
        return cert_from_answer(front[0])
    certs = [cert_from_answer(r) for r in rows]
    iis = [c for c in certs if c.services and "IIS" in c.services]
    third = [c for c in iis if not c.self_signed]
    pool = third or iis
    return max(pool, key=lambda c: c.not_before or dt.datetime.min.replace(tzinfo=dt.timezone.utc)) if pool else None


def why_not(cert: Cert | None, need: Need, now: dt.datetime) -> str:
    """Why a certificate does not serve a name clients use, or ""."""
    if cert is None:
        return f"no certificate is bound to {need.service}"
    if not any(covers(n, need.name) for n in names_of(cert)):
        return f"{cert.label} does not cover {need.name} (its names: {', '.join(names_of(cert)) or 'none'})"
    if cert.not_before is not None and cert.not_before > now:
        return f"{cert.label} is not valid yet (from {cert.not_before:%Y-%m-%d})"
    if cert.not_after is not None and cert.not_after <= now:
        return f"{cert.label} expired on {cert.not_after:%Y-%m-%d}"
    if cert.status != "Valid":
        return f"{cert.label} is not trusted (Status {cert.status})"
    if need.outside and cert.self_signed:
        return f"{cert.label} is self-signed: clients outside do not trust it"
    return ""


def judge(observed: tuple[ObservedObject, ...], autodiscover: bool, now: dt.datetime) -> list[tuple[Need, str, str]]:
    """(need, the certificate that serves it or "", why not) for every name clients use."""
    out = []
    iis = iis_certificate(observed)
    smtp = [cert_from_answer(o.values) for o in observed if o.kind == CERT]
    smtp = [c for c in smtp if c.services and "SMTP" in c.services and c.domains]
    for need in needs(observed, autodiscover):
        if need.service == "IIS":
            problem = why_not(iis, need, now)
            out.append((need, iis.label if iis is not None and not problem else "", problem))
            continue
        serving = next((c for c in smtp if not why_not(c, need, now)), None)
        problem = "" if serving is not None else (why_not(smtp[0], need, now) if len(smtp) == 1 else
                                                 f"no valid certificate enabled for SMTP covers {need.name}")
        out.append((need, serving.label if serving is not None else "", problem))
    return out


def planned_iis(planned: tuple[Change, ...], now: dt.datetime) -> list[tuple[Change, Cert]]:
    """Certificate changes of this plan that bind IIS, with the certificate as it will be (a request, an import,
    a renewal: names and dates as far as the plan knows them)."""
    out = []
    for change in planned:
        if change.kind != "exchange_certificate" or change.action == "delete":
            continue
        payload = change.payload
        request = getattr(payload, "request", None)
        if request is not None and "IIS" in (getattr(payload, "expect", frozenset()) | getattr(payload, "services", frozenset())):
            out.append((change, Cert(f"new:{request.subject}", request.subject, "", request.names, now, now + dt.timedelta(days=90),
                                     frozenset({"IIS"}), "Valid")))
            continue
        cert = getattr(payload, "cert", None)
        services: frozenset[str] = getattr(payload, "expect", frozenset())
        if isinstance(cert, Cert) and "IIS" in services:
            out.append((change, cert))
    return out


@dataclass(frozen=True)
class UrlSpec:
    autodiscover: bool = True


@dataclass(frozen=True)
class CertificateUrlsKind(KindDefaults):
    """Implements ``base.Kind``: it changes nothing; it judges, and refuses a binding that misses a name."""

    kind: str = KIND
    section: str = "certificate_urls"
    scope: str = SERVER
    title: str = "certificate names"
    roles: frozenset[str] = frozenset({"Mailbox", "Edge"})
    sees_planned: bool = True  # the certificate changes of the same plan are judged before they are made
    # drift: a name clients use that the certificate does not cover breaks them (Outlook Anywhere, ActiveSync);
    # it changed when a URL or the binding did. Nothing to correct: this kind changes nothing.
    drift: DriftTraits = field(default_factory=lambda: DriftTraits(
        "high", ("Enable-ExchangeCertificate", "Set-OwaVirtualDirectory", "Set-EcpVirtualDirectory", "Set-WebServicesVirtualDirectory",
                 "Set-OabVirtualDirectory", "Set-ActiveSyncVirtualDirectory", "Set-MapiVirtualDirectory", "Set-AutodiscoverVirtualDirectory",
                 "Set-OutlookAnywhere", "Set-ClientAccessService", "New-AcceptedDomain")), compare=False, repr=False)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)

    def schema(self) -> dict[str, Any]:
        return SCHEMA

    def inventory_issues(self, declared: Any, base: Path) -> list[tuple[PathKey, str]]:
        return []

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]:
        if declared is None:
            return ()
        spec = UrlSpec(bool((declared or {}).get("autodiscover", True)))
        return (Desired(kind=self.kind, pattern="", values=(DesiredValue("certificate_urls", spec, where(())),), source=where(())),)

    def read_steps(self, prefix: str) -> list[Step]:
        steps = [Step(f"{prefix}{KIND}:{noun}", f"Get-{noun}", {"Server": LOCAL_SERVER}, select=("Name", "InternalUrl", "ExternalUrl"),
                      skip_on_edge=True) for noun, _ in DIRECTORIES]
        steps += [
            Step(f"{prefix}{KIND}:OutlookAnywhere", "Get-OutlookAnywhere", {"Server": LOCAL_SERVER}, select=("Name", "InternalHostname", "ExternalHostname"),
                 skip_on_edge=True),
            Step(f"{prefix}{KIND}:ClientAccessService", "Get-ClientAccessService", {"Identity": LOCAL_SERVER},
                 select=("Name", "AutoDiscoverServiceInternalUri"), skip_on_edge=True),
            Step(f"{prefix}{KIND}:AcceptedDomain", "Get-AcceptedDomain", {}, select=("DomainName", "DomainType"), skip_on_edge=True),
            Step(f"{prefix}{KIND}:certificates", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER}, select=CERT_PROPERTIES),
            Step(f"{prefix}{KIND}:receive", "Get-ReceiveConnector", {"Server": LOCAL_SERVER}, select=("Identity", "Fqdn")),
        ]
        return steps

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None:
        out: list[ObservedObject] = [ObservedObject(KIND, "", "", {"UtcNow": answer.utc_now})]
        for step_id, result in answer.results.items():
            if not step_id.startswith(f"{prefix}{KIND}:") or result.status == STATUS_NOT_APPLICABLE:
                continue
            what = step_id.rsplit(":", 1)[-1]
            if not result.ok:
                raise ReadError(f"Get-{what}: {result.error.message if result.error else result.status}")
            for obj in result.objects:
                if what == "certificates":
                    out.append(ObservedObject(CERT, str(obj.get("Thumbprint") or ""), "", dict(obj)))
                elif what == "AcceptedDomain":
                    out.append(ObservedObject(DOMAIN, str(obj.get("DomainName") or ""), "", dict(obj)))
                elif what == "receive":
                    out.append(ObservedObject(CONNECTOR, str(obj.get("Identity") or ""), "", dict(obj)))
                else:
                    label = dict(DIRECTORIES).get(what, "Outlook Anywhere" if what == "OutlookAnywhere" else "the Client Access service")
                    out.append(ObservedObject(URLS, f"{label} ({what})", "", dict(obj)))
        return tuple(out)

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
        want = desired[0]
        spec: UrlSpec = want.values[0].value
        row = next((o.values for o in observed if o.kind == KIND), {})
        now = dt.datetime.fromisoformat(str(row["UtcNow"]).replace("Z", "+00:00")) if row.get("UtcNow") else self.clock()
        here = want.source
        verdicts = judge(observed, spec.autodiscover, now)
        props = tuple(FindingProperty(need.why, f"a valid certificate for {need.name}", served or problem, here) for need, served, problem in verdicts)
        missing = [(need, problem) for need, _, problem in verdicts if problem]
        refusals = []
        for change, cert in planned_iis(ctx.planned, now):
            for need in needs(observed, spec.autodiscover):
                if need.service != "IIS":
                    continue
                if not any(covers(n, need.name) for n in names_of(cert)):
                    refusals.append(Refusal(RAIL, ctx.host, (
                        f"{ctx.where}: {change.name} would serve IIS, but {need.why} needs {need.name}, which its names "
                        f"({', '.join(names_of(cert)) or 'none'}) do not cover; add it to the certificate's names, or change that URL"), change.id))
        if not missing:
            finding = Finding(ctx.host, KIND, ctx.facts.name, FindingStatus.IN_SYNC, here, props)
        else:
            finding = Finding(ctx.host, KIND, ctx.facts.name, FindingStatus.CHANGE, here, props,
                              "; ".join(f"{need.why} needs {need.name}: {problem}" for need, problem in missing))
        return KindPlan(findings=(finding,), refusals=tuple(refusals))

    def operations(self, change: Change) -> tuple[Operation, ...]:
        return ()

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return None


KIND_INSTANCE = CertificateUrlsKind()

__all__ = ["KIND", "KIND_INSTANCE", "RAIL", "CertificateUrlsKind", "judge", "needs"]
