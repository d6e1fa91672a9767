"""Safety rails: refusals that stop a whole plan unless the user overrides them by name.

Rails belong to kinds: a kind returns refusals from ``plan`` for one scope (a
certificate that would leave a server without SMTP) and from ``plan_rails``
for what needs the whole plan (one certificate on both ends of an Edge and a
Mailbox server). This module knows no kind: it says what a refused plan means.
A plan with a refusal that is not overridden changes nothing on any host:
``apply`` exits 1 and says which rail stopped it and how to override it
(``--override RAIL``).
"""

from __future__ import annotations

from .model import Plan


def refusal_message(plan: Plan) -> str:
    """What the user reads when rails stop a plan."""
    lines = ["This plan is refused by exconf's safety rails; nothing was changed on any host:"]
    for r in plan.blocking:
        lines.append(f"  [{r.rail}] {r.message}")
    rails = sorted({r.rail for r in plan.blocking})
    lines.append("Fix the declaration, or override a rail you accept by name: " + " ".join(f"--override {r}" for r in rails))
    return "\n".join(lines)
