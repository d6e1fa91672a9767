"""Object classes: the stored properties of an Exchange object, their types and
setter checks, how they persist, and the Set-* flow every class shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .binder import Check, Param
from .context import Context
from .dotnet_values import TimeSpan, Unlimited
from .errors import not_modified_warning
from .param_types import DATETIME, GUID, PType
from .ps_conversion import ConversionError, TransformError

META = ("Guid", "WhenCreated", "WhenChanged")


class DeclarationError(ValueError):
    """A value in the org file that the property's type or checks refuse."""

    def __init__(self, prop: str, message: str):
        super().__init__(message)
        self.prop = prop


@dataclass(frozen=True)
class Prop:
    name: str
    type: PType
    settable: bool = True  # also a Set-* parameter of the same name and type
    check: Check | None = None


class Kind:
    """An Exchange object class as the lab stores it."""

    def __init__(self, name: str, props: Iterable[Prop]):
        self.name = name
        self.props = tuple(props)
        self._by_name = {p.name: p for p in self.props}

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def prop(self, name: str) -> Prop:
        return self._by_name[name]

    def declare(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values an org file gives, converted and checked as the Set-* parameters would be."""
        out: dict[str, Any] = {}
        for name, raw in values.items():
            prop = self.prop(name)
            try:
                value = prop.type.convert(raw)
            except (ConversionError, TransformError) as exc:
                raise DeclarationError(name, str(exc)) from None
            problem = prop.check(value) if prop.check and value is not None else None
            if problem:
                raise DeclarationError(name, problem)
            out[name] = () if value is None and prop.type.multi else value
        return out

    def set_params(self) -> tuple[Param, ...]:
        """The Set-* parameters of the settable properties."""
        return tuple(Param(p.name, p.type, check=p.check) for p in self.props if p.settable)

    def new(self, values: dict[str, Any], *, guid: Any, created: Any) -> dict[str, Any]:
        missing = [p.name for p in self.props if p.name not in values]
        if missing:
            raise ValueError(f"{self.name} defaults lack {missing}")
        return {**values, "Guid": guid, "WhenCreated": created, "WhenChanged": created}

    def dump(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {p.name: p.type.dump(obj[p.name]) for p in self.props}
        out.update({m: (GUID if m == "Guid" else DATETIME).dump(obj[m]) for m in META})
        return out

    def load(self, raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        """From the state file; a property the file lacks (a newer lab version) gets its default."""
        obj = {p.name: p.type.load(raw[p.name]) if p.name in raw else defaults[p.name] for p in self.props}
        obj["Guid"] = GUID.load(raw["Guid"])
        obj["WhenCreated"] = DATETIME.load(raw["WhenCreated"])
        obj["WhenChanged"] = DATETIME.load(raw["WhenChanged"])
        return obj


Validator = Callable[[Context, dict[str, Any], dict[str, Any], set[str]], None]


def set_object(
    ctx: Context,
    kind: Kind,
    obj: dict[str, Any],
    bound: dict[str, Any],
    identity: str,
    validate: Validator | None = None,
) -> bool:
    """Apply bound parameters to a stored object as Exchange's Set tasks do.

    The object is validated as a whole before it is written (errors leave it untouched);
    if no value differs, Exchange writes nothing and warns (SetObjectTaskBase) [SRC].
    Returns whether the object changed.
    """
    new = dict(obj)
    for name, value in bound.items():
        if name in kind:
            # $null (or an empty list) clears a multi-valued property.
            new[name] = () if value is None and kind.prop(name).type.multi else value
    requested = {name for name in bound if name in kind and new[name] != obj[name]}
    if validate is not None:
        validate(ctx, obj, new, requested)  # may also adjust dependent values of ``new``
    if all(new[p.name] == obj[p.name] for p in kind.props):
        ctx.warn(not_modified_warning(identity))
        return False
    if ctx.whatif:
        return False
    obj.update(new)
    obj["WhenChanged"] = ctx.now
    ctx.changed = True
    ctx.modified.append(identity)  # the admin audit log's ObjectModified
    return True


# --- setter checks (PropertyDefinitionConstraint) [SRC Microsoft.Exchange.Data/*Constraint.cs] --------


def in_range(low: Any, high: Any) -> Check:
    """RangedValueConstraint / RangedUnlimitedConstraint (unlimited always passes)."""

    def check(value: Any) -> str | None:
        inner = value.value if isinstance(value, Unlimited) else value
        if inner is None:
            return None
        if inner < low or inner > high:
            # DataStrings.ConstraintViolationValueOutOfRange(min, max, actual)
            return f"The property, ({inner}), is out of range. The valid range is from {low} to {high}."
        return None

    return check


ONE_SECOND = TimeSpan.of(seconds=1)


def seconds_in_range(low: TimeSpan, high: TimeSpan) -> Check:
    """An EnhancedTimeSpan range plus EnhancedTimeSpanUnitConstraint(OneSecond)."""
    ranged = in_range(low, high)

    def check(value: TimeSpan) -> str | None:
        problem = ranged(value)
        if problem:
            return problem
        if value.ticks % ONE_SECOND.ticks:
            # DataStrings.ConstraintViolationDontMatchUnit
            return f"The property value must be an integer multiple of the unit '{ONE_SECOND}'. The current value is '{value}'."
        return None

    return check


def max_length(limit: int) -> Check:
    def check(value: str) -> str | None:
        if len(value) > limit:
            # DataStrings.ConstraintViolationStringLengthTooLong
            return f"The length of the property is too long. The maximum length is {limit} and the length of the value provided is {len(value)}."
        return None

    return check
