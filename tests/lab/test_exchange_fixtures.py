"""The lab's objects against real Exchange 2019 output (CSS-Exchange's recorded CLIXML).

The fixtures are read where they are, never copied: <repo>/../shared/fixtures/css-exchange.
Property names must be the same, and every value must have the same shape once both
go through the remote contract's serialisation (string, boolean, number, list, and for
strings the Exchange format: sizes, time spans, versions, sites, GUIDs, dates).
"""

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
from css_fixtures import fixtures_dir

from exconf.lab.exchange.store import LabStore

FIXTURES = fixtures_dir() / "E19"
DATA = Path(__file__).parent / "data"
NS = "{http://schemas.microsoft.com/powershell/2004/04}"
# What a remote session adds to every object (not properties of the Exchange object).
SESSION_ONLY = {"PSComputerName", "RunspaceId", "PSShowComputerName", "SerializationData"}

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"CSS-Exchange fixtures not found at {FIXTURES}")


def read_clixml(path: Path) -> list[dict]:
    """Top-level objects of a CLIXML file as {property: value in contract form}."""
    root = ET.parse(path).getroot()

    def obj_value(el):
        items = el.find(NS + "LST")
        if items is None:
            items = el.find(NS + "IE")
        if items is not None:
            return [obj_value(i) if i.tag == NS + "Obj" else value(i) for i in items]
        shown = el.find(NS + "ToString")
        return (shown.text or "") if shown is not None else None

    refs: dict[str, object] = {}

    def value(el):
        tag = el.tag.replace(NS, "")
        if tag == "Nil":
            return None
        if tag == "S":
            return el.text or ""
        if tag == "B":
            return el.text == "true"
        if tag in ("I32", "I64", "I16", "U8", "U16", "U32", "U64", "By", "SB"):
            return int(el.text)
        if tag == "DT":
            return datetime.fromisoformat(el.text).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if tag == "Ref":
            return refs[el.get("RefId")]
        if tag == "Obj":
            return refs[el.get("RefId")]
        return el.text  # G (Guid) and the other primitives print as their text

    for el in root.iter(NS + "Obj"):  # document order: a Ref always points back
        refs[el.get("RefId")] = obj_value(el)
    objects = []
    for obj in root.findall(NS + "Obj"):
        props = {}
        for section in ("Props", "MS"):
            for child in obj.find(NS + section) if obj.find(NS + section) is not None else []:
                if child.get("N") not in SESSION_ONLY:
                    props[child.get("N")] = value(child)
        objects.append(props)
    return objects


SHAPES = [
    ("size", re.compile(r"^\d+(\.\d+)? (B|KB|MB|GB|TB) \([\d,]+ bytes\)$")),
    ("timespan", re.compile(r"^-?(\d+\.)?\d\d:\d\d:\d\d(\.\d{7})?$")),
    ("version", re.compile(r"^Version \d+\.\d+ \(Build \d+\.\d+\)$")),
    ("object-version", re.compile(r"^\d+\.\d+ \(\d+\.\d+\.\d+\.\d+\)$")),
    ("site", re.compile(r"^[\w.-]+/Configuration/Sites/[^/]+$")),
    ("schema", re.compile(r"^[\w.-]+/Configuration/Schema/[\w-]+$")),
    ("guid", re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")),
    ("date", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")),
    ("dn", re.compile(r"^CN=[^,]+(,(CN|DC)=[^,]+)+$")),
    ("x509", re.compile(r"^(<I>[^<]+)?<S>.+$")),
    ("path", re.compile(r"^[A-Z]:\\")),
]


def shape(value):
    if value is None:
        return None
    if isinstance(value, (bool, int, list)):
        return type(value).__name__
    for name, pattern in SHAPES:
        if pattern.match(value):
            return name
    return "text"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return LabStore(DATA / "org.yaml", tmp_path_factory.mktemp("lab") / "state.json")


def compare(real: dict, ours: dict) -> None:
    assert set(ours) == set(real), f"only real: {sorted(set(real) - set(ours))}, only lab: {sorted(set(ours) - set(real))}"
    wrong = {
        name: (real[name], ours[name])
        for name in real
        if None not in (shape(real[name]), shape(ours[name])) and shape(real[name]) != shape(ours[name])
    }
    assert wrong == {}


def test_receive_connectors_look_like_exchange_2019(lab):
    real = read_clixml(FIXTURES / "GetReceiveConnector.xml")
    ours = {c["Name"].rsplit(" ", 1)[0]: c for c in lab.exec_console("EX01", "Get-ReceiveConnector", {"Server": "EX01"})}
    assert {c["Name"].rsplit(" ", 1)[0] for c in real} == set(ours)  # the same five default connectors
    for connector in real:
        mine = ours[connector["Name"].rsplit(" ", 1)[0]]
        compare(connector, mine)
        # defaults the lab takes from the recorded server (cmdlets.md does not give them)
        for name in ("MaxHeaderSize", "MaxMessageSize", "MessageRateLimit", "MessageRateSource", "SizeEnabled",
                     "MaxInboundConnectionPerSource", "MaxRecipientsPerMessage", "EnableAuthGSSAPI", "TarpitInterval",
                     "ConnectionTimeout", "TransportRole", "PermissionGroups", "RemoteIPRanges", "ExchangeVersion",
                     "ObjectClass", "Banner", "DomainSecureEnabled"):
            assert mine[name] == connector[name], name
        assert sorted(mine["Bindings"]) == sorted(connector["Bindings"])


def test_send_connector_looks_like_exchange_2019(lab):
    [real] = read_clixml(FIXTURES / "GetSendConnector.xml")
    ours = lab.exec_console("EX01", "Get-SendConnector", {"Identity": "Outbound to Fabrikam"})[0]
    compare(real, ours)
    for name in ("Port", "ConnectionInactivityTimeOut", "MaxMessageSize", "SmtpMaxMessagesPerConnection", "ErrorPolicies",
                 "ConnectorType", "Region", "SourceRoutingGroup", "HomeMTA", "ObjectClass", "ExchangeVersion",
                 "SourceIPAddress"):
        assert ours[name] == real[name], name


def test_exchange_server_looks_like_exchange_2019(lab):
    [real] = read_clixml(FIXTURES / "GetExchangeServer.xml")
    [ours] = lab.exec_console("EX01", "Get-ExchangeServer", {"Identity": "EX01"})
    compare(real, ours)
    for name in ("ServerRole", "IsMailboxServer", "IsEdgeServer", "IsHubTransportServer", "IsFrontendTransportServer",
                 "IsClientAccessServer", "ExchangeVersion", "ObjectClass"):
        assert ours[name] == real[name], name
    assert real["AdminDisplayVersion"].startswith("Version 15.2 (Build ")
    assert ours["AdminDisplayVersion"] == "Version 15.2 (Build 1544.4)"
