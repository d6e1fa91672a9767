import pytest

from exconf.inventory import InventoryError, display_path, load

BASE = """
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    exchange:
      transport_service: {intra_org_connector_protocol_logging_level: None, send_protocol_log_max_age: "30.00:00:00"}
  children:
    mailbox:
      vars:
        exchange:
          transport_service: {intra_org_connector_protocol_logging_level: Verbose}
      hosts:
        ex01.contoso.com:
        ex02.contoso.com:
          exchange:
            transport_service: {send_protocol_log_max_age: "7.00:00:00"}
    edge:
      hosts:
        edge01.contoso.com: {ansible_host: 192.0.2.10}
"""


def test_vars_merge_all_then_group_then_host_key_by_key(write):
    inv = load(write({"inv.yaml": BASE}))
    assert [h.name for h in inv.hosts] == ["ex01.contoso.com", "ex02.contoso.com", "edge01.contoso.com"]
    ex01, ex02, edge = inv.hosts
    assert ex01.vars["exchange"]["transport_service"] == {
        "intra_org_connector_protocol_logging_level": "Verbose",
        "send_protocol_log_max_age": "30.00:00:00",
    }
    assert ex02.vars["exchange"]["transport_service"]["send_protocol_log_max_age"] == "7.00:00:00"
    assert edge.vars["exchange"]["transport_service"]["intra_org_connector_protocol_logging_level"] == "None"
    assert inv.groups["mailbox"] == {"ex01.contoso.com", "ex02.contoso.com"}


def test_each_value_remembers_its_file_and_line(write):
    path = write({"inv.yaml": BASE, "group_vars/edge.yaml": "exchange:\n  transport_service:\n    send_protocol_log_max_age: '14.00:00:00'\n"})
    inv = load(path)
    edge = inv.host("edge01.contoso.com")
    src = edge.source(("exchange", "transport_service", "send_protocol_log_max_age"))
    assert src.file.endswith("group_vars/edge.yaml") and src.line == 3
    ex02 = inv.host("ex02.contoso.com")
    assert ex02.source(("exchange", "transport_service", "send_protocol_log_max_age")).line == 15
    assert ex02.source(("exchange", "transport_service", "intra_org_connector_protocol_logging_level")).line == 10


def test_group_vars_files_override_inventory_group_vars_and_host_vars_win(write):
    path = write(
        {
            "inv.yaml": BASE,
            "group_vars/mailbox.yml": "exchange:\n  transport_service:\n    send_protocol_log_max_age: '1.00:00:00'\n",
            "host_vars/ex01.contoso.com/a.yaml": "ansible_port: 5986\n",
        }
    )
    inv = load(path)
    assert inv.host("ex01.contoso.com").vars["exchange"]["transport_service"]["send_protocol_log_max_age"] == "1.00:00:00"
    assert inv.host("ex02.contoso.com").vars["exchange"]["transport_service"]["send_protocol_log_max_age"] == "7.00:00:00"
    assert inv.host("ex01.contoso.com").vars["ansible_port"] == 5986


def test_child_group_beats_parent_and_siblings_go_by_name(write):
    path = write(
        {
            "inv.yaml": """
            all:
              children:
                site:
                  vars: {ansible_port: 1}
                  children:
                    b: {vars: {ansible_port: 3}, hosts: {h:}}
                    a: {vars: {ansible_port: 2}, hosts: {h:}}
            """
        }
    )
    assert load(path).host("h").vars["ansible_port"] == 3


def errors_of(path, **kw) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load(path, **kw)
    return [str(i) for i in info.value.issues]


def test_errors_name_file_line_column_key_and_expectation(write):
    path = write(
        {
            "inv.yaml": """
            all:
              vars:
                exchange:
                  receive_connectors:
                    "Default {server}": {protocol_logging_level: Loud}
                  transport_servce: {}
              hosts:
                h1: {ansible_port: "x", exconf_pasword_env: PW}
            """
        }
    )
    errors = errors_of(path)
    assert len(errors) == 4, errors
    assert any("inv.yaml:5:54" in e and "expected one of None, Verbose, found 'Loud'" in e for e in errors), errors
    assert any("inv.yaml:6:7" in e and "unknown key 'transport_servce'; did you mean 'transport_service'?" in e for e in errors), errors
    assert any("inv.yaml:8:24" in e and "expected a whole number" in e for e in errors), errors
    assert any("inv.yaml:8:29" in e and "unknown key 'exconf_pasword_env'" in e for e in errors), errors


def test_unquoted_time_span_gets_a_quoting_hint(write):
    path = write({"inv.yaml": "all:\n  hosts:\n    h:\n      exchange:\n        transport_service: {send_protocol_log_max_age: 12:00:00}\n"})
    (error,) = errors_of(path)
    assert "base-60" in error and '"12:00:00"' in error and "inv.yaml:5:56" in error


def test_out_of_range_values_and_bad_templates_are_caught_before_any_host(write):
    path = write(
        {
            "inv.yaml": """
            all:
              hosts:
                h:
                  exchange:
                    transport_service: {send_protocol_log_max_age: "99999.00:00:00"}
                    receive_connectors:
                      "Default {host}": {protocol_logging_level: Verbose}
            """
        }
    )
    errors = errors_of(path)
    assert any("out of range" in e for e in errors)
    assert any("unknown placeholder {host}" in e for e in errors)


def test_organisation_state_only_in_all(write):
    path = write(
        {
            "inv.yaml": """
            all:
              children:
                mailbox:
                  vars:
                    exchange_organization: {send_connectors: {"X": {protocol_logging_level: Verbose}}}
                  hosts: {h:}
            """
        }
    )
    (error,) = errors_of(path)
    assert "is organisation-wide" in error and "group mailbox" in error


def test_malformed_yaml_and_stray_vars_files(write):
    bad = write({"inv.yaml": "all:\n  hosts:\n    h: [\n"})
    (error,) = errors_of(bad)
    assert error.startswith(f"{display_path(bad)}:4:1: invalid YAML: ")
    path = write({"inv.yaml": "all:\n  hosts: {h:}\n", "group_vars/mailbx.yaml": "a: 1\n"})
    # Ansible ignores group_vars of a group it does not have; exconf loads the inventory and warns.
    inv = load(path)
    assert any("no group named 'mailbx'" in w and "ignored" in w for w in inv.warnings)
    assert "a" not in inv.host("h").vars


def test_unknown_group_keys_are_reported(write):
    path = write({"inv.yaml": "all:\n  host:\n    h:\n"})
    errors = errors_of(path)
    assert any("unknown key 'host'" in e for e in errors)


def test_the_example_inventory_loads_and_merges_as_documented():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "inventories" / "examples" / "contoso" / "production.yaml"
    inv = load(root)
    assert len(inv.hosts) == 6 and inv.groups["amsterdam"] == {"ams-ex01.contoso.com", "ams-ex02.contoso.com"}
    rtm2 = inv.host("rtm-ex02.contoso.com").vars["exchange"]
    assert rtm2["receive_connectors"]["Client Frontend {server}"] == {"protocol_logging_level": "Verbose"}
    assert rtm2["receive_connectors"]["Default Frontend {server}"] == {"protocol_logging_level": "Verbose"}
    assert inv.host("rtm-ex01.contoso.com").vars["exchange"]["receive_connectors"]["Client Frontend {server}"]["protocol_logging_level"] == "None"
    assert inv.host("ams-edge01.dmz.contoso.com").vars["ansible_port"] == 5986
    assert "EdgeSync - *" in inv.organization["send_connectors"]
