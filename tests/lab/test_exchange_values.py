"""Exchange value types: what the lab accepts and how it prints it (lab/exchange/dotnet_values.py, enums.py, param_types.py, string_values.py)."""

import pytest

from exconf.lab.exchange.dotnet_values import ByteSize, UNLIMITED, Unlimited
from exconf.lab.exchange.enums import AUTH_MECHANISMS, MESSAGE_RATE_SOURCE, PERMISSION_GROUPS, PROTOCOL_LOGGING_LEVEL
from exconf.lab.exchange.param_types import (
    ADDRESS_SPACE, BOOL, BYTESIZE, FQDN, INT, IP_BINDING, IP_RANGE, LOCAL_PATH, SMART_HOST, SMTP_DOMAIN, TIMESPAN,
    UNLIMITED_BYTES, X509_IDENTIFIER, enum, multi,
)
from exconf.lab.exchange.ps_conversion import ConversionError, TransformError


@pytest.mark.parametrize(
    "text, printed",
    [
        ("30.00:00:00", "30.00:00:00"),
        ("7.00:00:00", "7.00:00:00"),
        ("12:00:00", "12:00:00"),
        ("12:00", "12:00:00"),
        ("30", "30.00:00:00"),  # a bare number is days, as TimeSpan.Parse reads it
        ("1:02:03:04", "1.02:03:04"),
        ("00:00:00.5", "00:00:00.5000000"),
        ("24855.03:14:07", "24855.03:14:07"),
        (" -1.00:00:00 ", "-1.00:00:00"),
    ],
)
def test_timespan_parses_and_prints_like_dotnet(text, printed):
    assert str(TIMESPAN.convert(text)) == printed


@pytest.mark.parametrize("text", ["abc", "1.2.3", "12:", "::"])
def test_timespan_format_errors_carry_the_dotnet_message(text):
    with pytest.raises(ConversionError) as err:
        TIMESPAN.convert(text)
    assert str(err.value) == (
        f'Cannot convert value "{text}" to type "Microsoft.Exchange.Data.EnhancedTimeSpan". '
        'Error: "String was not recognized as a valid TimeSpan."'
    )


def test_timespan_out_of_range_component_is_an_overflow():
    with pytest.raises(ConversionError, match="at least one of the numeric components is out of range"):
        TIMESPAN.convert("25:00:00")


@pytest.mark.parametrize(
    "text, printed",
    [
        ("250MB", "250 MB (262,144,000 bytes)"),
        ("250 MB", "250 MB (262,144,000 bytes)"),
        ("250 mb", "250 MB (262,144,000 bytes)"),
        ("262144000", "250 MB (262,144,000 bytes)"),
        ("10MB", "10 MB (10,485,760 bytes)"),
        ("36700160", "35 MB (36,700,160 bytes)"),
        ("35 MB (36,700,160 bytes)", "35 MB (36,700,160 bytes)"),
        ("1.5GB", "1.5 GB (1,610,612,736 bytes)"),
        ("64KB", "64 KB (65,536 bytes)"),
        ("100", "100 B (100 bytes)"),
        ("0", "0 B (0 bytes)"),
    ],
)
def test_byte_size_parses_exchange_inputs_and_prints_the_long_form(text, printed):
    assert str(BYTESIZE.convert(text)) == printed


def test_byte_size_round_trips_through_its_printed_form():
    for n in (1, 1023, 1024, 65536, 36700160, 262144000, 2147483647, 10 * 2**40 + 5):
        size = ByteSize(n)
        assert BYTESIZE.convert(str(size)) == size


def test_byte_size_rejects_garbage_with_exchanges_message():
    with pytest.raises(ConversionError) as err:
        BYTESIZE.convert("big")
    assert "The string 'big' isn't correctly formatted." in str(err.value)
    assert 'to type "Microsoft.Exchange.Data.ByteQuantifiedSize"' in str(err.value)


def test_unlimited_byte_size():
    assert UNLIMITED_BYTES.convert("unlimited") == UNLIMITED
    assert str(UNLIMITED_BYTES.convert("Unlimited")) == "Unlimited"
    assert str(UNLIMITED_BYTES.convert("250MB")) == "250 MB (262,144,000 bytes)"
    assert UNLIMITED > Unlimited(ByteSize(2**62))
    assert Unlimited(ByteSize(1)) < UNLIMITED
    with pytest.raises(ConversionError) as err:
        UNLIMITED_BYTES.convert("lots")
    assert "Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.ByteQuantifiedSize]" in str(err.value)


def test_flags_print_in_dotnet_order_whatever_the_input_order():
    auth = enum(AUTH_MECHANISMS).convert("ExchangeServer, BasicAuth,Tls ,Integrated")
    assert str(auth) == "Tls, Integrated, BasicAuth, ExchangeServer"
    assert str(enum(AUTH_MECHANISMS).convert(["Tls", "ExchangeServer"])) == "Tls, ExchangeServer"
    assert str(enum(PERMISSION_GROUPS).convert(13)) == "AnonymousUsers, ExchangeServers, ExchangeLegacyServers"
    assert str(enum(MESSAGE_RATE_SOURCE).convert("IPAddress,User")) == "All"  # a named combination wins
    assert str(enum(AUTH_MECHANISMS).convert("None")) == "None"


def test_enum_names_are_case_insensitive_and_bad_names_list_the_choices():
    assert str(enum(PROTOCOL_LOGGING_LEVEL).convert("verbose")) == "Verbose"
    with pytest.raises(ConversionError) as err:
        enum(PROTOCOL_LOGGING_LEVEL).convert("Loud")
    assert str(err.value) == (
        'Cannot convert value "Loud" to type "Microsoft.Exchange.Data.ProtocolLoggingLevel". Error: "Unable to match '
        "the identifier name Loud to a valid enumerator name. Specify one of the following enumerator names and try "
        'again:\r\nNone, Verbose"'
    )


def test_boolean_parameters_take_only_booleans_and_numbers():
    assert BOOL.convert(True) is True
    assert BOOL.convert(0) is False
    with pytest.raises(TransformError) as err:
        BOOL.convert("true")
    assert str(err.value).startswith('Cannot convert value "System.String" to type "System.Boolean".')


def test_int_parameters():
    assert INT.convert("25") == 25
    assert INT.convert(2.5) == 2  # .NET rounds half to even
    with pytest.raises(ConversionError, match='Error: "Input string was not in a correct format."'):
        INT.convert("x25")


def test_null_for_a_value_type_is_refused():
    with pytest.raises(ConversionError, match='Cannot convert null to type "Microsoft.Exchange.Data.EnhancedTimeSpan".'):
        TIMESPAN.convert(None)
    assert FQDN.convert(None) is None
    assert multi(IP_RANGE).convert(None) is None


@pytest.mark.parametrize(
    "ptype, text, printed",
    [
        # The type keeps the case it was typed in, "smtp" when omitted (AddressSpace.Initialize / ToString).
        (ADDRESS_SPACE, "contoso.com", "smtp:contoso.com;1"),
        (ADDRESS_SPACE, "SMTP:*;100", "SMTP:*;100"),
        (ADDRESS_SPACE, "smtp:*;1", "smtp:*;1"),
        (ADDRESS_SPACE, "smtp:*.contoso.com;5", "smtp:*.contoso.com;5"),
        (ADDRESS_SPACE, ":contoso.com", "smtp:contoso.com;1"),
        (ADDRESS_SPACE, "X400:C=US;A= ;P=Contoso;O=Exchange;5", "X400:c=us;a= ;p=contoso;o=exchange;5"),
        (IP_BINDING, "0.0.0.0:25", "0.0.0.0:25"),
        (IP_BINDING, "[::]:2525", "[::]:2525"),
        (IP_RANGE, "10.0.0.0/8", "10.0.0.0/8"),
        (IP_RANGE, "192.168.1.1-192.168.1.9", "192.168.1.1-192.168.1.9"),
        (IP_RANGE, "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        (SMART_HOST, "192.0.2.1", "[192.0.2.1]"),
        (X509_IDENTIFIER, "<I>CN=CA<S>CN=mail.contoso.com", "<I>CN=CA<S>CN=mail.contoso.com"),
    ],
)
def test_string_like_types_normalise_as_exchange_prints_them(ptype, text, printed):
    assert ptype.convert(text) == printed


@pytest.mark.parametrize(
    "ptype, text, message",
    [
        (ADDRESS_SPACE, "contoso.com;101", "The cost must be a value between 1 and 100."),
        (ADDRESS_SPACE, "*contoso.com", "The wildcard '*' should be followed by a '.' for the domain"),
        (IP_BINDING, "0.0.0.0", "The separator between the IP address and the port number is missing"),
        (IP_RANGE, "10.0.0.9-10.0.0.1", "The start address 10.0.0.9 must be less than or equal to the end address 10.0.0.1."),
        (SMTP_DOMAIN, "*.contoso.com", "isn't a valid SMTP domain."),
        (LOCAL_PATH, r"\\server\share\logs", "is not an acceptable path."),
    ],
)
def test_string_like_types_refuse_bad_values_with_exchanges_words(ptype, text, message):
    with pytest.raises(ConversionError) as err:
        ptype.convert(text)
    assert message in str(err.value)


def test_multi_valued_properties_keep_order_and_drop_duplicates():
    assert multi(SMTP_DOMAIN).convert(["a.com", "b.com", "a.com"]) == ("a.com", "b.com")
    assert multi(SMTP_DOMAIN).convert("a.com") == ("a.com",)


def test_elements_of_a_list_print_as_their_tostring_in_the_invariant_culture():
    from datetime import datetime, timezone

    from exconf.lab.exchange.serialize import serialize

    when = datetime(2024, 3, 7, 15, 4, 5, tzinfo=timezone.utc)
    assert serialize(when) == "2024-03-07T15:04:05Z"
    # the program runs with the invariant culture: MM/dd/yyyy HH:mm:ss, not en-US's 3/7/2024 3:04:05 PM
    assert serialize([when, None, True]) == ["03/07/2024 15:04:05", None, "True"]
