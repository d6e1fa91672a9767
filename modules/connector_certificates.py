"""A connector's TlsCertificateName declared by the certificate it names (pure).

``tls_certificate: {match: {subject, issuer, domains}}`` (or ``{thumbprint: …}``) selects a certificate
as ``exchange.certificates`` does (the newest valid one the match selects), on the server that presents
it, or the one a certificate change of this plan imports or makes there; it becomes the connector's
``<I>issuer<S>subject`` [cmdlets.md §3, §4: SmtpX509Identifier], names as .NET prints them. A renewed
certificate has the issuer and subject of the old one, so the binding stays true across renewals with
no change. The connector's change comes after the certificate's (``after``). The server lacking such a
certificate is a problem of the declaration; one whose names do not cover the connector's FQDN is
refused (rail ``connector-certificate-names``): Exchange offers a connector's certificate for its FQDN.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from exconf.model import Change, Desired, DesiredValue, ObservedObject, Refusal
from exconf.values import CertificateRef
from exconf.yamlsource import Location

from .certificate_plan import CertWork
from .certificate_values import Cert, Match, cert_from_answer, covers, names_of, tls_certificate_name

CERTIFICATE_KIND = "exchange_certificate"
RAIL_CONNECTOR_NAMES = "connector-certificate-names"


@dataclass(frozen=True)
class Resolved:
    """Declarations with each certificate reference replaced by the identifier it resolves to."""

    desired: tuple[Desired, ...]
    problems: tuple[tuple[str, Location, str], ...]  # (declared pattern, where, message)
    after: dict[tuple[str, str], str]  # (declared pattern, property) -> the certificate change it follows
    names: dict[tuple[str, str], Cert]  # (declared pattern, property) -> the certificate it names


def _planned_certs(planned: tuple[Change, ...], host: str) -> list[tuple[Cert, Change]]:
    """Certificates the plan makes on this host: a PFX imported, a self-signed replacement (its subject and names)."""
    out = []
    for change in planned:
        if change.kind != CERTIFICATE_KIND or change.host != host or change.action not in ("create", "replace", "update"):
            continue
        if isinstance(change.payload, CertWork) and change.payload.cert is not None:
            out.append((change.payload.cert, change))
    return out


def _selects(ref: CertificateRef, cert: Cert) -> bool:
    if ref.thumbprint:
        return cert.thumbprint == ref.thumbprint
    return Match(subject=ref.subject, domains=ref.domains, issuer=ref.issuer).selects(cert)


def resolve(section: str, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], store_kind: str,
            planned: tuple[Change, ...], host: str, where: str, now: dt.datetime) -> Resolved:
    store = [cert_from_answer(o.values) for o in observed if o.kind == store_kind]
    made = _planned_certs(planned, host)
    out: list[Desired] = []
    problems: list[tuple[str, Location, str]] = []
    after: dict[tuple[str, str], str] = {}
    names: dict[tuple[str, str], Cert] = {}
    for d in desired:
        values: list[DesiredValue] = []
        for v in d.values:
            if not isinstance(v.value, CertificateRef):
                values.append(v)
                continue
            candidates: list[tuple[Cert, Change | None]] = [(c, None) for c in store if c.valid_at(now) and _selects(v.value, c)]
            candidates += [(c, ch) for c, ch in made if _selects(v.value, c)]
            if not candidates:
                problems.append((d.pattern, v.source, f"{v.source}: {section}: {d.pattern!r} {v.prop}: {v.value.describe()} selects no "
                                                      f"valid certificate on {where}, nor one this plan imports or makes there"))
                continue
            cert, change = max(candidates, key=lambda pair: (pair[1] is not None, pair[0].not_after or now))
            cert_change = change or next((ch for c, ch in made if c.thumbprint == cert.thumbprint), None)
            if cert_change is not None:
                after[(d.pattern, v.prop)] = cert_change.id
            names[(d.pattern, v.prop)] = cert
            values.append(replace(v, value=tls_certificate_name(cert)))
        out.append(replace(d, values=tuple(values)))
    return Resolved(tuple(out), tuple(problems), after, names)


def name_refusals(change: Change, resolved: Resolved, observed: dict[str, Any], host: str, server_fqdn: str, where: str,
                  declared: str) -> list[Refusal]:
    """A certificate whose names cover neither the connector's FQDN (or, with none, the server's) nor its TlsDomain."""
    out = []
    for (pattern, prop), cert in resolved.names.items():
        if pattern != declared or not any(p.prop == prop for p in change.properties):
            continue
        fqdn = str(observed.get("Fqdn") or "") or server_fqdn
        wanted = [n for n in (fqdn, str(observed.get("TlsDomain") or "")) if n]
        if not any(covers(name, w) for name in names_of(cert) for w in wanted):
            out.append(Refusal(RAIL_CONNECTOR_NAMES, host, f"{where}: {change.kind} {change.name!r} would present {cert.label}, whose names "
                                                          f"({', '.join(names_of(cert)) or 'none'}) do not cover its FQDN {fqdn}; "
                                                          "Exchange offers a connector's certificate for the connector's FQDN", change.id))
    return out
