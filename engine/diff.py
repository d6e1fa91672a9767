"""Declared settings against observed settings, per property: pure functions, no I/O.

Names match as Exchange identities do: case-insensitively, with ``*`` as the
only wildcard. Two declarations that reach the same object with different
values are a conflict, reported with both places. Every declared object ends
as findings: one per object it matched, in sync or to change, or an error
when it matched nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from exconf.values import ValueError_, ValueType, same

from .model import Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, PropertyChange

if TYPE_CHECKING:
    from exconf.modules.base import KindPlan, PlanContext, SettingsKind


def matches(pattern: str, name: str) -> bool:
    """Exchange identity matching: case-insensitive, ``*`` is the only wildcard."""
    rx = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, name, flags=re.IGNORECASE | re.DOTALL) is not None


def shown(vtype: ValueType, value: Any) -> Any:
    """What the plan shows: a list for a multi-valued property, else Exchange's text form."""
    if isinstance(value, tuple):
        return list(value)
    return vtype.show(value)


def diff(kind: SettingsKind, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
    """Changes (and findings) that make ``observed`` match ``desired`` on the scope ``ctx`` names."""
    from exconf.modules.base import KindPlan, expand_name

    problems: list[str] = []
    findings: list[Finding] = []
    wanted: dict[str, dict[str, DesiredValue]] = {}
    declared_at: dict[str, Desired] = {}
    by_name = {o.name: o for o in observed}
    for d in desired:
        pattern = expand_name(d.pattern, ctx.facts.name) if kind.named else ""
        if kind.named:
            hits = [o for o in observed if matches(pattern, o.name)]
            if not hits:
                problem = f"{d.source}: {kind.section}: {pattern!r} matches no {kind.title} on {ctx.where}"
                problems.append(problem)
                findings.append(Finding(ctx.host, kind.kind, pattern, FindingStatus.ERROR, d.source, message=problem))
                continue
        else:
            hits = list(observed[:1])
            if not hits:
                problem = f"{d.source}: {kind.section}: {ctx.where} reported no {kind.title}"
                problems.append(problem)
                findings.append(Finding(ctx.host, kind.kind, kind.title, FindingStatus.ERROR, d.source, message=problem))
                continue
        for obj in hits:
            slot = wanted.setdefault(obj.name, {})
            declared_at.setdefault(obj.name, d)
            for value in d.values:
                prior = slot.get(value.prop)
                t = kind.prop(value.prop).type
                if prior is not None and not same(t, prior.value, value.value):
                    problem = (
                        f"{value.source}: {kind.section}: {obj.name!r} gets {value.prop} {t.show(value.value)!r} here "
                        f"but {t.show(prior.value)!r} at {prior.source}"
                    )
                    problems.append(problem)
                    findings.append(Finding(ctx.host, kind.kind, obj.name, FindingStatus.ERROR, value.source, message=problem))
                    continue
                slot[value.prop] = value

    changes: list[Change] = []
    for name, values in wanted.items():
        obj = by_name[name]
        props: list[PropertyChange] = []
        checked: list[FindingProperty] = []
        for value in values.values():
            prop = kind.prop(value.prop)
            raw = obj.values.get(prop.param)
            expected = shown(prop.type, value.value)
            try:
                actual = prop.type.parse(raw)
            except ValueError_:
                if raw is None and value.value is None:
                    checked.append(FindingProperty(value.prop, expected, expected, value.source, value.sensitive))
                    continue
                shown_before: Any = "(not set)" if raw is None else str(raw)
            else:
                shown_before = shown(prop.type, actual)
                if same(prop.type, actual, value.value):
                    checked.append(FindingProperty(value.prop, expected, shown_before, value.source, value.sensitive))
                    continue
            checked.append(FindingProperty(value.prop, expected, shown_before, value.source, value.sensitive))
            props.append(
                PropertyChange(
                    prop=value.prop,
                    param=prop.param,
                    before=shown_before,
                    after=expected,
                    wire=prop.type.wire(value.value),
                    source=value.source,
                    sensitive=value.sensitive,
                )
            )
        status = FindingStatus.CHANGE if props else FindingStatus.IN_SYNC
        findings.append(Finding(ctx.host, kind.kind, name, status, declared_at[name].source, tuple(checked)))
        if not props:
            continue
        files = sorted({f"{p.source.file}:{p.source.line}" for p in props})
        changes.append(
            Change(
                id=f"{ctx.host}/{kind.kind}/{name}",
                host=ctx.host,
                kind=kind.kind,
                name=name,
                identity=obj.identity,
                action="update",
                properties=tuple(props),
                reason="declared in " + ", ".join(files),
            )
        )
    return KindPlan(changes=tuple(changes), findings=tuple(findings), problems=tuple(problems))
