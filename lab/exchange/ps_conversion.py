"""How PowerShell fails to convert a parameter value, and how it names values in those messages.

Sources (cited again where used):
[PS]  PowerShell/PowerShell LanguagePrimitives / ExtendedTypeSystem strings.
"""

from __future__ import annotations

from typing import Any

# --- conversion failures -------------------------------------------------------------------


class ConversionError(Exception):
    """A value PowerShell could not convert to a parameter's type.

    ``str(self)`` is the text PowerShell puts after "Cannot bind parameter 'X'. "
    (the inner PSInvalidCastException message).
    """


class TransformError(Exception):
    """A boolean/switch conversion failure: PowerShell reports it as an argument
    transformation error, not a conversion error [PS ParameterArgumentTransformationError]."""


def describe(value: Any) -> str:
    """How PowerShell names a value inside "Cannot convert value "…"" messages."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return "System.Object[]"
    if isinstance(value, float):
        return format_double(value)
    return str(value)


def clr_type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        return "System.Int32" if -(2**31) <= value < 2**31 else "System.Int64"
    if isinstance(value, float):
        return "System.Double"
    if isinstance(value, (list, tuple)):
        return "System.Object[]"
    return "System.String"


def cast_error(value: Any, dotnet: str, inner: str) -> ConversionError:
    # ExtendedTypeSystem.InvalidCastExceptionWithInnerException [PS]
    return ConversionError(f'Cannot convert value "{describe(value)}" to type "{dotnet}". Error: "{inner}"')


def no_cast_error(value: Any, dotnet: str) -> ConversionError:
    # ExtendedTypeSystem.InvalidCastException [PS]
    return ConversionError(
        f'Cannot convert the "{describe(value)}" value of type "{clr_type_name(value)}" to type "{dotnet}".'
    )


def null_error(dotnet: str) -> ConversionError:
    # ExtendedTypeSystem.InvalidCastFromNull [PS]
    return ConversionError(f'Cannot convert null to type "{dotnet}".')


def format_double(x: float) -> str:
    """PowerShell's default rendering of a double (R format, invariant)."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)
