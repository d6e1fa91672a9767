"""exconf writes PSRP messages with pypsrp's serializer, its writer table built once (engine/transport/psrp.py
RawOutputSerializer.serialize): every message must be byte for byte what pypsrp's own serializer writes."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pypsrp.complex_objects import ObjectMeta
from pypsrp.messages import Message
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer, TaggedValue
from pypsrp.wsman import WSMan

from exconf.transport.psrp import _PACK, RawOutputSerializer, _CopiedShallow

KEY = bytes(range(32))


def _pool(serializer: Serializer) -> RunspacePool:
    pool = RunspacePool(WSMan("127.0.0.1", port=1, auth="basic", username="u", password="p", ssl=False, encryption="never"))
    pool._serializer = serializer
    pool._fragmenter.serializer = serializer
    serializer.cipher = Cipher(algorithms.AES(KEY), modes.CBC(bytes(16)))  # as pypsrp sets it after the key exchange
    pool.protocol_version = "2.3"  # what Exchange 2019 answers in SESSION_CAPABILITY
    return pool


STATEMENTS: list[tuple[str, list[tuple[str, Any]]]] = [
    ("Get-ExchangeServer", [("Identity", "ex01.contoso.lab")]),
    ("Measure-Object", []),
    ("Import-ExchangeCertificate", [("FileData", b"\x30\x82\x01\x0a" * 40), ("Server", "ex01"), ("PrivateKeyExportable", True)]),
    ("Set-TransportConfig", [("TLSSendDomainSecureList", ["a.com", "b.com"]), ("MaxRecipients", 500), ("Ratio", 1.5),
                             ("Empty", None), ("Id", uuid.UUID(int=7)), ("Tagged", TaggedValue("URI", "https://x/_x0041_\x01")),
                             ("Map", {"Name": "Value", "Count": 2}), ("Char", TaggedValue("C", "x")), ("Long", 2**40),
                             ("Line", "tab\tcontrol\x07 and \U0001F600 and _x0041_")]),
    ("Set-ReceiveConnector", [("Identity", "EX01\\Default EX01"), ("ProtocolLoggingLevel", "Verbose"), ("Enabled", False)]),
]


def _create_pipeline(serializer: Serializer, password: str | None) -> bytes:
    """The CREATE_PIPELINE message pypsrp would send for STATEMENTS (its fragment, before base64), as psrp.py builds it."""
    pool = _pool(serializer)
    ps = PowerShell(pool)
    for index, (cmdlet, params) in enumerate(STATEMENTS):
        ps.add_cmdlet(cmdlet)
        for name, value in params:
            ps.add_parameter(name, value)
        if password is not None and index == 2:
            ps.add_parameter("Password", pool.serialize(password, ObjectMeta("SS")))
        if index < len(STATEMENTS) - 1:
            ps.add_statement()
    for command in ps.commands:
        command.__class__ = _CopiedShallow
    sent: list[Any] = []
    ps._invoke = sent.append  # type: ignore[method-assign]
    ps.begin_invoke()
    (msg,) = sent
    return Message(0x2, str(uuid.UUID(int=1)), str(uuid.UUID(int=2)), msg, serializer).pack()


@pytest.mark.parametrize("password", [None, "Pfx-Passw0rd"])
def test_a_pipeline_is_written_as_pypsrp_writes_it(password: str | None):
    ours = _create_pipeline(RawOutputSerializer(), password)
    assert ours == _create_pipeline(Serializer(), password)
    assert b"Import-ExchangeCertificate" in ours and b"<BA N=\"V\">" in ours and (password is None or b"<SS" in ours)


def test_every_value_pypsrp_can_write_is_written_the_same():
    values: list[Any] = ["text", "", 0, -3, 2**63, True, False, 1.25, b"\x00\x01", None, [1, "a", None], ("x", 2),
                         {"k": [1, 2]}, uuid.UUID(int=1), datetime.timedelta(seconds=5), TaggedValue("DT", "2024-01-01"),
                         TaggedValue("TS", "PT5S"), TaggedValue("Version", "15.2"), TaggedValue("XD", "<a/>"),
                         TaggedValue("SBK", "Get-Date"), TaggedValue("I16", 5), TaggedValue("U64", 5), TaggedValue("By", 1)]
    for value in values:
        for meta in (None, ObjectMeta(name="N"), ObjectMeta(name="Opt", optional=True)):
            stock, ours = Serializer(), RawOutputSerializer()
            try:
                expected = stock.serialize(value, None if meta is None else ObjectMeta(name=meta.name, optional=meta.optional))
            except Exception as exc:  # noqa: BLE001 - pypsrp refuses some: so must exconf, the same way
                with pytest.raises(type(exc)):
                    ours.serialize(value, None if meta is None else ObjectMeta(name=meta.name, optional=meta.optional))
                continue
            got = ours.serialize(value, None if meta is None else ObjectMeta(name=meta.name, optional=meta.optional))
            assert (got is None) == (expected is None), value
            if expected is not None:
                import xml.etree.ElementTree as ET

                assert ET.tostring(got) == ET.tostring(expected), value


def test_the_table_names_only_tags_pypsrp_writes():
    known = {"S", "C", "B", "TS", "By", "SB", "U16", "I16", "U32", "I32", "U64", "I64", "Sg", "Db", "D", "BA", "G", "URI",
             "Version", "XD", "SBK", "SS", "Obj", "ObjDynamic", "LST", "IE", "QUE", "STK", "DCT"}
    assert set(_PACK) <= known and "DT" not in _PACK


@pytest.mark.parametrize("text", ["plain ASCII: ~!@#$%^&*()", "EX01\\Default EX01", "a_b", "_x0041_", "a_Xb", "_", "tab\there",
                                  "bell\x07", "del\x7f", "nel\x85", "\U0001F600", "é", "\u2028", "", " "])
def test_a_string_is_escaped_as_pypsrp_escapes_it(text: str):
    assert RawOutputSerializer()._serialize_string(text) == Serializer()._serialize_string(text)
