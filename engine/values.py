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
from fractions import Fraction
from typing import Any


class ValueError_(ValueError):
    """A value that the type cannot accept; the message says what was expected."""


@dataclass(frozen=True)
class EnumType:
    """An Exchange enum such as ProtocolLoggingLevel.

    PowerShell converts enum names case-insensitively (``verbose`` binds as
    ``Verbose``), so the schema takes any string and ``parse`` canonicalises it
    to Exchange's casing, which is what the plan shows and sends.
    """

    exchange_type: str
    choices: tuple[str, ...]
    nullable: bool = False  # a Nullable<enum> (TlsAuthLevel): null is declared and read as null ($null)

    def schema(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": ["string", "null"] if self.nullable else "string",
            "examples": list(self.choices),
            "x-exchange-type": self.exchange_type,
            "x-exchange-values": list(self.choices),
        }
        return doc

    def parse(self, value: Any) -> str | None:
        if value is None and self.nullable:
            return None
        if isinstance(value, str):
            for choice in self.choices:
                if choice.lower() == value.strip().lower():
                    return choice
        raise ValueError_(f"expected one of {', '.join(self.choices)}{' or null' if self.nullable else ''}, found {value!r}")

    def show(self, value: str | None) -> str | None:
        return value

    def wire(self, value: str | None) -> str | None:
        return value


# TimeSpan.Parse, as EnhancedTimeSpan.Parse calls it: "d", "hh:mm", "hh:mm:ss[.f]", "d.hh:mm[:ss[.f]]" and
# "d:hh:mm:ss[.f]" ("30" is 30 days). The day part is lazy so that "12:00:00" is hours:minutes:seconds.
_TIMESPAN = re.compile(
    r"^(?P<neg>-)?(?:(?P<days_only>\d+)|(?:(?P<d>\d+)[.:])??(?P<h>\d+):(?P<m>\d+)(?::(?P<s>\d+)(?:\.(?P<f>\d+))?)?)$"
)
_TIMESPAN_SCHEMA = r"^\s*-?(\d+|(\d+[.:])?\d+:\d+(:\d+(\.\d+)?)?)\s*$"


@dataclass(frozen=True)
class TimeSpanType:
    """EnhancedTimeSpan: ``[d.]hh:mm:ss`` (and the other TimeSpan.Parse forms); canonical value is whole seconds."""

    minimum: int = 0
    maximum: int = 24855 * 86400 + 3 * 3600 + 14 * 60 + 7  # 24855.03:14:07 (cmdlets.md §5)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _TIMESPAN_SCHEMA, "x-exchange-type": "EnhancedTimeSpan"}

    def parse(self, value: Any) -> int:
        m = _TIMESPAN.match(value.strip()) if isinstance(value, str) else None
        if not m:
            raise ValueError_(f"expected a time span such as 30.00:00:00 (days.hours:minutes:seconds), found {value!r}")
        if m["days_only"] is not None:
            days, hours, minutes, secs = int(m["days_only"]), 0, 0, 0
        else:
            days, hours, minutes, secs = int(m["d"] or 0), int(m["h"]), int(m["m"]), int(m["s"] or 0)
        if hours > 23 or minutes > 59 or secs > 59 or len(m["f"] or "") > 7:
            raise ValueError_(f"{value!r} is not a valid time span: hours must be 0-23, minutes and seconds 0-59")
        if m["f"] and int(m["f"]):
            # EnhancedTimeSpanUnitConstraint(OneSecond): whole seconds only (cmdlets.md §5)
            raise ValueError_(f"{value!r} is not a whole number of seconds")
        total = days * 86400 + hours * 3600 + minutes * 60 + secs
        if m["neg"]:
            total = -total  # TimeSpan.Parse accepts a sign; the range below refuses it, as Exchange does
        if not self.minimum <= total <= self.maximum:
            raise ValueError_(f"{value!r} is out of range: {self.range_text()}")
        return total

    def range_text(self) -> str:
        """Exchange's range, as the plan words it."""
        return f"must be between {self.show(self.minimum)} and {self.show(self.maximum)}"

    def show(self, value: int) -> str:
        days, rest = divmod(value, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
        return f"{days}.{clock}" if days else clock

    def wire(self, value: int) -> str:
        return self.show(value)


_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
# ByteQuantifiedSize.Parse: a number (thousands commas allowed) with an optional unit, or the long form Exchange
# prints, "250 MB (262,144,000 bytes)".
_SIZE = re.compile(r"^(?P<n>\d[\d,]*(?:\.\d+)?)\s*(?P<u>B|KB|MB|GB|TB)?(?:\s*\((?P<bytes>[\d,]+) bytes\))?$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteSizeType:
    """ByteQuantifiedSize, optionally ``Unlimited``; canonical value is bytes or None (unlimited).

    ``minimum``/``maximum`` are Exchange's range for the parameter; a value outside
    it is refused with that range in the message (a size that is well formed but
    too large is a range error, not a type error).
    """

    unlimited: bool = True
    minimum: int = 0
    maximum: int | None = None  # None: no documented maximum

    def schema(self) -> dict[str, Any]:
        size = r"\d[\d,]*(\.\d+)?\s*(B|KB|MB|GB|TB)?(\s*\([\d,]+ bytes\))?"
        pattern = rf"^(?i:unlimited|{size})$" if self.unlimited else rf"^(?i:{size})$"
        return {
            # Integers of any size and sign pass the schema: parse() words out-of-range values as range errors.
            "anyOf": [{"type": "string", "pattern": pattern}, {"type": "integer"}],
            "x-exchange-type": "Unlimited<ByteQuantifiedSize>" if self.unlimited else "ByteQuantifiedSize",
            **({"x-exchange-range": [self.minimum, self.maximum]} if self.maximum is not None else {}),
        }

    def parse(self, value: Any) -> int | None:
        size = self._size(value)
        if size is not None and (size < self.minimum or (self.maximum is not None and size > self.maximum)):
            raise ValueError_(f"{value!r} is out of range: {self.range_text()}")
        return size

    def _size(self, value: Any) -> int | None:
        if isinstance(value, bool):
            raise ValueError_(f"expected a size such as 250 MB, found {value!r}")
        if isinstance(value, int):
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
                # Exact, even for huge sizes; a fraction of a byte is dropped, as ByteQuantifiedSize.Parse
                # converts number x unit to a whole count of bytes ("0.1 KB" is 102 bytes).
                unit = _UNITS[m["u"].upper()] if m["u"] else 1  # no unit: bytes
                return int(Fraction(m["n"].replace(",", "")) * unit)
        raise ValueError_(f"expected a size such as 250 MB{' or Unlimited' if self.unlimited else ''}, found {value!r}")

    def range_text(self) -> str:
        """Exchange's range, as the plan words it: "must be between 1 B and 909.5 TB (999,999,999,999,999 bytes)"."""
        if self.maximum is None:
            text = f"must be at least {_approx(self.minimum)}"
        else:
            text = f"must be between {_approx(self.minimum)} and {_approx(self.maximum)}"
        return text + (", or Unlimited" if self.unlimited else "")

    def show(self, value: int | None) -> str:
        if value is None:
            return "Unlimited"
        for unit in ("TB", "GB", "MB", "KB"):
            if value and value % _UNITS[unit] == 0:
                return f"{value // _UNITS[unit]} {unit}"
        return f"{value} B"

    def wire(self, value: int | None) -> str:
        return self.show(value).replace(" ", "")


def _approx(size: int) -> str:
    """A size as Exchange prints it in range messages: largest unit to 4 digits, then the exact bytes."""
    for unit in ("TB", "GB", "MB", "KB"):
        if size >= _UNITS[unit]:
            if size % _UNITS[unit] == 0:
                return f"{size // _UNITS[unit]} {unit}"
            return f"{format(size / _UNITS[unit], '.4G')} {unit} ({size:,} bytes)"
    return f"{size} B"


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


@dataclass(frozen=True)
class BoolType:
    """A [bool] parameter; Exchange prints True/False, the program sends true/false."""

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean", "x-exchange-type": "Boolean"}

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError_(f"expected true or false, found {value!r}")

    def show(self, value: bool) -> bool:
        return value

    def wire(self, value: bool) -> bool:
        return value


_WILD_DOMAIN = re.compile(r"^(\*\.)?" + _DOMAIN.pattern[1:])


@dataclass(frozen=True)
class DomainType:
    """One SmtpDomainWithSubdomains ("contoso.com", "*.contoso.com"), or null; compared case-insensitively."""

    def schema(self) -> dict[str, Any]:
        return {"type": ["string", "null"], "pattern": _WILD_DOMAIN.pattern, "x-exchange-type": "SmtpDomainWithSubdomains"}

    def parse(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _WILD_DOMAIN.match(value.strip()):
            raise ValueError_(f"expected a domain such as contoso.com or *.contoso.com, found {value!r}")
        return value.strip().lower()

    def show(self, value: str | None) -> str | None:
        return value

    def wire(self, value: str | None) -> str | None:
        return value


@dataclass(frozen=True)
class CertificateRef:
    """A certificate named as exchange.certificates names one: by thumbprint, or by a match that survives renewal."""

    thumbprint: str | None = None
    subject: str | None = None
    domains: tuple[str, ...] = ()
    issuer: str | None = None

    def describe(self) -> str:
        if self.thumbprint:
            return f"thumbprint {self.thumbprint}"
        parts = [f"subject {self.subject!r}"] if self.subject else []
        parts += [f"domains {list(self.domains)!r}"] if self.domains else []
        parts += [f"issuer {self.issuer!r}"] if self.issuer else []
        return "match " + ", ".join(parts)


@dataclass(frozen=True)
class CertificateRefType:
    """TlsCertificateName (SmtpX509Identifier, "<I>issuer<S>subject" [cmdlets.md §3, §4]) declared by the
    certificate it names. A declared value is a CertificateRef, which the kind resolves on the server to the
    identifier of the certificate it selects; a value read is the identifier as the server prints it."""

    def schema(self) -> dict[str, Any]:
        match = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
            "subject": {"type": "string", "minLength": 1}, "issuer": {"type": "string", "minLength": 1},
            "domains": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}}}
        return {"type": ["object", "null"], "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                "properties": {"match": match, "thumbprint": {"type": "string", "pattern": "^[0-9A-Fa-f]{40}$"}},
                "x-exchange-type": "SmtpX509Identifier"}

    def parse(self, value: Any) -> CertificateRef | str | None:
        if value is None:
            return None
        if isinstance(value, CertificateRef):
            return value
        if isinstance(value, dict):
            if isinstance(value.get("thumbprint"), str) and re.fullmatch(r"[0-9A-Fa-f]{40}", value["thumbprint"]):
                return CertificateRef(thumbprint=value["thumbprint"].upper())
            match = value.get("match")
            if isinstance(match, dict) and match:
                domains = match.get("domains") or []
                return CertificateRef(subject=match.get("subject"), issuer=match.get("issuer"),
                                      domains=tuple(str(d) for d in (domains if isinstance(domains, list) else [domains])))
            raise ValueError_("expected {match: {subject, issuer, domains}} or {thumbprint: <40 hex digits>}")
        if isinstance(value, str) and re.fullmatch(r"(?is)(X509:)?(<I>.+)?<S>.+", value.strip()):
            return value.strip()
        raise ValueError_(f"expected a certificate reference ({{match: …}} or {{thumbprint: …}}), found {value!r}")

    def show(self, value: CertificateRef | str | None) -> str | None:
        return value.describe() if isinstance(value, CertificateRef) else value

    def wire(self, value: CertificateRef | str | None) -> str | None:
        if isinstance(value, CertificateRef):
            raise ValueError_("a certificate reference is sent once resolved on the server")
        return value


ValueType = EnumType | TimeSpanType | ByteSizeType | PathType | DomainListType | BoolType | DomainType | CertificateRefType

PROTOCOL_LOGGING_LEVEL = EnumType("Microsoft.Exchange.Data.ProtocolLoggingLevel", ("None", "Verbose"))

# Send/Receive protocol-log sizes: "A valid value is a number up to 909.5 terabytes (999999999999999 bytes)
# or the value unlimited" (Set-TransportService.md, Set-FrontendTransportService.md; tests/data/exchange_parameters.yaml).
PROTOCOL_LOG_SIZE = ByteSizeType(unlimited=True, minimum=1, maximum=999_999_999_999_999)


TLS_AUTH_LEVEL = EnumType("Microsoft.Exchange.Data.TlsAuthLevel", ("EncryptionOnly", "CertificateValidation", "DomainValidation"),
                          nullable=True)


def same(vtype: ValueType, a: Any, b: Any) -> bool:
    """Whether two canonical values are equal for this type."""
    if isinstance(vtype, PathType):
        return vtype.same(a, b)
    if isinstance(vtype, CertificateRefType) and isinstance(a, str) and isinstance(b, str):
        # SmtpX509Identifier: "X509:" is optional; names compare as Exchange prints them, case-insensitively.
        def norm(t: str) -> str:
            return re.sub(r"(?i)^x509:", "", t).strip().casefold()
        return norm(a) == norm(b)
    return a == b
