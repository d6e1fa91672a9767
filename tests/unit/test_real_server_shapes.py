"""exconf reads what real Exchange 2019 servers send (CSS-Exchange CLIXML recordings, read at test time)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from css_fixtures import fixtures_dir

from exconf.facts import server_facts
from exconf.model import ServerFacts
from exconf.modules import RECEIVE_CONNECTOR, SEND_CONNECTOR
from exconf.modules.base import PlanContext
from exconf.remote import Answer, StepResult
from exconf.yamlsource import Location

FIXTURES = fixtures_dir() / "E19"
NS = "{http://schemas.microsoft.com/powershell/2004/04}"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"CSS-Exchange fixtures not found at {FIXTURES}")


def _value(el: ET.Element):
    """A CLIXML property as exconf's program serialises it (docs/remote-contract.md)."""
    tag = el.tag.removeprefix(NS)
    if tag == "Nil":
        return None
    if tag == "B":
        return el.text == "true"
    if tag in ("I32", "I64"):
        return int(el.text)
    if tag in ("S", "G", "DT"):
        return el.text or ""
    lst = el.find(NS + "LST")
    if lst is not None:
        return [_value_text(item) for item in lst]
    return _value_text(el)


def _value_text(el: ET.Element) -> str:
    text = el.find(NS + "ToString")
    return text.text if text is not None else (el.text or "")


def objects(name: str) -> list[dict]:
    root = ET.parse(FIXTURES / name).getroot()
    return [{p.get("N"): _value(p) for p in obj.find(NS + "Props")} for obj in root.findall(NS + "Obj")]


def test_a_real_server_object_becomes_facts():
    (server,) = objects("GetExchangeServer.xml")
    answer = Answer(computer="SOLO-E19A", edge=False, results={"server": StepResult("server", "ok", (server,))})
    facts = server_facts(answer)
    assert (facts.name, facts.role, facts.version, facts.site) == ("SOLO-E19A", "Mailbox", "15.2.986.5", "Default-First-Site-Name")


def observe(kind, name: str):
    """The kind's read of a recorded answer, as if the program had returned it."""
    answer = Answer(computer="X", edge=False, results={f"read:{kind.kind}": StepResult(f"read:{kind.kind}", "ok", tuple(objects(name)))})
    return kind.observe(answer, "read:")


def nowhere(path):
    return Location("?", 0, 0)


def ctx(server: str, where: str) -> PlanContext:
    return PlanContext(host="h", facts=ServerFacts(server, "", "Mailbox", "15.2.986.5", "Default-First-Site-Name"), where=where)


def test_real_receive_connectors_diff_per_property():
    observed = observe(RECEIVE_CONNECTOR, "GetReceiveConnector.xml")
    names = {o.name for o in observed}
    assert "Default WIN-CTD3L0RGEN4" in names and len(names) == 5
    assert all(len(o.identity) == 36 for o in observed)  # Set-* goes by Guid
    want = RECEIVE_CONNECTOR.desired({"Default {server}": {"protocol_logging_level": "Verbose"}, "Client Proxy {server}": {"protocol_logging_level": "None"}}, nowhere)
    result = RECEIVE_CONNECTOR.plan(want, observed, ctx("WIN-CTD3L0RGEN4", "WIN-CTD3L0RGEN4"))
    assert result.problems == () and sum(f.status.value == "in_sync" for f in result.findings) == 1
    (change,) = result.changes
    assert change.name == "Default WIN-CTD3L0RGEN4"
    assert [(p.before, p.after) for p in change.properties] == [("None", "Verbose")]


def test_real_send_connectors_match_shell_patterns():
    observed = observe(SEND_CONNECTOR, "GetSendConnector.xml")
    want = SEND_CONNECTOR.desired({"mail to *": {"protocol_logging_level": "Verbose"}}, nowhere)
    (change,) = SEND_CONNECTOR.plan(want, observed, ctx("X", "the organisation")).changes
    assert change.name == "Mail to O365" and change.identity == "0292c782-9804-4d8b-ae0e-e1c7ab90852b"
