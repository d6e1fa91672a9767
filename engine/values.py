"""Exchange value types: how a declared value and a value read from a server compare.

Exchange prints sizes as ``250 MB (262,144,000 bytes)``, time spans as
``30.00:00:00``, enums in their own case, and lists in any order. Each type
here turns both sides into one canonical Python value (``parse``), shows it
(``show``), and says what to send as the cmdlet parameter (``wire``). The
comparison is on canonical values only, never on ``-like`` patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class ValueError_(ValueError):
    """A value that the type cannot accept; the message says what was expected."""


@dataclass(frozen=True)
class EnumType:
    """An Exchange enum such as ProtocolLoggingLevel (case-insensitive, as PowerShell)."""

    exchange_type: str
    choices: tuple[str, ...]

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices), "x-exchange-type": self.exchange_type}

    def parse(self, value: Any) -> str:
        if isinstance(value, str):
            for choice in self.choices:
                if choice.lower() == value.strip().lower():
                    return choice
        raise ValueError_(f"expected one of {', '.join(self.choices)}, got {value!r}")

    def show(self, value: str) -> str:
        return value

    def wire(self, value: str) -> str:
        return value


_TIMESPAN = re.compile(r"^(?P<neg>-)?(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?$")


@dataclass(frozen=True)
class TimeSpanType:
    """EnhancedTimeSpan: ``[d.]hh:mm:ss``; canonical value is whole seconds."""

    minimum: int = 0
    maximum: int = 24855 * 86400 + 3 * 3600 + 14 * 60 + 7  # 24855.03:14:07 (cmdlets.md §5)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _TIMESPAN.pattern, "x-exchange-type": "EnhancedTimeSpan"}

    def parse(self, value: Any) -> int:
        m = _TIMESPAN.match(value.strip()) if isinstance(value, str) else None
        if not m or m["neg"]:
            raise ValueError_(f"expected a time span such as 30.00:00:00 (days.hours:minutes:seconds), got {value!r}")
        hours, minutes, secs = int(m["h"]), int(m["m"]), int(m["s"])
        if hours > 23 or minutes > 59 or secs > 59:
            raise ValueError_(f"{value!r} is not a valid time span: hours must be 0-23, minutes and seconds 0-59")
        total = int(m["d"] or 0) * 86400 + hours * 3600 + minutes * 60 + secs
        if not self.minimum <= total <= self.maximum:
            raise ValueError_(f"{value!r} is out of range {self.show(self.minimum)} to {self.show(self.maximum)}")
        return total

    def show(self, value: int) -> str:
        days, rest = divmod(value, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
        return f"{days}.{clock}" if days else clock

    def wire(self, value: int) -> str:
        return self.show(value)


_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_SIZE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<u>B|KB|MB|GB|TB)?(?:\s*\((?P<bytes>[\d,]+) bytes\))?$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteSizeType:
    """ByteQuantifiedSize, optionally ``Unlimited``; canonical value is bytes or None (unlimited)."""

    unlimited: bool = True

    def schema(self) -> dict[str, Any]:
        pattern = r"^(?i:unlimited|\d+(\.\d+)?\s*(B|KB|MB|GB|TB)?)$" if self.unlimited else r"^(?i:\d+(\.\d+)?\s*(B|KB|MB|GB|TB)?)$"
        return {
            "anyOf": [{"type": "string", "pattern": pattern}, {"type": "integer", "minimum": 0}],
            "x-exchange-type": "Unlimited<ByteQuantifiedSize>" if self.unlimited else "ByteQuantifiedSize",
        }

    def parse(self, value: Any) -> int | None:
        if isinstance(value, bool):
            raise ValueError_(f"expected a size such as 250 MB, got {value!r}")
        if isinstance(value, int) and value >= 0:
            return value
        if isinstance(value, str):
            text = value.strip()
            if text.lower() == "unlimited":
                if self.unlimited:
                    return None
                raise ValueError_("this size cannot be Unlimited")
            m = _SIZE.match(text)
            if m:
                if m["bytes"]:
                    return int(m["bytes"].replace(",", ""))
                amount = float(m["n"]) * _UNITS[(m["u"] or "B").upper()]
                if amount == int(amount):
                    return int(amount)
        raise ValueError_(f"expected a size such as 250 MB{' or Unlimited' if self.unlimited else ''}, got {value!r}")

    def show(self, value: int | None) -> str:
        if value is None:
            return "Unlimited"
        for unit in ("TB", "GB", "MB", "KB"):
            if value and value % _UNITS[unit] == 0:
                return f"{value // _UNITS[unit]} {unit}"
        return f"{value} B"

    def wire(self, value: int | None) -> str:
        return self.show(value).replace(" ", "")


@dataclass(frozen=True)
class PathType:
    """A local Windows path (LocalLongFullPath); compared case-insensitively."""

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^[A-Za-z]:\\", "x-exchange-type": "LocalLongFullPath"}

    def parse(self, value: Any) -> str:
        if not isinstance(value, str) or not re.match(r"^[A-Za-z]:\\", value.strip()):
            raise ValueError_(f"expected a full local path such as D:\\Logs\\SmtpSend, got {value!r}")
        return value.strip().rstrip("\\") or value.strip()

    def show(self, value: str) -> str:
        return value

    def wire(self, value: str) -> str:
        return value

    def same(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold()


_DOMAIN = re.compile(r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$")


@dataclass(frozen=True)
class DomainListType:
    """A multi-valued list of SMTP domains (no wildcards); compared as a case-insensitive set."""

    def schema(self) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "pattern": _DOMAIN.pattern},
            "uniqueItems": True,
            "x-exchange-type": "MultiValuedProperty<SmtpDomain>",
        }

    def parse(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ValueError_(f"expected a list of domains, got {value!r}")
        out = []
        for item in value:
            if not isinstance(item, str) or not _DOMAIN.match(item.strip()):
                raise ValueError_(f"{item!r} is not a domain name (no wildcards allowed)")
            out.append(item.strip().lower())
        return tuple(sorted(set(out)))

    def show(self, value: tuple[str, ...]) -> str:
        return "[" + ", ".join(value) + "]"

    def wire(self, value: tuple[str, ...]) -> list[str]:
        return list(value)


ValueType = EnumType | TimeSpanType | ByteSizeType | PathType | DomainListType

PROTOCOL_LOGGING_LEVEL = EnumType("Microsoft.Exchange.Data.ProtocolLoggingLevel", ("None", "Verbose"))


def same(vtype: ValueType, a: Any, b: Any) -> bool:
    """Whether two canonical values are equal for this type."""
    if isinstance(vtype, PathType):
        return vtype.same(a, b)
    return a == b
