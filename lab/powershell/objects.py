"""Lab objects as an Exchange remote session serialises them (CLIXML through psrpcore).

What a client reads from ``/PowerShell`` (office-docs-powershell connect-to-exchange-servers-
using-remote-powershell.md; cmdlets.md §1a; the CSS-Exchange recordings of Exchange 2019 in
../shared/fixtures/css-exchange/):

* each object is a property bag whose type names carry the ``Deserialized.`` prefix (a remote
  session's objects are deserialised: "[Deserialized.Microsoft.Exchange.Data.ByteQuantifiedSize]
  does not contain a method named 'ToMb'", soyalejolopez/Find-MailboxDelegates#3), with the
  object's ToString and, as extended properties, ``PSComputerName``, ``RunspaceId`` and
  ``PSShowComputerName``;
* ``bool``, integers, ``DateTime``, ``Guid``, strings and byte arrays stay typed; Exchange-typed
  values (enums, ByteQuantifiedSize, EnhancedTimeSpan, ADObjectId, Fqdn …) arrive as their strings
  ("DatabaseSize.ToBytes() fails: [System.String] doesn't contain a method", cmdlets.md §1a);
  multi-valued properties as lists of strings;
* a certificate arrives as ``RawData`` plus ``SerializationData`` only (see certificate_form).

Type names: those of the recordings where recorded (ExchangeServer, SmtpSendConnectorConfig,
ReceiveConnector, ExchangeCertificate), else the presentation classes of the decompiled Exchange
2013 build (PiratesRE/exchange_diff: EdgeSubscription in Microsoft.Exchange.Data.Directory.Management,
EdgeSubscriptionStatus in Microsoft.Exchange.EdgeSync.Validation) or, where not looked up, the
class the cmdlet is documented to return.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import psrpcore.types as ps

from exconf.lab.exchange import certificate_store
from exconf.lab.exchange.enums import EnumValue

from . import nrbf_writer

DESERIALIZED = "Deserialized."

_ESCAPE_ESCAPE = re.compile("(?i)_(x)")
_ESCAPE = re.compile("[\u0000-\u001F\u007F-\u009F\uD800-\uDFFF\U00010000-\U0010FFFF]")


def to_string_text(text: str) -> str:
    """``text`` escaped for a ``<ToString>`` element as PowerShell writes it (MS-PSRP 2.2.5.3.2:
    control characters and characters outside the BMP as ``_xHHHH_``, a literal ``_x`` as
    ``_x005F_x``). psrpcore 0.3 escapes ``<S>`` values but writes ToString verbatim, which puts a
    raw ESC into the XML and makes the whole message unreadable to the client (its reader
    unescapes ToString, so escaping here round-trips)."""

    def hexed(m: re.Match[str]) -> str:
        raw = m.group(0).encode("utf-16-be", errors="surrogatepass").hex().upper()
        return "".join(f"_x{raw[i:i + 4]}_" for i in range(0, len(raw), 4))

    return _ESCAPE.sub(hexed, _ESCAPE_ESCAPE.sub("_x005F_\\1", text))


def set_to_string(obj: ps.PSObject, text: str) -> None:
    obj.PSObject.to_string = to_string_text(text)


class SessionObject(ps.PSObject):
    """A PSObject of an answer, serialised exactly as one (psrpcore writes its type names and properties from
    its ``PSObject`` metadata; this class is not registered for rehydration, so nothing reads it back as
    itself). psrpcore's ``PSObject.__getattribute__`` indexes every property of the object on each
    attribute read, also of ``__class__`` (every isinstance() of the serializer) and ``PSObject``, which
    are real attributes and found first anyway: reading those directly makes serialising an object of n
    properties O(n) instead of O(n²).

    It is also made without the reference cycle every psrpcore object is (the object holds its metadata,
    whose ``_instance`` holds the object back), so that an answer, its properties and their values are
    freed by reference counting as soon as psrpcore has written it, rather than left to the cyclic
    collector, whose full collections they made dearer the more servers a lab serves. psrpcore reads
    ``_instance`` only to find an object's ToString when none was set, from a ``__str__`` defined below
    PSObject; this class defines none, so its ToString is the one set, or none, either way. (Its values
    are Python's own str, int, UUID and bytes where psrpcore writes them as it writes its own types:
    ``value``.)"""

    def __new__(cls, *args: Any, **kwargs: Any) -> "SessionObject":
        obj = super().__new__(cls, *args, **kwargs)
        object.__getattribute__(obj, "PSObject")._instance = None
        return obj  # type: ignore[no-any-return]

    def __getattribute__(self, item: str) -> Any:
        if item == "PSObject" or item.startswith("__"):
            return object.__getattribute__(self, item)
        return super().__getattribute__(item)


def note(name: str, v: Any) -> ps.PSNoteProperty:
    """``PSNoteProperty(name, v)`` without its cost: given a value, psrpcore's constructor sets it through
    ``set_value(v, PSObject())``, a throwaway PSObject per property (a copy of its type's metadata); a note
    property has no setter, so ``set_value`` only stores the value and the property is the same."""
    prop = ps.PSNoteProperty(name)
    prop.set_value(v, None)  # type: ignore[arg-type]  # no setter: the object is not used
    return prop
_DIR = "Microsoft.Exchange.Data.Directory."
_SYS = _DIR + "SystemConfiguration."
_AD_TAIL = (_DIR + "ADObject", _DIR + "ADRawEntry", "Microsoft.Exchange.Data.ConfigurableObject", "System.Object")
_CONFIG_TAIL = (_SYS + "ADConfigurationObject",) + _AD_TAIL
_PRESENTATION_TAIL = (_DIR + "Management.ADPresentationObject",) + _AD_TAIL
_CERTIFICATE = (
    "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate",
    "System.Security.Cryptography.X509Certificates.X509Certificate2",
    "System.Security.Cryptography.X509Certificates.X509Certificate", "System.Object",
)
TYPES: dict[str, tuple[str, ...]] = {
    "get-exchangeserver": (_DIR + "Management.ExchangeServer",) + _PRESENTATION_TAIL,
    "get-sendconnector": (_SYS + "SmtpSendConnectorConfig", _SYS + "MailGateway", _SYS + "SendConnector",
                          _SYS + "ADLegacyVersionableObject") + _CONFIG_TAIL,
    "get-receiveconnector": (_SYS + "ReceiveConnector",) + _CONFIG_TAIL,
    "get-transportservice": (_DIR + "Management.TransportServer",) + _PRESENTATION_TAIL,
    "get-frontendtransportservice": (_DIR + "Management.FrontendTransportServerPresentationObject",) + _PRESENTATION_TAIL,
    "get-transportconfig": (_SYS + "TransportConfigContainer",) + _CONFIG_TAIL,
    "get-exchangecertificate": _CERTIFICATE,
    "new-exchangecertificate": _CERTIFICATE,
    "import-exchangecertificate": _CERTIFICATE,
    "get-edgesubscription": (_DIR + "Management.EdgeSubscription",) + _PRESENTATION_TAIL,
    "test-edgesynchronization": ("Microsoft.Exchange.EdgeSync.Validation.EdgeSubscriptionStatus", "System.Object"),
    "start-edgesynchronization": ("Microsoft.Exchange.EdgeSync.Common.Status", "System.Object"),
    "search-adminauditlog": ("Microsoft.Exchange.Management.SystemConfigurationTasks.AdminAuditLogEvent",
                             "Microsoft.Exchange.Data.ConfigurableObject", "System.Object"),
}
LIST_TYPES = ("System.Collections.ArrayList", "System.Object")
MEASURE_TYPES = ("Microsoft.PowerShell.Commands.GenericMeasureInfo", "Microsoft.PowerShell.Commands.MeasureInfo",
                 "System.Object")


def _deserialized(names: tuple[str, ...]) -> list[str]:
    return [DESERIALIZED + n for n in names]


def value(v: Any) -> Any:
    """One property value in its remote-session form.

    A 32-bit integer, a DateTime, a Guid and a byte array are given to psrpcore as Python's own int,
    datetime, UUID and bytes: it writes them as the same <I32>, <DT>, <G> and <BA> as its PSInt,
    PSDateTime, PSGuid and PSByteArray (whose construction copies type metadata per value)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return int(v) if -(2**31) <= v < 2**31 else ps.PSInt64(v)
    if isinstance(v, float):
        return ps.PSDouble(v)  # a Python float would be written as a Single
    if isinstance(v, dt.datetime):
        moment = v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
        return dt.datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                           moment.microsecond, tzinfo=moment.tzinfo)
    if isinstance(v, uuid.UUID):
        return uuid.UUID(int=v.int)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        items = ps.PSList([None if item is None else _text(item) for item in v])
        items.PSObject.type_names = _deserialized(LIST_TYPES)
        return items
    # Any other value (an Exchange type, an EdgeConfigStatus, CredentialRecords, an Oid) travels as its
    # ToString(): a remote session serialises its output at depth 1 (PowerShell's serializer default,
    # MshDefaultSerializationDepth = 1), so a property's value is written at depth 0, where "complex type
    # should be serialized as string" (InternalSerializer.WriteOneObject). Its own properties (an EdgeSync
    # status's SyncStatus, CredentialRecords.Records) do not cross; in-process (the program) they do.
    return str(v)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    return str(v)


def _to_string(cmdlet: str, obj: dict[str, Any]) -> str:
    for key in ("Identity", "Name"):
        if obj.get(key) is not None:
            return str(obj[key])
    return TYPES.get(cmdlet.lower(), ("System.Object",))[0]


def to_psobject(cmdlet: str, obj: dict[str, Any], *, computer: str, runspace_id: uuid.UUID,
                certificate_serialization: str = "signed") -> ps.PSObject:
    """One output object of ``cmdlet`` as the session writes it."""
    if cmdlet.lower().endswith("-exchangecertificate") and isinstance(obj.get("RawData"), bytes):
        return certificate_form(obj, computer=computer, runspace_id=runspace_id, serialization=certificate_serialization)
    out = SessionObject()
    meta = out.PSObject  # once: every attribute read of a PSObject indexes all its properties
    meta.type_names = _deserialized(TYPES.get(cmdlet.lower(), ("System.Object",)))
    meta.to_string = to_string_text(_to_string(cmdlet, obj))
    meta.adapted_properties.extend([note(name, value(raw)) for name, raw in obj.items()])
    _session_notes(out, computer, runspace_id)
    return out


SESSION_NOTES = ("PSComputerName", "RunspaceId", "PSShowComputerName")


def _session_notes(out: ps.PSObject, computer: str, runspace_id: uuid.UUID) -> None:
    """The remote session's extended properties. What ps.add_note_property does, without its per-call
    index of every property: after it, the only properties are the adapted ones set by name above."""
    meta = out.PSObject
    if meta.extended_properties or any(p.name in SESSION_NOTES for p in meta.adapted_properties):
        for name, v in zip(SESSION_NOTES, (computer, runspace_id, False)):
            ps.add_note_property(out, name, v)  # raises on a duplicate, as before
        return
    meta.extended_properties.extend([note("PSComputerName", computer), note("RunspaceId", runspace_id),
                                     note("PSShowComputerName", False)])


def certificate_form(obj: dict[str, Any], *, computer: str, runspace_id: uuid.UUID, serialization: str) -> ps.PSObject:
    """A certificate as the recordings show it: ``RawData`` (adapted) and ``SerializationData``
    (extended, unless this server sends RawData only), nothing else by name."""
    der = obj["RawData"]
    out = SessionObject()
    out.PSObject.type_names = _deserialized(_CERTIFICATE)
    set_to_string(out, _x509_to_string(obj))
    out.PSObject.adapted_properties.append(note("RawData", bytes(der)))
    _session_notes(out, computer, runspace_id)
    if serialization != "none":
        stream = nrbf_writer.exchange_certificate(
            cert_data=nrbf_writer.store_element(der, str(obj.get("FriendlyName") or ""), bool(obj.get("HasPrivateKey"))),
            self_signed=bool(obj.get("IsSelfSigned")),
            status=_number(obj.get("Status"), certificate_store.CERTIFICATE_STATUS),
            root_ca_type=_number(obj.get("RootCAType"), certificate_store.ROOT_CA_TYPE),
            services=_number(obj.get("Services"), certificate_store.ALLOWED_SERVICES),
            private_key_exportable=bool(obj.get("PrivateKeyExportable")),
            identity=str(obj.get("Identity") or ""),
        )
        data = nrbf_writer.signed(stream) if serialization == "signed" else stream
        ps.add_note_property(out, "SerializationData", bytes(data))
    return out


def _number(v: Any, enum: Any) -> int:
    if isinstance(v, EnumValue):
        return v.number
    return enum.parse(str(v)) if v is not None else 0


def _x509_to_string(obj: dict[str, Any]) -> str:
    """X509Certificate.ToString(): the five labelled blocks the recordings show, CR LF between lines."""
    def when(moment: Any) -> str:
        return moment.strftime("%m/%d/%Y %H:%M:%S") if isinstance(moment, dt.datetime) else ""

    parts = [("Subject", obj.get("Subject", "")), ("Issuer", obj.get("Issuer", "")),
             ("Serial Number", obj.get("SerialNumber", "")), ("Not Before", when(obj.get("NotBefore"))),
             ("Not After", when(obj.get("NotAfter"))), ("Thumbprint", obj.get("Thumbprint", ""))]
    return "".join(f"[{label}]\r\n  {text}\r\n\r\n" for label, text in parts)[:-2]


def measure_info(count: int = 0) -> ps.PSObject:
    """Measure-Object's GenericMeasureInfo (Count, and the numbers it did not compute as $null)."""
    out = SessionObject()
    out.PSObject.type_names = _deserialized(MEASURE_TYPES)
    set_to_string(out, "Microsoft.PowerShell.Commands.GenericMeasureInfo")
    out.PSObject.adapted_properties.extend([note(name, v) for name, v in (
        ("Count", int(count)), ("Average", None), ("Sum", None), ("Maximum", None), ("Minimum", None),
        ("Property", None))])
    return out
