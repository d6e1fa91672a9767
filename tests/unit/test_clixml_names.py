"""CLIXML property names are read case-insensitively, as PowerShell reads them (engine/remote/clixml.py PSObj)."""

from __future__ import annotations

from exconf.remote import clixml

OBJ = ('<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector</T>'
       '</TN><ToString>EX01\\Default EX01</ToString><Props><S N="Name">Default EX01</S><S N="NAME">shadow</S>'
       '<S N="ProtocolLoggingLevel">Verbose</S><DT N="WhenChanged">2024-05-01T10:20:30.1234567+02:00</DT>'
       '<Obj N="Server" RefId="1"><ToString>EX01</ToString><Props><S N="Name">EX01</S></Props></Obj></Props>'
       '<MS><S N="protocollogginglevel">None</S><S N="Extra">x</S></MS></Obj>')


def test_a_name_is_found_whatever_its_case_and_the_first_one_sent_wins():
    obj = clixml.parse(OBJ)
    assert obj.get("Name") == "Default EX01" and obj.get("NAME") == "shadow"  # the exact name first
    assert obj.get("name") == "Default EX01" and obj.get("PROTOCOLLOGGINGLEVEL") == "Verbose"
    assert obj.has("extra") and obj.has("EXTRA") and not obj.has("Missing") and obj.get("missing", 7) == 7
    assert clixml.select(obj, ("protocolLoggingLevel", "server.name", "Nope", "WhenChanged")) == {
        "protocolLoggingLevel": "Verbose", "server.name": "EX01", "WhenChanged": "2024-05-01T08:20:30Z"}


def test_properties_added_after_a_lookup_are_found_too():
    obj = clixml.parse(OBJ)
    assert not obj.has("Later")
    obj.props["Later"] = 1
    assert obj.has("later") and obj.get("LATER") == 1
    obj.props = {"Other": 2}
    assert obj.get("other") == 2 and not obj.has("name")


def test_the_name_index_is_not_part_of_what_an_object_is():
    a, b = clixml.parse(OBJ), clixml.parse(OBJ)
    a.get("name")
    assert a == b and "_lower" not in repr(a)
