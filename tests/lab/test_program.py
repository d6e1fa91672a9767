"""Running exconf's remote program in a simulated WinRS command (lab/program.py)."""

import base64
import json
from pathlib import Path

import pytest

from exconf import remote
from exconf.lab.exchange.store import LabStore
from exconf.lab.program import decode_console

DATA = Path(__file__).parent / "data"
COMMAND, ARGUMENTS = remote.command_line()


@pytest.fixture
def store(tmp_path):
    return LabStore(DATA / "org.yaml", tmp_path / "state.json")


def execute(store, server, steps, *, halt=True, codepage=437, raw_payload=None):
    payload = raw_payload if raw_payload is not None else json.dumps(
        {"exconf": remote.CONTRACT_VERSION, "halt_on_error": halt, "steps": steps}, ensure_ascii=True)
    stdin = remote.frame_stdin(remote.program_text(), payload).encode("ascii")
    return store.run_command(store.server(server), COMMAND, list(ARGUMENTS), stdin, codepage)


def answer(store, server, steps, **kw):
    result = execute(store, server, steps, **kw)
    assert (result.exit_code, result.stderr) == (0, b"")
    return remote.decode_answer(result.stdout, result.stderr, result.exit_code)


def step(id_, cmdlet, params=None, select=None, **extra):
    out = {"id": id_, "cmdlet": cmdlet, "params": params or {}}
    if select is not None:
        out["select"] = select
    out.update(extra)
    return out


# --- recognising the command line -----------------------------------------------------------------------


def test_the_contract_command_line_runs_the_program(store):
    steps = [remote.Step("r1", "Get-ReceiveConnector", {"Server": remote.LOCAL_SERVER}, ("Identity", "ProtocolLoggingLevel"))]
    result = store.run_command(store.server("EX01"), COMMAND, list(ARGUMENTS), remote.encode_stdin(steps), 437)
    parsed = remote.decode_answer(result.stdout)
    assert (parsed.computer, parsed.edge) == ("EX01", False)
    r1 = parsed.result("r1")
    assert r1.status == "ok" and len(r1.objects) == 5
    assert {"Identity": "EX01\\Default Frontend EX01", "ProtocolLoggingLevel": "Verbose"} in r1.objects


@pytest.mark.parametrize(
    "command, arguments",
    [
        (r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.EXE", list(ARGUMENTS)),
        ("POWERSHELL", [a.lower() if a.startswith("-") else a for a in ARGUMENTS]),
        (" ".join([COMMAND, *ARGUMENTS]), []),  # a client may send the whole line as the command
    ],
)
def test_full_paths_case_and_a_one_string_command_line_are_accepted(store, command, arguments):
    result = store.run_command(store.server("EDGE01"), command, arguments, remote.encode_stdin([]), 437)
    assert result.exit_code == 0
    assert remote.decode_answer(result.stdout).edge is True


def test_a_program_cmd_does_not_know(store):
    result = store.run_command(store.server("EX01"), "ipconfig", ["/all"], b"", 437)
    assert result.exit_code == 1 and result.stdout == b""
    assert result.stderr == b"'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"


@pytest.mark.parametrize(
    "arguments",
    [
        ["-Command", "Get-ExchangeServer"],
        ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand",
         base64.b64encode("Get-Date".encode("utf-16-le")).decode()],
        ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand",
         base64.b64encode(remote.bootstrap_script("Write-Output 1\n").encode("utf-16-le")).decode()],
        list(ARGUMENTS[:-1]),
    ],
)
def test_any_other_powershell_invocation_is_refused(store, arguments):
    result = store.run_command(store.server("EX01"), "powershell.exe", arguments, remote.encode_stdin([]), 437)
    assert result.exit_code == 1 and result.stdout == b""
    assert b"runs only exconf's remote program" in result.stderr


# --- the bootstrap ------------------------------------------------------------------------------------


def test_no_program_on_standard_input(store):
    result = store.run_command(store.server("EX01"), COMMAND, list(ARGUMENTS), remote.program_text().encode(), 437)
    assert (result.exit_code, result.stdout) == (1, b'{"exconf":3,"fatal":{"message":"no program on standard input"}}')
    with pytest.raises(remote.RemoteFatal, match="no program"):
        remote.decode_answer(result.stdout)


def test_a_program_that_is_not_the_shipped_one_is_refused_by_the_hash(store):
    tampered = remote.frame_stdin(remote.program_text().replace("exit 1", "exit 1 "), remote.encode_payload([]))
    result = store.run_command(store.server("EX01"), COMMAND, list(ARGUMENTS), tampered.encode("ascii"), 437)
    assert (result.exit_code, result.stdout) == (1, b'{"exconf":3,"fatal":{"message":"program hash mismatch"}}')


@pytest.mark.parametrize(
    "payload, message",
    [
        ("{nope", "The payload is not valid JSON"),
        ('{"exconf": 1, "steps": []}', "Unsupported payload version '1': this program speaks exconf version 3."),
        ('[1, 2]', "Unsupported payload version '': this program speaks exconf version 3."),
    ],
)
def test_a_payload_the_program_cannot_run(store, payload, message):
    result = execute(store, "EX01", [], raw_payload=payload)
    assert result.exit_code == 1
    with pytest.raises(remote.RemoteFatal, match=message.replace("(", r"\(").replace(")", r"\)")):
        remote.decode_answer(result.stdout)


# --- steps ----------------------------------------------------------------------------------------------


def test_allowlist_halt_on_error_and_not_run(store):
    steps = [step("a", "Get-ExchangeServer", select=["Name"]), step("b", "Get-Mailbox"), step("c", "Get-ExchangeServer")]
    halted = answer(store, "EX01", steps)
    assert halted.result("a").status == "ok"
    b = halted.result("b")
    assert (b.status, b.error.message, b.error.error_id, b.error.category, b.error.exception) == (
        "error", "The cmdlet 'Get-Mailbox' is not in exconf's allowlist.", "ExconfCmdletNotAllowed", "PermissionDenied",
        "UnauthorizedAccessException")
    assert halted.result("c").status == "not_run"
    assert answer(store, "EX01", steps, halt=False).result("c").status == "ok"
    steps[2]["always_run"] = True  # the read-back of an apply runs even after a failure
    assert answer(store, "EX01", steps).result("c").status == "ok"


def test_the_allowlist_is_case_sensitive_like_the_program(store):
    assert answer(store, "EX01", [step("a", "get-exchangeserver")]).result("a").error.error_id == "ExconfCmdletNotAllowed"


def test_skip_on_edge(store):
    steps = [step("f", "Get-FrontendTransportService", {"Identity": remote.LOCAL_SERVER},
                  ["IntraOrgConnectorProtocolLoggingLevel"], skip_on_edge=True)]
    assert answer(store, "EDGE01", steps).result("f").status == "not_applicable"
    assert answer(store, "EX02", steps).result("f").objects == ({"IntraOrgConnectorProtocolLoggingLevel": "Verbose"},)


def test_a_cmdlet_missing_on_edge_fails_as_get_command_reports_it(store):
    error = answer(store, "EDGE01", [step("f", "Get-FrontendTransportService")]).result("f").error
    assert error.error_id == "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand"
    assert (error.category, error.exception) == ("ObjectNotFound", "CommandNotFoundException")


def test_local_computer_name_reference_and_warnings(store):
    steps = [
        step("s1", "Set-TransportService", {"Identity": remote.LOCAL_SERVER, "IntraOrgConnectorProtocolLoggingLevel": "Verbose"}),
        step("s2", "Set-TransportService", {"Identity": remote.LOCAL_SERVER, "IntraOrgConnectorProtocolLoggingLevel": "Verbose"}),
        step("g", "Get-TransportService", {"Identity": remote.LOCAL_SERVER}, ["Name", "intraorgconnectorprotocollogginglevel"]),
    ]
    parsed = answer(store, "EDGE01", steps)
    assert parsed.result("s1").warnings == ()
    assert parsed.result("s2").warnings == (
        "The command completed successfully but no settings of 'EDGE01' have been modified.",)
    # the answer uses the names asked for; PowerShell found the property case-insensitively
    assert parsed.result("g").objects == ({"Name": "EDGE01", "intraorgconnectorprotocollogginglevel": "Verbose"},)


def test_an_empty_array_clears_a_multi_valued_property(store):
    steps = [step("c", "Set-TransportConfig", {"TLSSendDomainSecureList": []}),
             step("g", "Get-TransportConfig", select=["TLSSendDomainSecureList"])]
    assert answer(store, "EX01", steps).result("g").objects == ({"TLSSendDomainSecureList": []},)


def test_select_absent_or_naming_missing_properties(store):
    parsed = answer(store, "EX01", [step("a", "Get-ExchangeServer"), step("b", "Get-ExchangeServer", {"Identity": "EX01"},
                                                                           ["Name", "NoSuchProperty"])])
    assert parsed.result("a").objects == ()
    assert parsed.result("b").objects == ({"Name": "EX01"},)


@pytest.mark.parametrize("name", ["ErrorAction", "ea", "Out", "o", "Bad-Name", "1st"])
def test_parameter_names_the_program_refuses(store, name):
    error = answer(store, "EX01", [step("a", "Get-ExchangeServer", {name: "x"})]).result("a").error
    assert (error.message, error.error_id) == (f"The parameter name '{name}' is not allowed in an exconf step.",
                                               "ExconfBadParameter")


def test_parameter_values_outside_the_contract(store):
    error = answer(store, "EX01", [step("a", "Get-SendConnector", {"Identity": {"Add": "x"}})]).result("a").error
    assert error.error_id == "ExconfBadParameter" and "is not a string, number, boolean, null, array" in error.message
    error = answer(store, "EX01", [step("a", "Get-SendConnector", {"Identity": [["x"]]})]).result("a").error
    assert error.message == "The value of parameter 'Identity' nests an array in an array."


def test_cmdlet_errors_are_the_powershell_error_records(store):
    steps = [step("a", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Loud"})]
    error = answer(store, "EX01", steps).result("a").error
    assert error.error_id == "CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.SetReceiveConnector"
    assert (error.category, error.exception) == ("InvalidArgument", "ParameterBindingException")
    steps = [step("b", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet", "ProtocolLoggingLevel": "Verbose"})]
    error = answer(store, "EDGE01", steps).result("b").error
    assert (error.exception, error.category) == ("CannotRunOnSubscribedEdgeException", "InvalidOperation")
    assert error.error_id.startswith("[Server=EDGE01,RequestId=")


def test_a_null_identity_is_answered_as_a_binding_error_not_a_crash(store):
    parsed = answer(store, "EX01", [step("a", "Set-SendConnector", {"Identity": None, "Enabled": True})])
    error = parsed.result("a").error
    assert error.error_id == ("ParameterArgumentValidationErrorNullNotAllowed,"
                              "Microsoft.Exchange.Management.SystemConfigurationTasks.SetSendConnector")
    assert (error.category, error.exception) == ("InvalidData", "ParameterBindingValidationException")


def test_an_injected_fault_fails_once_then_the_retry_works(store):
    steps = [step("a", "Set-ReceiveConnector", {"Identity": "Default internal receive connector EDGE02",
                                                 "ProtocolLoggingLevel": "Verbose"})]
    first = answer(store, "EDGE02", steps, codepage=1252).result("a")
    assert (first.status, first.error.message) == ("error", "The Active Directory server is busy.")
    assert answer(store, "EDGE02", steps, codepage=1252).result("a").status == "ok"


# --- code pages -------------------------------------------------------------------------------------------

AWKWARD = "O'ut \"q\" ‘c’ “d” $(Get-Date) `t; rm -rf / é ü ß ø € 中文 ☃"  # a Name has at most 64 characters


@pytest.mark.parametrize("codepage", [437, 1252, 850, 65001])
def test_a_name_full_of_shell_syntax_and_non_ascii_survives_every_code_page(store, codepage):
    steps = [step("r", "Set-SendConnector", {"Identity": "Outbound to Fabrikam", "Name": AWKWARD}),
             step("g", "Get-SendConnector", {"Identity": AWKWARD}, ["Name", "Identity"])]
    result = execute(store, "EX01", steps, codepage=codepage)
    assert len(AWKWARD) <= 64
    assert result.stdout.isascii()  # the answer escapes every other character as \uXXXX
    parsed = remote.decode_answer(result.stdout)
    assert parsed.result("r").status == "ok"
    assert parsed.result("g").objects == ({"Name": AWKWARD, "Identity": AWKWARD},)
    # and the next run, through another code page, still finds it
    again = answer(store, "EX01", [step("g", "Get-SendConnector", {"Identity": AWKWARD}, ["Name"])], codepage=437)
    assert again.result("g").objects == ({"Name": AWKWARD},)


def test_standard_input_is_decoded_with_the_shells_code_page():
    assert decode_console(b"caf\x82", 437) == "café"
    assert decode_console(b"caf\xe9", 1252) == "café"
    assert decode_console("café".encode("utf-8"), 65001) == "café"
    assert decode_console(b"\x81", 1252) == "\x81"  # undefined in 1252: Windows keeps the code point


def test_errors_are_encoded_with_the_shells_code_page(store):
    result = store.run_command(store.server("EX01"), "café.exe", [], b"", 437)
    assert result.stderr.startswith("'café.exe' is not recognized".encode("cp437"))


def test_the_lab_refuses_the_parameter_names_the_program_refuses():
    import re

    from exconf.lab.program import RESERVED_PARAMETERS

    block = re.search(r"\$reservedParameters = @\((.*?)\)", remote.program_text(), re.S).group(1)
    assert tuple(re.findall(r"'([^']+)'", block)) == RESERVED_PARAMETERS


def test_a_run_writes_the_state_once_and_before_it_answers(store, monkeypatch):
    saves = []
    monkeypatch.setattr(type(store), "_append", lambda self, line: saves.append(len(saves)) or 0)
    steps = [step(f"s{i}", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": level})
             for i, level in enumerate(("Verbose", "None", "Verbose"))]
    parsed = answer(store, "EX01", steps)
    assert [parsed.result(f"s{i}").status for i in range(3)] == ["ok"] * 3
    assert saves == [0]
    assert answer(store, "EX01", [step("g", "Get-ExchangeServer")]).result("g").status == "ok"
    assert saves == [0]  # reading changes nothing, so nothing is written
