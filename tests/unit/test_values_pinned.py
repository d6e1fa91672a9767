"""Value types: what a user sees of them in the editor schema, in range messages and in errors.

The inventory schema (docs/inventory.schema.json) is built from each type's ``schema()``; an editor
validates with it before exconf runs, so it must refuse what ``parse`` refuses and name the Exchange
type that Microsoft's reference gives for the parameter (tests/data/exchange_parameters.yaml).
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from exconf.modules import RESOURCES
from exconf.values import (
    PROTOCOL_LOG_SIZE,
    PROTOCOL_LOGGING_LEVEL,
    ByteSizeType,
    DomainListType,
    EnumType,
    PathType,
    TimeSpanType,
    ValueError_,
    same,
)

DATA = yaml.safe_load((Path(__file__).parents[1] / "data" / "exchange_parameters.yaml").read_text())["cmdlets"]
KB, MB, GB, TB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def _valid(schema: dict, value) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


# -- the editor schema agrees with the parser -------------------------------------------------------


@pytest.mark.parametrize("value", ["250 MB", "250mb", "1,024 KB", "250 MB (262,144,000 bytes)", "Unlimited", 5])
def test_size_schema_accepts_what_exchange_accepts(value):
    assert _valid(PROTOCOL_LOG_SIZE.schema(), value)


@pytest.mark.parametrize("value", ["250 XB", "lots", True, 2.5, ["250 MB"], {"size": "250 MB"}])
def test_size_schema_refuses_what_is_not_a_size(value):
    assert not _valid(PROTOCOL_LOG_SIZE.schema(), value)


def test_a_size_that_cannot_be_unlimited_is_refused_as_unlimited_by_the_schema_too():
    bounded = ByteSizeType(unlimited=False, minimum=1)
    assert not _valid(bounded.schema(), "Unlimited")
    assert _valid(bounded.schema(), "10 MB")
    with pytest.raises(ValueError_, match="^this size cannot be Unlimited$"):
        bounded.parse("unlimited")


def test_enum_schema_refuses_a_number_and_lists_the_names_exchange_binds():
    schema = PROTOCOL_LOGGING_LEVEL.schema()
    assert not _valid(schema, 1)
    assert _valid(schema, "verbose")  # PowerShell binds enum names in any case
    assert schema["x-exchange-values"] == ["None", "Verbose"]
    assert schema["x-exchange-type"] == "Microsoft.Exchange.Data.ProtocolLoggingLevel"


def test_domain_list_schema_wants_a_list_of_distinct_domain_names():
    schema = DomainListType().schema()
    assert _valid(schema, ["contoso.com", "fabrikam.com"])
    assert not _valid(schema, {"contoso.com": None})  # a mapping where the list belongs
    assert not _valid(schema, ["contoso.com", "contoso.com"])
    assert not _valid(schema, [42])
    assert not _valid(schema, ["*.contoso.com"])  # Exchange's SmtpDomain has no wildcard


def test_path_and_time_span_schemas_refuse_what_parse_refuses():
    assert _valid(PathType().schema(), "D:\\Logs") and not _valid(PathType().schema(), "Logs\\Send")
    assert _valid(PathType().schema(), "d:\\Logs")  # a drive letter in either case
    assert not _valid(PathType().schema(), 5)
    assert _valid(TimeSpanType().schema(), "30.00:00:00") and not _valid(TimeSpanType().schema(), "30 days")
    assert not _valid(TimeSpanType().schema(), 30)  # a number is not a time span; Exchange reads "30" as days, YAML 30 is not text


@pytest.mark.parametrize("text, seconds", [("23:59:59", 86399), ("1.23:00:00", 169200), ("00:59:00", 3540), ("00:00:00.0000000", 0)])
def test_time_spans_at_the_edge_of_each_field_are_accepted(text, seconds):
    assert TimeSpanType().parse(text) == seconds


@pytest.mark.parametrize("text", ["24:00:00", "00:60:00", "00:00:60", "00:00:00.00000000"])
def test_time_spans_past_a_fields_range_are_refused_as_timespan_parse_refuses_them(text):
    with pytest.raises(ValueError_) as err:
        TimeSpanType().parse(text)
    assert str(err.value) == f"{text!r} is not a valid time span: hours must be 0-23, minutes and seconds 0-59"


def _documented_sizes():
    """Two documented size parameters of each kind: Unlimited<ByteQuantifiedSize> and ByteQuantifiedSize."""
    taken: dict[str, int] = {}
    for cmdlet, params in DATA.items():
        for name, entry in params.items():
            kind = entry.get("type")
            if kind in ("Unlimited", "ByteQuantifiedSize") and entry.get("range") and taken.get(kind, 0) < 2:
                taken[kind] = taken.get(kind, 0) + 1
                yield pytest.param(entry, id=f"{cmdlet} -{name}")


@pytest.mark.parametrize("entry", list(_documented_sizes()))
def test_size_schema_names_the_type_microsoft_documents(entry):
    low, high = entry["range"]
    vtype = ByteSizeType(unlimited=entry.get("unlimited", False), minimum=low or 0, maximum=high)
    outer = vtype.schema()["x-exchange-type"].split("<")[0]
    assert outer == entry["type"]
    assert vtype.schema()["x-exchange-range"] == [low or 0, high]


def test_a_size_without_a_documented_maximum_publishes_no_range():
    assert "x-exchange-range" not in ByteSizeType(minimum=0).schema()


def test_every_declarable_property_names_its_documented_type_in_the_schema():
    for resource in RESOURCES:
        for prop in getattr(resource, "props", ()):
            documented = DATA[resource.set_cmdlet][prop.param]["type"]
            outer = prop.type.schema()["x-exchange-type"].split("<")[0]
            assert outer == documented or outer.endswith("." + documented), (resource.set_cmdlet, prop.param)


# -- sizes: parsing, range messages, errors ----------------------------------------------------------


def test_a_size_with_no_unit_is_bytes_and_the_minimum_itself_is_accepted():
    assert ByteSizeType().parse("1024") == 1024
    assert PROTOCOL_LOG_SIZE.parse(1) == 1
    assert PROTOCOL_LOG_SIZE.parse("1 B") == 1


@pytest.mark.parametrize(
    "minimum, text",
    [
        (KB, "must be at least 1 KB"),  # exactly one unit: the unit, not 1024 B
        (KB + 1, "must be at least 1.001 KB (1,025 bytes)"),
        (3 * MB, "must be at least 3 MB"),
        (1023, "must be at least 1023 B"),
    ],
)
def test_range_messages_word_sizes_as_exchange_prints_them(minimum, text):
    assert ByteSizeType(unlimited=False, minimum=minimum).range_text() == text


def test_range_message_offers_unlimited_only_where_exchange_accepts_it():
    assert PROTOCOL_LOG_SIZE.range_text() == "must be between 1 B and 909.5 TB (999,999,999,999,999 bytes), or Unlimited"
    assert ByteSizeType(unlimited=False, minimum=1, maximum=GB).range_text() == "must be between 1 B and 1 GB"


def test_a_boolean_is_not_a_size_and_the_error_says_what_is_expected():
    with pytest.raises(ValueError_, match=r"^expected a size such as 250 MB, found True$"):
        PROTOCOL_LOG_SIZE.parse(True)


def test_a_malformed_size_error_offers_unlimited_only_where_it_is_allowed():
    with pytest.raises(ValueError_, match=r"^expected a size such as 250 MB or Unlimited, found 'lots'$"):
        PROTOCOL_LOG_SIZE.parse("lots")
    with pytest.raises(ValueError_, match=r"^expected a size such as 250 MB, found 'lots'$"):
        ByteSizeType(unlimited=False).parse("lots")


def test_sizes_show_and_wire_in_the_largest_whole_unit():
    size = ByteSizeType()
    assert [size.show(v) for v in (None, 0, 1, KB, 3 * MB, 5 * GB, 2 * TB, KB + 1)] == [
        "Unlimited", "0 B", "1 B", "1 KB", "3 MB", "5 GB", "2 TB", "1025 B"]
    assert size.wire(250 * MB) == "250MB"


# -- domains, paths ---------------------------------------------------------------------------------


def test_a_single_domain_is_a_list_of_one_and_shows_as_a_list():
    domains = DomainListType()
    assert domains.parse(" Contoso.COM ") == ("contoso.com",)
    assert domains.parse(None) == ()
    assert domains.show(("contoso.com", "fabrikam.com")) == "[contoso.com, fabrikam.com]"
    assert domains.show(()) == "[]"
    assert domains.wire(("contoso.com",)) == ["contoso.com"]


def test_domain_errors_name_the_bad_value():
    with pytest.raises(ValueError_, match=r"^'\*\.contoso\.com' is not a domain name \(no wildcards allowed\)$"):
        DomainListType().parse(["*.contoso.com"])
    with pytest.raises(ValueError_, match=r"^expected a list of domains, got 42$"):
        DomainListType().parse(42)


def test_path_errors_show_an_example_and_paths_compare_without_case():
    with pytest.raises(ValueError_, match=r"^expected a full local path such as D:\\Logs\\SmtpSend, got 'Logs'$"):
        PathType().parse("Logs")
    assert PathType().parse("D:\\Logs\\") == "D:\\Logs"
    assert PathType().parse("D:\\Logs\\MX\\") == "D:\\Logs\\MX"  # only the trailing backslash goes
    assert same(PathType(), "D:\\Logs", "d:\\LOGS")
    assert not same(DomainListType(), ("a.com",), ("b.com",))


def test_enum_refusal_lists_exchange_names():
    with pytest.raises(ValueError_, match=r"^expected one of None, Verbose, found 'Loud'$"):
        EnumType("x", ("None", "Verbose")).parse("Loud")
