"""Property values as exconf's remote program serialises them (docs/remote-contract.md,
"How values are serialised"): null, booleans, integers and strings as themselves,
DateTime as "yyyy-MM-ddTHH:mm:ssZ" (UTC), enumerables as arrays of each element's
ToString(), everything else (enums, EnhancedTimeSpan, ByteQuantifiedSize, ADObjectId,
Guid …) as its ToString()."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any


def to_string(value: Any) -> str:
    """.NET ToString() of a value."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):  # DateTime.ToString() in the invariant culture the program sets
        m = _utc(value)
        return f"{m.month:02d}/{m.day:02d}/{m.year:04d} {m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    return str(value)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # DateTime.MinValue/MaxValue with an offset
        return value.replace(tzinfo=None)


def serialize(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, datetime):
        m = _utc(value)  # "yyyy": four digits, DateTime.MinValue is 0001-01-01 (strftime's %Y is not padded)
        return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"
    if isinstance(value, (bytes, bytearray)):  # contract v2: a byte[] travels whole, as base64
        return {"exconf_bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (tuple, list)):
        return [None if item is None else to_string(item) for item in value]
    return str(value)


def select(obj: dict[str, Any], names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The selected properties an object has (PowerShell property names are case-insensitive)."""
    lower = {k.lower(): k for k in obj}
    return {name: serialize(obj[lower[name.lower()]]) for name in names if name.lower() in lower}


def serialize_all(obj: dict[str, Any]) -> dict[str, Any]:
    return {name: serialize(value) for name, value in obj.items()}
