"""The lab's answer objects are written byte for byte as psrpcore writes the plain construction.

lab/powershell/objects.py builds its objects the cheap way (note properties without psrpcore's throwaway
PSObject, a PSObject subclass without the per-read property index, Python's own int/datetime/UUID/bytes);
what travels must be the CLIXML of the obvious construction with psrpcore's types, which these tests
build independently and compare.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import psrpcore.types as ps
import pytest
from psrpcore.types._serializer import serialize

from exconf.lab.powershell import objects

RUNSPACE = uuid.UUID("5a2c3f8e-1b7d-4c3a-9e2f-0d1c2b3a4f5e")


@dataclasses.dataclass(frozen=True)
class Algorithm:
    FriendlyName: str
    Value: str

    def __str__(self) -> str:
        return self.FriendlyName


def clixml(obj: Any) -> bytes:
    return ET.tostring(serialize(obj, None), encoding="utf-8", method="xml")


def plain_value(v: Any) -> Any:
    """The remote-session form of a value with psrpcore's own types (the reference)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return ps.PSInt(v) if -(2**31) <= v < 2**31 else ps.PSInt64(v)
    if isinstance(v, float):
        return ps.PSDouble(v)
    if isinstance(v, dt.datetime):
        m = v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)
        return ps.PSDateTime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, tzinfo=m.tzinfo)
    if isinstance(v, uuid.UUID):
        return ps.PSGuid(v)
    if isinstance(v, (bytes, bytearray)):
        return ps.PSByteArray(bytes(v))
    if isinstance(v, list):
        items = ps.PSList([None if i is None else ("True" if i is True else "False" if i is False else str(i)) for i in v])
        items.PSObject.type_names = ["Deserialized.System.Collections.ArrayList", "Deserialized.System.Object"]
        return items
    return str(v)  # any other value, an object with properties too: depth 1 writes a property's value at depth 0


def plain_object(cmdlet: str, obj: dict[str, Any], computer: str) -> ps.PSObject:
    out = ps.PSObject()
    out.PSObject.type_names = ["Deserialized." + t for t in objects.TYPES[cmdlet.lower()]]
    out.PSObject.to_string = objects.to_string_text(str(obj["Identity"]))
    for name, raw in obj.items():
        out.PSObject.adapted_properties.append(ps.PSNoteProperty(name, plain_value(raw)))
    ps.add_note_property(out, "PSComputerName", computer)
    ps.add_note_property(out, "RunspaceId", ps.PSGuid(RUNSPACE))
    ps.add_note_property(out, "PSShowComputerName", False)
    return out


EVERY_KIND = {
    "Identity": "EX01\\Default EX01 \x1b_x0041_",
    "Name": "Default EX01",
    "Int32Low": -(2**31), "Int32High": 2**31 - 1, "Int64Low": -(2**31) - 1, "Int64High": 2**31, "Zero": 0,
    "Double": 1.5, "Enabled": True, "Disabled": False, "Nothing": None,
    "WhenCreatedUTC": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "Naive": dt.datetime(2026, 1, 2, 3, 4, 5, 123456),
    "Offset": dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    "Guid": uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
    "RawBytes": b"\x00\x01\xff", "Empty": bytearray(),
    "Bindings": ["0.0.0.0:25", None, True, 7],
    "SignatureAlgorithm": Algorithm("sha256RSA", "1.2.840.113549.1.1.11"),
}


def test_an_object_of_every_value_kind_is_the_plain_constructions_clixml():
    got = objects.to_psobject("Get-ReceiveConnector", EVERY_KIND, computer="ex01.contoso.lab", runspace_id=RUNSPACE)
    assert clixml(got) == clixml(plain_object("Get-ReceiveConnector", EVERY_KIND, "ex01.contoso.lab"))


def test_a_property_holding_an_object_travels_as_its_to_string_not_its_properties():
    """A remote session serialises at depth 1 (PowerShell's default): an object held by a property is
    written at depth 0, as a string, so its own properties never cross (CredentialRecords.Records)."""
    got = clixml(objects.to_psobject("Get-ReceiveConnector", EVERY_KIND, computer="c", runspace_id=RUNSPACE))
    assert b'<S N="SignatureAlgorithm">sha256RSA</S>' in got and b"FriendlyName" not in got


def test_measure_info_is_the_plain_constructions_clixml():
    plain = ps.PSObject()
    plain.PSObject.type_names = ["Deserialized." + t for t in objects.MEASURE_TYPES]
    plain.PSObject.to_string = "Microsoft.PowerShell.Commands.GenericMeasureInfo"
    for name, v in (("Count", ps.PSInt(3)), ("Average", None), ("Sum", None), ("Maximum", None), ("Minimum", None),
                    ("Property", None)):
        plain.PSObject.adapted_properties.append(ps.PSNoteProperty(name, v))
    assert clixml(objects.measure_info(3)) == clixml(plain)


def test_an_object_that_has_a_session_property_of_its_own_fails_as_psrpcore_would():
    with pytest.raises(RuntimeError, match="PSComputerName"):
        objects.to_psobject("Get-ReceiveConnector", {"Identity": "x", "PSComputerName": "y"}, computer="c",
                            runspace_id=RUNSPACE)


def test_answer_objects_still_read_their_properties_by_name():
    got = objects.to_psobject("Get-ReceiveConnector", EVERY_KIND, computer="ex01.contoso.lab", runspace_id=RUNSPACE)
    assert got.Name == "Default EX01" and got.PSComputerName == "ex01.contoso.lab" and got.Int32High == 2**31 - 1
    assert isinstance(got, ps.PSObject)


def test_an_answer_is_freed_by_reference_counting_and_writes_what_psrpcore_would_with_its_cycle():
    """No cycle between an answer and its metadata: written, it is freed at once, not by the cyclic collector
    (at 1,000 servers answers were most of what the lab's full collections went through)."""
    import gc
    import weakref

    simple = {key: v for key, v in EVERY_KIND.items() if not isinstance(v, (list, tuple))}  # a list is a PSList of its own
    made = [objects.to_psobject("Get-ReceiveConnector", simple, computer="c", runspace_id=RUNSPACE), objects.measure_info(2)]
    written = [clixml(obj) for obj in made]
    for obj, before in zip(made, written):  # psrpcore's own construction keeps the object in its metadata
        meta = object.__getattribute__(obj, "PSObject")
        was, meta._instance = meta._instance, obj
        assert clixml(obj) == before
        meta._instance = was
    del meta, was
    enabled = gc.isenabled()
    gc.disable()
    try:
        refs = [weakref.ref(obj) for obj in made] + [weakref.ref(object.__getattribute__(obj, "PSObject")) for obj in made]
        del made, obj
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        if enabled:
            gc.enable()
