"""The generic settings kind: Exchange objects whose properties one ``Set-*`` call changes.

A settings module is data: which cmdlet reads its objects, which one changes
them, which properties can be declared and of what Exchange type. From that,
``SettingsKind`` derives the inventory schema, the read step, the pure
per-property diff (below) and the change step.

The diff matches names as Exchange identities do: case-insensitively, with
``*`` as the only wildcard. Two declarations that reach the same object with
different values are a conflict, reported with both places. Every declared
object ends as findings: one per object it matched, in sync or to change, or
an error when it matched nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exconf.model import (
    Change,
    Desired,
    DesiredValue,
    Finding,
    FindingProperty,
    FindingStatus,
    ObservedObject,
    Operation,
    PropertyChange,
)
from exconf.remote import STATUS_NOT_APPLICABLE, Answer, Step
from exconf.sensitive import is_sensitive
from exconf.values import ValueError_, ValueType, same
from exconf.yamlsource import Location, PathKey

from .base import LOCAL_SERVER, DriftTraits, KindDefaults, KindPlan, PlanContext, ReadError, expand_name, placeholder_error
from .certificate_values import READ_PROPERTIES
from .connector_certificates import Resolved, name_refusals, resolve


def _server_now(observed: tuple[ObservedObject, ...]) -> dt.datetime:
    """The server's clock as read with its certificates (the controller's when the server did not say)."""
    said = next((o.values.get("UtcNow") for o in observed if o.kind.endswith(".clock")), None)
    if isinstance(said, str):
        try:
            return dt.datetime.fromisoformat(said.replace("Z", "+00:00"))
        except ValueError:
            pass
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Prop:
    """A declarable property: inventory key, Exchange parameter/property name, type, help."""

    key: str
    param: str
    type: ValueType
    doc: str
    sensitive: bool = False


@dataclass(frozen=True)
class SettingsKind(KindDefaults):
    """An Exchange object kind whose properties exconf sets with a Set-* cmdlet.

    ``named`` kinds are declared as a mapping of object names (``*``
    wildcards allowed, ``{server}`` expanded to the Exchange server name);
    single ones (a server's transport service, the organisation's transport
    config) are declared as one mapping of properties.
    """

    kind: str
    section: str
    scope: str
    title: str  # human name, e.g. "receive connector"
    get_cmdlet: str
    set_cmdlet: str
    props: tuple[Prop, ...]
    named: bool
    roles: frozenset[str] = frozenset({"Mailbox", "Edge"})
    get_params: dict[str, Any] = field(default_factory=dict)
    identity_property: str | None = "Guid"  # passed as -Identity to the Set cmdlet; None = no Identity
    doc: str = ""
    # With ``sees_planned``, ``follows(change, ctx)`` names the changes of other kinds in the scope
    # (``ctx.planned``) that one of this kind's changes must come after (a connector's certificate
    # imported in the same plan): they become the change's ``after``, so the planner orders them.
    sees_planned: bool = False
    follows: Callable[[Change, PlanContext], tuple[str, ...]] | None = field(default=None, compare=False)
    # A kind with properties of CertificateRefType (TlsCertificateName) reads the certificates of the server
    # that presents them, to resolve a declared reference (connector_certificates.py); its FQDN too.
    certificates: bool = False
    severity: str = "low"  # how bad its drift is (base.DriftTraits): logging settings, by default

    @property
    def drift(self) -> DriftTraits:  # type: ignore[override]
        """Changed by its Set cmdlet alone; putting a setting back is safe unattended (drift --correct)."""
        return DriftTraits(self.severity, (self.set_cmdlet,), lambda change: change.action == "update")

    # --- schema -------------------------------------------------------------

    def props_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {p.key: {**p.type.schema(), "description": p.doc} for p in self.props},
        }

    def schema(self) -> dict[str, Any]:
        """JSON Schema of this kind's section in the inventory."""
        if not self.named:
            return {**self.props_schema(), "description": self.doc}
        return {
            "type": "object",
            "description": self.doc,
            "minProperties": 1,
            "propertyNames": {"minLength": 1},
            "additionalProperties": self.props_schema(),
        }

    def inventory_issues(self, declared: Any, base: Path) -> list[tuple[PathKey, str]]:
        """Malformed ``{server}`` templates in names, and values Exchange would refuse (with its range)."""
        if not isinstance(declared, dict):
            return []
        entries = declared.items() if self.named else [(None, declared)]
        out: list[tuple[PathKey, str]] = []
        for name, props in entries:
            at: PathKey = (name,) if self.named else ()
            problem = placeholder_error(str(name)) if self.named else None
            if problem:
                out.append((at, f"name {name!r}: {problem}"))
            for key, value in (props.items() if isinstance(props, dict) else ()):
                known = next((p for p in self.props if p.key == key), None)
                if known is None:
                    continue  # unknown keys are reported by the schema
                try:
                    known.type.parse(value)
                except ValueError_ as exc:
                    out.append((at + (key,), str(exc)))
        return out

    def prop(self, key: str) -> Prop:
        return next(p for p in self.props if p.key == key)

    # --- desired state --------------------------------------------------------

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]:
        """The declared objects of this section (already schema-valid), values parsed once."""
        if not declared:
            return ()
        entries = declared.items() if self.named else [(None, declared)]
        out = []
        for name, props in entries:
            key: PathKey = (name,) if self.named else ()
            # A value that came from a vault stays sensitive whatever property holds it.
            values = tuple(
                DesiredValue(prop=k, value=self.prop(k).type.parse(v), source=where(key + (k,)), sensitive=self.prop(k).sensitive or is_sensitive(v))
                for k, v in (props or {}).items()
            )
            out.append(Desired(kind=self.kind, pattern=str(name) if self.named else "", values=values, source=where(key)))
        return tuple(out)

    # --- reading ------------------------------------------------------------

    def read_steps(self, prefix: str) -> list[Step]:
        select = ("Name", "Identity", "Guid", *(p.param for p in self.props), *(("Fqdn", "TlsDomain") if self.certificates else ()))
        steps = [
            Step(
                id=f"{prefix}{self.kind}",
                cmdlet=self.get_cmdlet,
                params=dict(self.get_params),
                select=tuple(dict.fromkeys(select)),
                skip_on_edge="Edge" not in self.roles,
            )
        ]
        if self.certificates:
            # The same read as the certificate kind's (one round trip sends it once: readcache).
            steps.append(Step(id=f"{prefix}{self.kind}:certificates", cmdlet="Get-ExchangeCertificate", params={"Server": LOCAL_SERVER},
                              select=READ_PROPERTIES, skip_on_edge="Edge" not in self.roles))
        return steps

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None:
        """The objects read, or None where the kind does not exist (an Edge server)."""
        result = answer.result(f"{prefix}{self.kind}")
        if result.status == STATUS_NOT_APPLICABLE:
            return None
        if not result.ok:
            message = result.error.message if result.error else result.status
            raise ReadError(f"{self.get_cmdlet} failed: {message}")
        out = []
        for obj in result.objects:
            name = str(obj.get("Name") or obj.get("Identity") or "")
            identity = str(obj.get(self.identity_property) or obj.get("Identity") or name) if self.identity_property else ""
            out.append(ObservedObject(kind=self.kind, name=name, identity=identity, values=dict(obj)))
        certs = answer.results.get(f"{prefix}{self.kind}:certificates")
        if certs is not None and certs.status != STATUS_NOT_APPLICABLE:
            if not certs.ok:
                raise ReadError(f"Get-ExchangeCertificate failed: {certs.error.message if certs.error else certs.status}")
            out += [ObservedObject(kind=self.certificate_kind, name=str(o.get("Thumbprint") or ""), identity="", values=dict(o))
                    for o in certs.objects]
            out.append(ObservedObject(kind=f"{self.kind}.clock", name="", identity="", values={"UtcNow": answer.utc_now}))
        return tuple(out)

    @property
    def certificate_kind(self) -> str:
        return f"{self.kind}.certificate"

    # --- planning -------------------------------------------------------------

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
        resolved = None
        if self.certificates:
            resolved = resolve(self.section, desired, observed, self.certificate_kind, ctx.planned, ctx.host, ctx.where, _server_now(observed))
            desired = resolved.desired
            observed = tuple(o for o in observed if o.kind not in (self.certificate_kind, f"{self.kind}.clock"))
        made = made_by(self.kind, ctx.planned) if self.sees_planned else {}
        if made:
            # Objects another change of this plan makes anew (with Exchange's defaults): declared settings of
            # them are set after it, by name (the new object's Guid is not known before), read back after it.
            observed = tuple(o for o in observed if o.name.lower() not in made) + tuple(
                ObservedObject(self.kind, name, name, {}) for name, _ in made.values())
        result = diff(self, desired, observed, ctx)
        if made:
            result = replace(result, changes=tuple(_after_maker(c, made) for c in result.changes),
                             findings=tuple(_made_finding(f, made) for f in result.findings))
        if resolved is not None:
            result = self._with_certificates(result, resolved, desired, observed, ctx)
        if self.follows is None:
            return result
        follows = self.follows
        return replace(result, changes=tuple(replace(c, after=tuple(dict.fromkeys((*c.after, *follows(c, ctx))))) for c in result.changes))

    def _with_certificates(self, result: KindPlan, resolved: Resolved, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...],
                           ctx: PlanContext) -> KindPlan:
        """Connector changes after the certificate changes they name; the names rail; resolution problems."""
        by_name = {o.name: o for o in observed}
        changes, refusals = [], list(result.refusals)
        for change in result.changes:
            pattern = next((d.pattern for d in desired if matches(expand_name(d.pattern, ctx.facts.name), change.name)), "")
            follows = [cid for (p, prop), cid in resolved.after.items() if p == pattern and any(pc.prop == prop for pc in change.properties)]
            changes.append(replace(change, after=tuple(dict.fromkeys((*change.after, *follows)))))
            seen = by_name.get(change.name)
            refusals += name_refusals(change, resolved, seen.values if seen else {}, ctx.host, ctx.facts.fqdn, ctx.where, pattern)
        findings = result.findings + tuple(
            Finding(ctx.host, self.kind, expand_name(pattern, ctx.facts.name), FindingStatus.ERROR, at, message=message)
            for pattern, at, message in resolved.problems)
        return replace(result, changes=tuple(changes), refusals=tuple(refusals), findings=findings,
                       problems=result.problems + tuple(message for _, _, message in resolved.problems))

    # --- changing -----------------------------------------------------------

    def operations(self, change: Change) -> tuple[Operation, ...]:
        """One Set-* call carrying only the properties that differ, on the host that carries the change."""
        params: dict[str, Any] = {}
        if self.identity_property:
            params["Identity"] = change.identity
        for pc in change.properties:
            params[pc.param] = pc.wire
        step = Step(id=f"{change.id}:set", cmdlet=self.set_cmdlet, params=params)
        return (Operation(id=change.id, host=change.host, change=change.id, steps=(step,), role="set"),)

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        """None when the object read back has every changed property as planned; else what differs."""
        seen = next((o for o in readback if o.name == change.name), None)
        if seen is None:
            return "made, but could not be read back"
        off = []
        for pc in change.properties:
            t = self.prop(pc.prop).type
            want = t.parse(pc.wire)
            raw = seen.values.get(pc.param)
            try:
                got = t.parse(raw)
            except ValueError_:
                off.append(f"{pc.prop} is {raw!r}, expected {pc.after!r}")
                continue
            if not same(t, got, want):
                off.append(f"{pc.prop} is {t.show(got)!r}, expected {pc.after!r}")  # type: ignore[arg-type]  # got is what t parsed
        return "read back different: " + "; ".join(off) if off else None


def made_by(kind: str, planned: tuple[Change, ...]) -> dict[str, tuple[str, Change]]:
    """The objects of this kind that planned changes make anew: lower-case name -> (name, the change)."""
    return {name.lower(): (name, change) for change in planned for k, name in change.makes if k == kind}


def _after_maker(change: Change, made: dict[str, tuple[str, Change]]) -> Change:
    hit = made.get(change.name.lower())
    if hit is None:
        return change
    maker = hit[1]
    before = f"(made again by {maker.kind} {maker.name!r}: Exchange's default)"
    props = tuple(replace(p, before=before) for p in change.properties)
    return replace(change, properties=props, after=tuple(dict.fromkeys((*change.after, maker.id))),
                   reason=f"{change.reason}; set again after {maker.kind} {maker.name!r} makes it")


def _made_finding(finding: Finding, made: dict[str, tuple[str, Change]]) -> Finding:
    hit = made.get(finding.name.lower())
    if hit is None:
        return finding
    actual = f"(made again by {hit[1].kind} {hit[1].name!r})"
    return replace(finding, properties=tuple(replace(p, actual=actual) for p in finding.properties))


# --- the diff: desired × observed, per property (pure) ---------------------------


def matches(pattern: str, name: str) -> bool:
    """Exchange identity matching: case-insensitive, ``*`` is the only wildcard."""
    if "*" not in pattern and pattern.isascii() and name.isascii():
        # A name without a wildcard (most are, once ``{server}`` is expanded: one new pattern per host) is
        # compared as it is; for ASCII text that is what the expression's IGNORECASE would find.
        return pattern.lower() == name.lower()
    return _compiled(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    """One compiled expression per pattern (a host-expanded pattern recurs on every run of a scope)."""
    return re.compile("".join(".*" if ch == "*" else re.escape(ch) for ch in pattern), flags=re.IGNORECASE | re.DOTALL)


def shown(vtype: ValueType, value: Any) -> Any:
    """What the plan shows: a list for a multi-valued property, else Exchange's text form."""
    if isinstance(value, tuple):
        return list(value)
    return vtype.show(value)


def diff(kind: SettingsKind, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
    """Changes (and findings) that make ``observed`` match ``desired`` on the scope ``ctx`` names."""
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


__all__ = ["Prop", "SettingsKind", "diff", "matches", "shown"]
