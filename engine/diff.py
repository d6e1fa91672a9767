"""Declared state against observed state, per property: pure functions, no I/O.

Names match as Exchange identities do: case-insensitively, with ``*`` as the
only wildcard. Two declarations that reach the same object with different
values are a conflict, reported with both places.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from exconf.modules import Resource
from exconf.modules.base import expand_name
from exconf.values import ValueError_, same

from .model import Change, Desired, DesiredValue, ObservedObject, PropertyChange
from .yamlsource import Location, PathKey


def declared(resource: Resource, section: Any, sources: dict[PathKey, Location], base: PathKey, server: str) -> list[Desired]:
    """The Desired objects of one resource section (already schema-valid)."""
    if not section:
        return []

    def where(path: PathKey) -> Location:
        p = base + path
        while p and p not in sources:
            p = p[:-1]
        return sources.get(p, Location("?", 0, 0))

    entries = section.items() if resource.named else [(None, section)]
    out = []
    for name, props in entries:
        key: PathKey = (name,) if resource.named else ()
        values = tuple(
            DesiredValue(prop=k, value=resource.prop(k).type.parse(v), source=where(key + (k,))) for k, v in (props or {}).items()
        )
        pattern = expand_name(str(name), server) if resource.named else ""
        out.append(Desired(kind=resource.kind, pattern=pattern, values=values, source=where(key)))
    return out


def matches(pattern: str, name: str) -> bool:
    """Exchange identity matching: case-insensitive, ``*`` is the only wildcard."""
    rx = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, name, flags=re.IGNORECASE | re.DOTALL) is not None


@dataclass(frozen=True)
class DiffResult:
    changes: tuple[Change, ...]
    in_sync: int
    problems: tuple[str, ...]


def diff(resource: Resource, desired: list[Desired], observed: tuple[ObservedObject, ...], host: str, where: str) -> DiffResult:
    """Changes that make ``observed`` match ``desired``; ``where`` names the server for messages."""
    problems: list[str] = []
    wanted: dict[str, dict[str, DesiredValue]] = {}
    by_name = {o.name: o for o in observed}
    for d in desired:
        if resource.named:
            hits = [o for o in observed if matches(d.pattern, o.name)]
            if not hits:
                problems.append(f"{d.source}: {resource.section}: {d.pattern!r} matches no {resource.title} on {where}")
                continue
        else:
            hits = list(observed[:1])
            if not hits:
                problems.append(f"{d.source}: {resource.section}: {where} reported no {resource.title}")
                continue
        for obj in hits:
            slot = wanted.setdefault(obj.name, {})
            for value in d.values:
                prior = slot.get(value.prop)
                if prior is not None and not same(resource.prop(value.prop).type, prior.value, value.value):
                    t = resource.prop(value.prop).type
                    problems.append(
                        f"{value.source}: {resource.section}: {obj.name!r} gets {value.prop} {t.show(value.value)!r} here "
                        f"but {t.show(prior.value)!r} at {prior.source}"
                    )
                    continue
                slot[value.prop] = value

    changes: list[Change] = []
    in_sync = 0
    for name, values in wanted.items():
        obj = by_name[name]
        props: list[PropertyChange] = []
        for value in values.values():
            prop = resource.prop(value.prop)
            raw = obj.values.get(prop.param)
            try:
                actual = prop.type.parse(raw)
            except ValueError_:
                if raw is not None or value.value is not None:
                    actual = None
                    shown_before = "(not set)" if raw is None else str(raw)
                else:
                    continue
            else:
                if same(prop.type, actual, value.value):
                    continue
                shown_before = prop.type.show(actual)
            props.append(
                PropertyChange(
                    prop=value.prop,
                    param=prop.param,
                    before=shown_before,
                    after=prop.type.show(value.value),
                    wire=prop.type.wire(value.value),
                    source=value.source,
                )
            )
        if not props:
            in_sync += 1
            continue
        files = sorted({f"{p.source.file}:{p.source.line}" for p in props})
        changes.append(
            Change(
                id=f"{host}/{resource.kind}/{name}",
                host=host,
                kind=resource.kind,
                name=name,
                identity=obj.identity,
                action="update",
                properties=tuple(props),
                reason="declared in " + ", ".join(files),
            )
        )
    return DiffResult(tuple(changes), in_sync, tuple(problems))
