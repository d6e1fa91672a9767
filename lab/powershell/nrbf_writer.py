"""The ``SerializationData`` of an Exchange certificate, as a remote session sends it.

Exchange writes the ExchangeCertificate object with .NET's BinaryFormatter ([MS-NRBF]) into the
``SerializationData`` extended property; the CSS-Exchange recordings of Exchange 2019
(../shared/fixtures/css-exchange/E19/GetExchangeCertificate.xml) show its members: CertData,
SelfSigned, Status, RootCAType, Services, IISServices, PrivateKeyExportable, Identity, the enums
as class records with a ``value__`` member. Newer builds sign the stream: the ASCII bytes
``#sig#``, an Int32 length, the stream, then 32 bytes (the issue's description of them; the lab
writes a SHA-256 of the stream there, which no client can check anyway).

Records written ([MS-NRBF] 2.1-2.7): SerializationHeaderRecord, BinaryLibrary,
ClassWithMembersAndTypes (then ClassWithId for a class already described),
SystemClassWithMembersAndTypes for the generic List, ArraySinglePrimitive for the bytes,
ArraySingleObject for the list's items, BinaryObjectString, MessageEnd.
"""

from __future__ import annotations

import hashlib
import struct

LIBRARY = "Microsoft.Exchange.Management, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks."
IIS_SERVICE_LIST = f"System.Collections.Generic.List`1[[{TASKS}IisService, {LIBRARY}]]"
SIGNED_MAGIC = b"#sig#"

_PRIMITIVE = 0
_STRING = 1
_OBJECT = 2
_SYSTEM_CLASS = 3
_CLASS = 4
_OBJECT_ARRAY = 5
_PRIMITIVE_ARRAY = 7
_BOOLEAN = 1
_BYTE = 2
_INT32 = 8


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    n, out = len(data), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + data


def _int32(value: int) -> bytes:
    return struct.pack("<i", value)


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.next_id = 1
        self.enum_classes: dict[str, int] = {}  # class name -> object id of its first record (metadata)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def enum(self, class_name: str, value: int) -> None:
        obj_id = self.new_id()
        if class_name in self.enum_classes:
            self.out += b"\x01" + _int32(obj_id) + _int32(self.enum_classes[class_name]) + _int32(value)
            return
        self.enum_classes[class_name] = obj_id
        self.out += (b"\x05" + _int32(obj_id) + _string(class_name) + _int32(1) + _string("value__")
                     + bytes([_PRIMITIVE, _INT32]) + _int32(2) + _int32(value))

    def string(self, text: str) -> None:
        self.out += b"\x06" + _int32(self.new_id()) + _string(text)


def exchange_certificate(*, cert_data: bytes, self_signed: bool, status: int, root_ca_type: int, services: int,
                         private_key_exportable: bool, identity: str) -> bytes:
    """The BinaryFormatter stream of an ExchangeCertificate (no IIS services bound: an empty list)."""
    w = _Writer()
    w.out += b"\x00" + _int32(1) + _int32(-1) + _int32(1) + _int32(0)  # header: root object 1, version 1.0
    w.out += b"\x0c" + _int32(2) + _string(LIBRARY)  # BinaryLibrary 2
    members = ("CertData", "SelfSigned", "Status", "RootCAType", "Services", "IISServices", "PrivateKeyExportable", "Identity")
    types = bytes([_PRIMITIVE_ARRAY, _PRIMITIVE, _CLASS, _CLASS, _CLASS, _SYSTEM_CLASS, _PRIMITIVE, _STRING])
    extra = (bytes([_BYTE]) + bytes([_BOOLEAN])
             + _string(TASKS + "CertificateStatus") + _int32(2)
             + _string(TASKS + "CertificateAuthorityType") + _int32(2)
             + _string(TASKS + "AllowedServices") + _int32(2)
             + _string(IIS_SERVICE_LIST)
             + bytes([_BOOLEAN]))
    w.out += (b"\x05" + _int32(1) + _string(TASKS + "ExchangeCertificate") + _int32(len(members))
              + b"".join(_string(m) for m in members) + types + extra + _int32(2))
    # CertData: byte[] inline
    w.out += b"\x0f" + _int32(w.new_id()) + _int32(len(cert_data)) + bytes([_BYTE]) + cert_data
    w.out += bytes([1 if self_signed else 0])
    w.enum(TASKS + "CertificateStatus", status)
    w.enum(TASKS + "CertificateAuthorityType", root_ca_type)
    w.enum(TASKS + "AllowedServices", services)
    # IISServices: List<IisService> { _items: object[0], _size: 0, _version: 0 }
    w.out += (b"\x04" + _int32(w.new_id()) + _string(IIS_SERVICE_LIST) + _int32(3)
              + _string("_items") + _string("_size") + _string("_version")
              + bytes([_OBJECT_ARRAY, _PRIMITIVE, _PRIMITIVE]) + bytes([_INT32, _INT32]))
    w.out += b"\x10" + _int32(w.new_id()) + _int32(0)  # ArraySingleObject of length 0
    w.out += _int32(0) + _int32(0)
    w.out += bytes([1 if private_key_exportable else 0])
    w.string(identity)
    w.out += b"\x0b"  # MessageEnd
    return bytes(w.out)


def signed(stream: bytes) -> bytes:
    """The signed form newer Exchange builds send: ``#sig#``, Int32 length, the stream, 32 bytes."""
    return SIGNED_MAGIC + _int32(len(stream)) + stream + hashlib.sha256(stream).digest()


def store_element(der: bytes, friendly_name: str, has_key: bool) -> bytes:
    """CertData: a serialised certificate store element (CertSerializeCertificateStoreElement), a
    sequence of (property id, encoding, length, value) with three little-endian UInt32 before each
    value; the recordings carry property 11 (friendly name, UTF-16), 2 (the private key's provider)
    and 32 (the certificate)."""
    parts = [(11, (friendly_name + "\x00").encode("utf-16-le"))]
    if has_key:
        parts.append((2, bytes(8)))
    parts.append((32, der))
    return b"".join(struct.pack("<III", prop, 1, len(value)) + value for prop, value in parts)
