"""Safety rails: checks that stop a whole plan unless the user overrides them by name.

Kinds return their own refusals from ``plan`` (a certificate that would leave
a server without SMTP); checks here look at the plan as a whole. A plan with
a refusal that is not overridden changes nothing on any host: ``apply``
exits 1 and says which rail stopped it and how to override it
(``--override RAIL``).
"""

from __future__ import annotations

from collections.abc import Callable

from .model import FindingStatus, HostStatus, Plan, Refusal

Check = Callable[[Plan], list[Refusal]]


def _unreadable_carrier(plan: Plan) -> list[Refusal]:
    """Operations for a host the plan could not read would be blind: refuse them (never expected to fire)."""
    bad = {op.host for op in plan.operations if op.host not in plan.hosts or plan.hosts[op.host].status is not HostStatus.OK}
    return [Refusal("blind-change", host, f"{host}: operations planned for a host that was not read") for host in sorted(bad)]


CERTIFICATE = "exchange_certificate"
EDGE_MAILBOX_RAIL = "edge-mailbox-same-certificate"


def _smtp_third_party(plan: Plan) -> list[tuple[str, str, str, bool, str]]:
    """(host, role, thumbprint, newly bound, certificate) for each third-party certificate serving SMTP after the plan.

    Read from the certificate kind's findings: properties thumbprint, services (expected after
    the plan, actual before) and self_signed.
    """
    out = []
    for hp in plan.hosts.values():
        if hp.status is not HostStatus.OK or hp.facts is None:
            continue
        for f in hp.findings:
            if f.kind != CERTIFICATE or f.status not in (FindingStatus.CHANGE, FindingStatus.IN_SYNC, FindingStatus.EXPIRING):
                continue
            props = {p.prop: p for p in f.properties}
            if not {"thumbprint", "services", "self_signed"} <= props.keys() or props["self_signed"].expected:
                continue
            after, before = props["services"].expected, props["services"].actual
            if isinstance(after, list) and "SMTP" in after:
                newly = not (isinstance(before, list) and "SMTP" in before)
                out.append((hp.host, hp.facts.role, str(props["thumbprint"].expected), newly, f.name))
    return out


def _edge_mailbox_same_certificate(plan: Plan) -> list[Refusal]:
    """One third-party certificate for SMTP on an Edge and a Mailbox server: both ends of one secure
    transaction (Edge ↔ Mailbox) must not present the same certificate (cmdlets.md §11, [FIELD]).
    Refused where this plan binds it; a pairing that exists already is left to drift to report."""
    seen = _smtp_third_party(plan)
    out = []
    for host, role, thumb, newly, name in seen:
        others = [h for h, r, t, _, _ in seen if t == thumb and r != role and {r, role} == {"Edge", "Mailbox"}]
        if newly and others:
            out.append(Refusal(EDGE_MAILBOX_RAIL, host, f"{host}: {name} would serve SMTP on this {role} server and also serves SMTP on "
                                                        f"{', '.join(sorted(set(others)))}; an Edge and the Mailbox servers it synchronises with "
                                                        "must not present the same certificate (keep the self-signed one for Edge ↔ Mailbox)",
                               f"{host}/{CERTIFICATE}/{thumb}"))
    return out


CHECKS: tuple[Check, ...] = (_unreadable_carrier, _edge_mailbox_same_certificate)


def global_checks(plan: Plan, checks: tuple[Check, ...] = CHECKS) -> list[Refusal]:
    out: list[Refusal] = []
    for check in checks:
        out += check(plan)
    return out


def refusal_message(plan: Plan) -> str:
    """What the user reads when rails stop a plan."""
    lines = ["This plan is refused by exconf's safety rails; nothing was changed on any host:"]
    for r in plan.blocking:
        lines.append(f"  [{r.rail}] {r.message}")
    rails = sorted({r.rail for r in plan.blocking})
    lines.append("Fix the declaration, or override a rail you accept by name: " + " ".join(f"--override {r}" for r in rails))
    return "\n".join(lines)
