"""Exchange and .NET value types: how the lab parses, compares and prints them.

A parameter value reaches a cmdlet as PowerShell would pass it (a string, a
number, a boolean, ``$null`` or an array) and is converted by the parameter's
type exactly once, here. What comes out is a typed value whose ``str()`` is the
.NET ``ToString()`` that Exchange prints and that exconf's remote program sends
back (docs/remote-contract.md, "How values are serialised").

Sources for formats and messages (cited again where used):
[SRC] PiratesRE/exchange_diff @ 1d7d834 (decompiled Exchange 2013):
      Microsoft.Exchange.Data/ByteQuantifiedSize.cs, EnhancedTimeSpan.cs,
      Unlimited.cs, SmtpX509Identifier.cs and DataStrings.resources;
[PS]  PowerShell/PowerShell LanguagePrimitives / ExtendedTypeSystem strings;
[NET] .NET Framework TimeSpan.Parse / TimeSpan.ToString("c").
"""

from __future__ import annotations

import ipaddress
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

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


@dataclass(frozen=True)
class EnumDef:
    """A .NET enum: its full name, members in declaration order, and whether it is [Flags]."""

    dotnet: str
    members: tuple[tuple[str, int], ...]
    flags: bool = False

    @property
    def names_by_value(self) -> list[tuple[str, int]]:
        # Enum.GetNames order: by unsigned value, declaration order for ties.
        return sorted(self.members, key=lambda nv: nv[1])

    def value(self, names: str) -> "EnumValue":
        """A value by name(s), e.g. "Tls, ExchangeServer" (for defaults written in code)."""
        return EnumValue(self, self.parse(names))

    def format(self, number: int) -> str:
        """Enum.ToString(): the name, or for [Flags] the composite "A, B" in ascending order."""
        ordered = self.names_by_value
        for name, value in ordered:
            if value == number:
                return name
        if not self.flags or number <= 0:
            return str(number)
        rest, parts = number, []
        for name, value in reversed(ordered):
            if value and rest & value == value:
                parts.append(name)
                rest -= value
        return ", ".join(reversed(parts)) if rest == 0 else str(number)

    def parse(self, raw: Any) -> int:
        """PowerShell's string/array to enum conversion; ValueError(.NET message)."""
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        tokens: list[str] = []
        for item in items:
            if isinstance(item, bool):
                raise ValueError(None)
            tokens.extend(str(item).split(",") if isinstance(item, str) else [str(item)])
        if len(tokens) > 1 and not self.flags:
            raise ValueError(self._no_match(str(raw) if not isinstance(raw, (list, tuple)) else ",".join(map(str, raw))))
        lookup = {n.lower(): v for n, v in self.members}
        total = 0
        for token in tokens:
            word = token.strip()
            if re.fullmatch(r"-?\d+", word):
                number = int(word)
                if not self.flags and number not in lookup.values():
                    raise ValueError(self._no_match(word))
                total |= number
            elif word.lower() in lookup:
                total |= lookup[word.lower()]
            else:
                raise ValueError(self._no_match(word))
        return total

    def _no_match(self, word: str) -> str:
        # Windows PowerShell 5.1 puts a line break before the list (PS 7 a space).
        names = ", ".join(n for n, _ in self.names_by_value)
        return (
            f"Unable to match the identifier name {word} to a valid enumerator name. "
            f"Specify one of the following enumerator names and try again:\r\n{names}"
        )


@dataclass(frozen=True)
class EnumValue:
    enum: EnumDef = field(compare=False)
    number: int

    def __str__(self) -> str:
        return self.enum.format(self.number)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and other.enum.dotnet == self.enum.dotnet and other.number == self.number

    def __hash__(self) -> int:
        return hash((self.enum.dotnet, self.number))


# --- enums used by the cmdlets of this slice [SRC *.cs of the same names] ---------------

def _enum(dotnet: str, *names: str | tuple[str, int], flags: bool = False) -> EnumDef:
    members, next_value = [], 0
    for item in names:
        name, value = item if isinstance(item, tuple) else (item, next_value)
        members.append((name, value))
        next_value = value + 1
    return EnumDef(dotnet, tuple(members), flags)


PROTOCOL_LOGGING_LEVEL = _enum("Microsoft.Exchange.Data.ProtocolLoggingLevel", "None", "Verbose")
PROTOCOL_OPTION = _enum("Microsoft.Exchange.Data.ProtocolOption", "Any", "UseUdpOnly", "UseTcpOnly")
AUTH_MECHANISMS = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthMechanisms",
    ("None", 0), ("Tls", 1), ("Integrated", 2), ("BasicAuth", 4), ("BasicAuthRequireTLS", 8),
    ("ExchangeServer", 16), ("ExternalAuthoritative", 32), flags=True,
)
PERMISSION_GROUPS = _enum(
    "Microsoft.Exchange.Data.PermissionGroups",
    ("None", 0), ("AnonymousUsers", 1), ("ExchangeUsers", 2), ("ExchangeServers", 4),
    ("ExchangeLegacyServers", 8), ("Partners", 16), ("Custom", 32), flags=True,
)
SERVER_ROLE = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole",
    ("None", 0), ("Cafe", 1), ("Mailbox", 2), ("ClientAccess", 4), ("UnifiedMessaging", 16),
    ("HubTransport", 32), ("Edge", 64), ("All", 16503), ("Monitoring", 128), ("CentralAdmin", 256),
    ("CentralAdminDatabase", 512), ("DomainController", 1024), ("WindowsDeploymentServer", 2048),
    ("ProvisionedServer", 4096), ("LanguagePacks", 8192), ("FrontendTransport", 16384), ("CafeArray", 32768),
    ("FfoWebService", 65536), ("OSP", 131072), ("ARR", 262144), ("ManagementFrontEnd", 524288),
    ("ManagementBackEnd", 1048576), ("SCOM", 2097152), ("CentralAdminFrontEnd", 4194304), ("NAT", 8388608),
    ("DHCP", 16777216), flags=True,
)
SIZE_MODE = _enum("Microsoft.Exchange.Data.SizeMode", "Disabled", "Enabled", "EnabledWithoutValue")
MESSAGE_RATE_SOURCE = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.MessageRateSourceFlags",
    ("None", 0), ("IPAddress", 1), ("User", 2), ("All", 3), flags=True,
)
EXTENDED_PROTECTION = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ExtendedProtectionPolicySetting",
    ("None", 0), ("Allow", 1), ("Require", 2), flags=True,
)
ERROR_POLICIES = _enum(
    "Microsoft.Exchange.Data.ErrorPolicies",
    ("Default", 0), ("DowngradeDnsFailures", 4), ("DowngradeCustomFailures", 8), ("UpgradeCustomFailures", 16),
    flags=True,
)
TLS_AUTH_LEVEL = _enum(
    "Microsoft.Exchange.Data.TlsAuthLevel", ("EncryptionOnly", 1), ("CertificateValidation", 2), ("DomainValidation", 4)
)
SMART_HOST_AUTH = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig+AuthMechanisms",
    ("None", 0), ("BasicAuth", 2), ("BasicAuthRequireTLS", 4), ("ExchangeServer", 8), ("ExternalAuthoritative", 16),
    flags=True,
)
# Set-SendConnector -ConnectorType: the 2019 docs list Default and XPremises; Get shows the
# property as Microsoft.Exchange.Data.SendConnectorType (fixture GetSendConnector.xml).
SEND_CONNECTOR_TYPE = _enum("Microsoft.Exchange.Data.SendConnectorType", "Default", "XPremises")
SERVER_EDITION = _enum(
    "Microsoft.Exchange.Data.ServerEditionType", "Unknown", "Standard", "StandardEvaluation", "Enterprise",
    "EnterpriseEvaluation", "Coexistence", "CoexistenceEvaluation",
)
SYNC_LOG_LEVEL = _enum("Microsoft.Exchange.Data.SyncLoggingLevel", "None", "Low", "Medium", "High", "VeryHigh", "Debug")
ACTION_PREFERENCE = _enum(
    "System.Management.Automation.ActionPreference", "SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore",
    "Suspend",
)
DSN_CONVERSION = _enum("Microsoft.Exchange.Data.DSNConversionOption", "UseExchangeDSNs", "PreserveDSNBody", "DoNotConvert")
HEADER_PROMOTION = _enum("Microsoft.Exchange.Data.HeaderPromotionMode", "NoCreate", "MayCreate", "MustCreate")
SHADOW_PREFERENCE = _enum(
    "Microsoft.Exchange.Data.ShadowMessagePreference", "PreferRemote", "LocalOnly", "RemoteOnly"
)


# --- parameter types -------------------------------------------------------------------------


class PType:
    """A parameter/property type: converts what PowerShell would pass, names itself like .NET."""

    dotnet = "System.Object"
    nullable = True  # reference types and Nullable<T> accept $null
    multi = False

    def convert(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise null_error(self.dotnet)
        if isinstance(value, (list, tuple)):
            if len(value) == 1:  # PowerShell unwraps a one-element array for a scalar parameter
                return self.convert(value[0])
            raise no_cast_error(value, self.dotnet)
        return self.from_scalar(value)

    def from_scalar(self, value: Any) -> Any:
        raise NotImplementedError

    def load(self, stored: Any) -> Any:
        """Rebuild a value from its state-file form (its ToString(), or a JSON scalar)."""
        return None if stored is None else self.convert(stored)

    def dump(self, value: Any) -> Any:
        return None if value is None else (value if isinstance(value, (bool, int, str)) else str(value))


class StringType(PType):
    dotnet = "System.String"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):  # [string]@('a','b') joins with $OFS (a space)
            return " ".join(describe(v) for v in value)
        return describe(value) if not isinstance(value, str) else value


class BoolType(PType):
    dotnet = "System.Boolean"
    nullable = False

    def convert(self, value: Any) -> Any:
        # ParameterArgumentTransformationError: only booleans and numbers are accepted [PS]
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return value != 0
        raise TransformError(
            f'Cannot convert value "{_transform_name(value)}" to type "{self.dotnet}". Boolean parameters accept only '
            "Boolean values and numbers, such as $True, $False, 1 or 0."
        )

    def load(self, stored: Any) -> Any:
        return stored


def _transform_name(value: Any) -> str:
    if value is None:
        return ""
    return clr_type_name(value)


class SwitchType(BoolType):
    dotnet = "System.Management.Automation.SwitchParameter"


class IntType(PType):
    nullable = False

    def __init__(self, dotnet: str = "System.Int32", low: int = -(2**31), high: int = 2**31 - 1):
        self.dotnet, self.low, self.high = dotnet, low, high

    def from_scalar(self, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise cast_error(value, self.dotnet, f"Value was either too large or too small for an {self._short}.")
            value = round(value)  # .NET rounds half to even, as Python does
        elif isinstance(value, str):
            text = value.strip()
            try:
                value = int(text, 16) if text.lower().startswith("0x") else int(text)
            except ValueError:
                try:
                    value = round(float(text))
                except ValueError:
                    raise cast_error(text, self.dotnet, "Input string was not in a correct format.") from None
        if not self.low <= value <= self.high:
            raise cast_error(value, self.dotnet, f"Value was either too large or too small for an {self._short}.")
        return value

    @property
    def _short(self) -> str:
        return self.dotnet.split(".")[-1]

    def load(self, stored: Any) -> Any:
        return stored


class EnumType(PType):
    def __init__(self, enum: EnumDef, nullable: bool = False):
        self.enum, self.nullable = enum, nullable
        self.dotnet = enum.dotnet if not nullable else f"System.Nullable`1[{enum.dotnet}]"

    def convert(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise null_error(self.enum.dotnet)
        try:
            return EnumValue(self.enum, self.enum.parse(value))
        except ValueError as exc:
            inner = exc.args[0] or self.enum._no_match(describe(value))
            raise cast_error(value, self.enum.dotnet, inner) from None


class TimeSpanType(PType):
    nullable = False

    def __init__(self, dotnet: str = "Microsoft.Exchange.Data.EnhancedTimeSpan"):
        self.dotnet = dotnet

    def from_scalar(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise no_cast_error(value, self.dotnet)
        if isinstance(value, (int, float)):  # a number becomes TimeSpan(ticks), as [TimeSpan]30 does
            return TimeSpan(int(value))
        try:
            return parse_timespan(value)
        except ValueError as exc:
            raise cast_error(value, self.dotnet, str(exc)) from None


class ByteSizeType(PType):
    dotnet = "Microsoft.Exchange.Data.ByteQuantifiedSize"
    nullable = False

    def from_scalar(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise no_cast_error(value, self.dotnet)
        if isinstance(value, (int, float)):
            if value < 0:
                raise no_cast_error(value, self.dotnet)
            return ByteSize(int(value))
        try:
            return parse_byte_size(value)
        except (ValueError, OverflowError) as exc:
            raise cast_error(value, self.dotnet, str(exc)) from None


class UnlimitedType(PType):
    nullable = False

    def __init__(self, inner: PType):
        self.inner = inner
        self.dotnet = f"Microsoft.Exchange.Data.Unlimited`1[{inner.dotnet}]"

    def from_scalar(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "unlimited":
            return UNLIMITED
        try:
            return Unlimited(self.inner.from_scalar(value))
        except ConversionError as exc:
            # Re-point the message at Unlimited<T>, the type PowerShell was converting to.
            raise ConversionError(str(exc).replace(f'type "{self.inner.dotnet}"', f'type "{self.dotnet}"', 1)) from None


class ParsedString(PType):
    """A type PowerShell builds with its static Parse(string): the value is kept as normalised text."""

    def __init__(self, dotnet: str, parse: Callable[[str], str], nullable: bool = True):
        self.dotnet, self._parse, self.nullable = dotnet, parse, nullable

    def from_scalar(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise no_cast_error(value, self.dotnet)
        text = describe(value)
        try:
            return self._parse(text)
        except ValueError as exc:
            raise cast_error(value, self.dotnet, str(exc)) from None


class GuidType(ParsedString):
    def __init__(self) -> None:
        super().__init__("System.Guid", _parse_guid, nullable=False)

    def load(self, stored: Any) -> Any:
        return uuid.UUID(stored)


def _parse_guid(text: str) -> Any:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise ValueError("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).") from None


class RejectType(PType):
    """A type no JSON value can become (PSCredential: PowerShell would prompt, which a
    non-interactive shell cannot)."""

    def __init__(self, dotnet: str):
        self.dotnet = dotnet

    def from_scalar(self, value: Any) -> Any:
        raise no_cast_error(value, self.dotnet)


class MultiType(PType):
    """Microsoft.Exchange.Data.MultiValuedProperty<T>: a scalar becomes a one-item list; $null clears."""

    multi = True

    def __init__(self, element: PType, dotnet: str | None = None):
        self.element = element
        self.dotnet = dotnet or f"Microsoft.Exchange.Data.MultiValuedProperty`1[{element.dotnet}]"

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        out = []
        for item in items:
            try:
                converted = self.element.convert(item)
            except (ConversionError, TransformError) as exc:
                inner = str(exc).split('Error: "', 1)[-1].rstrip('"')
                raise cast_error(value, self.dotnet, inner) from None
            if converted not in out:  # a MultiValuedProperty holds each value once
                out.append(converted)
        return tuple(out)

    def load(self, stored: Any) -> Any:
        return tuple(self.element.load(v) for v in stored or ())

    def dump(self, value: Any) -> Any:
        return [self.element.dump(v) for v in value or ()]


class DateTimeType(PType):
    dotnet = "System.DateTime"

    def load(self, stored: Any) -> Any:
        return None if stored is None else datetime.fromisoformat(stored)

    def dump(self, value: Any) -> Any:
        return None if value is None else value.isoformat()


# --- parsers of the string-like Exchange types ----------------------------------------------

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def _invalid_domain(text: str) -> ValueError:
    return ValueError(f'"{text}" isn\'t a valid SMTP domain.')  # DataStrings.InvalidSmtpDomainName [SRC]


def parse_domain(text: str) -> str:
    """SmtpDomain / Fqdn: a DNS name, no wildcard."""
    if len(text) > 255 or not _DOMAIN_RE.match(text):
        raise _invalid_domain(text)
    return text


def parse_domain_with_subdomains(text: str) -> str:
    """SmtpDomainWithSubdomains: "contoso.com", "*.contoso.com" or "*"."""
    if text == "*":
        return text
    if text.startswith("*") and not text.startswith("*."):
        raise ValueError("The wildcard '*' should be followed by a '.' for the domain")
    parse_domain(text[2:] if text.startswith("*.") else text)
    return text


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise ValueError("An invalid IP address was specified.") from None  # System.Net.IPAddress.Parse


def parse_ip_binding(text: str) -> str:
    """IPBinding "<address>:<port>" or "[v6]:port" [SRC DataStrings ExceptionEndPoint*]."""
    s = text.strip()
    if s.startswith("["):
        host, sep, port = s[1:].partition("]:")
    else:
        host, sep, port = s.rpartition(":")
    if not sep or not host:
        raise ValueError(
            f"The separator between the IP address and the port number is missing in '{text}'. "
            "The format for an IPBinding is <IP address>:<port number>."
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"The IP address in '{text}' has an invalid format.") from None
    if not port.isdigit():
        raise ValueError(f"The specified port number in '{text}' isn't a number.")
    if not 0 <= int(port) <= 65535:
        raise ValueError(
            f"The port number '{port}' is outside the acceptable range. You must specify a port number from 0 to 65535."
        )
    return f"[{address}]:{int(port)}" if address.version == 6 else f"{address}:{int(port)}"


def parse_ip_range(text: str) -> str:
    """IPRange: a single address, "a-b" or CIDR "a/n" [SRC DataStrings InvalidIPRange*]."""
    s = text.strip()
    bad_format = ValueError(
        f'The input string "{text}" isn\'t formatted correctly. An example of an IP range is '
        '"192.168.1.1-192.168.255.255" where "192.168.1.1" is the starting address of the range and '
        '"192.168.255.255" is the ending address of the range.'
    )
    try:
        if "/" in s:
            host, _, length = s.partition("/")
            address = ipaddress.ip_address(host)
            if not length.isdigit():
                raise bad_format
            limit = 32 if address.version == 4 else 128
            if int(length) > limit:
                raise ValueError(
                    f'The CIDR length "{length}" is invalid. An acceptable CIDR length is in the range [0, 32] for an '
                    "IPv4 address and [0, 128] for an IPv6 address."
                )
            return f"{address}/{int(length)}"
        if "-" in s:
            first, _, last = s.partition("-")
            start, end = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
            if start.version != end.version:
                raise bad_format
            if int(start) > int(end):
                raise ValueError(f"The start address {start} must be less than or equal to the end address {end}.")
            return f"{start}-{end}"
        return str(ipaddress.ip_address(s))
    except ValueError as exc:
        if exc is bad_format or str(exc).startswith(("The CIDR", "The start")):
            raise
        raise bad_format from None


def parse_address_space(text: str) -> str:
    """AddressSpace "[Type:]Space[;Cost]" printed as "SMTP:contoso.com;1" [PS Set-SendConnector, SRC AddressSpace.cs]."""
    s = text.strip()
    kind, sep, rest = s.partition(":")
    if not sep:
        kind, rest = "SMTP", s
    if not kind:
        raise ValueError("The address space type can't be empty.")
    cost = 1
    if kind.upper() == "SMTP" and ";" in rest:
        rest, _, cost_text = rest.rpartition(";")
        if not cost_text.strip().lstrip("-").isdigit():
            raise ValueError(f'Cost value "{cost_text}" is not a valid number.')
        cost = int(cost_text)
    elif kind.upper() != "SMTP" and ";" in rest and rest.rsplit(";", 1)[1].strip().isdigit():
        rest, _, cost_text = rest.rpartition(";")
        cost = int(cost_text)
    if not 1 <= cost <= 100:
        raise ValueError("The cost must be a value between 1 and 100.")
    if kind.upper() == "SMTP":
        kind = "SMTP"
        if rest != "--":
            if not rest:
                raise ValueError("Invalid address space")
            parse_domain_with_subdomains(rest)
    elif not rest:
        raise ValueError("Invalid address space")
    return f"{kind}:{rest};{cost}"


def parse_smart_host(text: str) -> str:
    """SmartHost: a host name, an IP address or "[IP]"; "--" is EdgeSync's "all Mailbox servers"."""
    s = text.strip()
    if s == "--":
        return s
    try:
        address = ipaddress.ip_address(s.strip("[]"))
    except ValueError:
        if len(s) > 255 or not _DOMAIN_RE.match(s):
            raise ValueError(f'"{text}" is not a valid IP address or host name.') from None
        return s
    if address == ipaddress.ip_address("0.0.0.0"):
        raise ValueError("You can't use [0.0.0.0] as the smart host IP address.")
    return f"[{address}]"


_X509_RE = re.compile(r"^(?:X509:)?(<I>([^<]+))?(<S>(.+))$", re.IGNORECASE)


def parse_x509_identifier(text: str) -> str:
    """SmtpX509Identifier "<I>issuer<S>subject" [SRC SmtpX509Identifier.cs]."""
    m = _X509_RE.match(text.strip())
    if not m:
        raise ValueError(f'"{text}" isn\'t a valid Certificate Identifier.')
    return (f"<I>{m.group(2)}" if m.group(2) else "") + f"<S>{m.group(4)}"


_INVALID_PATH_CHARS = set('"<>|') | {chr(c) for c in range(32)} | {"*", "?"}


def parse_local_path(text: str) -> str:
    """LocalLongFullPath: absolute, local, no '~' [SRC DataStrings ErrorLocalLongFullPathCannotConvert]."""
    s = text.strip()
    ok = re.match(r"^[A-Za-z]:\\", s) and "~" not in s and not (set(s[2:]) & (_INVALID_PATH_CHARS | {":"}))
    if not ok:
        raise ValueError(
            f'"{text}" is not an acceptable path. You must use an absolute, local, long file path, that does not contain \'~\'.'
        )
    if len(s) >= 248:
        raise ValueError(
            "The specified path, file name, or both are too long. The fully qualified file name must be less than "
            f"260 characters. Directory names must be less than 248 characters. The path specified: {s}"
        )
    return s


def parse_smtp_address(text: str) -> str:
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not _DOMAIN_RE.match(domain):
        raise ValueError(f'"{text}" isn\'t a valid SMTP address.')
    return text.strip()


def parse_culture(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", text.strip()):
        raise ValueError(f"Culture is not supported.\r\nParameter name: name\r\n{text} is an invalid culture identifier.")
    return text.strip()


# --- ready-made types -----------------------------------------------------------------------

STRING = StringType()
BOOL = BoolType()
SWITCH = SwitchType()
INT = IntType()
UINT = IntType("System.UInt32", 0, 2**32 - 1)
TIMESPAN = TimeSpanType()
BYTESIZE = ByteSizeType()
UNLIMITED_BYTES = UnlimitedType(BYTESIZE)
UNLIMITED_INT = UnlimitedType(INT)
GUID = GuidType()
DATETIME = DateTimeType()
FQDN = ParsedString("Microsoft.Exchange.Data.Fqdn", parse_domain)
SMTP_DOMAIN = ParsedString("Microsoft.Exchange.Data.SmtpDomain", parse_domain)
SMTP_DOMAIN_SUB = ParsedString("Microsoft.Exchange.Data.SmtpDomainWithSubdomains", parse_domain_with_subdomains)
IP_ADDRESS = ParsedString("System.Net.IPAddress", parse_ip)
IP_BINDING = ParsedString("Microsoft.Exchange.Data.IPBinding", parse_ip_binding)
IP_RANGE = ParsedString("Microsoft.Exchange.Data.IPRange", parse_ip_range)
ADDRESS_SPACE = ParsedString("Microsoft.Exchange.Data.AddressSpace", parse_address_space)
SMART_HOST = ParsedString("Microsoft.Exchange.Data.SmartHost", parse_smart_host)
X509_IDENTIFIER = ParsedString("Microsoft.Exchange.Data.SmtpX509Identifier", parse_x509_identifier)
LOCAL_PATH = ParsedString("Microsoft.Exchange.Data.LocalLongFullPath", parse_local_path)
CULTURE = ParsedString("System.Globalization.CultureInfo", parse_culture)
PS_CREDENTIAL = RejectType("System.Management.Automation.PSCredential")
ACTION_PREF = EnumType(ACTION_PREFERENCE)


def enum(e: EnumDef, nullable: bool = False) -> EnumType:
    return EnumType(e, nullable)


def multi(element: PType, dotnet: str | None = None) -> MultiType:
    return MultiType(element, dotnet)


def id_param(dotnet_short: str, parse: Callable[[str], str] = str) -> ParsedString:
    """An identity parameter type (SendConnectorIdParameter …): any text, unless ``parse`` says otherwise."""
    return ParsedString(f"Microsoft.Exchange.Configuration.Tasks.{dotnet_short}", parse)


def flags_of(value: EnumValue | None) -> set[str]:
    """The member names set in a flags value (for validation rules)."""
    if value is None:
        return set()
    return {name for name, number in value.enum.members if number and value.number & number == number}
