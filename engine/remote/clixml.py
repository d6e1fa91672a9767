"""CLIXML (PowerShell's serialisation, [MS-PSRP] 2.2.5) read into plain values, and those values
turned into the remote contract's answer form (docs/remote-contract.md, "How values are serialised").

What an Exchange remote session sends is a property bag per object: the type names
(``Deserialized.`` ones once a client has read them), a ``ToString``, adapted (``Props``) and
extended (``MS``) properties. Exchange-typed values arrive either as strings or as objects with a
``ToString`` (the CSS-Exchange recordings in ../shared/fixtures/css-exchange/ show both), so the
contract's rule is applied to what arrives: primitives stay themselves, DateTime becomes
``yyyy-MM-ddTHH:mm:ssZ`` (UTC), byte arrays stay bytes, an enumerable becomes an array of its
elements' ToString, and anything else its ToString. The program on the server applies the same
rule to live objects, so an answer reads the same whichever way it came.

The parser is bounded: the XML is parsed with the standard library (which expands no external
entity and whose entity expansion is bounded by the input, having no DTD support that reaches
out), and objects are nested at most ``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 64
DESERIALIZED = "Deserialized."
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_NUMBERS = {"By", "SB", "I16", "U16", "I32", "U32", "I64", "U64"}
_FLOATS = {"Sg", "Db"}
_LISTS = ("LST", "IE", "STK", "QUE")
_STRINGS = frozenset(("S", "URI", "XD", "SBK", "Version"))
_XS_DATETIME = re.compile(r"(\d{1,4})(-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?")


class ClixmlError(ValueError):
    """Text that is not CLIXML this reader accepts; ``str()`` says what."""


@dataclass(frozen=True)
class DateTimeValue:
    """A CLIXML ``DT``: kept as the moment it names (UTC when the text carries an offset)."""

    moment: dt.datetime

    def contract(self) -> str:
        moment = self.moment if self.moment.tzinfo else self.moment.replace(tzinfo=dt.timezone.utc)
        try:
            m = moment.astimezone(dt.timezone.utc)
        except OverflowError:  # DateTime.MinValue with an offset: keep its wall time
            m = moment.replace(tzinfo=None)
        return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"

    def dotnet(self) -> str:
        """DateTime.ToString() in the invariant culture, as the program prints an element of a list."""
        m = self.moment
        return f"{m.month:02d}/{m.day:02d}/{m.year:04d} {m.hour:02d}:{m.minute:02d}:{m.second:02d}"


@dataclass
class PSObj:
    """An ``Obj``: type names (as sent), its ToString, its properties, and what it wraps."""

    types: tuple[str, ...] = ()
    to_string: str | None = None
    props: dict[str, Any] = field(default_factory=dict)  # adapted then extended, in document order
    items: list[Any] | None = None  # LST / IE / STK / QUE
    pairs: list[tuple[Any, Any]] | None = None  # DCT
    value: Any = None  # a primitive it wraps (an enum's number, a string with notes)
    has_value: bool = False
    _lower: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    _lower_of: tuple[int, int] = field(default=(0, -1), init=False, repr=False, compare=False)  # the props (id, len) it indexes

    def type_names(self) -> tuple[str, ...]:
        """The type names without PowerShell's ``Deserialized.`` prefix."""
        return tuple(t[len(DESERIALIZED):] if t.startswith(DESERIALIZED) else t for t in self.types)

    def is_a(self, short: str) -> bool:
        """Whether one of its types is ``short`` or ends with ``.short`` (the namespace is not compared)."""
        return any(t == short or t.endswith("." + short) for t in self.type_names())

    def get(self, name: str, default: Any = None) -> Any:
        """A property by name, case-insensitively (PowerShell's property names are): the exact name, else the
        first property whose name differs only in case."""
        if name in self.props:
            return self.props[name]
        key = self._names().get(name.lower())
        return default if key is None else self.props[key]

    def has(self, name: str) -> bool:
        return name in self.props or name.lower() in self._names()

    def _names(self) -> dict[str, str]:
        """Each property's lower-case name → its first name as sent, made once per set of names (a select asks
        several names of one object; scanning every property for each was a tenth of a read's CPU, issue 20)."""
        names, of = self._lower, (id(self.props), len(self.props))
        if names is None or self._lower_of != of:
            names = {}
            for key in self.props:
                names.setdefault(key.lower(), key)
            self._lower, self._lower_of = names, of
        return names


_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")


def unescape(text: str | None) -> str:
    """CLIXML's ``_xHHHH_`` escapes of a string ([MS-PSRP] 2.2.5.3.2)."""
    if not text:
        return ""
    if "_x" not in text:
        return text  # nothing escaped (most strings): XML text itself never holds a surrogate
    units = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    # A surrogate pair written as two escapes becomes one character.
    return units.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if _SURROGATE.search(units) else units


def parse(text: str | bytes) -> Any:
    """One CLIXML element (``<Obj …>``, ``<S>…</S>``, …) or an ``<Objs>`` document; an ``Objs``
    gives a list of its objects."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ClixmlError(f"not XML: {exc}") from None
    reader = _Reader()
    if _local(root.tag) == "Objs":
        return [reader.value(child, 0) for child in root]
    return reader.value(root, 0)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag  # PSRP's messages carry no namespace; Objs documents do


class _Reader:
    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.types: dict[str, tuple[str, ...]] = {}

    def value(self, el: ET.Element, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ClixmlError(f"objects nested deeper than {MAX_DEPTH}")
        tag = _local(el.tag)
        if tag in _STRINGS:  # the most common element first (an Exchange object is mostly strings)
            return unescape(el.text)
        if tag == "Obj":
            return self._obj(el, depth)
        text = el.text or ""
        try:
            if tag == "Nil":
                return None
            if tag == "B":
                return text.strip().lower() == "true"
            if tag in _NUMBERS:
                return int(text.strip())
            if tag in _FLOATS:
                return float(text.strip())
            if tag == "D":
                return text.strip()
            if tag == "C":
                return chr(int(text.strip()))
            if tag == "G":
                return str(uuid.UUID(text.strip()))
            if tag == "BA":
                return base64.b64decode(text.strip() or b"", validate=False)
            if tag == "DT":
                return DateTimeValue(_datetime(text.strip()))
            if tag == "TS":
                return _duration(text.strip())
            if tag == "SS":
                return None  # a SecureString an answer should never carry: never shown, never used
            if tag == "Ref":
                ref = el.get("RefId", "")
                if ref not in self.objects:
                    raise ClixmlError(f"a Ref to object {ref!r}, which is not defined before it")
                return self.objects[ref]
        except (ValueError, binascii.Error, OverflowError) as exc:
            if isinstance(exc, ClixmlError):
                raise
            raise ClixmlError(f"a {tag} value that does not parse: {exc}") from None
        raise ClixmlError(f"unknown CLIXML element {tag!r}")

    def _obj(self, el: ET.Element, depth: int) -> PSObj:
        obj = PSObj()
        ref = el.get("RefId")
        if ref is not None:
            self.objects[ref] = obj
        for child in el:
            tag = _local(child.tag)
            if tag == "TN":
                obj.types = tuple(unescape(t.text) for t in child if _local(t.tag) == "T")
                if child.get("RefId") is not None:
                    self.types[child.get("RefId", "")] = obj.types
            elif tag == "TNRef":
                obj.types = self.types.get(child.get("RefId", ""), ())
            elif tag == "ToString":
                obj.to_string = unescape(child.text)
            elif tag in ("Props", "MS"):
                props = obj.props
                for prop in child:
                    name = unescape(prop.get("N"))
                    if name and name not in props:
                        props[name] = self.value(prop, depth + 1)
            elif tag in _LISTS:
                obj.items = [self.value(item, depth + 1) for item in child]
            elif tag == "DCT":
                pairs = []
                for entry in child:
                    key = value = None
                    for part in entry:
                        if part.get("N") == "Key":
                            key = self.value(part, depth + 1)
                        elif part.get("N") == "Value":
                            value = self.value(part, depth + 1)
                    pairs.append((key, value))
                obj.pairs = pairs
            else:
                obj.value = self.value(child, depth + 1)
                obj.has_value = True
        return obj


def _datetime(text: str) -> dt.datetime:
    """xs:dateTime as .NET writes it: 7 fraction digits, and Z, an offset, or nothing."""
    m = _XS_DATETIME.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not an xs:dateTime")
    # A year below 1000 may come unpadded ("1-01-01T00:00:00Z", DateTime.MinValue from psrpcore).
    moment = dt.datetime.fromisoformat(m.group(1).zfill(4) + m.group(2))
    if m.group(3):
        moment = moment.replace(microsecond=int(m.group(3)[1:7].ljust(6, "0")))
    zone = m.group(4)
    if zone == "Z":
        moment = moment.replace(tzinfo=dt.timezone.utc)
    elif zone:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        moment = moment.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))
    return moment


def _duration(text: str) -> str:
    """A TimeSpan (xs:duration) as .NET's TimeSpan.ToString() prints it ([-][d.]hh:mm:ss[.fffffff])."""
    m = re.fullmatch(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text)
    if not m:
        raise ValueError(f"{text!r} is not an xs:duration")
    days, hours, minutes = (int(g or 0) for g in m.group(2, 3, 4))
    seconds = m.group(5) or "0"
    whole, _, fraction = seconds.partition(".")
    total = ((days * 24 + hours) * 60 + minutes) * 60 + int(whole)
    d, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    mi, s = divmod(rem, 60)
    out = f"{'-' if m.group(1) else ''}{f'{d}.' if d else ''}{h:02}:{mi:02}:{s:02}"
    return out + (f".{fraction[:7].ljust(7, '0')}" if fraction.strip("0") else "")


# --- the contract's value rules ---------------------------------------------------------------------


def contract_value(value: Any) -> Any:
    """A property value as exconf's program serialises it (docs/remote-contract.md)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, DateTimeValue):
        return value.contract()
    if isinstance(value, PSObj):
        if value.items is not None:  # any other enumerable: its elements' ToString
            return [None if item is None else element_string(item) for item in value.items]
        if value.pairs is not None:
            return [element_string(v) for _, v in value.pairs]
        if value.has_value and not isinstance(value.value, PSObj) and value.to_string is None:
            return contract_value(value.value)  # a primitive with notes attached
        return element_string(value)
    return str(value)


def element_string(value: Any) -> str:
    """.NET ToString() of a value as the program prints an element (invariant culture)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, DateTimeValue):
        return value.dotnet()
    if isinstance(value, bytes):
        return "System.Byte[]"
    if isinstance(value, PSObj):
        if value.to_string is not None:
            return value.to_string
        if value.has_value and not isinstance(value.value, PSObj):
            return element_string(value.value)
        names = value.type_names()
        return names[0] if names else "System.Object"
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return "" if value is None else str(value)


def select(obj: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The program's ``select`` over one output object: each name the object has, ``A.B`` reading
    property ``B`` of property ``A``; a property it does not have is left out."""
    out: dict[str, Any] = {}
    for name in names:
        current: Any = obj
        for part in name.split("."):
            if isinstance(current, PSObj) and part and current.has(part):
                current = current.get(part)
            else:
                current = _MISSING
                break
        if current is not _MISSING:
            out[name] = contract_value(current)
    return out
