"""PowerShell parameter binding for the lab's cmdlets.

Follows Windows PowerShell 5.1 (ParameterBinderController / ParameterBinderBase):
names are case-insensitive and may be abbreviated to any unambiguous prefix of a
parameter name or alias; every cmdlet also has the common parameters (and -WhatIf
/ -Confirm when it supports ShouldProcess); named arguments bind in the order
given, each converted by its parameter's type (the first failure stops binding);
then positional arguments; then the parameter set is resolved and, the shell
being non-interactive, a missing mandatory parameter is an error instead of a
prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from . import errors
from .param_types import ACTION_PREF, INT, STRING, SWITCH, PType, SwitchType
from .ps_conversion import ConversionError, TransformError, describe

# A setter check: returns None, or the message of the DataValidationException Exchange's
# property setter throws while PowerShell binds the value.
Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Param:
    name: str
    type: PType
    mandatory: bool = False
    position: int | None = None
    sets: tuple[str, ...] = ()  # () = all parameter sets
    aliases: tuple[str, ...] = ()
    check: Check | None = None

    @property
    def is_switch(self) -> bool:
        return isinstance(self.type, SwitchType)


COMMON_PARAMETERS: tuple[Param, ...] = (
    Param("Verbose", SWITCH, aliases=("vb",)),
    Param("Debug", SWITCH, aliases=("db",)),
    Param("ErrorAction", ACTION_PREF, aliases=("ea",)),
    Param("WarningAction", ACTION_PREF, aliases=("wa",)),
    Param("InformationAction", ACTION_PREF, aliases=("infa",)),
    Param("ErrorVariable", STRING, aliases=("ev",)),
    Param("WarningVariable", STRING, aliases=("wv",)),
    Param("InformationVariable", STRING, aliases=("iv",)),
    Param("OutVariable", STRING, aliases=("ov",)),
    Param("OutBuffer", INT, aliases=("ob",)),
    Param("PipelineVariable", STRING, aliases=("pv",)),
)
SHOULD_PROCESS_PARAMETERS: tuple[Param, ...] = (
    Param("WhatIf", SWITCH, aliases=("wi",)),
    Param("Confirm", SWITCH, aliases=("cf",)),
)


@dataclass(frozen=True)
class Signature:
    """A cmdlet's parameters as PowerShell sees them (its own, then the common ones)."""

    cmdlet: str
    params: tuple[Param, ...]
    default_set: str | None = None
    should_process: bool = False
    all: tuple[Param, ...] = field(init=False)

    def __post_init__(self) -> None:
        extra = COMMON_PARAMETERS + (SHOULD_PROCESS_PARAMETERS if self.should_process else ())
        object.__setattr__(self, "all", self.params + extra)

    def resolve(self, given: str) -> Param:
        """The parameter a (possibly abbreviated) name refers to; errors as PowerShell raises them."""
        key = given.lower()
        for p in self.all:
            if p.name.lower() == key or key in (a.lower() for a in p.aliases):
                return p
        matches: list[Param] = []
        for p in self.all:
            if p.name.lower().startswith(key) or any(a.lower().startswith(key) for a in p.aliases):
                if p not in matches:
                    matches.append(p)
        if len(matches) == 1 and key:
            return matches[0]
        if not matches or not key:
            raise errors.named_parameter_not_found(self.cmdlet, given)
        raise errors.ambiguous_parameter(self.cmdlet, given, [p.name for p in matches])

    def is_switch(self, given: str) -> bool | None:
        """Whether a name given on a command line is a switch (None if it is unknown or ambiguous)."""
        try:
            return self.resolve(given).is_switch
        except errors.CmdletError:
            return None

    def positional(self, index: int, parameter_set: str | None = None) -> Param | None:
        ordered = sorted((p for p in self.params if p.position is not None), key=lambda p: p.position or 0)
        ordered = [p for p in ordered if not p.sets or parameter_set is None or parameter_set in p.sets]
        return ordered[index] if index < len(ordered) else None


def convert(signature: Signature, param: Param, value: Any) -> Any:
    """Convert one argument by its parameter's type, then let the setter check it."""
    try:
        if param.is_switch and value is None:
            converted = False  # -Switch:$null is off, as PowerShell treats it
        else:
            converted = param.type.convert(value)
    except TransformError as exc:
        raise errors.transformation_failed(signature.cmdlet, param.name, str(exc)) from None
    except ConversionError as exc:
        raise errors.cannot_convert(signature.cmdlet, param.name, str(exc)) from None
    if converted is None and param.mandatory:  # mandatory in its parameter set(s): $null cannot bind
        raise errors.argument_null(signature.cmdlet, param.name)
    problem = param.check(converted) if param.check is not None and converted is not None else None
    if problem:
        raise errors.binding_failed(signature.cmdlet, param.name, problem)
    return converted


def bind(signature: Signature, named: list[tuple[str, Any]], positional: list[Any] = ()) -> dict[str, Any]:
    """Bind arguments as PowerShell would: returns {parameter name: converted value}."""
    bound: dict[str, Any] = {}
    for given, value in named:
        param = signature.resolve(given)
        if param.name in bound:
            raise errors.parameter_already_bound(signature.cmdlet, param.name)
        bound[param.name] = convert(signature, param, value)
    for param, value in assign_positional(signature, set(bound), positional, _parameter_set(signature, bound)):
        bound[param.name] = convert(signature, param, value)
    parameter_set = _parameter_set(signature, bound)
    missing = [
        p.name for p in signature.params
        if p.mandatory and p.name not in bound and (not p.sets or parameter_set in p.sets)
    ]
    if missing:
        raise errors.missing_mandatory(signature.cmdlet, missing)
    return bound


def assign_positional(signature: Signature, named: set[str], values: list[Any],
                      parameter_set: str | None = None) -> list[tuple[Param, Any]]:
    """Which parameter each positional argument binds to: the positional parameters in order,
    skipping those already bound by name."""
    out: list[tuple[Param, Any]] = []
    taken, index = set(named), 0
    for value in values:
        param = signature.positional(index, parameter_set)
        while param is not None and param.name in taken:
            index += 1
            param = signature.positional(index, parameter_set)
        if param is None:
            raise errors.positional_parameter_not_found(signature.cmdlet, describe(value))
        out.append((param, value))
        taken.add(param.name)
        index += 1
    return out


def _parameter_set(signature: Signature, bound: dict[str, Any]) -> str | None:
    sets: set[str] | None = None
    for p in signature.params:
        if p.name in bound and p.sets:
            sets = set(p.sets) if sets is None else sets & set(p.sets)
    if sets is None:
        return signature.default_set
    if not sets:
        raise errors.ambiguous_parameter_set(signature.cmdlet)
    if signature.default_set in sets:
        return signature.default_set
    return sorted(sets)[0]
