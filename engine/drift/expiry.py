"""Expiry dates read from findings: any finding that carries a ``not_after`` property (ISO 8601) has one.

Generic: drift knows no kind. Today the certificate kind's findings carry ``not_after`` (and
``thumbprint``/``subject``, which label the Prometheus series); a finding the kind judged to
expire within its declared threshold has a drift state already (status ``expiring``), so here
the date is only placed on a timeline and exported as a timestamp.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .report import DriftItem, DriftReport

EXPIRY_PROPERTY = "not_after"


@dataclass(frozen=True)
class Expiry:
    item: DriftItem
    not_after: dt.datetime  # aware, UTC

    def prop(self, name: str) -> str:
        """A property's value as the server reported it (``actual``; ``expected`` when the object is not there yet)."""
        for p in self.item.finding.properties:
            if p.prop == name and not p.sensitive:
                value = p.actual if isinstance(p.actual, str) and not p.actual.startswith("(") else p.expected
                return value if isinstance(value, str) else ""
        return ""


def _instant(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # "(unknown)" or a value no kind should send: not on the timeline
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def expiries(report: DriftReport) -> list[Expiry]:
    """Every finding with a readable expiry date, soonest first (errors have no date worth showing)."""
    out = []
    for item in report.items:
        prop = next((p for p in item.finding.properties if p.prop == EXPIRY_PROPERTY and not p.sensitive), None)
        when = _instant(prop.actual) if prop is not None else None
        if when is not None:
            out.append(Expiry(item, when))
    return sorted(out, key=lambda e: (e.not_after, e.item.key))
