"""A small, bounded reader of .NET Remoting Binary Format streams (MS-NRBF).

Exchange's remote PowerShell sends a certificate as its ``RawData`` plus a ``SerializationData``
property: the ``ExchangeCertificate`` object written by .NET's BinaryFormatter, which is the only
place a remote session carries Services, Status, RootCAType, PrivateKeyExportable, IISServices and
Identity (the CSS-Exchange recordings, ../shared/fixtures/css-exchange/README.md). Newer builds
sign the blob: the ASCII bytes ``#sig#``, an Int32 length, the serialised stream, then 32 bytes
(the signature), which :func:`unwrap` takes off.

Only reading, only data: no type named in a stream is ever looked up or instantiated, class
records become :class:`NrbfObject` (name and members), arrays become lists, and every count and
length is checked against what is left of the input, so a hostile blob costs at most its own size.
Record layouts follow [MS-NRBF] 2.1-2.7 (learn.microsoft.com/openspecs/windows_protocols/ms-nrbf).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

SIGNED_MAGIC = b"#sig#"
SIGNATURE_LENGTH = 32
MAX_RECORDS = 20_000
MAX_DEPTH = 64


class NrbfError(ValueError):
    """The bytes are not an MS-NRBF stream this reader accepts; ``str()`` says where and why."""


@dataclass
class NrbfObject:
    """A class record: its .NET type name, library name and members by name (in stream order)."""

    class_name: str
    library: str = ""
    members: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.members.get(name, default)


@dataclass(frozen=True)
class _Ref:
    id: int


@dataclass(frozen=True)
class _Nulls:
    count: int


_END = object()

# PrimitiveTypeEnum [MS-NRBF] 2.1.2.3: code -> (struct format or special, size)
_PRIMITIVES: dict[int, tuple[str, int]] = {
    1: ("?", 1), 2: ("B", 1), 6: ("<d", 8), 7: ("<h", 2), 8: ("<i", 4), 9: ("<q", 8), 10: ("b", 1),
    11: ("<f", 4), 12: ("<q", 8), 13: ("<Q", 8), 14: ("<H", 2), 15: ("<I", 4), 16: ("<Q", 8),
}


def unwrap(data: bytes) -> bytes:
    """The MS-NRBF stream inside a signed SerializationData (``#sig#``, Int32 length, stream,
    32 bytes), or the data itself when it is not signed."""
    if not data.startswith(SIGNED_MAGIC):
        return data
    if len(data) < len(SIGNED_MAGIC) + 4:
        raise NrbfError("a signed blob too short to hold its length")
    (length,) = struct.unpack_from("<i", data, len(SIGNED_MAGIC))
    start = len(SIGNED_MAGIC) + 4
    if length < 0 or start + length + SIGNATURE_LENGTH != len(data):
        raise NrbfError(f"a signed blob whose length field ({length}) does not match its size ({len(data)} bytes)")
    return data[start:start + length]


def sign_layout(stream: bytes, signature: bytes) -> bytes:
    """The signed form around a stream (what newer Exchange builds send); used by the lab."""
    if len(signature) != SIGNATURE_LENGTH:
        raise ValueError("the signature must be 32 bytes")
    return SIGNED_MAGIC + struct.pack("<i", len(stream)) + stream + signature


def parse(data: bytes) -> Any:
    """The root object of an MS-NRBF stream (signed or not), references resolved."""
    return _Reader(unwrap(bytes(data))).read()


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.objects: dict[int, Any] = {}
        self.classes: dict[int, tuple[str, str, list[str], list[tuple[int, Any]] | None]] = {}
        self.libraries: dict[int, str] = {}
        self.records = 0

    # -- primitives ----------------------------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise NrbfError(f"the stream ends inside a record (offset {self.pos}, {n} more bytes needed)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _int32(self) -> int:
        return struct.unpack("<i", self._take(4))[0]

    def _byte(self) -> int:
        return self._take(1)[0]

    def _count(self, what: str) -> int:
        n = self._int32()
        if n < 0 or n > len(self.data) - self.pos + 1:
            raise NrbfError(f"{what} {n} at offset {self.pos - 4} is more than the stream can hold")
        return n

    def _string(self) -> str:
        # LengthPrefixedString: 7 bits per byte, at most 5 bytes [MS-NRBF] 2.1.1.6
        length, shift = 0, 0
        for _ in range(5):
            b = self._byte()
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        else:
            raise NrbfError(f"a string length at offset {self.pos} is longer than five bytes")
        try:
            return self._take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise NrbfError(f"a string at offset {self.pos - length} is not UTF-8") from None

    def _primitive(self, code: int) -> Any:
        if code == 18:  # String
            return self._string()
        if code == 5:  # Decimal: its text
            return self._string()
        if code == 3:  # Char: one UTF-8 character
            first = self._byte()
            width = 1 if first < 0x80 else 2 if first < 0xE0 else 3 if first < 0xF0 else 4
            try:
                return (bytes([first]) + self._take(width - 1)).decode("utf-8")
            except UnicodeDecodeError:
                raise NrbfError(f"a Char at offset {self.pos - width} is not UTF-8") from None
        if code == 17:  # Null
            return None
        if code not in _PRIMITIVES:
            raise NrbfError(f"unknown primitive type {code} at offset {self.pos}")
        fmt, size = _PRIMITIVES[code]
        value = struct.unpack(fmt, self._take(size))[0]
        if code == 13:  # DateTime: 62 bits of ticks, 2 bits of kind
            value &= (1 << 62) - 1
        return value

    # -- records -------------------------------------------------------------------------------------

    def read(self) -> Any:
        if self._byte() != 0:
            raise NrbfError("not an MS-NRBF stream (no SerializationHeaderRecord)")
        root_id = self._int32()
        self._take(12)  # HeaderId, MajorVersion, MinorVersion
        while True:
            value = self._record(0)
            if value is _END:
                break
        if root_id not in self.objects:
            raise NrbfError(f"the root object {root_id} is not in the stream")
        return self._resolve(self.objects[root_id], set(), 0)

    def _record(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NrbfError(f"objects nested deeper than {MAX_DEPTH}")
        self.records += 1
        if self.records > MAX_RECORDS:
            raise NrbfError(f"more than {MAX_RECORDS} records")
        kind = self._byte()
        if kind == 11:  # MessageEnd
            return _END
        if kind == 12:  # BinaryLibrary
            lib_id = self._int32()
            self.libraries[lib_id] = self._string()
            return self._record(depth)  # a library record precedes the record that uses it
        if kind in (1, 2, 3, 4, 5):
            return self._class(kind, depth)
        if kind == 6:  # BinaryObjectString
            obj_id = self._int32()
            value: Any = self._string()
            self.objects[obj_id] = value
            return value
        if kind == 7:
            return self._binary_array(depth)
        if kind == 8:  # MemberPrimitiveTyped
            return self._primitive(self._byte())
        if kind == 9:  # MemberReference
            return _Ref(self._int32())
        if kind == 10:  # ObjectNull
            return None
        if kind == 13:  # ObjectNullMultiple256
            return _Nulls(self._byte())
        if kind == 14:  # ObjectNullMultiple
            return _Nulls(self._count("a null count"))
        if kind == 15:  # ArraySinglePrimitive
            obj_id = self._int32()
            length = self._count("an array length")
            code = self._byte()
            if code == 2:  # byte[]: kept as bytes
                value = self._take(length)
            else:
                value = [self._primitive(code) for _ in range(length)]
            self.objects[obj_id] = value
            return value
        if kind in (16, 17):  # ArraySingleObject, ArraySingleString
            obj_id = self._int32()
            length = self._count("an array length")
            items: list[Any] = []
            self.objects[obj_id] = items
            self._elements(items, length, depth)
            return items
        raise NrbfError(f"unsupported record type {kind} at offset {self.pos - 1}")

    def _elements(self, items: list[Any], length: int, depth: int) -> None:
        while len(items) < length:
            value = self._record(depth + 1)
            if value is _END:
                raise NrbfError("MessageEnd inside an array")
            if isinstance(value, _Nulls):
                items.extend([None] * value.count)
            else:
                items.append(value)
        if len(items) > length:
            raise NrbfError("an array holds more null entries than its length")

    def _class(self, kind: int, depth: int) -> NrbfObject:
        obj_id = self._int32()
        if kind == 1:  # ClassWithId: the metadata of an earlier class record
            meta_id = self._int32()
            if meta_id not in self.classes:
                raise NrbfError(f"ClassWithId refers to unknown metadata {meta_id}")
            name, library, names, types = self.classes[meta_id]
        else:
            name = self._string()
            count = self._count("a member count")
            names = [self._string() for _ in range(count)]
            types = self._member_types(count) if kind in (4, 5) else None
            library = ""
            if kind in (3, 5):
                library = self.libraries.get(self._int32(), "")
        self.classes[obj_id] = (name, library, names, types)
        obj = NrbfObject(name, library)
        self.objects[obj_id] = obj
        for i, member in enumerate(names):
            if types is not None and types[i][0] == 0:  # a primitive, written inline
                obj.members[member] = self._primitive(types[i][1])
                continue
            value = self._record(depth + 1)
            if value is _END or isinstance(value, _Nulls):
                raise NrbfError(f"a member of {name} is not a value")
            obj.members[member] = value
        return obj

    def _member_types(self, count: int) -> list[tuple[int, Any]]:
        kinds = [self._byte() for _ in range(count)]
        out: list[tuple[int, Any]] = []
        for binary_type in kinds:
            if binary_type in (0, 7):  # Primitive, PrimitiveArray: a PrimitiveTypeEnum
                out.append((binary_type, self._byte()))
            elif binary_type == 3:  # SystemClass: its name
                out.append((binary_type, self._string()))
            elif binary_type == 4:  # Class: name and library id
                out.append((binary_type, (self._string(), self._int32())))
            elif binary_type in (1, 2, 5, 6):
                out.append((binary_type, None))
            else:
                raise NrbfError(f"unknown member type {binary_type} at offset {self.pos}")
        return out

    def _binary_array(self, depth: int) -> list[Any]:
        obj_id = self._int32()
        array_type = self._byte()
        rank = self._int32()
        if not 0 < rank <= 32:
            raise NrbfError(f"an array of rank {rank}")
        lengths = [self._count("an array length") for _ in range(rank)]
        if array_type in (3, 4, 5):
            self._take(4 * rank)  # lower bounds
        binary_type = self._byte()
        info = self._member_types_one(binary_type)
        total = 1
        for n in lengths:
            total *= n
            if total > len(self.data):
                raise NrbfError("an array larger than the stream")
        items: list[Any] = []
        self.objects[obj_id] = items
        if binary_type == 0:
            items.extend(self._primitive(info) for _ in range(total))
        else:
            self._elements(items, total, depth)
        return items

    def _member_types_one(self, binary_type: int) -> Any:
        if binary_type in (0, 7):
            return self._byte()
        if binary_type == 3:
            return self._string()
        if binary_type == 4:
            return (self._string(), self._int32())
        if binary_type in (1, 2, 5, 6):
            return None
        raise NrbfError(f"unknown array element type {binary_type}")

    # -- references ----------------------------------------------------------------------------------

    def _resolve(self, value: Any, seen: set[int], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NrbfError(f"references nested deeper than {MAX_DEPTH}")
        if isinstance(value, _Ref):
            if value.id not in self.objects:
                raise NrbfError(f"a reference to object {value.id}, which the stream does not hold")
            value = self.objects[value.id]
        if id(value) in seen:
            return value
        if isinstance(value, NrbfObject):
            seen.add(id(value))
            for key, member in value.members.items():
                value.members[key] = self._resolve(member, seen, depth + 1)
        elif isinstance(value, list):
            seen.add(id(value))
            for i, item in enumerate(value):
                value[i] = self._resolve(item, seen, depth + 1)
        return value


def enum_value(value: Any) -> int | None:
    """An enum as BinaryFormatter writes it (a class record with ``value__``), or a plain integer."""
    if isinstance(value, NrbfObject):
        value = value.get("value__")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
