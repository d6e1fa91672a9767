"""Safety rails: checks that stop a whole plan unless the user overrides them by name.

Kinds return their own refusals from ``plan`` (a certificate that would leave
a server without SMTP); checks here look at the plan as a whole. A plan with
a refusal that is not overridden changes nothing on any host: ``apply``
exits 1 and says which rail stopped it and how to override it
(``--override RAIL``).
"""

from __future__ import annotations

from collections.abc import Callable

from .model import HostStatus, Plan, Refusal

Check = Callable[[Plan], list[Refusal]]


def _unreadable_carrier(plan: Plan) -> list[Refusal]:
    """Operations for a host the plan could not read would be blind: refuse them (never expected to fire)."""
    bad = {op.host for op in plan.operations if op.host not in plan.hosts or plan.hosts[op.host].status is not HostStatus.OK}
    return [Refusal("blind-change", host, f"{host}: operations planned for a host that was not read") for host in sorted(bad)]


CHECKS: tuple[Check, ...] = (_unreadable_carrier,)


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
