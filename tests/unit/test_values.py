import re

import pytest

from exconf.modules import by_kind
from exconf.values import PROTOCOL_LOGGING_LEVEL, ByteSizeType, DomainListType, PathType, TimeSpanType, ValueError_, same


@pytest.mark.parametrize(
    "text, seconds",
    [("30.00:00:00", 30 * 86400), ("00:00:00", 0), ("12:00:00", 43200), ("7.01:02:03", 7 * 86400 + 3723), ("24855.03:14:07", 2147483647)],
)
def test_timespan_parses_exchange_forms(text, seconds):
    assert TimeSpanType().parse(text) == seconds
    assert TimeSpanType().parse(TimeSpanType().show(seconds)) == seconds


@pytest.mark.parametrize(
    "text, seconds",
    # The other forms of TimeSpan.Parse, which Exchange accepts too: days alone, hh:mm, d:hh:mm:ss.
    [("30", 30 * 86400), ("12:00", 43200), ("1:02:03:04", 86400 + 7384), ("7.01:02", 7 * 86400 + 3720), ("0:0:1", 1)],
)
def test_timespan_parses_every_form_exchange_parses(text, seconds):
    assert TimeSpanType().parse(text) == seconds


@pytest.mark.parametrize("bad", ["1.24:00:00", "00:60:00", "24855.03:14:08", "-1.00:00:00", "1.2.3", "12:", 30, None])
def test_timespan_rejects_what_exchange_rejects(bad):
    with pytest.raises(ValueError_):
        TimeSpanType().parse(bad)


def test_timespan_shows_as_exchange_prints():
    assert TimeSpanType().show(30 * 86400) == "30.00:00:00"
    assert TimeSpanType().show(3600) == "01:00:00"


@pytest.mark.parametrize(
    "text, size",
    [
        ("250 MB (262,144,000 bytes)", 262144000),
        ("250 MB", 262144000),
        ("250MB", 262144000),
        ("10 mb", 10485760),
        ("1.5GB", 1610612736),
        (1024, 1024),
        ("Unlimited", None),
        ("unlimited", None),
    ],
)
def test_bytesize_reads_printed_and_typed_forms(text, size):
    assert ByteSizeType().parse(text) == size


def test_bytesize_show_and_wire_round_trip():
    t = ByteSizeType()
    assert t.show(262144000) == "250 MB"
    assert t.wire(262144000) == "250MB"
    assert t.show(None) == "Unlimited"
    assert t.parse(t.wire(1536)) == 1536


def test_bytesize_without_unlimited_refuses_it():
    with pytest.raises(ValueError_):
        ByteSizeType(unlimited=False).parse("Unlimited")


def test_enum_is_case_insensitive_and_canonical():
    assert PROTOCOL_LOGGING_LEVEL.parse("verbose") == "Verbose"
    assert PROTOCOL_LOGGING_LEVEL.parse(" VERBOSE ") == "Verbose"
    assert PROTOCOL_LOGGING_LEVEL.wire(PROTOCOL_LOGGING_LEVEL.parse("verbose")) == "Verbose"
    with pytest.raises(ValueError_, match="expected one of None, Verbose, found 'Loud'"):
        PROTOCOL_LOGGING_LEVEL.parse("Loud")


def test_enum_schema_leaves_the_case_to_parse():
    """The schema must not refuse ``verbose``: PowerShell binds enum names without case."""
    schema = PROTOCOL_LOGGING_LEVEL.schema()
    assert "enum" not in schema and "pattern" not in schema
    assert schema["examples"] == ["None", "Verbose"]


def test_domain_list_is_a_case_insensitive_set():
    t = DomainListType()
    assert t.parse(["Fabrikam.com", "contoso.com", "fabrikam.com"]) == ("contoso.com", "fabrikam.com")
    assert t.parse(None) == ()
    with pytest.raises(ValueError_):
        t.parse(["*.fabrikam.com"])


def test_paths_compare_without_case():
    t = PathType()
    assert same(t, t.parse("D:\\Logs\\SmtpSend\\"), t.parse("d:\\logs\\smtpsend"))
    with pytest.raises(ValueError_):
        t.parse("Logs\\SmtpSend")


# --- Exchange's ranges (tests/data/exchange_parameters.yaml) ------------------------------------------

PROTOCOL_LOG_SIZE_KEYS = [
    (kind, f"{d}_protocol_log_max_{what}")
    for kind in ("transport_service", "frontend_transport_service")
    for d in ("send", "receive")
    for what in ("directory_size", "file_size")
]


@pytest.mark.parametrize("kind, key", PROTOCOL_LOG_SIZE_KEYS)
def test_protocol_log_sizes_stop_at_909_5_tb(kind, key):
    vtype = by_kind(kind).prop(key).type
    assert vtype.parse(999999999999999) == 999999999999999
    assert vtype.parse("999999999999999") == 999999999999999
    assert vtype.parse("Unlimited") is None
    for too_big in (1000000000000000, "1000 TB", "909.5 TB", "8192 TB"):
        with pytest.raises(ValueError_) as err:
            vtype.parse(too_big)
        assert str(err.value) == (
            f"{too_big!r} is out of range: must be between 1 B and 909.5 TB (999,999,999,999,999 bytes), or Unlimited"
        )


@pytest.mark.parametrize("too_small", [0, "0 MB", -1])
def test_protocol_log_sizes_start_at_one_byte(too_small):
    with pytest.raises(ValueError_, match="is out of range: must be between 1 B and"):
        by_kind("transport_service").prop("send_protocol_log_max_file_size").type.parse(too_small)


@pytest.mark.parametrize("text", ["24855.03:14:08", "-00:00:01", "-1.00:00:00", "99999.00:00:00"])
def test_time_spans_out_of_range_are_range_errors(text):
    with pytest.raises(ValueError_) as err:
        TimeSpanType().parse(text)
    assert str(err.value) == f"{text!r} is out of range: must be between 00:00:00 and 24855.03:14:07"


def test_time_spans_are_whole_seconds():
    """EnhancedTimeSpanUnitConstraint(OneSecond): a fraction is refused, not silently dropped."""
    assert TimeSpanType().parse("00:00:01.0") == 1
    with pytest.raises(ValueError_, match="whole number of seconds"):
        TimeSpanType().parse("00:00:00.5")


def test_sizes_with_a_fraction_are_exact_and_drop_part_bytes_as_exchange_does():
    assert ByteSizeType().parse("1.5 KB") == 1536
    assert ByteSizeType().parse("0.5 TB") == 1 << 39
    assert ByteSizeType().parse("0.1 KB") == 102
    assert ByteSizeType().parse("1.1 B") == 1


def test_sizes_take_thousands_separators_and_the_printed_long_form():
    assert ByteSizeType().parse("1,024 KB") == 1 << 20
    assert ByteSizeType().parse("909.5 TB (999,999,999,999,999 bytes)") == 999999999999999
    schema = ByteSizeType().schema()["anyOf"][0]["pattern"]
    assert re.match(schema, "1,024 KB") and re.match(schema, "250 MB (262,144,000 bytes)")


def test_type_errors_stay_type_errors():
    with pytest.raises(ValueError_, match="expected a size such as 250 MB or Unlimited, found 'lots'"):
        by_kind("transport_service").prop("send_protocol_log_max_file_size").type.parse("lots")
    with pytest.raises(ValueError_, match="expected a time span such as 30.00:00:00"):
        TimeSpanType().parse("soon")


def test_a_size_without_a_documented_maximum_is_only_bounded_below():
    assert ByteSizeType().parse(2**70) == 2**70
    with pytest.raises(ValueError_, match=r"^-5 is out of range: must be at least 0 B, or Unlimited$"):
        ByteSizeType().parse(-5)
