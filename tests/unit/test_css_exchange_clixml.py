"""The CLIXML path (exconf's reader, certificate decoding and select) on what real Exchange 2019 servers
sent (CSS-Exchange recordings, read where they are, at test time). The recordings are Export-Clixml
documents whose objects share type-name references, so each document is read whole; on the wire
each object is its own message (pypsrp hands exconf its CLIXML, tests/lab/test_powershell_endpoint.py)."""

from __future__ import annotations

import pytest

from css_fixtures import fixtures_dir
from exconf.modules.certificate_values import READ_PROPERTIES, cert_from_answer
from exconf.psrp_executor import _decoded, _read, _select
from exconf.remote import clixml, nrbf

E19 = fixtures_dir() / "E19"
pytestmark = pytest.mark.skipif(not E19.is_dir(), reason=f"CSS-Exchange fixtures not found at {E19}")

# The README's table of E19/GetExchangeCertificate.xml
EXPECTED = {
    "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7": ("CN=Microsoft Exchange Server Auth Certificate", frozenset({"SMTP"})),
    "6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28": ("CN=Solo-E19A", frozenset({"IMAP", "POP", "IIS", "SMTP"})),
    "38247AD2B76244411748274C508D13446311830B": ("CN=WMSvc-WIN-K300A9DA9VA", frozenset()),
}


def wire_objects(name: str) -> list:
    """Each recorded object, read by exconf's CLIXML reader."""
    return clixml.parse((E19 / name).read_bytes().decode("utf-8-sig"))


def rows(name: str, select: tuple[str, ...]) -> list[dict]:
    return [_select(_decoded(_read(o)), select) for o in wire_objects(name)]


def test_certificates_read_as_the_readme_says():
    certs = {c.thumbprint: c for c in (cert_from_answer(r) for r in rows("GetExchangeCertificate.xml", READ_PROPERTIES))}
    assert set(certs) == set(EXPECTED)
    for thumbprint, (subject, services) in EXPECTED.items():
        assert certs[thumbprint].subject == subject
        assert certs[thumbprint].services == services
    assert certs["6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28"].domains == ("Solo-E19A", "Solo-E19A.Solo.com")
    assert all(c.not_after is not None and c.status == "Valid" for c in certs.values())


def test_rawdata_only_keeps_thumbprint_subject_and_dates_and_leaves_services_unknown():
    for obj in wire_objects("GetExchangeCertificate.xml"):
        bag = _read(obj)
        bag.props.pop("SerializationData")
        row = _select(_decoded(bag), READ_PROPERTIES)
        assert "Services" not in row and "Status" not in row
        cert = cert_from_answer(row)
        assert cert.services is None  # unknown: never "None"
        subject, _ = EXPECTED[cert.thumbprint]
        assert cert.subject == subject and cert.not_after is not None and cert.not_before is not None


def test_the_signed_serialization_data_reads_as_the_plain_one():
    for obj in wire_objects("GetExchangeCertificate.xml"):
        bag = _read(obj)
        plain = bag.get("SerializationData")
        bag.props["SerializationData"] = nrbf.sign_layout(plain, bytes(range(32)))
        assert bag.get("SerializationData").startswith(b"#sig#")
        cert = cert_from_answer(_select(_decoded(bag), READ_PROPERTIES))
        assert cert.services == EXPECTED[cert.thumbprint][1]


def test_a_signed_blob_with_a_wrong_length_is_refused_not_guessed():
    bag = _read(wire_objects("GetExchangeCertificate.xml")[0])
    signed = nrbf.sign_layout(bag.get("SerializationData"), bytes(32))
    with pytest.raises(nrbf.NrbfError):
        nrbf.parse(signed[:-1])
    bag.props["SerializationData"] = signed[:-1]
    assert "Services" not in _select(_decoded(bag), ("Services",))  # unreadable: unknown


def test_connectors_and_server_read_as_the_program_would_serialise_them():
    (server,) = rows("GetExchangeServer.xml", ("Name", "Fqdn", "ServerRole", "AdminDisplayVersion", "Site", "IsEdgeServer"))
    assert server == {"Name": "SOLO-E19A", "Fqdn": "Solo-E19A.Solo.com", "ServerRole": "Mailbox",
                      "AdminDisplayVersion": "Version 15.2 (Build 986.5)",
                      "Site": "Solo.com/Configuration/Sites/Default-First-Site-Name", "IsEdgeServer": False}
    receive = rows("GetReceiveConnector.xml", ("Identity", "ProtocolLoggingLevel", "MaxMessageSize", "Bindings", "AuthMechanism"))
    assert receive[0] == {"Identity": "WIN-CTD3L0RGEN4\\Default WIN-CTD3L0RGEN4", "ProtocolLoggingLevel": "None",
                          "MaxMessageSize": "36 MB (37,748,736 bytes)", "Bindings": ["0.0.0.0:2525", "[::]:2525"],
                          "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer"}
    (send,) = rows("GetSendConnector.xml", ("Identity", "AddressSpaces", "TlsCertificateName", "Fqdn", "WhenChanged"))
    assert send == {"Identity": "Mail to O365", "AddressSpaces": ["SMTP:*;1"], "TlsCertificateName": "<I>CN=localhost<S>CN=localhost",
                    "Fqdn": None, "WhenChanged": "2022-03-23T17:00:30Z"}


def test_the_reader_bounds_nesting():
    deep = "<Obj RefId='0'><Props>" + "".join(f"<Obj N='a' RefId='{i}'><Props>" for i in range(1, 80)) + \
           "".join("</Props></Obj>" for _ in range(1, 80)) + "</Props></Obj>"
    with pytest.raises(clixml.ClixmlError):
        clixml.parse(deep)
