"""Parameter types: how a value PowerShell passes (string, number, boolean, $null, array)
becomes a typed value, exactly once, and how each type names itself in .NET terms.

Sources (cited again where used):
[PS]  PowerShell/PowerShell LanguagePrimitives / ExtendedTypeSystem strings;
[SRC] PiratesRE/exchange_diff @ 1d7d834 (decompiled Exchange 2013), Microsoft.Exchange.Data/*.cs and DataStrings.resources.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any, Callable

from .dotnet_values import UNLIMITED, ByteSize, TimeSpan, Unlimited, parse_byte_size, parse_timespan
from .enums import ACTION_PREFERENCE, EnumDef, EnumValue
from .ps_conversion import (
    ConversionError, TransformError, cast_error, clr_type_name, describe, no_cast_error, null_error,
)
from .string_values import (
    parse_address_space, parse_culture, parse_domain, parse_domain_with_subdomains, parse_ip, parse_ip_binding,
    parse_ip_range, parse_local_path, parse_smart_host, parse_x509_identifier,
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
