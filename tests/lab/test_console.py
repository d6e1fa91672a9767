"""``exconf lab exec SERVER -- CMDLET -Param Value …``: reading the words (lab/console.py)."""

from pathlib import Path

import pytest

from exconf.lab.console import ConsoleSyntaxError, parse_command, parse_value
from exconf.lab.exchange.store import ConsoleError, LabStore

DATA = Path(__file__).parent / "data"


def test_named_parameters_as_an_admin_types_them():
    cmdlet, params = parse_command(
        ["Set-ReceiveConnector", "-Identity", "EX01\\Default EX01", "-ProtocolLoggingLevel", "Verbose",
         "-Enabled:$false", "-RemoteIPRanges", "10.0.0.0/8,192.168.0.1", "-MaxMessageSize", "10MB", "-Confirm:$false",
         "-Banner", "$null", "-WhatIf"]
    )
    assert cmdlet == "Set-ReceiveConnector"
    assert params == {
        "Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose", "Enabled": False,
        "RemoteIPRanges": ["10.0.0.0/8", "192.168.0.1"], "MaxMessageSize": 10 * 1024 * 1024, "Confirm": False,
        "Banner": None, "WhatIf": True,
    }


def test_a_positional_identity():
    assert parse_command(["Get-SendConnector", "EdgeSync - Amsterdam*"]) == (
        "Get-SendConnector", {"Identity": "EdgeSync - Amsterdam*"})
    assert parse_command(["Get-ReceiveConnector", "-Server", "EX01"]) == ("Get-ReceiveConnector", {"Server": "EX01"})


@pytest.mark.parametrize(
    "word, value",
    [
        ("$TRUE", True),
        ("25", 25),
        ("-5", -5),
        ("1.5GB", 1610612736),
        ("0x10", 16),
        ("30.00:00:00", "30.00:00:00"),
        ("'it''s'", "it's"),
        ('"a`tb"', "a\tb"),
        ("'a,b'", "a,b"),
        ("a,'b,c'", ["a", "b,c"]),
        ("SMTP:*;1", "SMTP:*;1"),
    ],
)
def test_values_are_read_as_powershell_reads_arguments(word, value):
    assert parse_value(word) == value


@pytest.mark.parametrize("word", ["$x", "$(Get-Date)", "@('a')", "@{Add='x'}", '"cost $price"', "{ 1 }"])
def test_expressions_are_refused(word):
    with pytest.raises(ConsoleSyntaxError, match="takes only literal values"):
        parse_value(word)


def test_missing_argument_and_duplicate_parameter():
    with pytest.raises(ConsoleError) as err:
        parse_command(["Set-ReceiveConnector", "-Identity"])
    assert str(err.value).startswith("Set-ReceiveConnector : Missing an argument for parameter 'Identity'. Specify a "
                                     "parameter of type 'Microsoft.Exchange.Configuration.Tasks.ReceiveConnectorIdParameter'")
    with pytest.raises(ConsoleError, match="is specified more than once"):
        parse_command(["Get-SendConnector", "-Identity", "a", "-identity", "b"])


def test_unknown_parameters_are_left_to_the_cmdlet(tmp_path):
    cmdlet, params = parse_command(["Set-SendConnector", "-Identity", "x", "-Loudness", "11"])
    assert params["Loudness"] == 11
    store = LabStore(DATA / "org.yaml", tmp_path / "state.json")
    with pytest.raises(ConsoleError) as err:
        store.exec_console("EX01", cmdlet, params)
    assert str(err.value) == (
        "Set-SendConnector : A parameter cannot be found that matches parameter name 'Loudness'.\n"
        "    + CategoryInfo          : InvalidArgument: (:) [Set-SendConnector], ParameterBindingException\n"
        "    + FullyQualifiedErrorId : NamedParameterNotFound,Set-SendConnector"
    )


def test_a_console_change_is_what_the_lab_serves_next(tmp_path):
    store = LabStore(DATA / "org.yaml", tmp_path / "state.json")
    cmdlet, params = parse_command(["Set-ReceiveConnector", "-Identity", "EX01\\Default EX01", "-ProtocolLoggingLevel",
                                    "Verbose", "-MaxMessageSize", "20MB"])
    assert store.exec_console("EX01", cmdlet, params) == []
    [rc] = store.exec_console("EX01", *parse_command(["Get-ReceiveConnector", "EX01\\Default EX01"]))
    assert (rc["ProtocolLoggingLevel"], rc["MaxMessageSize"]) == ("Verbose", "20 MB (20,971,520 bytes)")


def test_errors_print_as_powershell_prints_them(tmp_path):
    store = LabStore(DATA / "org.yaml", tmp_path / "state.json")
    with pytest.raises(ConsoleError) as err:
        store.exec_console("EX01", "Get-SendConnector", {"Identity": "Nothing"})
    lines = str(err.value).splitlines()
    assert lines[0] == ("Get-SendConnector : The operation couldn't be performed because object 'Nothing' couldn't be "
                        "found on 'DC01.contoso.lab'.")
    assert lines[1] == "    + CategoryInfo          : NotSpecified: (:) [Get-SendConnector], ManagementObjectNotFoundException"
    assert lines[2].startswith("    + FullyQualifiedErrorId : [Server=EX01,RequestId=")
    with pytest.raises(ConsoleError, match="no server named 'EX09'"):
        store.exec_console("EX09", "Get-SendConnector", {})


def test_no_cmdlet():
    with pytest.raises(ConsoleSyntaxError, match="expected a cmdlet"):
        parse_command([])


@pytest.mark.parametrize("opening, closing", [("\u2018", "\u2019"), ("\u201a", "\u201b"), ("'", "\u2019"), ("\u201c", "\u201d"), ("\u201e", '"')])
def test_typographic_quotes_are_quotes_as_in_powershell(opening, closing):
    """PowerShell Language Specification 3.0 §2.3.5.2: ‘ ’ ‚ ‛ are single quotes, “ ” „ double quotes."""
    assert parse_value(f"{opening}Outbound to Fabrikam{closing}") == "Outbound to Fabrikam"
    assert parse_command(["Get-SendConnector", "-Identity", f"{opening}a,b{closing}"])[1] == {"Identity": "a,b"}


def test_doubled_typographic_quotes_stand_for_one_and_lists_split_outside_them():
    assert parse_value("\u2018it\u2019\u2019s\u2019") == "it\u2019s"
    assert parse_value("\u201cEX01\u201d,\u2018EX02\u2019") == ["EX01", "EX02"]
    with pytest.raises(ConsoleSyntaxError, match="missing the terminator: '"):
        parse_value("\u2018unfinished")
