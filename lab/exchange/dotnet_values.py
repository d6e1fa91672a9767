"""The .NET and Exchange value types the lab stores: TimeSpan, ByteQuantifiedSize, Unlimited<T>.

Each ``str()`` is the .NET ``ToString()`` Exchange prints and exconf's remote
program sends back (docs/remote-contract.md, "How values are serialised").

Sources (cited again where used):
[SRC] PiratesRE/exchange_diff @ 1d7d834 (decompiled Exchange 2013), Microsoft.Exchange.Data/*.cs and DataStrings.resources;
[NET] .NET Framework TimeSpan.Parse / TimeSpan.ToString("c").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# --- typed values ----------------------------------------------------------------------------

TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND


@dataclass(frozen=True, order=True)
class TimeSpan:
    """System.TimeSpan / Microsoft.Exchange.Data.EnhancedTimeSpan, in 100 ns ticks."""

    ticks: int

    @classmethod
    def of(cls, days: int = 0, hours: int = 0, minutes: int = 0, seconds: int = 0) -> "TimeSpan":
        return cls((((days * 24 + hours) * 60 + minutes) * 60 + seconds) * TICKS_PER_SECOND)

    def __str__(self) -> str:  # TimeSpan.ToString() = "c" format [NET]
        sign = "-" if self.ticks < 0 else ""
        days, rem = divmod(abs(self.ticks), TICKS_PER_DAY)
        hours, rem = divmod(rem, 3600 * TICKS_PER_SECOND)
        minutes, rem = divmod(rem, 60 * TICKS_PER_SECOND)
        seconds, fraction = divmod(rem, TICKS_PER_SECOND)
        text = f"{sign}{f'{days}.' if days else ''}{hours:02}:{minutes:02}:{seconds:02}"
        return text + (f".{fraction:07}" if fraction else "")


# TimeSpan.Parse [NET]: "d", "hh:mm", "hh:mm:ss[.f]", "d.hh:mm[:ss[.f]]" and "d:hh:mm:ss[.f]".
# The day part is lazy so that "12:00:00" is hours:minutes:seconds, not days:hours:minutes.
_TIMESPAN_RE = re.compile(
    r"^\s*(?P<neg>-)?(?:(?P<days_only>\d+)|(?:(?P<days>\d+)[.:])??(?P<h>\d+):(?P<m>\d+)(?::(?P<s>\d+)(?:\.(?P<f>\d+))?)?)\s*$"
)
_TIMESPAN_FORMAT = "String was not recognized as a valid TimeSpan."
_TIMESPAN_OVERFLOW = (
    "The TimeSpan could not be parsed because at least one of the numeric components is out of range or contains too many digits."
)
_MAX_DAYS = 10_675_199


def parse_timespan(text: str) -> TimeSpan:
    """TimeSpan.Parse as EnhancedTimeSpan.Parse calls it [SRC EnhancedTimeSpan.cs]; ValueError(.NET message)."""
    m = _TIMESPAN_RE.match(text)
    if not m:
        raise ValueError(_TIMESPAN_FORMAT)
    if m["days_only"] is not None:
        days, h, mi, s, frac = int(m["days_only"]), 0, 0, 0, 0
    else:
        days = int(m["days"] or 0)
        h, mi, s = int(m["h"]), int(m["m"]), int(m["s"] or 0)
        digits = m["f"] or ""
        if len(digits) > 7:
            raise ValueError(_TIMESPAN_OVERFLOW)
        frac = int(digits.ljust(7, "0")) if digits else 0
        if h > 23 or mi > 59 or s > 59:
            raise ValueError(_TIMESPAN_OVERFLOW)
    if days > _MAX_DAYS:
        raise ValueError(_TIMESPAN_OVERFLOW)
    ticks = ((days * 24 + h) * 60 + mi) * 60 * TICKS_PER_SECOND + s * TICKS_PER_SECOND + frac
    return TimeSpan(-ticks if m["neg"] else ticks)


_UNITS = (("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10))
_UNIT_SHIFT = {"B": 0, "KB": 10, "MB": 20, "GB": 30, "TB": 40}
# MaximumValues per unit [SRC ByteQuantifiedSize.cs]
_UNIT_MAX = {0: 2**64 - 1, 10: 18014398509481983, 20: 17592186044415, 30: 17179869183, 40: 16777215}


def _g4(x: float) -> str:
    """.NET "{0:G4}" of a double (4 significant digits, trailing zeros dropped)."""
    return format(x, ".4G")


@dataclass(frozen=True, order=True)
class ByteSize:
    """Microsoft.Exchange.Data.ByteQuantifiedSize (bytes)."""

    bytes: int

    def __str__(self) -> str:  # ToString("A"): largest unit, G4, then the exact byte count [SRC]
        for unit, shift in _UNITS:
            if self.bytes >> shift:
                return f"{_g4(self.bytes / (1 << shift))} {unit} ({self.bytes:,} bytes)"
        return f"{self.bytes} B ({self.bytes:,} bytes)"

    def in_unit(self, shift: int) -> str:
        """ToString(Quantifier): "{0:N0} MB" etc. (used in overflow messages)."""
        unit = {0: "B", 10: "KB", 20: "MB", 30: "GB", 40: "TB"}[shift]
        return f"{self.bytes >> shift:,} {unit}"


# LargestAppropriateUnitFormatPattern [SRC ByteQuantifiedSize.cs]
_BQS_RE = re.compile(r"^(?P<short>\S{0,14}\d)( ?(?P<unit>[KMGT]?B)( \((?P<long>\S+) bytes\))?)?$", re.IGNORECASE)
_DOUBLE_RE = re.compile(r"^\s*[+-]?(?:[\d,]+\.?\d*|\.\d+)(?:e[+-]?\d+)?\s*$", re.IGNORECASE)


def _bqs_format_error(text: str) -> str:  # DataStrings.ExceptionFormatNotCorrect [SRC]
    return (
        f"The string '{text}' isn't correctly formatted. It can contain a number with an optional unit specifier "
        'or the long ByteQuantifiedSize format. Examples include "12345", "104 MB", and "1 KB". Using the short '
        "format limits the string to 15 digits. However, the long format supports strings up to the maximum "
        "ByteQuantifiedSize value."
    )


def parse_byte_size(text: str) -> ByteSize:
    """ByteQuantifiedSize.Parse [SRC]: "12345", "250MB", "250 mb", "35 MB (36,700,160 bytes)"."""
    expression = text.strip()
    m = _BQS_RE.match(expression)
    if not m:
        raise ValueError(_bqs_format_error(expression))
    shift = _UNIT_SHIFT[(m["unit"] or "B").upper()]
    if m["long"] is not None:
        digits = m["long"].replace(",", "")
        if not digits.isdigit() or int(digits) >= 2**64:
            raise ValueError(_bqs_format_error(expression))
        return ByteSize(int(digits))
    short = m["short"]
    if not _DOUBLE_RE.match(short):
        raise ValueError(_bqs_format_error(expression))
    number = float(short.replace(",", ""))
    if number < 0 or number > _UNIT_MAX[shift]:
        # DataStrings.ExceptionValueOverflow [SRC]
        raise OverflowError(
            f"The input value '{expression}' is outside the valid range of values that can be represented by "
            f"ByteQuantifiedSize. The valid range of ByteQuantifiedSize is [{ByteSize(0).in_unit(shift)}, "
            f"{ByteSize(2**64 - 1).in_unit(shift)}]."
        )
    return ByteSize(int(number * (1 << shift)))


@dataclass(frozen=True)
class Unlimited:
    """Microsoft.Exchange.Data.Unlimited<T>: ``value`` None means unlimited [SRC Unlimited.cs]."""

    value: Any = None

    @property
    def is_unlimited(self) -> bool:
        return self.value is None

    def __str__(self) -> str:
        return "Unlimited" if self.value is None else str(self.value)

    def __lt__(self, other: "Unlimited") -> bool:
        if self.value is None:
            return False
        return other.value is None or self.value < other.value

    def __gt__(self, other: "Unlimited") -> bool:
        return other < self


UNLIMITED = Unlimited()
