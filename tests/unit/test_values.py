import pytest

from exconf.values import PROTOCOL_LOGGING_LEVEL, ByteSizeType, DomainListType, PathType, TimeSpanType, ValueError_, same


@pytest.mark.parametrize(
    "text, seconds",
    [("30.00:00:00", 30 * 86400), ("00:00:00", 0), ("12:00:00", 43200), ("7.01:02:03", 7 * 86400 + 3723), ("24855.03:14:07", 2147483647)],
)
def test_timespan_parses_exchange_forms(text, seconds):
    assert TimeSpanType().parse(text) == seconds
    assert TimeSpanType().parse(TimeSpanType().show(seconds)) == seconds


@pytest.mark.parametrize("bad", ["30", "1.24:00:00", "00:60:00", "24855.03:14:08", "-1.00:00:00", 30, None])
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
    with pytest.raises(ValueError_, match="None, Verbose"):
        PROTOCOL_LOGGING_LEVEL.parse("Loud")


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
