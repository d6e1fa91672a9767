"""The desired state: declarations parsed once, typed and located."""

from exconf.desired import UNKNOWN, locator, parse
from exconf.inventory import load
from exconf.yamlsource import Location


def test_each_value_is_parsed_once_and_knows_where_it_was_written(write):
    inv = load(
        write(
            {
                "inv.yaml": """
                all:
                  vars:
                    exchange_organization:
                      send_connectors:
                        "EdgeSync*": {protocol_logging_level: verbose}
                  hosts:
                    ex01:
                      exchange:
                        transport_service: {send_protocol_log_max_age: "14.00:00:00"}
                    ex02:
                """,
                "group_vars/all.yaml": """
                exchange:
                  receive_connectors:
                    "Default {server}":
                      protocol_logging_level: None
                """,
            }
        )
    )
    desired = parse(inv)
    (org,) = desired.organization
    assert (org.kind, org.pattern, org.values[0].value) == ("send_connector", "EdgeSync*", "Verbose")
    assert org.values[0].source.line == 5 and org.source.file.endswith("inv.yaml")
    ex01 = {d.kind: d for d in desired.hosts["ex01"]}
    assert set(ex01) == {"transport_service", "receive_connector"}
    assert ex01["transport_service"].values[0].value == 14 * 86400  # canonical seconds
    assert ex01["transport_service"].pattern == ""
    rc = ex01["receive_connector"]
    assert rc.pattern == "Default {server}"  # {server} is expanded per server at plan time
    assert rc.values[0].source.file.endswith("group_vars/all.yaml") and rc.values[0].source.line == 4
    assert desired.kinds_of("ex02") == frozenset({"receive_connector"})
    assert desired.kinds_of("nobody") == frozenset()
    assert desired.organization_kinds == frozenset({"send_connector"})


def test_a_location_is_the_nearest_recorded_ancestor():
    sources = {("exchange", "x"): Location("a.yaml", 1, 1), ("exchange", "x", "y"): Location("a.yaml", 2, 3)}
    where = locator(sources, ("exchange",))
    assert where(("x", "y")) == Location("a.yaml", 2, 3)
    assert where(("x", "z", "w")) == Location("a.yaml", 1, 1)
    assert where(("other",)) == UNKNOWN


def test_a_value_from_a_vault_stays_sensitive_in_the_desired_state():
    from exconf.modules import TRANSPORT_SERVICE
    from exconf.sensitive import Sensitive

    (d,) = TRANSPORT_SERVICE.desired({"send_protocol_log_path": Sensitive("D:\\Secret\\Logs"), "send_protocol_log_max_age": "7.00:00:00"}, lambda p: UNKNOWN)
    assert [(v.prop, v.sensitive) for v in d.values] == [("send_protocol_log_path", True), ("send_protocol_log_max_age", False)]


def test_the_nearest_ancestor_is_one_level_up_before_two():
    sources = {("exchange", "x"): Location("a.yaml", 1, 1), ("exchange", "x", "y"): Location("a.yaml", 2, 3)}
    assert locator(sources, ("exchange",))(("x", "y", "z")) == Location("a.yaml", 2, 3)
