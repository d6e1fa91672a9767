"""Exchange's ranges and enum rules at the inventory: what the plan refuses, where, and in which words."""

import pytest

from exconf.desired import parse
from exconf.inventory import InventoryError, load


def _errors(path) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load(path)
    return [str(i) for i in info.value.issues]


def test_enum_names_in_any_case_are_accepted_and_shown_in_exchanges_casing(write):
    inv = load(write({"inv.yaml": """
        all:
          vars:
            exchange:
              transport_service: {intra_org_connector_protocol_logging_level: verbose}
              receive_connectors:
                "Default Frontend {server}": {protocol_logging_level: NONE}
          hosts:
            ex01.contoso.com:
        """}))
    desired = parse(inv).hosts["ex01.contoso.com"]
    [service] = [d for d in desired if d.kind == "transport_service"]
    [connector] = [d for d in desired if d.kind == "receive_connector"]
    assert [v.value for v in service.values] == ["Verbose"]
    assert [v.value for v in connector.values] == ["None"]


def test_a_protocol_log_size_above_909_5_tb_is_refused_with_exchanges_range(write):
    errors = _errors(write({"inv.yaml": """
        all:
          vars:
            exchange:
              transport_service: {send_protocol_log_max_directory_size: 1000 TB, receive_protocol_log_max_file_size: 1000000000000000}
          hosts:
            ex01.contoso.com:
        """}))
    assert len(errors) == 2, errors
    assert any(
        "inv.yaml:4:" in e and "send_protocol_log_max_directory_size" in e
        and "'1000 TB' is out of range: must be between 1 B and 909.5 TB (999,999,999,999,999 bytes), or Unlimited" in e
        for e in errors
    ), errors
    assert any("1000000000000000 is out of range: must be between 1 B and 909.5 TB" in e for e in errors), errors
    assert not any("expected" in e for e in errors), errors  # a range error, not a type error


def test_a_time_span_out_of_range_is_a_range_error(write):
    [error] = _errors(write({"inv.yaml": """
        all:
          vars:
            exchange:
              frontend_transport_service: {send_protocol_log_max_age: "24855.03:14:08"}
          hosts:
            ex01.contoso.com:
        """}))
    assert "'24855.03:14:08' is out of range: must be between 00:00:00 and 24855.03:14:07" in error


def test_a_misspelt_enum_name_lists_the_names(write):
    [error] = _errors(write({"inv.yaml": """
        all:
          vars:
            exchange:
              transport_service: {intra_org_connector_protocol_logging_level: Verbos}
          hosts:
            ex01.contoso.com:
        """}))
    assert "expected one of None, Verbose, found 'Verbos'" in error
