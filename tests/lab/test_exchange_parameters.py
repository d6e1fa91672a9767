"""The lab's parameter tables against Microsoft's documented ranges and defaults (tests/data/exchange_parameters.yaml).

Every parameter the reference pages list for Exchange 2016/2019 exists in the lab and nothing else
does; every documented range is accepted at both ends and refused one step beyond; every documented
default is the lab's default, unless the data names the source (a real recording, the decompiled
schema) for the lab's own value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exconf.lab.exchange import receive_connectors, send_connectors, transport_config, transport_services
from exconf.lab.exchange.binder import SHOULD_PROCESS_PARAMETERS, Signature, bind
from exconf.lab.exchange.cmdlets import CMDLETS
from exconf.lab.exchange.dotnet_values import TimeSpan, parse_timespan
from exconf.lab.exchange.errors import CmdletError
from exconf.lab.exchange.param_types import EnumType
from exconf.lab.exchange.store import LabStore

DATA = yaml.safe_load((Path(__file__).parents[1] / "data" / "exchange_parameters.yaml").read_text())
CMDLET_DATA: dict[str, dict[str, dict[str, Any]]] = DATA["cmdlets"]
ORG = Path(__file__).parent / "data" / "org.yaml"
ON_PREMISES_2019 = ("Exchange Server 2016", "Exchange Server 2019")


def _in_lab(entry: dict[str, Any]) -> bool:
    """Whether the page applies the parameter to the lab's Exchange 2019."""
    return "exchange" not in entry or any(v in entry["exchange"] for v in ON_PREMISES_2019)


def _entries(key: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The parameters of the lab's Exchange version whose entry has ``key``."""
    return [(c, n, e) for c, params in CMDLET_DATA.items() for n, e in params.items() if key in e and _in_lab(e)]


def _signature(cmdlet: str) -> Signature:
    return CMDLETS[cmdlet.lower()].signature


def _binds(cmdlet: str, name: str, value: Any) -> str | None:
    """None if Set-X -Name value binds, else the error message."""
    try:
        bind(_signature(cmdlet), [("Identity", "x"), (name, value)])
    except CmdletError as exc:
        return exc.message
    return None


def _step(value: Any, delta: int) -> Any:
    """The next value beyond ``value``: one more (or less) unit, byte or second."""
    if isinstance(value, int):
        return value + delta
    return str(TimeSpan(parse_timespan(value).ticks + delta * TimeSpan.of(seconds=1).ticks))


@pytest.fixture(scope="module")
def lab_defaults(tmp_path_factory) -> dict[tuple[str, str], dict[str, Any]]:
    """The lab's defaults by (cmdlet, role): what a new object of that cmdlet holds."""
    store = LabStore(ORG, tmp_path_factory.mktemp("state") / "state.json")
    mbx, edge = store.entry(store.server("EX01")), store.entry(store.server("EDGE01"))
    return {
        ("Set-TransportService", "Mailbox"): transport_services.transport_defaults(mbx),
        ("Set-TransportService", "Edge"): transport_services.transport_defaults(edge),
        ("Set-FrontendTransportService", "Mailbox"): transport_services.frontend_defaults(mbx),
        ("Set-TransportConfig", "Mailbox"): transport_config.defaults(),
        ("Set-ReceiveConnector", "Mailbox"): receive_connectors.base_defaults(mbx),
        # An Edge has one receive connector, created with the Edge defaults.
        ("Set-ReceiveConnector", "Edge"): receive_connectors.defaults(edge)[0],
        ("Set-SendConnector", "Mailbox"): send_connectors.base_values("New connector"),
    }


@pytest.mark.parametrize("cmdlet", sorted(CMDLET_DATA))
def test_the_lab_has_exactly_the_documented_parameters(cmdlet):
    signature = _signature(cmdlet)
    lab = {p.name for p in signature.params}
    if signature.should_process:
        lab |= {p.name for p in SHOULD_PROCESS_PARAMETERS}
    documented = {name for name, entry in CMDLET_DATA[cmdlet].items() if _in_lab(entry)}
    assert sorted(documented - lab) == [], "documented for Exchange 2019 but missing in the lab"
    assert sorted(lab - set(CMDLET_DATA[cmdlet])) == [], "in the lab but not on Microsoft's page"
    not_2019 = {name for name, entry in CMDLET_DATA[cmdlet].items() if not _in_lab(entry)}
    assert not lab & not_2019, "the lab serves parameters that Exchange 2019 does not have"


@pytest.mark.parametrize("cmdlet, name, entry", _entries("range"), ids=lambda x: x if isinstance(x, str) else "")
def test_documented_ranges_bind_at_both_ends_and_not_beyond(cmdlet, name, entry):
    low, high = entry.get("lab", {}).get("range", entry["range"])
    if low is not None:
        assert _binds(cmdlet, name, low) is None
        assert _binds(cmdlet, name, _step(low, -1)) is not None
    assert _binds(cmdlet, name, high) is None
    refused = _binds(cmdlet, name, _step(high, +1))
    assert refused is not None, f"{cmdlet} -{name} {_step(high, +1)} is beyond the documented range but binds"


@pytest.mark.parametrize("cmdlet, name, entry", _entries("unlimited"), ids=lambda x: x if isinstance(x, str) else "")
def test_unlimited_is_accepted_where_documented(cmdlet, name, entry):
    accepted = _binds(cmdlet, name, "Unlimited") is None
    assert accepted == entry["unlimited"]


# The (cmdlet, role) pairs whose defaults the lab_defaults fixture provides.
_DEFAULT_SOURCES = {
    ("Set-TransportService", "Mailbox"), ("Set-TransportService", "Edge"), ("Set-FrontendTransportService", "Mailbox"),
    ("Set-TransportConfig", "Mailbox"), ("Set-ReceiveConnector", "Mailbox"), ("Set-ReceiveConnector", "Edge"),
    ("Set-SendConnector", "Mailbox"),
}


def _defaults_to_check() -> list[tuple[str, str, str, Any]]:
    """(cmdlet, parameter, role, documented default or the lab's cited one) for every default on record."""
    out = []
    for cmdlet, name, entry in _entries("default") + _entries("default_edge"):
        lab = entry.get("lab", {})
        for role, key in (("Mailbox", "default"), ("Edge", "default_edge")):
            if key in entry and (cmdlet, role) in _DEFAULT_SOURCES and (cmdlet, name, role, lab.get(key, entry[key])) not in out:
                out.append((cmdlet, name, role, lab.get(key, entry[key])))
    return out


@pytest.mark.parametrize("cmdlet, name, role, documented", _defaults_to_check(), ids=str)
def test_documented_defaults_are_the_labs(cmdlet, name, role, documented, lab_defaults):
    param = next(p for p in _signature(cmdlet).params if p.name == name)
    expected = param.type.convert(documented)
    if expected is None and param.type.multi:
        expected = ()
    actual = lab_defaults[(cmdlet, role)][name]
    assert actual == expected, f"{cmdlet} {name} on {role}: lab {actual}, documented {documented}"


def test_every_deliberate_difference_names_its_source():
    for cmdlet, name, entry in _entries("lab"):
        assert entry["lab"].get("source"), f"{cmdlet} {name}: a lab value needs the source that justifies it"
        assert set(entry["lab"]) - {"source"} <= {"range", "default", "default_edge"}


def test_enum_defaults_are_spelled_as_exchange_prints_them():
    """Documented enum defaults read back in Exchange's casing (a sanity check of the data itself)."""
    for cmdlet, name, _role, documented in _defaults_to_check():
        param = next(p for p in _signature(cmdlet).params if p.name == name)
        if isinstance(param.type, EnumType):
            assert str(param.type.convert(documented)) == documented


# --- identity forms ------------------------------------------------------------------------------------

# What each Get/Set pair is tried on from EX01 (by its Get identity), and a harmless change for Set.
# A receive connector's bare name means the local server's (ServerBasedIdParameter), so its Name form
# targets EX01's connector and the other forms EX02's.
_TARGETS = {
    "SendConnector": ("Outbound to Fabrikam", {"Comment": "found"}),
    "ReceiveConnector": ("EX02\\Default Frontend EX02", {"Comment": "found"}),
    "TransportService": ("EX02", {"IntraOrgConnectorProtocolLoggingLevel": "Verbose"}),
    "FrontendTransportService": ("EX02", {"IntraOrgConnectorProtocolLoggingLevel": "None"}),
    "ExchangeServer": ("EX02", {}),
}


def _identity(store: LabStore, noun: str, form: str) -> tuple[str, str]:
    """The target written in one documented identity form, and the target's Get identity."""
    target = _TARGETS[noun][0]
    if form == "Name" and noun == "ReceiveConnector":
        return "Default Frontend EX01", "EX01\\Default Frontend EX01"
    if form == "ServerName\\Name":
        return (target if noun == "ReceiveConnector" else f"EX01\\{target}"), target
    # The services are named by their server: the ServerIdParameter forms of the server object.
    source = ("Get-" + noun, target) if noun in ("SendConnector", "ReceiveConnector") else ("Get-ExchangeServer", target)
    [obj] = store.exec_console("EX01", source[0], {"Identity": source[1]})
    key = {"Name": "Name", "GUID": "Guid", "DN": "DistinguishedName", "ExchangeLegacyDN": "ExchangeLegacyDN"}[form]
    return obj[key], target


def _forms() -> list[tuple[str, str]]:
    return [(c, form) for c, n, e in _entries("forms") for form in e["forms"]]


@pytest.mark.parametrize("cmdlet, form", _forms(), ids=str)
def test_documented_identity_forms_find_the_object(cmdlet, form, tmp_path):
    store = LabStore(ORG, tmp_path / "state.json")
    verb, noun = cmdlet.split("-", 1)
    ident, target = _identity(store, noun, form)
    [wanted] = store.exec_console("EX01", f"Get-{noun}", {"Identity": target})
    if verb == "Get":
        found = store.exec_console("EX01", cmdlet, {"Identity": ident})
        assert [o["Guid"] for o in found] == [wanted["Guid"]]
    else:
        change = _TARGETS[noun][1]
        store.exec_console("EX01", cmdlet, {"Identity": ident, **change})
        [after] = store.exec_console("EX01", f"Get-{noun}", {"Identity": target})
        assert {k: after[k] for k in change} == change
